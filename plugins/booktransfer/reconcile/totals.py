"""Control totals: counts by business keys and exact sums, source side (rows validated for loading) vs target.

Declared per buyer schema in `schemas/<schema>/control_totals.yaml`; group values are codes (products,
statuses, purposes), never personal data.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import yaml

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


def load_spec(path: Path) -> dict[str, dict[str, list]]:
    """The control-total declarations of a buyer schema (empty when the schema declares none)."""
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _key(values: tuple) -> str:
    return " / ".join("∅" if v is None else str(v) for v in values)


def source_totals(table: pa.Table, spec: dict[str, list]) -> dict[str, dict[str, Any]]:
    """Counts and sums over an Arrow table (the rows validated for loading)."""
    out: dict[str, dict[str, Any]] = {}
    for columns in spec.get("counts_by", []):
        grouped = table.group_by(columns).aggregate([([], "count_all")]).to_pylist()
        out["count by " + "+".join(columns)] = {_key(tuple(r[c] for c in columns)): r["count_all"] for r in grouped}
    for column in spec.get("sums", []):
        values = table.column(column)
        if pa.types.is_decimal(values.type):  # exact in Arrow (decimal128 keeps the scale), no Python loop
            import pyarrow.compute as pc

            total = pc.sum(values).as_py()
            out[f"sum of {column}"] = {"total": str(total if total is not None else Decimal(0))}
            continue
        present = [v for v in values.to_pylist() if v is not None]
        out[f"sum of {column}"] = {"total": str(sum((Decimal(str(v)) for v in present), Decimal(0)))}
    return out


def target_totals(engine: Engine, entity: str, transfer_id: str, spec: dict[str, list]) -> dict[str, dict[str, Any]]:
    """The same counts and sums computed by the target database for this transfer's rows."""
    import sqlalchemy as sa

    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    mine = table.c.transfer_id == transfer_id
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for columns in spec.get("counts_by", []):
            cols = [table.c[c] for c in columns]
            rows = conn.execute(sa.select(*cols, sa.func.count()).where(mine).group_by(*cols)).all()
            out["count by " + "+".join(columns)] = {_key(tuple(r[:-1])): r[-1] for r in rows}
        for column in spec.get("sums", []):
            if engine.dialect.name == "postgresql":  # NUMERIC sums are exact in the database
                total = conn.execute(sa.select(sa.func.sum(table.c[column])).where(mine)).scalar()
                out[f"sum of {column}"] = {"total": str(Decimal(str(total)) if total is not None else Decimal(0))}
                continue
            values = conn.execute(sa.select(table.c[column]).where(mine, table.c[column].is_not(None))).scalars()
            out[f"sum of {column}"] = {"total": str(sum((Decimal(str(v)) for v in values), Decimal(0)))}
    return out


def target_aggregates(engine: Engine, entity: str, transfer_id: str, spec: dict[str, list],
                       count_by: tuple[tuple[str, ...], ...] = ()) -> tuple[int, dict[str, dict[str, Any]], dict]:
    """What the reconciliation asks of one buyer table, in one pass over the transfer's rows on PostgreSQL (one
    `GROUPING SETS` query: each declared grouping, each of `count_by`, and the empty set that gives the row count
    and the sums); elsewhere a query each. Returns (rows held, `target_totals`, {count_by columns: {values:
    rows}})."""
    if engine.dialect.name != "postgresql":
        return _aggregates_by_queries(engine, entity, transfer_id, spec, count_by)
    import sqlalchemy as sa

    declared = [tuple(g) for g in spec.get("counts_by", [])]
    sets = list(dict.fromkeys([*declared, *count_by]))
    columns = list(dict.fromkeys(c for group in sets for c in group))
    sums = spec.get("sums", [])
    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    query = sa.select(*(sa.func.grouping(table.c[c]) for c in columns), *(table.c[c] for c in columns),
                      sa.func.count(), *(sa.func.sum(table.c[c]) for c in sums)) \
        .where(table.c.transfer_id == transfer_id) \
        .group_by(sa.func.grouping_sets(*(sa.tuple_(*(table.c[c] for c in g)) for g in sets), sa.text("()")))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    width = len(columns)
    by_set: dict[frozenset, list[tuple[dict[str, Any], int]]] = {frozenset(g): [] for g in sets}
    held, totals_row = 0, None
    for row in rows:  # GROUPING(c) is 0 where c is one of the row's grouping set, 1 where it is rolled up
        flags, values, count = row[:width], row[width:2 * width], row[2 * width]
        present = {c: v for c, flag, v in zip(columns, flags, values, strict=True) if flag == 0}
        if not present:
            held, totals_row = count, row[2 * width + 1:]
        else:
            by_set[frozenset(present)].append((present, count))

    def groups(g: tuple[str, ...]) -> dict[tuple, int]:
        return {tuple(values[c] for c in g): n for values, n in by_set[frozenset(g)]}

    out = {"count by " + "+".join(g): {_key(k): n for k, n in groups(g).items()} for g in declared}
    for column, total in zip(sums, totals_row or [None] * len(sums), strict=True):
        out[f"sum of {column}"] = {"total": str(Decimal(str(total)) if total is not None else Decimal(0))}
    return held, out, {g: groups(g) for g in count_by}


def _aggregates_by_queries(engine: Engine, entity: str, transfer_id: str, spec: dict[str, list],
                           count_by: tuple[tuple[str, ...], ...]) -> tuple[int, dict[str, dict[str, Any]], dict]:
    import sqlalchemy as sa

    from booktransfer.load.target import count_loaded

    held = count_loaded(engine, entity, transfer_id)
    totals = target_totals(engine, entity, transfer_id, spec) if spec else {}
    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    counted = {}
    with engine.connect() as conn:
        for group in count_by:
            cols = [table.c[c] for c in group]
            rows = conn.execute(sa.select(*cols, sa.func.count()).where(table.c.transfer_id == transfer_id)
                                .group_by(*cols)).all()
            counted[group] = {tuple(r[:-1]): r[-1] for r in rows}
    return held, totals, counted


def compare(source: dict[str, dict[str, Any]], target: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per total and group: source value, target value, and whether they agree."""
    rows = []
    for measure in source.keys() | target.keys():
        groups = source.get(measure, {}).keys() | target.get(measure, {}).keys()
        for group in sorted(groups):
            s, t = source.get(measure, {}).get(group, 0), target.get(measure, {}).get(group, 0)
            same = Decimal(str(s)) == Decimal(str(t))
            rows.append({"measure": measure, "group": group, "source": s, "target": t, "agrees": same})
    return sorted(rows, key=lambda r: (r["measure"], r["group"]))
