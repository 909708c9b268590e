"""Named, vectorised transforms the mapping language can ask for (a closed registry, looked up by name).

Each parser returns the typed values and a mask of rows it could not translate, with a reason code;
those rows go to quarantine, never to a silent null.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.mapping.model import FieldType, Normalizer

_FULLWIDTH = {chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "}
# Separators legacy systems put in minority and foreign names; GB/JR rules want U+00B7 (REQUIREMENTS R22).
_NAME_SEPARATORS = "[\u2022\u30fb\uff65\uff0e\u2027.]"


_FULLWIDTH_TABLE = str.maketrans(_FULLWIDTH)
_FULLWIDTH_CHARS = "[\uff01-\uff5e\u3000]"


def _ascii_only(values: pa.Array) -> bool:
    """Whether a string array's character data is plain ASCII (no byte of 0x80 or above): one pass over the
    bytes, a fraction of a regex per value. False for other types."""
    import numpy as np

    if not pa.types.is_string(values.type):
        return False
    _, offsets, data = values.buffers()
    if data is None or not len(values):
        return True
    start, end = np.frombuffer(offsets, dtype=np.int32)[[values.offset, values.offset + len(values)]]
    return end <= start or int(np.frombuffer(data, dtype=np.uint8)[start:end].max()) < 0x80


def _fullwidth_ascii(values: pa.Array) -> pa.Array:
    """Full-width ASCII (U+FF01–FF5E) and the ideographic space to their ASCII forms; nothing else.

    One regex pass finds the values that hold any (a legacy export has few); only those are translated."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if _ascii_only(values):
        return values
    hit = pc.fill_null(pc.match_substring_regex(values, _FULLWIDTH_CHARS), False)
    if not pc.any(hit).as_py():
        return values
    fixed = [v.translate(_FULLWIDTH_TABLE) for v in values.filter(hit).to_pylist()]
    return pc.replace_with_mask(values, hit, pa.array(fixed, values.type))


NORMALIZERS: dict[Normalizer, Callable[[pa.Array], pa.Array]] = {
    Normalizer.TRIM: pc.utf8_trim_whitespace,
    Normalizer.COLLAPSE_SPACES: lambda v: pc.replace_substring_regex(v, " {2,}", " "),
    Normalizer.FULLWIDTH_ASCII: _fullwidth_ascii,
    Normalizer.UPPER: pc.ascii_upper,
    # Only a trailing x, the check character of a resident ID number; nothing else changes case.
    Normalizer.UPPER_X: lambda v: pc.replace_substring_regex(v, "x$", "X"),
    Normalizer.NAME_SEPARATOR: lambda v: pc.replace_substring_regex(v, _NAME_SEPARATORS, "\u00b7"),
}


@dataclass(frozen=True)
class Parsed:
    """Typed values, and which rows failed and why: (mask, reason code) pairs, one per reason."""

    values: pa.Array
    failures: tuple[tuple[pa.Array, str], ...] = ()

    @property
    def failed(self) -> pa.Array:
        """Rows that failed for any reason."""
        mask = pa.array([False] * len(self.values), pa.bool_())
        for part, _ in self.failures:
            mask = pc.or_(mask, part)
        return mask


def _parse_one_format(values: pa.Array, fmt: str, kind: FieldType) -> pa.Array:
    """Timestamps for values that print back exactly in `fmt` (Arrow's strptime rolls 20230230 over to
    2 March; the round trip catches that), null elsewhere.

    The print back is cut from Arrow's ISO text of the stamps when `fmt` holds only %Y %m %d %H %M %S and
    plain characters (`strftime` costs ten times more); the rows that do not match it that way (a rolled-over
    date, a year outside 1000-9999) are printed by `strftime` to settle them."""
    stamps = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    printed = _printed_iso(stamps, fmt)
    if printed is None:
        exact = pc.fill_null(pc.equal(pc.strftime(stamps, format=fmt), values), False)
        return pc.if_else(exact, stamps, None)
    exact = pc.fill_null(pc.equal(printed, values), False)
    doubt = pc.and_(pc.is_valid(stamps), pc.invert(exact))
    if pc.any(doubt).as_py():
        settled = pc.equal(pc.strftime(stamps.filter(doubt), format=fmt), values.filter(doubt))
        exact = pc.replace_with_mask(exact, doubt, pc.fill_null(settled, False))
    return pc.if_else(exact, stamps, None)


_ISO_SLICES = {"Y": (0, 4), "m": (5, 7), "d": (8, 10), "H": (11, 13), "M": (14, 16), "S": (17, 19)}


