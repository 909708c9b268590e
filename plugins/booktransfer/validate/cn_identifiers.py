"""Chinese identifiers, checked column-wise: resident ID numbers (GB 11643), unified social credit codes
(GB 32100), mainland mobile numbers, bank card numbers (Luhn), placeholders standing in for missing values.

Every function takes an Arrow array of strings and returns one verdict per row, computed in bulk (Arrow
compute and numpy over the fixed-width bytes), because a book holds millions of rows. The check characters
themselves are python-stdnum's: a row is only ever refused for its check character after
`stdnum.cn.ric.calc_check_digit` / `stdnum.cn.uscc.calc_check_digit` / `stdnum.luhn.is_valid` said so. The
bulk arithmetic (ISO 7064 MOD 11-2, the GB 32100 weights) only clears the rows it proves right; the unit tests
hold it equal to stdnum on random and exhaustive inputs (REQUIREMENTS §3).

Null in, null out: completeness is the not-null rules' business, never a format failure. Nothing here raises
on, logs or returns a value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache, cached_property

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import luhn, numdb
from stdnum.cn import ric, uscc

# Reason codes (the suites' meta.reason): one per way an identifier fails, most telling first.
EXCEL_DAMAGED_ID = "EXCEL_DAMAGED_ID"
ID_FORMAT = "ID_FORMAT"
ID_BIRTH_DATE = "ID_BIRTH_DATE"
ID_CHECK_DIGIT = "ID_CHECK_DIGIT"
USCC_FORMAT = "USCC_FORMAT"
USCC_CHECK_DIGIT = "USCC_CHECK_DIGIT"

RIC_18 = r"^[0-9]{17}[0-9X]$"
RIC_15 = r"^[0-9]{15}$"
# What a spreadsheet shows for an 18-digit number it stored as a float: 1.10105E+17 (REQUIREMENTS R23, D7).
SCIENTIFIC = r"^[0-9](\.[0-9]+)?[Ee]\+?[0-9]{1,3}$"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_SHAPE = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
MOBILE = r"^1[3-9][0-9]{9}$"
EARLIEST_BIRTH_YEAR = 1880  # GB 11643's own second example was born in 1880
# ISO 7064 MOD 11-2 as GB 11643 uses it: W[i] = 2^(17-i) mod 11; R = S mod 11 -> check character.
_RIC_WEIGHTS = np.array([pow(2, 17 - i, 11) for i in range(17)], dtype=np.int64)
_RIC_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_USCC_WEIGHTS = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_FULLWIDTH_TABLE = str.maketrans({chr(c): chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)} | {"\u3000": " "})
_MOBILE_NOISE = r"[\s\-()（）.]"
PLACEHOLDERS = ("不详", "无", "未知", "不明", "暂无", "空", "/", "-", "--", "—", "?", "？", "NULL", "null", "None",
                "N/A", "n/a", "NA")
_ZEROS = r"^0{6,}$"


def _strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous string array (chunked input combined, large strings narrowed)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], values.type)
    return values.cast(pa.string()) if values.type != pa.string() else values


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    """Regex full match, null for null."""
    return pc.match_substring_regex(values, pattern)


def _byte_matrix(values: pa.Array, width: int) -> np.ndarray:
    """The rows of a string array whose every value is `width` ASCII bytes, as an (n, width) uint8 matrix."""
    n = len(values)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)[values.offset:values.offset + n + 1]
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8)
    return data[offsets[0]:offsets[0] + n * width].reshape(n, width)


def _all_digits(body: np.ndarray) -> np.ndarray:
    """Rows of a byte matrix made only of ASCII digits 0-9 (full-width digits are other bytes)."""
    return ((body - np.uint8(48)) <= 9).all(axis=1)  # uint8 wraps below '0', so one comparison suffices


def _rows_of_length(values: pa.Array, width: int) -> np.ndarray:
    """Positions of the values that are exactly `width` bytes long."""
    return np.flatnonzero(np.asarray(pc.fill_null(pc.equal(pc.binary_length(values), width), False)))


def ascii_fold(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Representation only (REQUIREMENTS R12, D6): full-width ASCII to ASCII, trim, upper case. Never more."""
    out = _strings(values)
    if not pc.all(pc.fill_null(pc.string_is_ascii(out), True)).as_py():
        wide = np.flatnonzero(np.asarray(pc.fill_null(pc.match_substring_regex(out, "[\uff01-\uff5e\u3000]"),
                                                      False)))
        if len(wide):
            folded = np.asarray(out.to_numpy(zero_copy_only=False), dtype=object)
            folded[wide] = [v.translate(_FULLWIDTH_TABLE) for v in folded[wide]]
            out = pa.array(folded, pa.string())
    return pc.ascii_upper(pc.utf8_trim_whitespace(out))


