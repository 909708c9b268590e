"""The report auditors trust, against the real PostgreSQL server: tampering is found, typed and signed off."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from booktransfer import pipeline
from booktransfer.errors import ReconciliationFailed
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.reconcile.manifest import verify_folder
from booktransfer.reconcile.signing import create_signing_key, load_public_key

pytestmark = pytest.mark.integration
STAGES = ("map", "validate", "protect", "load", "reconcile")


@pytest.fixture()
def loaded(sample_book, keyring, pg_url, tmp_path, monkeypatch):
    """A transfer of the sample book loaded into PostgreSQL, with a signing key; returns its run context."""
    monkeypatch.setenv("BOOKTRANSFER_SIGNING_KEY_FILE", str(create_signing_key(tmp_path / "signing.pem")))
    ctx = pipeline.RunContext(transfer_id="audit", run_id="r1", mapping_set="example_seller", target_url=pg_url,
                              staging_root=tmp_path / "staging", reports_root=tmp_path / "reports")
    pipeline.run_extract(ctx, LocalFolderSource(sample_book))
    for stage in STAGES:
        getattr(pipeline, f"run_{stage}")(ctx)
    return ctx


def _report(ctx) -> dict:
    return json.loads((ctx.report_dir / "reconciliation.json").read_text(encoding="utf-8"))


def _differences(ctx) -> set[tuple[str, int, str, str]]:
    with (ctx.report_dir / "differences.csv").open(encoding="utf-8", newline="") as fh:
        return {(r["entity"], int(r["source_line"]), r["reason"], r["columns"]) for r in csv.DictReader(fh)}


def test_clean_transfer_passes_every_check(loaded):
    """Record-level, control totals and conservation all hold; the signed report verifies."""
    report = _report(loaded)
    assert report["verdict"] == "PASS"
    assert all(r["ok"] and r["matched"] == r["expected"] == r["in_target"] for r in report["record_level"])
    assert all(row["agrees"] for rows in report["control_totals"].values() for row in rows)
    assert _differences(loaded) == set()
    assert verify_folder(loaded.report_dir, load_public_key()).ok
    import jsonschema

    schema = json.loads((loaded.report_dir / "reconciliation.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(report)
    manifest = json.loads((loaded.report_dir / "MANIFEST").read_text(encoding="utf-8"))
    assert {"transfer_id", "mapping_version", "suite_versions", "code_version", "input_files", "key_ids",
            "operator", "timings"} <= set(manifest["run"])
    assert "reconciliation.json" in manifest["files"]
    assert {"reconciliation.html", "reconciliation.json", "quarantine.csv", "differences.csv",
            "consent_summary.csv", "MANIFEST", "MANIFEST.sig"} <= {p.name for p in loaded.report_dir.iterdir()}


def _one(conn, sql: str):
    return conn.execute(sql).fetchone()


def test_altered_deleted_duplicated_and_foreign_rows_are_typed(loaded):
    """Tampering after the load (a value, a ciphertext, a token, a deleted, a doubled and a foreign row): exactly
    those rows are reported, with the right reasons and columns."""
    with psycopg.connect(loaded.target_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        premium_line = _one(c, "SELECT source_line FROM policies ORDER BY source_line LIMIT 1")[0]
        c.execute("UPDATE policies SET annual_premium = annual_premium + 1 WHERE source_line = %s", (premium_line,))
        name_line, other_name = _one(c, "SELECT source_line, (SELECT name FROM customers ORDER BY source_line DESC "
                                        "LIMIT 1) FROM customers ORDER BY source_line LIMIT 1")
        c.execute("UPDATE customers SET name = %s WHERE source_line = %s", (other_name, name_line))
        token_line, other_token = _one(c, "SELECT source_line, (SELECT id_number FROM customers ORDER BY source_line "
                                          "DESC LIMIT 1) FROM customers ORDER BY source_line OFFSET 1 LIMIT 1")
        c.execute("UPDATE customers SET id_number = %s WHERE source_line = %s", (other_token, token_line))
        gone_line = _one(c, "SELECT source_line FROM consents ORDER BY source_line LIMIT 1")[0]
        c.execute("DELETE FROM consents WHERE source_line = %s", (gone_line,))
        c.execute("ALTER TABLE policy_parties DROP CONSTRAINT IF EXISTS policy_parties_pkey")
        dup_line = _one(c, "SELECT source_line FROM policy_parties ORDER BY source_line LIMIT 1")[0]
        c.execute("INSERT INTO policy_parties SELECT * FROM policy_parties WHERE source_line = %s", (dup_line,))
        c.execute("CREATE TEMP TABLE stray AS SELECT * FROM consents WHERE source_line = "
                  "(SELECT max(source_line) FROM consents)")
        c.execute("UPDATE stray SET event_no = 'A9999999999', source_line = 999999")
        c.execute("INSERT INTO consents SELECT * FROM stray")
    with pytest.raises(ReconciliationFailed):
        pipeline.run_reconcile(loaded)
    assert _differences(loaded) == {
        ("policies", premium_line, "VALUES_DIFFER", "annual_premium"),
        ("customers", name_line, "VALUES_DIFFER", "name"),
        ("customers", token_line, "VALUES_DIFFER", "id_number"),  # a token: named against the protected row
        ("consents", gone_line, "MISSING_IN_TARGET", ""),
        ("policy_parties", dup_line, "DUPLICATE_KEY", ""),
        ("consents", 999999, "UNEXPECTED_IN_TARGET", ""),
    }
    report = _report(loaded)
    assert report["verdict"] == "FAIL"
    disagreeing = {(e, r["measure"]) for e, rows in report["control_totals"].items() for r in rows if not r["agrees"]}
    assert ("policies", "sum of annual_premium") in disagreeing


def test_record_level_agrees_with_an_independent_comparison(loaded):
    """A plain comparison of decrypted target values with the clear staged rows finds the same rows."""
    from booktransfer.protect.ciphers import decrypt_value

    with psycopg.connect(loaded.target_url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as c:
        line = _one(c, "SELECT source_line FROM customers ORDER BY source_line DESC LIMIT 1")[0]
        c.execute("UPDATE customers SET mobile = (SELECT mobile FROM customers WHERE source_line <> %s LIMIT 1) "
                  "WHERE source_line = %s", (line, line))
        target = {r[0]: r[1] for r in c.execute("SELECT source_line, mobile FROM customers").fetchall()}
    clear = {r["_line"]: r["mobile"] for r in loaded.read_staged(loaded.stage_path("valid", "customers")).to_pylist()}
    ring = loaded.keyring
    independent = {ln for ln, m in target.items() if decrypt_value(ring, "mobile", m) != clear[ln]}
    with pytest.raises(ReconciliationFailed):
        pipeline.run_reconcile(loaded)
    ours = {ln for e, ln, reason, _ in _differences(loaded) if e == "customers" and reason == "VALUES_DIFFER"}
    assert ours == independent == {line}


def test_verify_names_any_file_changed_by_one_byte(loaded):
    """Every file of the report is covered: one flipped byte anywhere is named by report verify."""
    public = load_public_key()
    files = [p for p in loaded.report_dir.rglob("*") if p.is_file() and not p.name.startswith("MANIFEST")]
    assert len(files) >= 5
    for path in files:
        original = path.read_bytes()
        path.write_bytes(bytes([original[0] ^ 0x20]) + original[1:])
        result = verify_folder(loaded.report_dir, public)
        path.write_bytes(original)
        assert result.changed == (path.relative_to(loaded.report_dir).as_posix(),)
    assert verify_folder(loaded.report_dir, public).ok


def test_html_report_renders_in_headless_chromium_without_console_errors(loaded, tmp_path):
    """The page opens in Chromium with no console errors; the screenshot is kept with the test output."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium package is required (.ci/run installs it)"
    shot = Path("test-artifacts") / "reconciliation.png"
    shot.parent.mkdir(exist_ok=True)
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={shot.resolve()}", "--window-size=1200,1600",
         (loaded.report_dir / "reconciliation.html").as_uri()],
        capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    assert shot.stat().st_size > 10_000


