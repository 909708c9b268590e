"""Record-level reconciliation: every row the target holds for the transfer, decrypted and compared.

Expected: the staged rows (source line, entity key, and the row's canonical serialization — the bytes its
fingerprint was taken over — from the clear staged values and the stored tokens and generalized values).
Actual: the buyer's rows read back, decrypted and canonicalized. A row matches when its canonical bytes are the
expected ones: the decrypted row is the mapped row, byte for byte, so re-fingerprinting it gives the
fingerprint taken before protection (what `fingerprint_buyer_table` does for an audit, at the cost of an HMAC
per row, against the stored `row_fingerprint`; `booktransfer decrypt --verify`). Compared by key — row by row
when both sides, sorted by key, hold the same keys, else by key lookups —, never capped. Each difference gets a
typed reason:

- MISSING_IN_TARGET: an expected row whose key the target lacks;
- UNEXPECTED_IN_TARGET: a target row whose key was never expected;
- DUPLICATE_KEY: a key the target holds more than once;
- VALUES_DIFFER: same key, a different canonical row; the columns that differ are named (drilled down
  against the clear and the protected staged rows), never their values.

Rows are identified by source file:line only.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.errors import ReconciliationFailed
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping, Protection
from booktransfer.protect.fingerprint import (
    FINGERPRINT_COLUMN,
    canonical_value,
    fingerprint_fields,
    value_kind,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from booktransfer.pipeline import RunContext
    from booktransfer.protect.keyring import Keyring
    from booktransfer.reconcile.target_queries import TargetQueries

_KEY = "__key"


def _key_array(table: pa.Table, key: tuple[str, ...]) -> pa.Array:
    """One text key per row (entity key columns joined with U+001F)."""
    parts = [pc.fill_null(table.column(k).cast(pa.string()), "\x00") for k in key]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "\x1f")


def read_target_rows(engine: Engine, entity: str, transfer_id: str) -> list[dict[str, Any]]:
    """Every row the buyer's table holds for this transfer, as dicts (streamed from the database)."""
    import sqlalchemy as sa

    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True).execute(
            sa.select(table).where(table.c.transfer_id == transfer_id))
        return [dict(row._mapping) for row in result]


def differing_columns(ring: Keyring, mapping: EntityMapping, clear: dict[str, Any], row: dict[str, Any],
                      stored: dict[str, Any] | None = None) -> list[str]:
    """Which fingerprinted columns of a target row differ from the staged row (names only): against the clear
    staged row (decrypting), tokens and generalized values against the protected staged row (`stored`, when
    given)."""
    from booktransfer.protect.ciphers import decrypt_value

    out = []
    for field in fingerprint_fields(mapping):
        kind = value_kind(field)
        if field.protection in (Protection.TOKEN, Protection.GENERALIZE):
            # the staged clear value is not the stored one: compared with the protected staged row
            if stored is not None and canonical_value(row.get(field.target), kind) != canonical_value(
                    stored.get(field.target), kind):
                out.append(field.target)
            continue
        value = row.get(field.target)
        if field.protection in (Protection.ENCRYPT, Protection.ENCRYPT_TOKEN) and value is not None:
            value = decrypt_value(ring, field.target, value)
        if canonical_value(value, kind) != canonical_value(clear.get(field.target), kind):
            out.append(field.target)
    return out or ["(token or generalized column)"]


