"""The target-side aggregates the reconciliation asks of the buyer's database, asked all at once in the background.

Rows held per table, the control totals and the consent distribution are computed by the database (counts,
group-bys and NUMERIC sums over the transfer's rows). `TargetQueries` sends them on a few connections of their
own when the reconcile task starts, so the database works on them while the task reads the staged files and
adds up the verify tasks' records; each answer is then waited for where the report needs it. Answers are
counts and sums of codes, never personal data.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from booktransfer.pipeline import RunContext


def consent_counts(engine: Engine, transfer_id: str) -> Counter:
    """Consent events the target holds for the transfer, per (purpose, action)."""
    import sqlalchemy as sa

    table = sa.Table("consents", sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(table.c.purpose, table.c.action, sa.func.count())
                            .where(table.c.transfer_id == transfer_id)
                            .group_by(table.c.purpose, table.c.action)).all()
    return Counter({(p, a): n for p, a, n in rows})


class TargetQueries:
    """Held rows per entity, control totals per declared entity and consent counts, asked in background threads."""

    def __init__(self, ctx: RunContext, totals_spec: dict[str, dict[str, list]], workers: int = 3) -> None:
        from booktransfer.load.target import count_loaded, engine_for
        from booktransfer.reconcile.totals import target_totals

        self.engine = engine_for(ctx.target_url)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile-target")
        submit, tid = self._pool.submit, ctx.transfer_id
        self._totals: dict[str, Future] = {e: submit(target_totals, self.engine, e, tid, spec)
                                           for e, spec in totals_spec.items()}
        self._held: dict[str, Future] = {e: submit(count_loaded, self.engine, e, tid)
                                         for e in ctx.load_mapping().entities}
        self._consents: Future | None = submit(consent_counts, self.engine, tid) \
            if "consents" in ctx.load_mapping().entities else None

    def held(self, entity: str) -> int:
        """Rows of `entity`'s table that belong to the transfer."""
        return self._held[entity].result()

    def totals(self, entity: str) -> dict[str, dict[str, Any]]:
        """The declared control totals of `entity`, as the database computes them."""
        return self._totals[entity].result()

    def consents(self) -> Counter:
        """Consent events per (purpose, action) in the target."""
        if self._consents is None:
            raise KeyError("consents: the mapping set has no consents entity")
        return self._consents.result()

    def close(self) -> None:
        """Wait for (or drop) what is still running, then close the connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

    def __enter__(self) -> TargetQueries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
