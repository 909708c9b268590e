"""booktransfer.validate.cn_identifiers: the REQUIREMENTS §3 fixtures, and the bulk arithmetic held equal to
python-stdnum on random and exhaustive inputs."""

from __future__ import annotations

import random
from datetime import date

import pyarrow as pa
import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from booktransfer.validate import cn_identifiers as cn

AS_OF = date(2025, 12, 31)

# REQUIREMENTS §3.1, in the order of its table: input -> reason (None: valid). Full-width digits and a
# lower-case x are valid after the representation fold (`ascii_fold`), which the stage applies first.
RIC_FIXTURES = [
    ("11010519491231002X", None),
    ("440524188001010014", None),  # the standard's second example; stdnum refuses its region for 1880
    ("34052419800101001X", None),  # region code in no table: a warning, not a reject
    ("11010519491231002x", None),
    ("１１０１０５１９４９１２３１００２Ｘ", None),
    ("110105194912310021", cn.ID_CHECK_DIGIT),
    ("110105194912310000", cn.EXCEL_DAMAGED_ID),  # §3.1 says check_digit; R23/D7 ask for its own reason
    ("11010519490230002", cn.ID_FORMAT),
    ("110105194902300020", cn.ID_BIRTH_DATE),
]


def _with_check(body: str) -> str:
    """A 17-digit body with its right check character (python-stdnum reads the first 17 characters)."""
    return body + ric.calc_check_digit(body + "0")


def _ric_reasons(values: list[str | None]) -> list[str | None]:
    return cn.classify_ric(cn.ascii_fold(pa.array(values, pa.string())), AS_OF).to_pylist()


@pytest.mark.parametrize(("number", "reason"), RIC_FIXTURES, ids=[f[0] for f in RIC_FIXTURES])
def test_requirements_ric_fixture(number, reason):
    """Each §3.1 fixture gets the listed verdict."""
    assert _ric_reasons([number]) == [reason]


def test_excel_fixture_also_fails_stdnum_check_digit():
    """The Excel-damaged fixture is a check-digit failure to stdnum too: our reason only refines it."""
    with pytest.raises(ric.InvalidChecksum):
        ric.validate("110105194912310000")


@pytest.mark.parametrize("number", ["1.10105E+17", "1.10105194912310E+17", "4.40524E17"])
def test_scientific_notation_is_excel_damage(number):
    """What a spreadsheet shows for an 18-digit number is Excel damage, not a format error (R23)."""
    assert _ric_reasons([number]) == [cn.EXCEL_DAMAGED_ID]


@pytest.mark.parametrize(("number", "reason"), [
    ("110105202601010012", cn.ID_BIRTH_DATE),   # born after the as-of date
    ("110105187912310012", cn.ID_BIRTH_DATE),   # before 1880
    ("110105190002290012", cn.ID_BIRTH_DATE),   # 1900 was not a leap year
    (_with_check("11010520000229001"), None),   # 2000 was
    ("11010519491231002Ｘ", None),               # full-width X only
    ("11010519491231002×", cn.ID_FORMAT),        # multiplication sign is not X
    ("11010519491231002х", cn.ID_FORMAT),        # Cyrillic х is not X (NFKC does not fix it either)
    ("11010519491231002X ", None),              # trailing space is representation
    ("110105491231002", None),                  # 15-digit legacy number, real date
    ("110105490230002", cn.ID_BIRTH_DATE),      # 15-digit with 30 February
    ("", cn.ID_FORMAT),
], ids=lambda v: repr(v))
def test_ric_edge_cases(number, reason):
    """Birth date bounds, leap years, look-alike characters, legacy 15-digit numbers."""
    assert _ric_reasons([number]) == [reason]


def test_null_is_not_a_format_failure():
    """A missing ID number is for the not-null rule; classification leaves it null."""
    assert _ric_reasons([None, "11010519491231002X"]) == [None, None]


def _random_body(rng: random.Random) -> str:
    year = rng.randrange(1900, 2020)
    return f"{rng.randrange(110000, 660000):06d}{year}{rng.randrange(1, 13):02d}{rng.randrange(1, 29):02d}" \
           f"{rng.randrange(1000):03d}"


def test_check_digit_agrees_with_stdnum_on_random_numbers():
    """For 20,000 random bodies and every check character, the verdict is stdnum's (valid iff stdnum agrees)."""
    rng = random.Random(4)
    bodies = [_random_body(rng) for _ in range(2000)]
    numbers = [b + c for b in bodies for c in "0123456789X"]

    reasons = cn.classify_ric(pa.array(numbers), AS_OF).to_pylist()

    for number, reason in zip(numbers, reasons, strict=True):
        right = ric.calc_check_digit(number) == number[-1]
        assert (reason is None) == right, number
        if not right:
            assert reason == (cn.EXCEL_DAMAGED_ID if number.endswith("000") else cn.ID_CHECK_DIGIT)


def test_birth_date_and_gender_read_from_the_number():
    """Birth date = digits 7-14 (15-digit: 19 + 7-12); sex digit odd = M; malformed numbers give null."""
    values = pa.array(["11010519491231002X", "440524188001010014", "150102880730303", "1101051949123100", None])

    assert cn.ric_birth_dates(values).to_pylist() == [date(1949, 12, 31), date(1880, 1, 1), date(1988, 7, 30),
                                                     None, None]
    assert cn.ric_genders(values).to_pylist() == ["F", "M", "M", None, None]


