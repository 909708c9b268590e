"""booktransfer.mapping.transforms: strict parsers, code lookups and representation-only normalizers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from booktransfer.mapping.model import FieldType, Normalizer
from booktransfer.mapping.transforms import (
    NORMALIZERS,
    lookup_codes,
    parse_decimal,
    parse_integer,
    parse_temporal,
    parse_typed,
)

DATE_FMT = "%Y%m%d"
TS_FMT = "%Y-%m-%d %H:%M:%S"


def _reasons(parsed) -> set[str]:
    """The reason codes of the rows that failed."""
    return {reason for mask, reason in parsed.failures if pc.any(mask).as_py()}


def _date(value: str):
    return parse_temporal(pa.array([value], pa.string()), DATE_FMT, FieldType.DATE)


@pytest.mark.parametrize("value", ["20230230", "2023023", "20231301", "20230001", "2023-02-01"])
def test_parse_date_rejects_impossible_or_malformed(value):
    """A date that does not exist or does not print back in the declared format fails, never rolls over."""
    parsed = _date(value)

    assert parsed.failed.to_pylist() == [True]
    assert parsed.values.to_pylist() == [None]
    assert _reasons(parsed) == {"UNPARSEABLE_DATE"}


def test_parse_date_accepts_leap_day_as_date32():
    """29 February of a leap year parses to a date32 value."""
    parsed = _date("20240229")

    assert parsed.failed.to_pylist() == [False]
    assert parsed.values.type == pa.date32()
    assert parsed.values.to_pylist() == [dt.date(2024, 2, 29)]


def test_parse_date_names_excel_serial():
    """A five-digit number in a %Y%m%d column is reported as an Excel serial date."""
    parsed = _date("32874")

    assert parsed.failed.to_pylist() == [True]
    assert _reasons(parsed) == {"EXCEL_SERIAL_DATE"}


def test_parse_date_null_is_not_a_failure():
    """An absent value is left to completeness rules, not counted as a parse failure."""
    parsed = parse_temporal(pa.array([None, "20200101"], pa.string()), DATE_FMT, FieldType.DATE)

    assert parsed.failed.to_pylist() == [False, False]
    assert parsed.values.to_pylist() == [None, dt.date(2020, 1, 1)]


@pytest.mark.parametrize("value", ["2023-02-30 10:00:00", "2023-01-01 24:00:00", "2023-01-01T10:00:00",
                                   "2023-01-01 10:00"])
def test_parse_timestamp_rejects_invalid(value):
    """Impossible or differently formatted timestamps fail with UNPARSEABLE_DATE."""
    parsed = parse_temporal(pa.array([value]), TS_FMT, FieldType.TIMESTAMP)

    assert parsed.failed.to_pylist() == [True]
    assert _reasons(parsed) == {"UNPARSEABLE_DATE"}


def test_parse_timestamp_accepts_exact_value():
    """A well-formed timestamp keeps every field, down to the second."""
    parsed = parse_temporal(pa.array(["2024-02-29 23:59:59"]), TS_FMT, FieldType.TIMESTAMP)

    assert parsed.failed.to_pylist() == [False]
    assert pa.types.is_timestamp(parsed.values.type)
    assert parsed.values.to_pylist() == [dt.datetime(2024, 2, 29, 23, 59, 59)]


def test_parse_timestamp_names_excel_serial():
    """A five-digit number in a timestamp column is reported as an Excel serial date."""
    parsed = parse_temporal(pa.array(["45123"]), TS_FMT, FieldType.TIMESTAMP)

    assert parsed.failed.to_pylist() == [True]
    assert _reasons(parsed) == {"EXCEL_SERIAL_DATE"}


@pytest.mark.parametrize("value", ["1,000.00", "1e5", "abc", "1.234", ".5", "1.", "+1", " 1", "１２"])
def test_parse_decimal_refuses_non_plain(value):
    """Thousands separators, exponents, text, excess scale and full-width digits are refused."""
    parsed = parse_decimal(pa.array([value]))

    assert parsed.failed.to_pylist() == [True]
    assert parsed.values.to_pylist() == [None]
    assert _reasons(parsed) == {"UNPARSEABLE_NUMBER"}


def test_parse_decimal_keeps_exact_value():
    """'-1.50' becomes exactly Decimal('-1.50') in decimal128(18, 2), with no float on the way."""
    parsed = parse_decimal(pa.array(["-1.50", "9999999999999999.99", None]))

    assert parsed.values.type == pa.decimal128(18, 2)
    assert parsed.values.to_pylist() == [Decimal("-1.50"), Decimal("9999999999999999.99"), None]
    assert parsed.failed.to_pylist() == [False, False, False]


@pytest.mark.parametrize(("value", "ok"), [("42", True), ("-7", True), ("4.0", False), ("1e3", False)])
def test_parse_integer_plain_only(value, ok):
    """Integers must be plain digits with an optional minus sign."""
    parsed = parse_integer(pa.array([value]))

    assert parsed.failed.to_pylist() == [not ok]
    assert parsed.values.to_pylist() == [int(value) if ok else None]


def test_lookup_unknown_code_fails():
    """A code missing from the table fails with UNKNOWN_CODE; nulls are not failures."""
    parsed = lookup_codes(pa.array(["0", "7", None]), {"0": "M", "1": "F"}, None)

    assert parsed.values.to_pylist() == ["M", None, None]
    assert parsed.failed.to_pylist() == [False, True, False]
    assert _reasons(parsed) == {"UNKNOWN_CODE"}


def test_lookup_default_replaces_unknown():
    """With a named default, an unknown code becomes the default and nothing fails."""
    parsed = lookup_codes(pa.array(["1", "7", None]), {"0": "M", "1": "F"}, "U")

    assert parsed.values.to_pylist() == ["F", "U", None]
    assert parsed.failed.to_pylist() == [False, False, False]


def test_parse_typed_string_passes_through():
    """A string field is returned unchanged with no failures."""
    values = pa.array(["x", None])

    parsed = parse_typed(values, FieldType.STRING, None)

    assert parsed.values.to_pylist() == ["x", None]
    assert parsed.failed.to_pylist() == [False, False]


def test_fullwidth_digits_and_ideographic_space_to_ascii():
    """Full-width digits and letters become ASCII and the ideographic space becomes a plain space."""
    out = NORMALIZERS[Normalizer.FULLWIDTH_ASCII](pa.array(["１３９\u3000ａＢ", None]))

    assert out.to_pylist() == ["139 aB", None]


def test_trim_removes_edge_whitespace_only():
    """trim strips leading/trailing whitespace and keeps inner spaces."""
    out = NORMALIZERS[Normalizer.TRIM](pa.array(["  a b  "]))

    assert out.to_pylist() == ["a b"]


def test_upper_is_ascii_only():
    """upper changes ASCII letters only (the check character x becomes X)."""
    out = NORMALIZERS[Normalizer.UPPER](pa.array(["12345x", "ä测"]))

    assert out.to_pylist() == ["12345X", "ä测"]


@pytest.mark.parametrize("sep", ["\u2022", "\u30fb", "\uff65", "\uff0e", ".", "\u2027"])
def test_name_separator_becomes_middle_dot(sep):
    """Each legacy separator in a minority or foreign name becomes U+00B7."""
    out = NORMALIZERS[Normalizer.NAME_SEPARATOR](pa.array([f"阿{sep}测"]))

    assert out.to_pylist() == ["阿\u00b7测"]


@pytest.mark.parametrize("normalizer", list(Normalizer))
def test_rare_characters_survive_every_normalizer(normalizer):
    """A CJK compatibility ideograph (U+F900) and a GB18030-only character are never folded (no NFKC)."""
    value = "\uf900\u4dae"

    out = NORMALIZERS[normalizer](pa.array([value])).to_pylist()

    assert [ord(c) for c in out[0]] == [0xF900, 0x4DAE]
