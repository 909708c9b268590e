"""The mapping tools against real parts: lint --target on the PostgreSQL server, preview on a generated drop."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import psycopg
import pytest

from booktransfer.cli import main
from booktransfer.mapping.lint import lint_mapping_set
from booktransfer.protect.keyring import write_keyring

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_lint_against_a_real_database_names_the_missing_column(pg_url, tmp_path):
    """--target reflects the real buyer database: a table without a mapped column is a finding at that field."""
    shutil.copytree(ROOT / "mappings" / "example_seller", tmp_path / "m")
    from booktransfer.load.target import ddl_statements

    with psycopg.connect(pg_url, autocommit=True) as conn:
        for stmt in ddl_statements(ROOT / "schemas" / "example_buyer" / "ddl.sql"):
            conn.execute(stmt)
        conn.execute("ALTER TABLE policies DROP COLUMN sum_insured")
    findings = [str(f) for f in lint_mapping_set(tmp_path / "m", target=pg_url, home=ROOT)]
    path = tmp_path / "m" / "policies.yaml"
    line = path.read_text(encoding="utf-8").split("\n").index("  - target: sum_insured") + 1
    assert findings == [f"{path}:{line}:5: target column policies.sum_insured does not exist in the target schema; "
                        "add it or fix 'target'"]


def test_preview_shows_protected_rows_and_no_clear_personal_data(sample_book, tmp_path, monkeypatch, capsys):
    """preview prints the buyer's view: tokens and ciphertexts where the mapping protects, quarantine by line."""
    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(write_keyring(tmp_path / "keyring.json")))
    code = main(["mapping", "preview", str(ROOT / "mappings" / "example_seller"), "--source", str(sample_book),
                 "--rows", "30", "--entity", "customers", "--width", "250"])
    out = capsys.readouterr().out
    assert code == 0
    assert "C000000001" in out and "v1:" in out
    with (sample_book / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        first = [r for _, r in zip(range(30), csv.DictReader(fh), strict=False)]
    clear = {r[c] for r in first for c in ("Name", "IDNo", "Mobile", "PostalAddress") if len(r[c]) > 3}
    assert [v for v in clear if v in out] == []
