"""Every ground-truth record points at a row that really has its defect; every other row is clean."""

import re
from collections import Counter, defaultdict

import pytest

from tests.unit.sample.book_checks import (
    AUTH_TYPES,
    CONT_STATES,
    FULLWIDTH,
    MOBILE,
    SEXES,
    Book,
    beneficiary_groups,
    consent_problems,
    contract_problems,
    id_check_ok,
    parse_day,
    person_problems,
    read_book,
    read_truth,
)

DEFECTS = {
    "ID_CHECK_DIGIT",
    "MISSING_MANDATORY",
    "DUPLICATE_PERSON",
    "ORPHAN_POLICY",
    "IMPOSSIBLE_DATE",
    "UNKNOWN_CODE",
    "FULLWIDTH_DIGITS",
    "LOWERCASE_X",
    "EXCEL_DAMAGED_ID",
    "SHARES_NOT_100",
}
MANDATORY = {
    "LDPERSON.csv": {"Name", "Birthday", "IDNo", "Mobile", "PostalAddress"},
    "LCCONT.csv": {"RiskCode", "CValiDate"},
}
CODE_TABLES = {"Sex": SEXES, "ContState": CONT_STATES, "AuthType": AUTH_TYPES}
UNFULLWIDTH = str.maketrans({chr(0xFF10 + d): str(d) for d in range(10)})


@pytest.fixture(scope="module")
def parsed(defective_book) -> tuple[Book, list[dict[str, str]]]:
    """The defective book and its ground truth, parsed once."""
    return read_book(defective_book.out_dir), read_truth(defective_book.truth_path)


def test_truth_file_is_beside_the_drop_folder(defective_book):
    """The default ground truth is <out>.truth.csv next to the drop folder, not inside it."""
    assert defective_book.truth_path == defective_book.out_dir.parent / "drop.truth.csv"
    assert defective_book.truth_path.exists()
    assert [p.name for p in defective_book.out_dir.iterdir() if "truth" in p.name] == []


def test_every_defect_kind_is_injected(parsed):
    """At a 20 % rate, each of the ten defects of the doc appears at least once."""
    _, truth = parsed
    assert set(Counter(t["defect"] for t in truth)) == DEFECTS


def test_truth_is_ordered_and_keyed(parsed):
    """Records are sorted by file (drop order) and line, and their key identifies the row."""
    book, truth = parsed
    order = {name: i for i, name in enumerate(book.rows)}
    positions = [(order[t["file"]], int(t["line"])) for t in truth]
    assert positions == sorted(positions)
    keys = {
        "LDPERSON.csv": lambda r: r["CustomerNo"],
        "LCCONT.csv": lambda r: r["ContNo"],
        "LCPARTY.csv": lambda r: f"{r['ContNo']}|{r['CustomerNo']}|{r['RoleType']}",
        "CUST_AUTH_LOG.csv": lambda r: r["LogNo"],
    }
    wrong = [t["line"] for t in truth if keys[t["file"]](book.rows[t["file"]][int(t["line"])]) != t["key"]]
    assert wrong == []


def test_one_defect_per_row(parsed):
    """No row carries two defects (except the rows of one spoilt beneficiary group, one record each)."""
    _, truth = parsed
    rows = Counter((t["file"], t["line"]) for t in truth)
    assert [row for row, count in rows.items() if count > 1] == []


def _has_defect(book: Book, record: dict[str, str]) -> bool:
    """Re-read the row the record points at and check that the defect is really there."""
    row = book.rows[record["file"]][int(record["line"])]
    column, defect = record["column"], record["defect"]
    value = row[column]
    if defect == "MISSING_MANDATORY":
        return value == "" and column in MANDATORY[record["file"]]
    if defect == "UNKNOWN_CODE":
        return value not in CODE_TABLES[column]
    if defect == "IMPOSSIBLE_DATE":
        return bool(re.fullmatch("[0-9]{8}", value)) and parse_day(value) is None
    if defect == "ORPHAN_POLICY":
        return value not in book.customers() and value.startswith("C")
    if defect == "FULLWIDTH_DIGITS":
        ascii_value = value.translate(UNFULLWIDTH)
        plain = id_check_ok(ascii_value) if column == "IDNo" else bool(MOBILE.match(ascii_value))
        return bool(FULLWIDTH.search(value)) and plain
    return _has_id_defect(book, record, row)


