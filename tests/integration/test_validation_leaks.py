"""No personal data in what the validate stage writes or logs (issue 4, REQUIREMENTS R29).

Every file the stage creates is scanned for the sample's clear ID numbers (as written and as normalised),
names, mobiles and addresses: quarantine, merge and warning records (decrypted: staged files are encrypted at
rest), validation.json, the Data Docs site, and the log. The valid rows the stage hands to protection are
clear by design; their file is scanned as stored (encrypted). A control test shows the scan would catch
what Great Expectations renders by default.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pyarrow as pa
import pytest

from booktransfer import pipeline
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.validate import cn_identifiers as cn

pytestmark = pytest.mark.integration


def personal_values(drop: Path) -> set[str]:
    """ID numbers (as written and normalised), names, mobiles (as written and normalised) and addresses."""
    with (drop / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    values = {r[c].strip() for r in rows for c in ("IDNo", "Name", "Mobile", "PostalAddress") if r[c].strip()}
    values |= set(cn.ascii_fold(pa.array([r["IDNo"] for r in rows])).to_pylist())
    values |= set(cn.normalize_mobile(pa.array([r["Mobile"] for r in rows])).to_pylist())
    return {v for v in values if v and len(v) >= 2}


def snapshot(*folders: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for f in folders if f.exists() for p in f.rglob("*") if p.is_file()}


def leaks(text: str, values: set[str]) -> list[str]:
    return sorted(v for v in values if v in text)


def test_validate_stage_writes_and_logs_no_personal_value(sample_book, keyring, tmp_path, caplog):
    """Scan every file the validate stage created or changed, and its log, for the sample's clear values."""
    ctx = pipeline.RunContext(transfer_id="leak", run_id="r-1", mapping_set="example_seller",
                              target_url=f"sqlite:///{tmp_path / 'buyer.db'}", staging_root=tmp_path / "staging",
                              reports_root=tmp_path / "reports")
    pipeline.run_extract(ctx, LocalFolderSource(sample_book))
    pipeline.run_map(ctx)
    before = snapshot(ctx.run_dir, ctx.report_dir)
    values = personal_values(sample_book)

    with caplog.at_level(logging.DEBUG):
        result = pipeline.run_validate(ctx)

    after = snapshot(ctx.run_dir, ctx.report_dir)
    written = sorted(p for p, t in after.items() if before.get(p) != t)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"staging/leak/r-1/validation.json", "reports/leak/r-1/validation.json",
            "reports/leak/r-1/data_docs/index.html"} <= names
    assert any(n.startswith("reports/leak/r-1/data_docs/validations/customers/") for n in names)
    assert any(n.endswith("rejects/validate_customers.parquet") for n in names)
    scanned = 0
    for path in written:
        stored = path.read_bytes().decode("utf-8", errors="replace")
        assert leaks(stored, values) == [], path
        # valid/ and checked/ (a partition's suite-checked rows) hold the clear rows, encrypted at rest
        if path.suffix == ".parquet" and not {"valid", "checked"} & set(path.parts):
            content = json.dumps(ctx.read_staged(path).to_pylist(), ensure_ascii=False, default=str)
            assert leaks(content, values) == [], path
        scanned += 1
    assert scanned == len(written) > 20
    assert leaks(caplog.text + json.dumps(result, ensure_ascii=False), values) == []
    quarantined = ctx.read_staged(ctx.rejects_path("validate", "customers"))
    assert quarantined.num_rows > 0  # the scan looked at real quarantine records


def test_the_scan_catches_great_expectations_default_rendering(sample_book):
    """Control: GX's default result format and Data Docs show unexpected values; the scan above would see them."""
    import great_expectations as gx
    from great_expectations.render.renderer import ValidationResultsPageRenderer
    from great_expectations.render.view import DefaultJinjaPageView

    from booktransfer.validate.gx_suite import _quiet_context

    values = personal_values(sample_book)
    with (sample_book / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        mobile = next(csv.DictReader(fh))["Mobile"]
    frame = pa.table({"mobile": [mobile, "13900000001"]}).to_pandas()
    batch = (_quiet_context().data_sources.add_pandas("p").add_dataframe_asset("a")
             .add_batch_definition_whole_dataframe("b").get_batch(batch_parameters={"dataframe": frame}))
    suite = gx.ExpectationSuite(name="s", expectations=[
        gx.expectations.ExpectColumnValuesToMatchRegex(column="mobile", regex="^1390")])

    html = DefaultJinjaPageView().render(ValidationResultsPageRenderer().render(batch.validate(suite)))

    assert mobile in leaks(html, values)
