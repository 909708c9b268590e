"""The target-side aggregates the reconciliation asks of the buyer's database, asked all at once in the background.

Rows held per table, the control totals and the consent distribution are computed by the database (counts,
group-bys and NUMERIC sums over the transfer's rows; on PostgreSQL one `GROUPING SETS` query per table, one
pass over its rows). `TargetQueries` sends them on a few connections of their own when the reconcile task
starts, so the database works on them while the task reads the staged files and adds up the verify tasks'
records; each answer is then waited for where the report needs it. Answers are counts and sums of codes,
never personal data.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from booktransfer.pipeline import RunContext


CONSENT_COUNT_BY = ("purpose", "action")


class TargetQueries:
    """Held rows per entity, control totals per declared entity and consent counts, asked in background threads:
    one query per buyer table on PostgreSQL (`target_aggregates`: one pass over the transfer's rows answers all
    three), one per answer elsewhere."""

    def __init__(self, ctx: RunContext, totals_spec: dict[str, dict[str, list]], workers: int = 3) -> None:
        from booktransfer.load.target import engine_for
        from booktransfer.reconcile.totals import target_aggregates

        self.engine = engine_for(ctx.target_url)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="reconcile-target")
        tid = ctx.transfer_id
        entities = list(dict.fromkeys([*ctx.load_mapping().entities, *totals_spec]))
        self._has_consents = "consents" in ctx.load_mapping().entities
        # the largest tables first: their answers take longest (a book has more consents than customers)
        order = sorted(entities, key=lambda e: e != "consents")
        self._asked: dict[str, Future] = {
            e: self._pool.submit(target_aggregates, self.engine, e, tid, totals_spec.get(e, {}),
                                 (CONSENT_COUNT_BY,) if e == "consents" else ()) for e in order}

    def held(self, entity: str) -> int:
        """Rows of `entity`'s table that belong to the transfer."""
        return self._asked[entity].result()[0]

    def totals(self, entity: str) -> dict[str, dict[str, Any]]:
        """The declared control totals of `entity`, as the database computes them."""
        return self._asked[entity].result()[1]

    def consents(self) -> Counter:
        """Consent events per (purpose, action) in the target."""
        if not self._has_consents:
            raise KeyError("consents: the mapping set has no consents entity")
        return Counter(self._asked["consents"].result()[2][CONSENT_COUNT_BY])

    def close(self) -> None:
        """Wait for (or drop) what is still running, then close the connections."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.engine.dispose()

    def __enter__(self) -> TargetQueries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
