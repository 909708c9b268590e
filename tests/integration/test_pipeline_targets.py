"""A whole transfer through the pipeline functions the DAG calls, into SQLite and the real PostgreSQL."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from booktransfer import pipeline
from booktransfer.errors import ControlFileError
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.load.target import engine_for

pytestmark = pytest.mark.integration
ENTITIES = ("customers", "policies", "policy_parties", "consents")


def run_all(drop: Path, target: str, tmp_path: Path, transfer_id: str = "t-1", run_id: str = "r-1",
            dry_run: bool = False) -> pipeline.RunContext:
    ctx = pipeline.RunContext(transfer_id=transfer_id, run_id=run_id, mapping_set="example_seller",
                              target_url=target, dry_run=dry_run, staging_root=tmp_path / "staging",
                              reports_root=tmp_path / "reports")
    pipeline.run_extract(ctx, LocalFolderSource(drop))
    for stage in ("map", "validate", "protect", "load", "reconcile"):
        getattr(pipeline, f"run_{stage}")(ctx)
    return ctx


def clear_values(drop: Path) -> set[str]:
    """Every ID number, name, mobile and address of the sample, as written by the seller."""
    with (drop / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r[c].strip() for r in rows for c in ("IDNo", "Name", "Mobile", "PostalAddress") if r[c].strip()}


def table_counts(url: str) -> dict[str, int]:
    engine = engine_for(url)
    with engine.connect() as conn:
        counts = {e: conn.execute(sa.text(f"SELECT count(*) FROM {e}")).scalar_one() for e in ENTITIES}
    engine.dispose()
    return counts


def all_text(url: str) -> str:
    engine = engine_for(url)
    with engine.connect() as conn:
        text = "\n".join(str(row) for e in ENTITIES for row in conn.execute(sa.text(f"SELECT * FROM {e}")))
    engine.dispose()
    return text


def check_transfer(ctx: pipeline.RunContext, drop: Path) -> dict:
    report = json.loads((ctx.report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS"
    counts = table_counts(ctx.target_url)
    control = {line.split("|")[0]: int(line.split("|")[1]) for line in (drop / "CONTROL.txt").read_text().split()}
    for entity, balance in report["entities"].items():
        assert balance["source_rows"] == control[balance["source_file"]]
        assert balance["loaded"] + balance["quarantined"] == balance["source_rows"]
        assert balance["loaded"] == counts[entity]
    assert sum(b["quarantined"] for b in report["entities"].values()) > 0, "the defects must show up"
    return report


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """Each test runs against the embedded default and the real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'buyer.db'}"
    return request.getfixturevalue("pg_url")


def test_transfer_balances_and_leaks_nothing(sample_book, keyring, target, tmp_path):
    """Every source row is loaded or quarantined, and no clear ID, name, mobile or address reaches the buyer."""
    ctx = run_all(sample_book, target, tmp_path)
    check_transfer(ctx, sample_book)
    stored = all_text(target)
    leaked = [v for v in clear_values(sample_book) if v in stored]
    assert leaked == []


def test_rerun_of_a_transfer_adds_nothing_twice(sample_book, keyring, target, tmp_path):
    """A second run of the same transfer id leaves exactly the rows of one run."""
    first = run_all(sample_book, target, tmp_path, run_id="r-1")
    counts = table_counts(target)
    second = run_all(sample_book, target, tmp_path, run_id="r-2")
    assert table_counts(target) == counts
    assert check_transfer(second, sample_book)["entities"] == check_transfer(first, sample_book)["entities"]


def test_encrypted_names_decrypt_to_the_source(sample_book, keyring, tmp_path):
    """The buyer's key holder reads back exactly the seller's name for the same source line."""
    from booktransfer.protect.ciphers import decrypt_value
    from booktransfer.protect.keyring import load_keyring

    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    run_all(sample_book, target, tmp_path)
    with (sample_book / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        by_line = {i + 2: row["Name"].strip() for i, row in enumerate(csv.DictReader(fh))}
    engine = engine_for(target)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT name, source_line FROM customers")).all()
    engine.dispose()
    ring = load_keyring()
    plain = {line: decrypt_value(ring, "name", name) for name, line in rows}
    assert plain == {line: by_line[line].replace("•", "·") for line in plain}


def test_dry_run_loads_nothing_and_reports(sample_book, keyring, tmp_path):
    """A dry run writes the report with what would load and creates no buyer table."""
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    ctx = run_all(sample_book, target, tmp_path, dry_run=True)
    report = json.loads((ctx.report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["dry_run"] is True and report["verdict"] == "PASS"
    assert sa.inspect(engine_for(target)).get_table_names() == []


def test_file_altered_after_control_stops_before_anything_loads(sample_book, keyring, tmp_path):
    """One changed byte in a data file fails extract on its checksum; nothing reaches the target."""
    drop = tmp_path / "drop"
    drop.mkdir()
    for f in sample_book.iterdir():
        (drop / f.name).write_bytes(f.read_bytes())
    data = bytearray((drop / "LCCONT.csv").read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    (drop / "LCCONT.csv").write_bytes(bytes(data))
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    with pytest.raises(ControlFileError, match="LCCONT.csv: SHA-256"):
        run_all(drop, target, tmp_path)
    assert sa.inspect(engine_for(target)).get_table_names() == []