def test_fifteen_digit_match_key():
    """R13: 150102880730303 matches as 150102198807303035 (REQUIREMENTS §3.1); 18-digit numbers unchanged."""
    keys = cn.ric_match_key(pa.array(["150102880730303", "11010519491231002X", None])).to_pylist()

    assert keys == ["150102198807303035", "11010519491231002X", None]
    assert ric.is_valid(keys[0])


def test_region_known_uses_every_historical_code():
    """440524 (existed 1983-1993) is known; 340524 is in no table: a warning case, never a reject."""
    known = cn.ric_region_known(pa.array(["440524188001010014", "34052419800101001X", "11010519491231002X", None]))

    assert known.to_pylist() == [True, False, True, None]


# REQUIREMENTS §3.2
USCC_FIXTURES = [
    ("91350100M000100Y43", None),
    ("91350100m000100y43", None),
    ("91350100M000100Y4Z", cn.USCC_FORMAT),
    ("91350100M000100Y4O", cn.USCC_FORMAT),
    ("91350100M000100Y44", cn.USCC_CHECK_DIGIT),
    ("9131000063159284XQ", None),
    ("91350211M0000XUF46", cn.USCC_CHECK_DIGIT),
    ("91350100M0001TGQXM", cn.USCC_CHECK_DIGIT),
]


@pytest.mark.parametrize(("code", "reason"), USCC_FIXTURES, ids=[f[0] for f in USCC_FIXTURES])
def test_requirements_uscc_fixture(code, reason):
    """Each §3.2 fixture gets the listed verdict (after upper-casing)."""
    assert cn.classify_uscc(cn.ascii_fold(pa.array([code]))).to_pylist() == [reason]


def test_uscc_check_agrees_with_stdnum():
    """Every check character of 500 random bodies: valid exactly when stdnum computes that character."""
    rng = random.Random(9)
    alphabet = cn.USCC_ALPHABET
    bodies = [rng.choice("9Y5") + rng.choice("123") + f"{rng.randrange(10**6):06d}"
              + "".join(rng.choice(alphabet) for _ in range(9)) for _ in range(500)]
    codes = [b + c for b in bodies for c in alphabet]

    reasons = cn.classify_uscc(pa.array(codes)).to_pylist()

    assert reasons == [None if uscc.calc_check_digit(c) == c[-1] else cn.USCC_CHECK_DIGIT for c in codes]


# REQUIREMENTS §3.4
@pytest.mark.parametrize(("number", "ok"), [
    ("+86 138-0013-8000", True), ("0086 13800138000", True), ("１３８００１３８０００", True), ("13800138000", True),
    ("(138) 0013 8000", True), ("8613912345678", True), ("12800138000", False), ("1380013800", False),
    ("010-12345678", False), ("1.38001E+10", False), ("１３８００１３８００", False),
])
def test_requirements_mobile_fixture(number, ok):
    """§3.4: normalise (full width, separators, +86/0086/86), then 1[3-9] and 9 digits."""
    assert cn.is_mobile(pa.array([number])).to_pylist() == [ok]


def test_mobile_normalisation_is_representation_only():
    """The normalised form keeps the 11 digits and drops only the prefix and the separators."""
    assert cn.normalize_mobile(pa.array(["+86 138-0013-8000", "１３９１２３４５６７８", None])).to_pylist() == \
        ["13800138000", "13912345678", None]


# REQUIREMENTS §3.3
@pytest.mark.parametrize(("number", "ok"), [
    ("79927398713", True), ("79927398710", False), ("4111111111111111", True), ("6226000000000004", False),
    ("6226 0000 0000 0005", True),
])
def test_requirements_luhn_fixture(number, ok):
    """§3.3: Luhn as python-stdnum computes it; spaces are representation."""
    assert cn.luhn_valid(pa.array([number])).to_pylist() == [ok]
    assert luhn.is_valid(number.replace(" ", "")) == ok


@pytest.mark.parametrize(("value", "placeholder"), [
    ("不详", True), (" 无 ", True), ("N/A", True), ("-", True), ("000000000000000000", True), ("000000", True),
    ("张三", False), ("0", False), ("北京市朝阳区无名路1号", False),
])
def test_placeholders(value, placeholder):
    """R15: listed placeholders and all-zero identifiers stand in for missing values; real text does not."""
    assert cn.is_placeholder(pa.array([value])).to_pylist() == [placeholder]


def test_ascii_fold_touches_representation_only():
    """Full-width ASCII and the ideographic space fold, x upper-cases; Chinese text is left alone."""
    folded = cn.ascii_fold(pa.array(["１１０１０５１９４９１２３１００２ｘ", "abc\u3000", "张三", None])).to_pylist()

    assert folded == ["11010519491231002X", "ABC", "张三", None]


def test_region_rows_from_the_parsed_bytes_agree_with_the_text_check():
    """The bulk region check (on the parsed digits) flags the same well-formed rows as the text check."""
    values = pa.array(["440524188001010014", "34052419800101001X", "11010519491231002X", "990101800101011",
                       "110101800101011", "E12345678", None])

    rows = cn.ric_region_unknown_rows(cn.parse_ric(values))

    assert sorted(rows.tolist()) == [1, 3]
    assert [i for i, known in enumerate(cn.ric_region_known(values).to_pylist()) if known is False] == [1, 3, 5]