def _printed_iso(stamps: pa.Array, fmt: str) -> pa.Array | None:
    """`strftime(stamps, fmt)` cut from Arrow's `YYYY-MM-DD HH:MM:SS` text of second stamps, for a format of
    %Y %m %d %H %M %S and plain characters only (else None)."""
    pieces = [p for p in re.split(r"(%.)", fmt) if p]
    codes = [p[1:] for p in pieces if p.startswith("%")]
    if not codes or any(c not in _ISO_SLICES for c in codes) or any("%" in p for p in pieces if p[0] != "%"):
        return None
    iso = stamps.cast(pa.string())
    parts = [pc.utf8_slice_codeunits(iso, *_ISO_SLICES[p[1]]) if p[0] == "%" else p for p in pieces]
    return pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else parts[0]


_EXCEL_EPOCH = pa.scalar(-25569, pa.int32())  # 1899-12-30, the 1900 date system's day zero, as days since 1970


def _excel_serials(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(is a 5-digit Excel serial, its date) for each value."""
    serial = pc.fill_null(pc.match_substring_regex(values, r"^[0-9]{5}$"), False)
    days = pc.add(pc.if_else(serial, values, None).cast(pa.int32()), _EXCEL_EPOCH)
    return serial, days.cast(pa.date32())


def parse_temporal(values: pa.Array, formats: str | tuple[str, ...], kind: FieldType,
                   excel_serial: bool = False) -> Parsed:
    """Parse dates/timestamps strictly against the declared formats, tried in order.

    A 5-digit number in a date column is an Excel serial date: refused (EXCEL_SERIAL_DATE) unless the
    mapping declares `excel_serial: true`, then converted with the 1900 system's epoch.
    """
    typed = None
    for fmt in (formats,) if isinstance(formats, str) else formats:
        parsed = _parse_one_format(values, fmt, kind)
        typed = parsed if typed is None else pc.coalesce(typed, parsed)
    if kind is FieldType.DATE:
        typed = typed.cast(pa.date32())
    serial, serial_dates = _excel_serials(values)
    if excel_serial and kind is FieldType.DATE:
        typed = pc.coalesce(typed, pc.if_else(serial, serial_dates, None))
    failed = pc.and_(pc.is_valid(values), pc.is_null(typed))
    return Parsed(typed, ((pc.and_(failed, serial), "EXCEL_SERIAL_DATE"),
                          (pc.and_(failed, pc.invert(serial)), "UNPARSEABLE_DATE")))


def parse_decimal(values: pa.Array, scale: int = 2) -> Parsed:
    """Plain decimals only (`-12.5`); thousands separators, exponents and text are refused."""
    ok = pc.fill_null(pc.match_substring_regex(values, rf"^-?\d{{1,16}}(\.\d{{1,{scale}}})?$"), False)
    typed = pc.if_else(ok, values, None).cast(pa.decimal128(18, scale))
    return Parsed(typed, ((pc.and_(pc.is_valid(values), pc.invert(ok)), "UNPARSEABLE_NUMBER"),))


def parse_integer(values: pa.Array) -> Parsed:
    """Plain integers only."""
    ok = pc.fill_null(pc.match_substring_regex(values, r"^-?\d{1,18}$"), False)
    typed = pc.if_else(ok, values, None).cast(pa.int64())
    return Parsed(typed, ((pc.and_(pc.is_valid(values), pc.invert(ok)), "UNPARSEABLE_NUMBER"),))


def lookup_codes(values: pa.Array, table: dict[str, str], default: str | None) -> Parsed:
    """Translate seller codes to buyer values; a code missing from the table fails unless a default is named."""
    keys = pa.array(list(table), pa.string())
    targets = pa.array(list(table.values()), pa.string())
    idx = pc.index_in(values, value_set=keys)
    mapped = pc.take(targets, idx)
    unknown = pc.and_(pc.is_valid(values), pc.is_null(idx))
    if default is not None:
        return Parsed(pc.if_else(unknown, pa.scalar(default, pa.string()), mapped))
    return Parsed(mapped, ((unknown, "UNKNOWN_CODE"),))


def parse_typed(values: pa.Array, kind: FieldType, formats: str | tuple[str, ...] | None,
                excel_serial: bool = False) -> Parsed:
    """Dispatch to the parser for a field type (strings pass through)."""
    if kind in (FieldType.DATE, FieldType.TIMESTAMP):
        return parse_temporal(values, formats or (), kind, excel_serial)
    if kind is FieldType.DECIMAL:
        return parse_decimal(values)
    if kind is FieldType.INTEGER:
        return parse_integer(values)
    return Parsed(values)