def _has_id_defect(book: Book, record: dict[str, str], row: dict[str, str]) -> bool:
    """Check the defects of the IDNo column (and the shares, which are checked by group elsewhere)."""
    value, defect = row[record["column"]], record["defect"]
    if defect == "ID_CHECK_DIGIT":
        return bool(re.fullmatch("[0-9]{17}[0-9X]", value)) and not id_check_ok(value)
    if defect == "LOWERCASE_X":
        return value.endswith("x") and id_check_ok(value.upper())
    if defect == "EXCEL_DAMAGED_ID":
        return bool(re.fullmatch("[0-9]{15}000", value)) and not id_check_ok(value)
    if defect == "DUPLICATE_PERSON":
        return _duplicates_an_earlier_row(book, int(record["line"]), row)
    return defect == "SHARES_NOT_100" and record["column"] == "BnfLot"


def _duplicates_an_earlier_row(book: Book, line: int, row: dict[str, str]) -> bool:
    """True when an earlier LDPERSON row is the same person (ID, name, sex, birthday) under another number."""
    same = ("IDNo", "Name", "Sex", "Birthday")
    return any(
        earlier < line and all(other[c] == row[c] for c in same) and other["CustomerNo"] != row["CustomerNo"]
        for earlier, other in book.rows["LDPERSON.csv"].items()
        if other["IDNo"] == row["IDNo"]
    )


def test_every_truth_record_has_its_defect(parsed):
    """Re-reading each listed line shows the listed defect in the listed column."""
    book, truth = parsed
    missing = [(t["file"], t["line"], t["defect"]) for t in truth if not _has_defect(book, t)]
    assert missing == []


def test_spoilt_beneficiary_groups_are_listed_completely(parsed):
    """Exactly the groups that do not sum to 100 are listed, with every one of their rows."""
    book, truth = parsed
    parties = book.rows["LCPARTY.csv"]
    listed = {int(t["line"]) for t in truth if t["defect"] == "SHARES_NOT_100"}
    spoilt = set()
    for lines in beneficiary_groups(book).values():
        if sum(int(parties[line]["BnfLot"]) for line in lines) != 100:
            spoilt.update(lines)
    assert listed and listed == spoilt


def test_rows_outside_the_truth_are_clean(parsed):
    """Rows not listed pass every clean-row check (ID check digit, dates, codes, references)."""
    book, truth = parsed
    listed = defaultdict(set)
    for t in truth:
        listed[t["file"]].add(int(t["line"]))
    customers = book.customers()
    checks = {
        "LDPERSON.csv": person_problems,
        "LCCONT.csv": lambda row: contract_problems(row, customers),
        "CUST_AUTH_LOG.csv": lambda row: consent_problems(row, customers),
    }
    dirty = [
        (name, line)
        for name, check in checks.items()
        for line, row in book.rows[name].items()
        if line not in listed[name] and check(row)
    ]
    assert dirty == []


def test_listed_single_row_defects_fail_row_checks(parsed):
    """Each listed customer, policy or consent row (bar duplicates and orphans) fails a strict row check."""
    book, truth = parsed
    customers = book.customers()
    checks = {
        "LDPERSON.csv": person_problems,
        "LCCONT.csv": lambda row: contract_problems(row, customers),
        "CUST_AUTH_LOG.csv": lambda row: consent_problems(row, customers),
    }
    passing = [
        (t["file"], t["line"], t["defect"])
        for t in truth
        if t["file"] in checks
        and t["defect"] != "DUPLICATE_PERSON"
        and not checks[t["file"]](book.rows[t["file"]][int(t["line"])])
    ]
    assert passing == []


def test_only_listed_duplicates_share_an_id(parsed):
    """Apart from DUPLICATE_PERSON rows, certificate numbers are unique; each duplicate has one original."""
    book, truth = parsed
    duplicates = {int(t["line"]) for t in truth if t["defect"] == "DUPLICATE_PERSON"}
    persons = book.rows["LDPERSON.csv"]
    originals = Counter(
        row["IDNo"] for line, row in persons.items() if line not in duplicates and row["IDNo"]
    )
    assert [n for n in originals.values() if n > 1] == []
    assert [line for line in duplicates if originals[persons[line]["IDNo"]] != 1] == []


def test_party_and_consent_references_always_resolve(parsed):
    """Defects never break LCPARTY or CUST_AUTH_LOG references to customers."""
    book, _ = parsed
    customers = book.customers()
    dangling = [
        (name, line)
        for name in ("LCPARTY.csv", "CUST_AUTH_LOG.csv")
        for line, row in book.rows[name].items()
        if row["CustomerNo"] not in customers
    ]
    assert dangling == []
