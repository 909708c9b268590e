"""Control totals (source vs target) and the auditor's HTML page."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import sqlalchemy as sa

from booktransfer.reconcile.html_report import render_html
from booktransfer.reconcile.totals import compare, source_totals, target_totals

SPEC = {"counts_by": [["product_code", "status"]], "sums": ["annual_premium"]}


def _policies() -> pa.Table:
    return pa.table({"product_code": ["WL-01", "WL-01", "TL-01"], "status": ["IN_FORCE", "IN_FORCE", "LAPSED"],
                     "annual_premium": pa.array([Decimal("0.10"), Decimal("0.20"), Decimal("3650.00")],
                                                pa.decimal128(18, 2))})


def _target(tmp_path, rows: list[tuple]):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE policies (transfer_id TEXT, product_code TEXT, status TEXT, "
                             "annual_premium NUMERIC(18,2))"))
        conn.execute(sa.text("INSERT INTO policies VALUES (:t, :p, :s, :a)"),
                     [{"t": t, "p": p, "s": s, "a": a} for t, p, s, a in rows])
    return engine


def test_totals_agree_when_the_target_holds_the_same_rows(tmp_path):
    """Counts by product and status and exact premium sums agree (0.1 + 0.2 is exactly 0.3 here)."""
    engine = _target(tmp_path, [("t", "WL-01", "IN_FORCE", 0.10), ("t", "WL-01", "IN_FORCE", 0.20),
                                ("t", "TL-01", "LAPSED", 3650.00), ("other", "TL-01", "LAPSED", 1.0)])
    rows = compare(source_totals(_policies(), SPEC), target_totals(engine, "policies", "t", SPEC))
    assert all(r["agrees"] for r in rows)
    assert {r["group"]: r["source"] for r in rows if r["measure"].startswith("count")} == {
        "TL-01 / LAPSED": 1, "WL-01 / IN_FORCE": 2}
    assert [r["target"] for r in rows if r["measure"] == "sum of annual_premium"] == ["3650.30"]


def test_a_lost_row_and_a_changed_amount_show_as_disagreements(tmp_path):
    """One row missing in the target and one premium altered: both totals disagree, by group."""
    engine = _target(tmp_path, [("t", "WL-01", "IN_FORCE", 0.10), ("t", "TL-01", "LAPSED", 3650.01)])
    rows = compare(source_totals(_policies(), SPEC), target_totals(engine, "policies", "t", SPEC))
    bad = {(r["measure"], r["group"]) for r in rows if not r["agrees"]}
    assert bad == {("count by product_code+status", "WL-01 / IN_FORCE"), ("sum of annual_premium", "total")}


def test_html_puts_the_verdict_first_and_is_self_contained():
    """The page opens with the verdict, shows each equation, loads nothing external, escapes text."""
    report = {"verdict": "FAIL", "failed_entities": ["policies"], "transfer_id": "t<1>", "run_id": "r",
              "mapping_set": "m", "mapping_version": "1.0.0", "entities": {
                  "policies": {"source_rows": 3, "loaded": 1, "quarantined": 1, "equation": "3 = 1 + 1",
                               "holds": False, "rejects_by_reason": {"UNKNOWN_CODE": 1}}},
              "control_totals": {"policies": [{"measure": "sum", "group": "total", "source": "1", "target": "2",
                                               "agrees": False}]}}
    page = render_html(report)
    assert page.index("未通过 FAIL") < page.index("3 = 1 + 1") < page.index("UNKNOWN_CODE")
    assert "t&lt;1&gt;" in page and "<script" not in page and "http://" not in page and "https://" not in page