def compare_entity(expected: pa.Table, actual: pa.Table, key: tuple[str, ...],
                   values: tuple[str, str] = (FINGERPRINT_COLUMN, "actual_fp")) -> dict[str, pa.Table]:
    """Vectorized comparison by key: duplicates, missing, unexpected, and rows whose values differ (the `values`
    columns, expected's and actual's: fingerprints, or canonical rows).

    Each target row's key is looked up among the expected keys (`index_in`), and counts per expected row say
    what a join would: a key the target holds more than once (DUPLICATE_KEY, every such row), an expected row
    no target row holds (MISSING_IN_TARGET), a target key nothing expected (UNEXPECTED_IN_TARGET), one row each
    side with different fingerprints (VALUES_DIFFER, by the target row's source line). Expected keys are unique
    after validation; when they are not, `compare_by_join` decides."""
    import numpy as np

    aligned = compare_aligned(expected, actual, key, values)
    if aligned is not None:
        return aligned
    exp_keys, act_keys = _key_array(expected, key), _key_array(actual, key)
    if len(exp_keys) == 0 or pc.count_distinct(exp_keys).as_py() != len(exp_keys):
        return compare_by_join(expected, actual, key, values)
    index = pc.index_in(act_keys, value_set=exp_keys)
    matched = index.is_valid().to_numpy(zero_copy_only=False)
    at = index.fill_null(0).to_numpy(zero_copy_only=False)
    hits = np.bincount(at[matched], minlength=len(exp_keys))
    duplicate = matched & (hits[at] > 1)
    stray = np.flatnonzero(~matched)
    if len(stray):  # keys nothing expected: duplicates among themselves
        strays = act_keys.take(pa.array(stray))
        counts = pc.value_counts(strays)
        many = counts.filter(pc.greater(counts.field("counts"), 1)).field("values")
        duplicate[stray] = pc.is_in(strays, value_set=many).to_numpy(zero_copy_only=False)
    single = matched & ~duplicate
    mine, theirs = values
    differ = single & pc.fill_null(pc.not_equal(actual.column(theirs).combine_chunks(),
                                                expected.column(mine).combine_chunks().take(pa.array(at))),
                                   True).to_numpy(zero_copy_only=False)
    lines = actual.select(["source_line"])
    return {
        "DUPLICATE_KEY": lines.filter(pa.array(duplicate)),
        "MISSING_IN_TARGET": expected.filter(pa.array(hits == 0)).select([LINE_COLUMN]).rename_columns(
            ["source_line"]),
        "UNEXPECTED_IN_TARGET": lines.filter(pa.array(~matched & ~duplicate)),
        "VALUES_DIFFER": lines.filter(pa.array(differ)),
    }


def compare_aligned(expected: pa.Table, actual: pa.Table, key: tuple[str, ...],
                    values: tuple[str, str] = (FINGERPRINT_COLUMN, "actual_fp")) -> dict[str, pa.Table] | None:
    """`compare_entity` row by row, both sides sorted by key (cheap: the load writes each share sorted by key,
    so it reads back in long sorted runs), when they then hold the same keys in the same order, one row per key:
    the usual case, compared without hashing a key. None when they do not (a key missing, added or repeated):
    `compare_entity` then looks every key up."""
    from booktransfer.load.encode import sorted_by_key

    if expected.num_rows != actual.num_rows or expected.num_rows == 0 or not key:
        return None
    expected, actual = sorted_by_key(expected, key), sorted_by_key(actual, key)
    columns = []
    for k in key:
        exp_key, act_key = expected.column(k).combine_chunks(), actual.column(k).combine_chunks()
        if exp_key.null_count or act_key.null_count or exp_key.type != act_key.type or \
                not pc.all(pc.equal(exp_key, act_key)).as_py():
            return None
        columns.append(exp_key)
    # strictly ascending, so no key twice: each row's key is greater than the one before it (lexicographically)
    later = None
    for column in reversed(columns):
        after, before = column.slice(1), column.slice(0, len(column) - 1)
        greater = pc.greater(after, before)
        later = greater if later is None else pc.or_(greater, pc.and_(pc.equal(after, before), later))
    if not pc.all(later, min_count=0).as_py():  # (true for one row: nothing before it)
        return None
    mine, theirs = values
    differ = pc.fill_null(pc.not_equal(actual.column(theirs).combine_chunks(), expected.column(mine).combine_chunks()),
                          True)
    lines = actual.select(["source_line"])
    none = lines.slice(0, 0)
    return {"DUPLICATE_KEY": none, "MISSING_IN_TARGET": none, "UNEXPECTED_IN_TARGET": none,
            "VALUES_DIFFER": lines.filter(differ)}


