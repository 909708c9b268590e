"""The reconciliation's target aggregates in one pass on PostgreSQL (GROUPING SETS) against a query per answer
(the path SQLite takes), on the same rows: nulls as group values, other transfers' rows, an empty transfer."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
import sqlalchemy as sa

from booktransfer.reconcile.totals import _aggregates_by_queries, target_aggregates, target_totals

pytestmark = pytest.mark.integration

SPEC = {"counts_by": [["purpose", "action"], ["channel"]], "sums": ["amount", "share"]}
COUNT_BY = (("purpose", "action"), ("action", "purpose"), ("channel",))


@pytest.fixture()
def engines(pg_url, tmp_path):
    """The same randomized rows in PostgreSQL and in SQLite."""
    rng = random.Random(9)
    rows = [{"t": rng.choice(["t1", "t1", "t1", "t2"]), "p": rng.choice(["MARKETING", "ANALYTICS", None]),
             "a": rng.choice(["GRANT", "WITHDRAW"]), "c": rng.choice(["APP", "SMS", None]),
             "m": Decimal(rng.randrange(0, 10**7)) / 100, "s": rng.choice([None, Decimal("33.33"), Decimal("0.01")])}
            for _ in range(2_000)]
    out = []
    for url in (pg_url.replace("postgresql://", "postgresql+psycopg://", 1), f"sqlite:///{tmp_path / 't.db'}"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE consents (transfer_id TEXT, purpose TEXT, action TEXT, channel TEXT, "
                                 "amount NUMERIC(18, 2), share NUMERIC(5, 2))"))
            conn.execute(sa.text("INSERT INTO consents VALUES (:t, :p, :a, :c, :m, :s)"), rows if engine.dialect.name
                         == "postgresql" else [r | {k: r[k] and str(r[k]) for k in "ms"} for r in rows])
        out.append(engine)
    yield out
    for engine in out:
        engine.dispose()


def test_one_pass_answers_as_a_query_per_answer_does(engines):
    """Held rows, every declared count and exact sum, and the extra counts agree for two transfers and an
    empty one; the counts are the rows' own (not a rolled-up null)."""
    postgres, sqlite = engines
    assert postgres.dialect.name == "postgresql"
    for transfer in ("t1", "t2", "none"):
        one_pass = target_aggregates(postgres, "consents", transfer, SPEC, COUNT_BY)
        assert one_pass == _aggregates_by_queries(postgres, "consents", transfer, SPEC, COUNT_BY)
        assert one_pass == target_aggregates(sqlite, "consents", transfer, SPEC, COUNT_BY)
        held, totals, counted = one_pass
        assert totals == target_totals(postgres, "consents", transfer, SPEC)
        assert sum(counted[("purpose", "action")].values()) == held
        assert sum(totals["count by channel"].values()) == held
    held, totals, counted = target_aggregates(postgres, "consents", "t1", SPEC, COUNT_BY)
    assert held > 1_000 and (None, "GRANT") in counted[("purpose", "action")]
    assert counted[("action", "purpose")][("GRANT", None)] == counted[("purpose", "action")][(None, "GRANT")]
    assert Decimal(totals["sum of amount"]["total"]) > 0
    assert target_aggregates(postgres, "consents", "none", SPEC, COUNT_BY)[0] == 0
    # a table that declares no totals: its row count alone, still one query
    assert target_aggregates(postgres, "consents", "t1", {}) == (held, {}, {}) == target_aggregates(
        sqlite, "consents", "t1", {})
