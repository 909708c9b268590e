"""Data-subject requests received up to the cut-over: erasure and objection (PIPL Art. 44–47; R33).

The request file is a UTF-8 CSV the seller's privacy office keeps; a person is named by ID number or by
customer number (or both). It holds personal data, so nothing read from it is ever logged or reported: errors
name the file, the line and the column. Columns:

| column | required | meaning |
|---|---|---|
| `request_type` | yes | `ERASURE` or `OBJECTION` |
| `id_number` | one of the two | the ID number as the seller holds it (a 15-digit ID also matches its 18-digit form) |
| `customer_no` | | the seller's customer number |
| `request_ref` | no | the privacy office's own reference, carried to `processing_restrictions` |
| `hold_until` | no | `YYYY-MM-DD`: a statutory retention known beyond the policies (e.g. anti-money-laundering) |
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.errors import RequestFileError

REQUEST_TYPES = ("ERASURE", "OBJECTION")
COLUMNS = ("request_type", "id_number", "customer_no", "request_ref", "hold_until")
RIC_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class SubjectRequest:
    """One request, by its line in the file."""

    line: int
    request_type: str
    id_number: str | None
    customer_no: str | None
    request_ref: str | None = None
    hold_until: date | None = None


def _request(path: Path, line: int, row: dict[str, str]) -> SubjectRequest:
    def value(column: str) -> str | None:
        return (row.get(column) or "").strip() or None

    kind = (value("request_type") or "").upper()
    if kind not in REQUEST_TYPES:
        raise RequestFileError(f"{path.name}:{line}: column request_type must be one of {', '.join(REQUEST_TYPES)}")
    if value("id_number") is None and value("customer_no") is None:
        raise RequestFileError(f"{path.name}:{line}: give id_number or customer_no")
    hold = value("hold_until")
    try:
        hold_until = date.fromisoformat(hold) if hold else None
    except ValueError:
        raise RequestFileError(f"{path.name}:{line}: column hold_until is not a YYYY-MM-DD date") from None
    return SubjectRequest(line, kind, value("id_number"), value("customer_no"), value("request_ref"), hold_until)


def read_requests(path: Path) -> list[SubjectRequest]:
    """Every request of the file; any unreadable line stops the run (a request must never be lost)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = [c.strip() for c in reader.fieldnames or []]
            extra = [c for c in header if c not in COLUMNS]
            if "request_type" not in header or extra or not {"id_number", "customer_no"} & set(header):
                raise RequestFileError(f"{path.name}: header must be among {', '.join(COLUMNS)}, with request_type "
                                       f"and id_number or customer_no; unexpected: {', '.join(extra) or 'none'}")
            return [_request(path, line, {k.strip(): v for k, v in row.items() if k})
                    for line, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise RequestFileError(f"{path}: data-subject request file not found") from None
    except UnicodeDecodeError:
        raise RequestFileError(f"{path.name}: not UTF-8") from None


def legacy_ric_to_18(id_number: str) -> str | None:
    """The 18-digit form of a 15-digit resident ID (GB 11643: insert '19', append the check character)."""
    if len(id_number) != 15 or not id_number.isascii() or not id_number.isdigit():
        return None
    body = id_number[:6] + "19" + id_number[6:]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, RIC_WEIGHTS, strict=True)) % 11]
    return body + check


@dataclass(frozen=True)
class IdLookup:
    """How to find a clear ID number among the loaded customers: the column, and every stored form a clear value
    may have there. `pseudonymous`: the column holds tokens or ciphertexts (may be listed in a report)."""

    column: str
    stored: Callable[[list[str]], list[str | None]]
    pseudonymous: bool = True


def match_requests(requests: list[SubjectRequest], customers: pa.Table, lookup: IdLookup | None,
                   normalize_customer_no: Callable[[list[str]], list[str | None]],
                   aliases: dict[str, str] | None = None) -> tuple[dict[str, SubjectRequest], int]:
    """The loaded customers each request names (a person's other customer numbers with the same ID included),
    and how many requests named nobody loaded. `aliases`: customer numbers validation merged into a survivor."""
    customers = _connected_rows(requests, customers, lookup, normalize_customer_no, aliases)
    numbers = customers.column("customer_no").to_pylist()
    by_number = set(numbers)
    ids = customers.column(lookup.column).to_pylist() if lookup else [None] * len(numbers)
    by_id: dict[str, list[str]] = {}
    id_of = dict(zip(numbers, ids, strict=True))
    for number, stored in zip(numbers, ids, strict=True):
        if stored is not None:
            by_id.setdefault(stored, []).append(number)
    wanted_ids = [r.id_number for r in requests if r.id_number]
    if wanted_ids and lookup is None:
        raise RequestFileError("the data-subject request file names persons by id_number, but the mapping protects "
                               "customers.id_number without a token or deterministic ciphertext to look it up by; "
                               "name them by customer_no")
    matched: dict[str, SubjectRequest] = {}
    unmatched = 0
    for req in requests:
        found = set()
        if req.customer_no:
            number = normalize_customer_no([req.customer_no])[0]
            number = (aliases or {}).get(number, number)
            if number in by_number:
                found.add(number)
        if req.id_number and lookup:
            variants = [req.id_number] + [v for v in [legacy_ric_to_18(req.id_number.strip())] if v]
            for stored in lookup.stored(variants):
                found.update(by_id.get(stored, []))
        for number in list(found):  # the same person under another customer number (same ID)
            stored = id_of.get(number)
            found.update(by_id.get(stored, []) if stored else [])
        unmatched += not found
        for number in found:
            matched.setdefault(number, req)
    return matched, unmatched


def _connected_rows(requests: list[SubjectRequest], customers: pa.Table, lookup: IdLookup | None,
                    normalize_customer_no: Callable[[list[str]], list[str | None]],
                    aliases: dict[str, str] | None) -> pa.Table:
    """The customers a request can reach: those it names by number or ID, and every row sharing an ID with those.
    `match_requests` looks at no other row, so it works on these alone (a few rows, not the book)."""
    numbers = [n for r in requests if r.customer_no
               for n in [normalize_customer_no([r.customer_no])[0]] if n is not None]
    numbers = [(aliases or {}).get(n, n) for n in numbers]
    column = customers.column("customer_no")
    mask = pc.is_in(column, value_set=pa.array(sorted(set(numbers)), pa.string()).cast(column.type))
    if lookup is not None:
        ids = customers.column(lookup.column)
        variants = [v for r in requests if r.id_number
                    for v in [r.id_number, legacy_ric_to_18(r.id_number.strip())] if v]
        stored = sorted({v for v in (lookup.stored(variants) if variants else []) if v is not None})
        mask = pc.or_(mask, pc.is_in(ids, value_set=pa.array(stored, pa.string()).cast(ids.type)))
        reached = pc.unique(ids.filter(pc.fill_null(mask, False)).drop_null())
        mask = pc.or_(mask, pc.is_in(ids, value_set=reached))
    return customers.filter(pc.fill_null(mask, False))


def customer_mask(table: pa.Table, column: str, customers: set[str]) -> pa.Array:
    """Rows whose `column` names one of `customers`."""
    values = table.column(column)
    return pc.fill_null(pc.is_in(values, value_set=pa.array(sorted(customers), values.type)), False)