def compare_by_join(expected: pa.Table, actual: pa.Table, key: tuple[str, ...],
                    values: tuple[str, str] = (FINGERPRINT_COLUMN, "actual_fp")) -> dict[str, pa.Table]:
    """`compare_entity` as a full outer join of the expected rows with the target rows whose key is single."""
    mine, theirs = values
    exp = expected.append_column(_KEY, _key_array(expected, key)).select([_KEY, LINE_COLUMN, mine])
    act = actual.append_column(_KEY, _key_array(actual, key)).select([_KEY, "source_line", theirs])
    counts = act.group_by(_KEY).aggregate([([], "count_all")])
    dup_keys = counts.filter(pc.greater(counts.column("count_all"), 1)).column(_KEY)
    duplicate = pc.is_in(act.column(_KEY), value_set=dup_keys.combine_chunks())
    single = act.filter(pc.invert(duplicate))
    joined = exp.join(single, keys=_KEY, join_type="full outer", use_threads=False)
    exp_line, act_line = joined.column(LINE_COLUMN), joined.column("source_line")
    both = pc.and_(pc.is_valid(exp_line), pc.is_valid(act_line))
    differ = pc.and_(both, pc.fill_null(pc.not_equal(joined.column(mine), joined.column(theirs)), True))
    dup_expected = pc.is_in(joined.column(_KEY), value_set=dup_keys.combine_chunks())
    missing = pc.and_(pc.and_(pc.is_valid(exp_line), pc.is_null(act_line)), pc.invert(dup_expected))
    unexpected = pc.and_(pc.is_null(exp_line), pc.is_valid(act_line))
    return {
        "DUPLICATE_KEY": act.filter(duplicate).select(["source_line"]),
        "MISSING_IN_TARGET": joined.filter(missing).select([LINE_COLUMN]).rename_columns(["source_line"]),
        "UNEXPECTED_IN_TARGET": joined.filter(unexpected).select(["source_line"]),
        "VALUES_DIFFER": joined.filter(differ).select(["source_line"]),
    }


def read_target_table(engine: Engine, entity: str, transfer_id: str, schema: pa.Schema,
                      share: tuple[str, list[str]] | None = None) -> pa.Table:
    """The transfer's rows of a buyer table (only those whose `share[0]` column holds one of `share[1]`, when
    given), the columns of `schema` (`_line` read as `source_line`), typed as `schema` says. PostgreSQL streams
    them out with COPY; other targets go through SQLAlchemy."""
    import pyarrow.csv as pacsv

    from booktransfer.load.target import is_postgres

    names = ["source_line" if n == LINE_COLUMN else n for n in schema.names]
    types = pa.schema([pa.field(n, t) for n, t in zip(names, schema.types, strict=True)])
    if not is_postgres(engine):
        return _read_target_generic(engine, entity, transfer_id, types, share)
    from psycopg import sql

    # A share's keys go as one text split by the server (one literal, not a list of a million parameters).
    where = sql.SQL("transfer_id = %s") + (sql.SQL(" AND {} = ANY(string_to_array(%s, E'\\x1f'))").format(
        sql.Identifier(share[0])) if share else sql.SQL(""))
    query = sql.SQL("COPY (SELECT {} FROM {} WHERE {}) TO STDOUT (FORMAT csv)").format(
        sql.SQL(", ").join(sql.Identifier(n) for n in names), sql.Identifier(entity), where)
    params = [transfer_id, joined_keys(share[1])] if share else [transfer_id]
    with engine.connect() as conn:
        buffer = copy_out(conn.connection.driver_connection, query, params)
    if not buffer:
        return types.empty_table()
    texts = pacsv.read_csv(pa.BufferReader(buffer),
                           read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
                           parse_options=pacsv.ParseOptions(newlines_in_values=True),
                           convert_options=pacsv.ConvertOptions(
                               column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                               quoted_strings_can_be_null=False, null_values=[""]))
    return pa.table([texts.column(n).cast(t) for n, t in zip(names, types.types, strict=True)], schema=types)