def test_reload_repairs_exactly_the_failing_rows_and_reconciles_again(loaded, monkeypatch):
    """reload --keys differences.csv puts the staged rows back; the second, signed pass is PASS; both recorded."""
    from booktransfer.cli import main

    dsn = loaded.target_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as c:
        line = _one(c, "SELECT source_line FROM policies ORDER BY source_line LIMIT 1")[0]
        c.execute("UPDATE policies SET sum_insured = 0 WHERE source_line = %s", (line,))
        gone = _one(c, "SELECT source_line FROM customers ORDER BY source_line DESC LIMIT 1")[0]
        c.execute("DELETE FROM consents WHERE customer_no = (SELECT customer_no FROM customers WHERE source_line = "
                  "%s)", (gone,))
        before = _one(c, "SELECT count(*) FROM policies")[0]
    with pytest.raises(ReconciliationFailed):
        pipeline.run_reconcile(loaded)
    keys = loaded.report_dir / "differences.csv"
    monkeypatch.setenv("BOOKTRANSFER_STAGING", str(loaded.staging_root))
    monkeypatch.setenv("BOOKTRANSFER_REPORTS", str(loaded.reports_root))
    assert main(["reload", "--keys", str(keys), "--transfer-id", loaded.transfer_id, "--run-id", loaded.run_id,
                 "--target", loaded.target_url]) == 0
    repaired = loaded.report_dir / "repair-1"
    second = json.loads((repaired / "reconciliation.json").read_text(encoding="utf-8"))
    assert second["verdict"] == "PASS"
    assert verify_folder(repaired, load_public_key()).ok
    done = json.loads((repaired / "repair.json").read_text(encoding="utf-8"))["entities"]
    assert done["policies"]["lines_requested"] == 1 and done["policies"]["rows_written"] == 1
    with psycopg.connect(dsn, autocommit=True) as c:
        assert _one(c, "SELECT count(*) FROM policies")[0] == before
        actions = {r[0] for r in c.execute("SELECT action FROM transfer_runs WHERE transfer_id = 'audit'").fetchall()}
    assert "REPAIRED" in actions
