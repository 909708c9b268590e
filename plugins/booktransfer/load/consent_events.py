"""The consent events the rules decide from: loaded events, quarantined events, and recorded re-consent.

A quarantined event never reaches the buyer, but it must not be forgotten either: a withdrawal quarantined
for a damaged purpose code would otherwise leave an older grant standing. So the raw rows of quarantined
consent lines are read again, field by field as far as they can be, and join the rules as quarantined
events (their grants never count; their withdrawals, refusals and unreadable actions do).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.consent.model import ConsentEvent
from booktransfer.errors import RequestFileError
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import FieldSpec
from booktransfer.mapping.transforms import NORMALIZERS

Events = dict[str, list[ConsentEvent]]
RECONSENT_COLUMNS = ("event_no", "customer_no", "purpose", "action", "event_time", "channel", "evidence_ref")
RECONSENT_OPTIONAL = ("by_guardian",)
RECONSENT_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
GUARDIAN_COLUMN = "by_guardian"


def _col(table: pa.Table, name: str) -> list:
    return table.column(name).to_pylist() if name in table.column_names else [None] * table.num_rows


def events_from_table(consents: pa.Table, quarantined: bool = False, source: str = "SELLER") -> Events:
    """Events by customer from a table in the buyer's consent shape (mapped, valid or protected stage)."""
    out: Events = defaultdict(list)
    cols = [_col(consents, c) for c in (*RECONSENT_COLUMNS, LINE_COLUMN, GUARDIAN_COLUMN)]
    for no, customer, purpose, action, time, channel, evidence, line, guardian in zip(*cols, strict=True):
        if customer is None:
            continue
        out[customer].append(ConsentEvent(purpose, action, time, event_no=no, channel=channel,
                                          evidence_ref=evidence, source_line=line, source=source,
                                          quarantined=quarantined, by_guardian=bool(guardian)))
    return out


def merge_events(*parts: Events) -> Events:
    """All events of every part, by customer."""
    out: Events = defaultdict(list)
    for part in parts:
        for customer, events in part.items():
            out[customer].extend(events)
    return out


# ---------- quarantined events, read back from the raw stage as far as they can be

def raw_values(field: FieldSpec, raw: pa.Table) -> list[str | None]:
    """The field's normalized source text, or all None when it has no plain source column in the raw table."""
    if field.source is None or field.source not in raw.column_names:
        return [field.const] * raw.num_rows
    values = raw.column(field.source).combine_chunks()
    for step in field.normalize:
        values = NORMALIZERS[step](values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values).to_pylist()


def _formats(field: FieldSpec) -> tuple[str, ...]:
    if field.format is None:
        return ()
    return (field.format,) if isinstance(field.format, str) else tuple(field.format)


def _strict_time(text: str | None, formats: tuple[str, ...]) -> datetime | None:
    """A time only when the text is ASCII and prints back exactly in a declared format (no lenient parsing)."""
    if text is None or not text.isascii():
        return None
    for fmt in formats:
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if parsed.strftime(fmt) == text:
            return parsed
    return None


def _field_values(mapping: MappingSet, field: FieldSpec | None, raw: pa.Table) -> list:
    if field is None:
        return [None] * raw.num_rows
    values = raw_values(field, raw)
    if field.lookup:
        codes = mapping.codes[field.lookup].values
        return [codes.get(v) if v is not None else None for v in values]
    if _formats(field):
        return [_strict_time(v, _formats(field)) for v in values]
    return values


def quarantined_events(mapping: MappingSet, entity: str, raw: pa.Table, lines: Iterable[int]) -> Events:
    """The quarantined consent lines as events, each field read as far as it can be (unreadable: None)."""
    wanted = pa.array(sorted(set(lines)), pa.int64())
    if not len(wanted) or entity not in mapping.entities:
        return {}
    rows = raw.filter(pc.is_in(raw.column(LINE_COLUMN), value_set=wanted))
    fields = {f.target: f for f in mapping.entities[entity].fields}
    cols = {name: _field_values(mapping, fields.get(name), rows) for name in RECONSENT_COLUMNS}
    cols[LINE_COLUMN] = rows.column(LINE_COLUMN).to_pylist()
    return events_from_table(pa.table(cols) if rows.num_rows else pa.table({}), quarantined=True)


# ---------- re-consent recorded for the buyer's new purposes

def _reconsent_row(path: Path, line: int, row: dict[str, str]) -> tuple[str, ConsentEvent]:
    def need(column: str) -> str:
        value = (row.get(column) or "").strip()
        if not value:
            raise RequestFileError(f"{path.name}:{line}: column {column} is empty")
        return value

    try:
        time = datetime.strptime(need("event_time"), RECONSENT_TIME_FORMAT)
    except ValueError:
        raise RequestFileError(f"{path.name}:{line}: column event_time is not {RECONSENT_TIME_FORMAT}") from None
    guardian = (row.get(GUARDIAN_COLUMN) or "").strip().lower()
    if guardian not in ("", "true", "false"):
        raise RequestFileError(f"{path.name}:{line}: column {GUARDIAN_COLUMN} must be true, false or empty")
    event = ConsentEvent(need("purpose").upper(), need("action").upper(), time, event_no=need("event_no"),
                         channel=(row.get("channel") or "").strip() or None, evidence_ref=need("evidence_ref"),
                         source="RECONSENT", by_guardian=guardian == "true")
    return need("customer_no").upper(), event


def read_reconsent(path: Path) -> Events:
    """A re-consent file: UTF-8 CSV with the columns of the buyer's consent events (evidence required)."""
    out: Events = defaultdict(list)
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in RECONSENT_COLUMNS if c not in header]
            extra = [c for c in header if c not in RECONSENT_COLUMNS + RECONSENT_OPTIONAL]
            if missing or extra:
                raise RequestFileError(f"{path.name}: header must hold {', '.join(RECONSENT_COLUMNS)} "
                                       f"(+ {', '.join(RECONSENT_OPTIONAL)}); missing {missing}, unexpected {extra}")
            for line, row in enumerate(reader, start=2):
                customer, event = _reconsent_row(path, line, {k.strip(): v for k, v in row.items() if k})
                out[customer].append(event)
    except FileNotFoundError:
        raise RequestFileError(f"{path}: re-consent file not found") from None
    except UnicodeDecodeError:
        raise RequestFileError(f"{path.name}: not UTF-8") from None
    return out
