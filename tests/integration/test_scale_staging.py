"""Staging under a URL: a partitioned run whose every staged file and record lives on an fsspec filesystem
(`memory://` here; `s3://`, `gs://`, ... the same way on workers that share the store), not on local disk."""

from __future__ import annotations

import json
from datetime import date

import pytest

from booktransfer import pipeline
from booktransfer.extract.sources import LocalFolderSource

pytestmark = pytest.mark.integration


def test_a_partitioned_run_stages_everything_under_a_memory_url(sample_book, keyring, tmp_path):
    """Extract lands locally (a temporary folder), every staged Parquet file and JSON record goes to the URL,
    encrypted files stay encrypted there, and the report (local) passes."""
    from fsspec import filesystem

    from booktransfer.protect.staging import is_encrypted

    url = f"memory://bt-staging-{tmp_path.name}"
    ctx = pipeline.RunContext(transfer_id="url", run_id="r-1", mapping_set="example_seller",
                              target_url=f"sqlite:///{tmp_path / 'buyer.db'}", staging_root=url,
                              reports_root=tmp_path / "reports", as_of=date(2025, 12, 31), max_reject_rate=1.0,
                              partitions=2)
    pipeline.run_extract(ctx, LocalFolderSource(sample_book))
    for stage in ("map", "validate", "protect", "load"):
        getattr(pipeline, f"run_{stage}")(ctx)
    result = pipeline.run_reconcile(ctx)

    assert result["verdict"] == "PASS"
    assert str(ctx.run_dir).startswith("memory://")
    store = filesystem("memory")
    files = store.find(ctx.run_dir.path)
    names = {f.removeprefix(ctx.run_dir.path + "/") for f in files}
    assert {"extract.json", "map.json", "validation.json", "protect.json", "load/plan.json"} <= names
    for part in ("part-000", "part-001"):
        assert {f"raw/{part}/customers.parquet", f"valid/{part}/customers.parquet",
                f"protected/{part}/consents.parquet", f"{part}/load/part-plan.json"} <= names
    parquet = [ctx.run_dir / n for n in names if n.endswith(".parquet")]
    assert len(parquet) > 40 and all(is_encrypted(p) for p in parquet)
    assert not list(tmp_path.glob("**/staging")), "nothing staged on local disk"
    extract = json.loads((ctx.run_dir / "extract.json").read_text(encoding="utf-8"))
    assert extract["partitions"]["count"] == 2 and sum(extract["partitions"]["rows"]["customers"]) == 400
    store.rm(ctx.run_dir.path, recursive=True)
