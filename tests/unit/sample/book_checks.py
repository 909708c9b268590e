"""Independent checks of a generated book, written from docs/sample-book.md (not from the generator)."""

import csv
import hashlib
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from stdnum.cn import ric, uscc

FILES = ("LDPERSON.csv", "LCCONT.csv", "LCPARTY.csv", "CUST_AUTH_LOG.csv")
SEXES = {"0", "1", "2"}
ID_TYPES = {"0", "1", "9"}
RISK_CODES = {"LA0101", "LA0201", "HB0301", "AC0401", "EN0501"}
CONT_STATES = {"1", "2", "3", "4"}
RELATIONS = {"00", "01", "02", "03", "04"}
AUTH_TYPES = {"YX", "GX", "MG", "JW"}
CHANNELS = {"01", "02", "03", "04"}
EXPORT_DAY = date(2025, 12, 31)
# Patterns use [0-9], not \d: in Python \d (and int()) also accept full-width digits.
MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
MONEY = re.compile(r"^[0-9]+\.[0-9]{2}$")
RESIDENT_ID = re.compile(r"^[0-9]{17}[0-9X]$")
FULLWIDTH = re.compile("[\uff10-\uff19]")


@dataclass(repr=False)
class Book:
    """The parsed data files: ``rows[file]`` maps physical line number -> row dict."""

    rows: dict[str, dict[int, dict[str, str]]]

    def __repr__(self) -> str:
        """Row counts only, so that a failing test never prints (synthetic) personal data."""
        return f"Book({ {name: len(rows) for name, rows in self.rows.items()} })"

    def customers(self) -> set[str]:
        """All customer numbers in LDPERSON."""
        return {row["CustomerNo"] for row in self.rows["LDPERSON.csv"].values()}


def read_book(folder: Path, encoding: str = "utf-8") -> Book:
    """Parse the four data files; fail if any field spans lines (line numbers would shift)."""
    rows = {}
    for name in FILES:
        text = (folder / name).read_bytes().decode(encoding)
        lines = text.split("\n")
        assert lines[-1] == "", f"{name} does not end with a newline"
        parsed = list(csv.DictReader(lines[:-1]))
        assert len(parsed) == len(lines) - 2, f"{name} has a field with a line break"
        rows[name] = {line: row for line, row in enumerate(parsed, start=2)}
    return Book(rows)


def digest(path: Path) -> str:
    """The SHA-256 of a file (compared instead of contents, which hold names)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def file_digests(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file in a drop folder."""
    return {path.name: digest(path) for path in sorted(folder.iterdir())}


def read_truth(path: Path) -> list[dict[str, str]]:
    """Parse the ground-truth CSV."""
    with path.open(encoding="utf-8", newline="") as stream:
        return list(csv.DictReader(stream))


def parse_day(text: str, pattern: str = "%Y%m%d") -> date | None:
    """The date written as ``text`` (ASCII digits only), or None if it is not a calendar date."""
    if not text.isascii():
        return None
    try:
        return datetime.strptime(text, pattern).date()
    except ValueError:
        return None


def id_check_ok(resident_id: str) -> bool:
    """True when an 18-character resident ID has the right GB 11643 check character."""
    return bool(RESIDENT_ID.match(resident_id)) and ric.calc_check_digit(resident_id) == resident_id[-1]


def person_problems(row: dict[str, str]) -> list[str]:
    """Why an LDPERSON row is not clean (empty list: clean)."""
    problems = [f"blank {c}" for c in ("CustomerNo", "Name", "IDNo", "Mobile", "PostalAddress") if not row[c]]
    if not MOBILE.match(row["Mobile"]) or row["Mobile"] == "13800138000":
        problems.append("mobile")
    if not re.match(r"^[0-9]{6}$", row["ZipCode"]) or not parse_day(row["MakeDate"], "%Y-%m-%d"):
        problems.append("zip or make date")
    if row["CustomerType"] == "1":
        return problems + _corporate_problems(row)
    if row["CustomerType"] != "0" or row["Sex"] not in SEXES or row["IDType"] not in ID_TYPES:
        problems.append("code")
    birth = parse_day(row["Birthday"])
    if birth is None:
        return problems + ["birthday"]
    if row["IDType"] == "0":
        problems += _resident_problems(row, birth)
    elif row["IDType"] != "1" or not re.match(r"^E[0-9]{8}$", row["IDNo"]):
        problems.append("certificate")
    return problems


def _corporate_problems(row: dict[str, str]) -> list[str]:
    """Why a corporate LDPERSON row is not clean."""
    strict = re.fullmatch(r"[0-9A-HJ-NPQRTUWXY]{18}", row["IDNo"])
    problems = [] if strict and uscc.is_valid(row["IDNo"]) else ["credit code"]
    if row["IDType"] != "9" or row["Sex"] or row["Birthday"]:
        problems.append("corporate fields")
    return problems


def _resident_problems(row: dict[str, str], birth: date) -> list[str]:
    """Why an individual with a resident ID is not clean: check digit, region, sex and birth agreement."""
    resident_id = row["IDNo"]
    if not id_check_ok(resident_id) or not ric.is_valid(resident_id):
        return ["resident id"]
    problems = []
    if ric.get_birth_date(resident_id) != birth:
        problems.append("birthday disagrees with id")
    male = int(resident_id[16]) % 2 == 1
    if row["Sex"] != ("0" if male else "1"):
        problems.append("sex disagrees with id")
    return problems


def contract_problems(row: dict[str, str], customers: set[str]) -> list[str]:
    """Why an LCCONT row is not clean."""
    problems = []
    if not re.match(r"^P[0-9]{11}$", row["ContNo"]) or row["AppntNo"] not in customers:
        problems.append("number or holder")
    if row["RiskCode"] not in RISK_CODES or row["ContState"] not in CONT_STATES:
        problems.append("code")
    issued, ends = parse_day(row["CValiDate"]), parse_day(row["EndDate"])
    if issued is None or ends is None or not ends > issued or not date(2000, 1, 1) <= issued <= EXPORT_DAY:
        problems.append("dates")
    if not MONEY.match(row["Prem"]) or not MONEY.match(row["Amnt"]):
        problems.append("money")
    return problems


def consent_problems(row: dict[str, str], customers: set[str]) -> list[str]:
    """Why a CUST_AUTH_LOG row is not clean."""
    problems = []
    if (
        row["AuthType"] not in AUTH_TYPES
        or row["AuthFlag"] not in {"0", "1"}
        or row["Channel"] not in CHANNELS
    ):
        problems.append("code")
    if not re.match(r"^A[0-9]{10}$", row["LogNo"]) or not re.match(r"^EV[0-9]{12}$", row["EvidenceNo"]):
        problems.append("numbers")
    moment = parse_day(row["AuthTime"], "%Y-%m-%d %H:%M:%S")
    if moment is None or moment > EXPORT_DAY or row["CustomerNo"] not in customers:
        problems.append("time or customer")
    return problems


def beneficiary_groups(book: Book) -> dict[tuple[str, str], list[int]]:
    """Line numbers of the beneficiary rows per (ContNo, BnfGrade)."""
    groups: dict[tuple[str, str], list[int]] = {}
    for line, row in book.rows["LCPARTY.csv"].items():
        if row["RoleType"] == "2":
            groups.setdefault((row["ContNo"], row["BnfGrade"]), []).append(line)
    return groups
