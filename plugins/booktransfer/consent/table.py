"""The buyer's `consent_status` table: one row per natural person and purpose, built from the decisions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from booktransfer.consent.decide import decide_all
from booktransfer.consent.model import SERVICING, ConsentEvent, Decision, Person

if TYPE_CHECKING:
    import pyarrow as pa

KEY = ("customer_no", "purpose")


def status_schema() -> pa.Schema:
    """The Arrow schema of `consent_status` (the loader adds `transfer_id`)."""
    import pyarrow as pa

    return pa.schema([
        ("customer_no", pa.string()), ("purpose", pa.string()), ("state", pa.string()),
        ("legal_basis", pa.string()), ("declared", pa.bool_()), ("allowed", pa.bool_()), ("reason", pa.string()),
        ("guardian_required", pa.bool_()), ("decided_event_no", pa.string()), ("decided_at", pa.timestamp("s")),
        ("decided_channel", pa.string()), ("decided_evidence_ref", pa.string()), ("decided_source", pa.string()),
        ("decided_source_line", pa.int64()),
    ])


def _row(customer_no: str, d: Decision) -> tuple:
    e = d.event
    return (customer_no, d.purpose, d.state.value, d.legal_basis.value, d.declared, d.allowed, d.reason.value,
            d.guardian_required, e and e.event_no, e and e.event_time, e and e.channel, e and e.evidence_ref,
            e and e.source, e and e.source_line)


def consent_status_table(persons: Iterable[Person], events: Mapping[str, Sequence[ConsentEvent]],
                         purposes: Sequence[str], declared: frozenset[str], as_of: date) -> pa.Table:
    """Decide every purpose for every person; rows in (customer_no, purpose) order."""
    import pyarrow as pa

    schema = status_schema()
    rows = [_row(p.customer_no, d)
            for p in sorted(persons, key=lambda p: p.customer_no)
            for d in decide_all(p, purposes, events.get(p.customer_no, ()), declared, as_of)]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    return pa.table([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema)


def status_summary(table: pa.Table) -> dict[str, Any]:
    """Counts only: persons, and per purpose the states and the reasons (what the report shows)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def counts(column: str) -> dict[str, dict[str, int]]:
        grouped = table.group_by(["purpose", column]).aggregate([([], "count_all")]).to_pylist()
        out: dict[str, dict[str, int]] = {}
        for row in sorted(grouped, key=lambda r: (r["purpose"], r[column])):
            out.setdefault(row["purpose"], {})[row[column]] = row["count_all"]
        return out

    states, reasons = counts("state"), counts("reason")
    allowed = {r["purpose"]: r["allowed_sum"] or 0
               for r in table.group_by("purpose").aggregate([("allowed", "sum")]).to_pylist()}
    guardian = table.filter(pc.and_(table.column("guardian_required"),
                                    pc.equal(table.column("purpose"), pa.scalar(SERVICING))))
    return {
        "persons": len(pc.unique(table.column("customer_no"))),
        "guardian_required": guardian.num_rows,
        "purposes": {p: {"allowed": allowed.get(p, 0), "states": states[p], "reasons": reasons[p]}
                     for p in sorted(states)},
    }