def copy_out(driver: Any, query: Any, params: list[Any]) -> bytes:
    """The whole output of a `COPY ... TO STDOUT` on a psycopg connection, as bytes.

    Straight from libpq (`PGconn.get_copy_data`, blocking) rather than psycopg's `Copy` iterator, whose
    per-row generator and wait loop cost more than the server's own work for narrow rows (about 40 % of the
    read back of a table). The parameters are bound client-side, as psycopg does for COPY.
    """
    from psycopg import ClientCursor, errors, pq

    text = ClientCursor(driver).mogrify(query, params).encode(driver.info.encoding)
    pgconn = driver.pgconn
    if pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise errors.ProgrammingError("copy_out needs a connection outside a transaction")
    pgconn.send_query(text)
    buffer, failure = bytearray(), None
    while (result := pgconn.get_result()) is not None:
        if result.status == pq.ExecStatus.COPY_OUT:
            get = pgconn.get_copy_data
            while (received := get(0))[0] > 0:
                buffer += received[1]
        elif result.status != pq.ExecStatus.COMMAND_OK and failure is None:
            failure = result
    if failure is not None:
        raise errors.error_from_result(failure, encoding=driver.info.encoding)
    return bytes(buffer)


def joined_keys(values: list[str]) -> str:
    """Key values as one text for `string_to_array(..., E'\\x1f')` (a key holding U+001F is refused)."""
    joined = "\x1f".join(values)
    if joined.count("\x1f") != max(len(values) - 1, 0):  # one separator fewer than values, or a value holds one
        raise ValueError("a key value holds U+001F, which separates the keys sent to the server")
    return joined


def _read_target_generic(engine: Engine, entity: str, transfer_id: str, types: pa.Schema,
                         share: tuple[str, list[str]] | None) -> pa.Table:
    import sqlalchemy as sa

    table = sa.Table(entity, sa.MetaData(), autoload_with=engine)
    columns = [table.c[n] for n in types.names]
    rows: list[Any] = []
    with engine.connect() as conn:
        if share is None:
            rows = conn.execute(sa.select(*columns).where(table.c.transfer_id == transfer_id)).all()
        else:
            for i in range(0, len(share[1]), 10_000):
                rows += conn.execute(sa.select(*columns).where(
                    table.c.transfer_id == transfer_id, table.c[share[0]].in_(share[1][i:i + 10_000]))).all()
    data = list(zip(*rows, strict=True)) if rows else [()] * len(types)
    return pa.table([pa.array(list(values), t) for values, t in zip(data, types.types, strict=True)], schema=types)


EXPECTED, ACTUAL = "__expected", "__actual"  # canonical rows of the mapped and of the target rows


def _staged_rows(ctx: RunContext, stage: str, entity: str, columns: list[str] | None = None) -> pa.Table:
    """A stage's rows of an entity in this context: a partition's own file, or the whole book's."""
    if ctx.partition is not None:
        return ctx.read_staged(ctx.stage_path(stage, entity), columns)
    return ctx.read_stage(stage, entity, columns)


def _expected(ctx: RunContext, mapping: EntityMapping) -> tuple[pa.Table, pa.Schema, list[str] | None]:
    """The rows this context expects in the target (without suppressed ones): key, source line and canonical row
    (`EXPECTED`: from the clear staged rows and the protected ones' tokens and generalized values, the bytes the
    protect stage fingerprinted); the staged schema of every column the check reads back; and, in a partition's
    context, its share of the key's first column (every value it owns, suppressed rows' included)."""
    from booktransfer.load.stage import without_suppressed
    from booktransfer.protect.fingerprint import mapped_tails

    path = ctx.stage_path("protected", mapping.entity)
    staged = ctx.staged_schema(path if ctx.partition is not None or ctx.partitions == 1
                               else ctx.for_partition(0).stage_path("protected", mapping.entity))
    fields = fingerprint_fields(mapping)
    wanted = [*mapping.key, LINE_COLUMN, *(f.target for f in fields)]
    schema = pa.schema([staged.field(c) for c in dict.fromkeys(wanted) if c in staged.names])
    stored = {Protection.TOKEN, Protection.GENERALIZE}
    needed = [c for c in dict.fromkeys([*mapping.key, LINE_COLUMN, *(f.target for f in fields
                                                                      if f.protection in stored)])
              if c in staged.names]
    clear_needed = [LINE_COLUMN, *dict.fromkeys(f.target for f in fields if f.protection not in stored)]

    protected = _staged_rows(ctx, "protected", mapping.entity, needed)
    clear = _staged_rows(ctx, "valid", mapping.entity, clear_needed)
    lines = protected.column(LINE_COLUMN).combine_chunks()
    if not lines.equals(clear.column(LINE_COLUMN).combine_chunks()):  # the protect stage keeps the rows' order
        raise ReconciliationFailed(f"{mapping.entity}: the protected and the valid staged rows are not the same rows")
    expected = protected.select(list(dict.fromkeys([*mapping.key, LINE_COLUMN]))).append_column(
        EXPECTED, mapped_tails(mapping, clear, protected, lines))
    share = None
    if ctx.partition is not None and ctx.partitions > 1:
        share = pc.unique(protected.column(mapping.key[0]).drop_null().cast(pa.string())).to_pylist()
    return without_suppressed(ctx, mapping.entity, expected), schema, share