def normalize_mobile(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """R19: full-width to ASCII, drop spaces, hyphens, brackets and dots, then a +86 / 0086 / 86 country prefix."""
    out = pc.replace_substring_regex(ascii_fold(values), _MOBILE_NOISE, "")
    return pc.replace_substring_regex(out, r"^(\+86|0086|86)(1[0-9]{10})$", r"\2")


def is_mobile(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Whether each value, after R19 normalisation, is an 11-digit mainland mobile number (null stays null)."""
    values = _strings(values)
    ok = _matches(values, MOBILE)
    others = np.flatnonzero(np.asarray(pc.fill_null(pc.invert(ok), False)))
    if not len(others):
        return ok
    result = np.asarray(pc.fill_null(ok, True))
    result[others] = np.asarray(pc.fill_null(_matches(normalize_mobile(values.take(pa.array(others))), MOBILE), False))
    return pc.if_else(pc.is_valid(values), pa.array(result), None)


@dataclass(frozen=True)
class ParsedRic:
    """A column of resident ID numbers, parsed once: where the 18- and 15-digit forms are, and their bytes."""

    n: int
    present: np.ndarray
    long_rows: np.ndarray
    long_body: np.ndarray
    short_rows: np.ndarray
    short_body: np.ndarray
    other_rows: np.ndarray
    scientific_rows: np.ndarray

    @cached_property
    def long_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Birth year, month, day of the 18-character numbers (computed once)."""
        return _ric_parts(self.long_body, False)

    @cached_property
    def short_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Birth year, month, day of the 15-digit numbers (computed once)."""
        return _ric_parts(self.short_body, True)


def parse_ric(values: pa.Array | pa.ChunkedArray) -> ParsedRic:
    """Split a column into 17 digits + check character (0-9, X), 15 digits, and everything else."""
    values = _strings(values)
    present = np.asarray(pc.is_valid(values))
    forms = []
    for width in (18, 15):
        rows = _rows_of_length(values, width)
        body = _byte_matrix(values.take(pa.array(rows, pa.int64())), width)
        if width == 18:
            last = body[:, 17] if len(body) else np.zeros(0, dtype=np.uint8)
            ok = _all_digits(body[:, :17]) & (((last >= ord("0")) & (last <= ord("9"))) | (last == ord("X")))
        else:
            ok = _all_digits(body)
        forms.append((rows[ok], np.ascontiguousarray(body[ok])))
    shaped = np.zeros(len(values), dtype=bool)
    for rows, _ in forms:
        shaped[rows] = True
    others = np.flatnonzero(present & ~shaped)
    scientific = np.asarray(pc.fill_null(_matches(values.take(pa.array(others, pa.int64())), SCIENTIFIC), False))
    return ParsedRic(len(values), present, forms[0][0], forms[0][1], forms[1][0], forms[1][1], others,
                     others[scientific])


def _ric_parts(body: np.ndarray, fifteen: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth year, month and day encoded in each row of a byte matrix of 18- or 15-digit ID numbers."""
    if fifteen:
        digits = body[:, 6:12].astype(np.int32) - 48
        year = 1900 + digits[:, 0] * 10 + digits[:, 1]
        return year, digits[:, 2] * 10 + digits[:, 3], digits[:, 4] * 10 + digits[:, 5]
    digits = body[:, 6:14].astype(np.int32) - 48
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    return year, digits[:, 4] * 10 + digits[:, 5], digits[:, 6] * 10 + digits[:, 7]


def _real_dates(year: np.ndarray, month: np.ndarray, day: np.ndarray, as_of: date) -> np.ndarray:
    """Whether (year, month, day) is a calendar date between 1880-01-01 and `as_of`."""
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    days_in_month = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
    month_ok = (month >= 1) & (month <= 12)
    limit = days_in_month[np.where(month_ok, month, 0)] + ((month == 2) & leap)
    stamp = year * 10000 + month * 100 + day
    as_of_stamp = as_of.year * 10000 + as_of.month * 100 + as_of.day
    return month_ok & (day >= 1) & (day <= limit) & (year >= EARLIEST_BIRTH_YEAR) & (stamp <= as_of_stamp)


def _ric_check_ok(body: np.ndarray) -> np.ndarray:
    """MOD 11-2 check of 18-byte rows; rows it refuses are re-checked by python-stdnum, which decides."""
    digits = body[:, :17].astype(np.int64) - 48
    expected = _RIC_CHECK[(digits @ _RIC_WEIGHTS) % 11]
    ok = expected == body[:, 17]
    for i in np.flatnonzero(~ok):
        number = body[i].tobytes().decode("ascii")
        ok[i] = ric.calc_check_digit(number) == number[17]
    return ok


def classify_ric(values: pa.Array | pa.ChunkedArray | ParsedRic, as_of: date) -> pa.Array:
    """One reason per resident ID number, null when it is valid (15-digit numbers included, R13).

    Precedence: EXCEL_DAMAGED_ID (scientific notation, or 18 digits ending in 000 with a wrong check
    character: the number a spreadsheet rounded), then ID_FORMAT, ID_BIRTH_DATE (not a real date, before 1880
    or after `as_of`), ID_CHECK_DIGIT. The region code is not judged here (see `ric_region_known`).
    """
    parsed = values if isinstance(values, ParsedRic) else parse_ric(values)
    reasons = np.full(parsed.n, None, dtype=object)
    reasons[parsed.other_rows] = ID_FORMAT
    reasons[parsed.scientific_rows] = EXCEL_DAMAGED_ID
    for fifteen, rows, body in ((False, parsed.long_rows, parsed.long_body), (True, parsed.short_rows,
                                                                               parsed.short_body)):
        if not len(rows):
            continue
        real = _real_dates(*(parsed.short_parts if fifteen else parsed.long_parts), as_of)
        reasons[rows[~real]] = ID_BIRTH_DATE
        if fifteen:
            continue
        wrong = real & ~_ric_check_ok(body)
        excel = wrong & (body[:, 15:18] == ord("0")).all(axis=1)
        reasons[rows[wrong & ~excel]] = ID_CHECK_DIGIT
        reasons[rows[excel]] = EXCEL_DAMAGED_ID
    return pa.array(reasons, pa.string())


def _spread(parsed: ParsedRic, long_part: np.ndarray, short_part: np.ndarray, kind: pa.DataType) -> pa.Array:
    """Per-row values from the 18- and 15-digit parts (null elsewhere)."""
    out = np.zeros(parsed.n, dtype=long_part.dtype if len(long_part) else short_part.dtype)
    mask = np.ones(parsed.n, dtype=bool)
    out[parsed.long_rows], mask[parsed.long_rows] = long_part, False
    out[parsed.short_rows], mask[parsed.short_rows] = short_part, False
    return pa.array(out, kind, mask=mask)


def ric_birth_dates(values: pa.Array | pa.ChunkedArray | ParsedRic) -> pa.Array:
    """The birth date each well-formed 18- or 15-digit ID number encodes (null where it holds none)."""
    parsed = values if isinstance(values, ParsedRic) else parse_ric(values)
    found, masks = [], []
    for year, month, day in (parsed.long_parts, parsed.short_parts):
        real = _real_dates(year, month, day, date.max)
        months = np.where(real, (year - 1970) * 12 + month - 1, 0).astype("datetime64[M]")
        found.append(months.astype("datetime64[D]") + np.where(real, day - 1, 0))
        masks.append(real)
    dates = _spread(parsed, found[0], found[1], pa.date32())
    real = _spread(parsed, masks[0], masks[1], pa.bool_())
    return pc.if_else(pc.fill_null(real, False), dates, pa.scalar(None, pa.date32()))


def ric_genders(values: pa.Array | pa.ChunkedArray | ParsedRic) -> pa.Array:
    """'M' or 'F' from the sequence code's last digit (odd = male): the 17th of 18, the 15th of 15 digits."""
    parsed = values if isinstance(values, ParsedRic) else parse_ric(values)
    odd = _spread(parsed, parsed.long_body[:, 16] % 2 == 1, parsed.short_body[:, 14] % 2 == 1, pa.bool_())
    return pc.if_else(odd, "M", "F")


@cache
def _known_regions() -> pa.Array:
    """Every county code python-stdnum's GB/T 2260 table has ever held, whatever the years (R12 note)."""
    codes = set()
    for _, low, high, _, counties in numdb.get("cn/loc").prefixes:
        for province in range(int(low), int(high) + 1):
            for _, c_low, c_high, _, _ in counties:
                codes.update(f"{province:02d}{c:04d}" for c in range(int(c_low), int(c_high) + 1))
    return pa.array(sorted(codes), pa.string())


def ric_region_known(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Whether the first six digits are a county code that has ever existed (a warning, never a reject)."""
    values = _strings(values)
    region = pc.utf8_slice_codeunits(values, 0, 6)
    return pc.if_else(pc.is_valid(values), pc.is_in(region, value_set=_known_regions()), None)


@cache
def _known_region_numbers() -> np.ndarray:
    return np.asarray(_known_regions().cast(pa.int32()))


def ric_region_unknown_rows(parsed: ParsedRic) -> np.ndarray:
    """Positions of the well-formed (18- or 15-digit) numbers whose region code no table ever held."""
    weights = np.array([100000, 10000, 1000, 100, 10, 1], dtype=np.int32)
    out = []
    for rows, body in ((parsed.long_rows, parsed.long_body), (parsed.short_rows, parsed.short_body)):
        codes = (body[:, :6].astype(np.int32) - 48) @ weights
        out.append(rows[~np.isin(codes, _known_region_numbers())])
    return np.concatenate(out)


def ric_match_key(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The 18-digit form of each ID number, for matching only (R13): a 15-digit number gets '19' inserted
    before its birth date and its check character appended; 18-character numbers are returned as they are."""
    values = _strings(values)
    rows = parse_ric(values).short_rows
    if not len(rows):
        return values
    bodies = [s[:6] + "19" + s[6:] for s in values.take(pa.array(rows, pa.int64())).to_pylist()]
    upgraded = [b + ric.calc_check_digit(b + "0") for b in bodies]
    out = np.asarray(values.to_numpy(zero_copy_only=False), dtype=object)
    out[rows] = upgraded
    return pa.array(out, pa.string())


def classify_uscc(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """USCC_FORMAT (length, the 31-character alphabet without I O S V Z, digits at 3-8) or USCC_CHECK_DIGIT."""
    values = _strings(values)
    reasons = np.full(len(values), None, dtype=object)
    present = np.asarray(pc.is_valid(values))
    shaped = np.asarray(pc.fill_null(_matches(values, USCC_SHAPE), False))
    reasons[present & ~shaped] = USCC_FORMAT
    rows = np.flatnonzero(shaped)
    if len(rows):
        body = _byte_matrix(values.take(pa.array(rows)), 18)
        lookup = np.zeros(256, dtype=np.int64)
        lookup[np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)] = np.arange(31)
        total = lookup[body[:, :17]] @ _USCC_WEIGHTS
        alphabet = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
        ok = alphabet[(31 - total % 31) % 31] == body[:, 17]
        for i in np.flatnonzero(~ok):
            code = body[i].tobytes().decode("ascii")
            ok[i] = uscc.calc_check_digit(code) == code[17]
        reasons[rows[~ok]] = USCC_CHECK_DIGIT
    return pa.array(reasons, pa.string())


def luhn_valid(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Whether each card number passes the Luhn check (ISO/IEC 7812-1), by python-stdnum (spaces ignored)."""
    values = pc.replace_substring_regex(ascii_fold(values), r"[\s-]", "")
    return pa.array([None if v is None else luhn.is_valid(v) for v in values.to_pylist()], pa.bool_())


def is_placeholder(values: pa.Array | pa.ChunkedArray, placeholders: tuple[str, ...] = PLACEHOLDERS) -> pa.Array:
    """Whether each value is a stand-in for a missing one (R15, D14): a listed placeholder, or all zeros."""
    values = pc.utf8_trim_whitespace(_strings(values))
    listed = pc.is_in(values, value_set=pa.array(list(placeholders), pa.string()))
    zeros = pc.fill_null(pc.starts_with(values, "000000"), False)
    if pc.any(zeros).as_py():  # the regex only where a cheap prefix test says it may match
        zeros = pc.and_(zeros, pc.fill_null(_matches(values, _ZEROS), False))
    return pc.if_else(pc.is_valid(values), pc.or_(listed, zeros), None)