def reconcile_records(ctx: RunContext, mapping: EntityMapping, engine: Engine,
                      lines: dict[str, pa.Array] | None = None) -> tuple[dict[str, Any], list[dict]]:
    """The record-level summary of one entity and its differences (source file:line, reason, columns): of the
    whole book, or in a partition's context of the partition's share of the key (`verify_partition`). `lines`
    receives the source lines of the target rows it read.

    Each target row is decrypted and canonicalized (`buyer_tails`) and compared with the canonical form of the
    mapped row of its key: the bytes the row's fingerprint was taken over, so equal rows are rows whose
    fingerprints are equal, and a differing byte anywhere is VALUES_DIFFER."""
    from booktransfer.protect.fingerprint import buyer_tails

    expected, schema, share = _expected(ctx, mapping)
    rows = read_target_table(engine, mapping.entity, ctx.transfer_id, schema,
                             (mapping.key[0], share) if share is not None else None)
    if lines is not None:
        lines[mapping.entity] = rows.column("source_line").combine_chunks()
    actual = rows.select([*mapping.key, "source_line"]).append_column(ACTUAL, buyer_tails(ctx.keyring, mapping,
                                                                                           rows))
    found = compare_entity(expected, actual, mapping.key, (EXPECTED, ACTUAL))
    differences = []
    for reason, table in found.items():
        for line in sorted(table.column("source_line").to_pylist()):
            differences.append({"entity": mapping.entity, "source_file": mapping.source.file, "source_line": line,
                                "reason": reason, "columns": ""})
    _name_columns(ctx, mapping, rows, differences)
    counts = Counter(d["reason"] for d in differences)
    summary = {"expected": expected.num_rows, "in_target": rows.num_rows, "matched": expected.num_rows - sum(
        counts[r] for r in ("MISSING_IN_TARGET", "VALUES_DIFFER")), **{r: counts.get(r, 0) for r in found},
        "ok": not differences}
    return summary, differences


def _name_columns(ctx: RunContext, mapping: EntityMapping, rows: pa.Table, differences: list[dict]) -> None:
    """Drill down on VALUES_DIFFER rows only: compare with the clear and the protected staged rows of the same
    source line."""
    lines = {d["source_line"] for d in differences if d["reason"] == "VALUES_DIFFER"}
    if not lines:
        return
    wanted = pa.array(sorted(lines), pa.int64())

    def staged(stage: str) -> dict[int, dict[str, Any]]:
        table = _staged_rows(ctx, stage, mapping.entity)
        return {r[LINE_COLUMN]: r for r in table.filter(pc.is_in(table.column(LINE_COLUMN), value_set=wanted))
                .to_pylist()}

    clear, stored = staged("valid"), staged("protected")
    target = {r["source_line"]: r for r in rows.filter(pc.is_in(rows.column("source_line"), value_set=wanted))
              .to_pylist()}
    for d in differences:
        if d["reason"] == "VALUES_DIFFER":
            line = d["source_line"]
            d["columns"] = "+".join(differing_columns(ctx.keyring, mapping, clear.get(line, {}), target.get(line, {}),
                                                      stored.get(line, {})))


# ---------- over partitions: each partition's share checked on its own (the DAG's verify tasks), then the book

RECORDS_FILE = "reconcile/records.json"
LINES_FILE = "reconcile/lines-{entity}.parquet"  # the source lines of the share's target rows of an entity


def verify_partition(ctx: RunContext) -> dict[str, Any]:
    """Record-level check of one partition's share of every buyer table (`ctx` a partition's context); writes
    `part-NNN/reconcile/records.json` (counts and source lines, no values) and returns the counts."""
    import json

    from booktransfer.load.target import engine_for
    from booktransfer.storage import write_text

    summaries, differences, lines = {}, [], {}
    engine = engine_for(ctx.target_url)
    try:
        for entity, mapping in ctx.load_mapping().entities.items():
            summaries[entity], found = reconcile_records(ctx, mapping, engine, lines)
            differences += found
    finally:
        engine.dispose()
    for entity, found_lines in lines.items():  # one file per entity: reconcile reads an entity's lines at a time
        ctx.write_staged(pa.table({"source_line": found_lines}), ctx.doc_path(LINES_FILE.format(entity=entity)))
    write_text(ctx.doc_path(RECORDS_FILE), json.dumps({"summaries": summaries, "differences": differences}))
    return summaries


def outside_shares(ctx: RunContext, mapping: EntityMapping, queries: TargetQueries, in_shares: int) -> list[int]:
    """Source lines of target rows of the transfer whose key belongs to no partition's share (loaded by nothing
    this run staged): UNEXPECTED_IN_TARGET. When the target holds exactly `in_shares` rows for the transfer (the
    rows the shares counted), there are none and nothing is read; else key columns only."""
    if queries.held(mapping.entity) == in_shares:
        return []
    owned = ctx.read_stage("protected", mapping.entity, [mapping.key[0]]).column(0).combine_chunks()
    schema = pa.schema([pa.field(mapping.key[0], pa.string()), pa.field(LINE_COLUMN, pa.int64())])
    target = read_target_table(queries.engine, mapping.entity, ctx.transfer_id, schema)
    stray = pc.invert(pc.fill_null(pc.is_in(target.column(mapping.key[0]), value_set=owned.cast(pa.string())),
                                   False))
    return sorted(target.filter(stray).column("source_line").to_pylist())


def book_records(ctx: RunContext, queries: TargetQueries, verify: bool = True) -> tuple[dict[str, Any], list[dict]]:
    """The record-level result of a partitioned run: every partition's share (verified now, or read from the
    verify tasks' records when `verify` is False), added up, plus the rows outside every share."""
    import json

    totals: dict[str, dict[str, Any]] = {}
    differences: list[dict] = []
    for part in ctx.partition_contexts():
        if verify:
            verify_partition(part)
        doc = json.loads(part.doc_path(RECORDS_FILE).read_text(encoding="utf-8"))
        for entity, summary in doc["summaries"].items():
            mine = totals.setdefault(entity, dict.fromkeys(summary, 0))
            for key, value in summary.items():
                if key != "ok":
                    mine[key] += value
        differences += doc["differences"]
    for entity, mapping in ctx.load_mapping().entities.items():
        summary = totals[entity]
        stray = outside_shares(ctx, mapping, queries, summary["in_target"])
        summary["UNEXPECTED_IN_TARGET"] += len(stray)
        summary["in_target"] += len(stray)
        differences += [{"entity": entity, "source_file": mapping.source.file, "source_line": line,
                         "reason": "UNEXPECTED_IN_TARGET", "columns": ""} for line in stray]
        summary["ok"] = not any(d["entity"] == entity for d in differences)
    order = {e: i for i, e in enumerate(ctx.load_mapping().entities)}
    differences.sort(key=lambda d: (order[d["entity"]], d["reason"], d["source_line"]))
    return totals, differences


def target_lines(ctx: RunContext, mapping: EntityMapping, queries: TargetQueries) -> pa.Array:
    """Source lines of every row the target holds for the transfer in an entity's table: from the verify tasks'
    reads of each share (plus any rows outside the shares) when `ctx.verified`, else read back now."""
    if ctx.verified:
        parts = []
        for part in ctx.partition_contexts():
            parts.append(ctx.read_staged(part.doc_path(LINES_FILE.format(entity=mapping.entity))).column("source_line"))
        counted = sum(len(p) for p in parts)
        stray = pa.array(outside_shares(ctx, mapping, queries, counted), pa.int64())
        return pa.concat_arrays([c.combine_chunks() for c in parts] + [stray])
    schema = pa.schema([pa.field(LINE_COLUMN, pa.int64())])
    return read_target_table(queries.engine, mapping.entity, ctx.transfer_id, schema).column(0).combine_chunks()
