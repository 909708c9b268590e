"""Defect injection: which row gets which defect, and how the row is damaged (docs/sample-book.md)."""

import random
from collections.abc import Callable
from datetime import date

from booktransfer.sample.identifiers import excel_damaged, fullwidth, resident_check_char
from booktransfer.sample.layout import (
    AS_OF,
    CONSENT_COLUMNS,
    CONTRACT_COLUMNS,
    CREDIT_CODE,
    PASSPORT,
    PERSON_COLUMNS,
    RESIDENT_ID,
    age_on,
)
from booktransfer.sample.people import Person

ID_CHECK_DIGIT = "ID_CHECK_DIGIT"
MISSING_MANDATORY = "MISSING_MANDATORY"
DUPLICATE_PERSON = "DUPLICATE_PERSON"
ORPHAN_POLICY = "ORPHAN_POLICY"
IMPOSSIBLE_DATE = "IMPOSSIBLE_DATE"
UNKNOWN_CODE = "UNKNOWN_CODE"
FULLWIDTH_DIGITS = "FULLWIDTH_DIGITS"
LOWERCASE_X = "LOWERCASE_X"
EXCEL_DAMAGED_ID = "EXCEL_DAMAGED_ID"
SHARES_NOT_100 = "SHARES_NOT_100"
DEFECTS = (
    ID_CHECK_DIGIT,
    MISSING_MANDATORY,
    DUPLICATE_PERSON,
    ORPHAN_POLICY,
    IMPOSSIBLE_DATE,
    UNKNOWN_CODE,
    FULLWIDTH_DIGITS,
    LOWERCASE_X,
    EXCEL_DAMAGED_ID,
    SHARES_NOT_100,
)

PERSON_DEFECTS = {
    RESIDENT_ID: (
        ID_CHECK_DIGIT,
        MISSING_MANDATORY,
        DUPLICATE_PERSON,
        IMPOSSIBLE_DATE,
        UNKNOWN_CODE,
        FULLWIDTH_DIGITS,
        LOWERCASE_X,
        EXCEL_DAMAGED_ID,
    ),
    PASSPORT: (MISSING_MANDATORY, IMPOSSIBLE_DATE, UNKNOWN_CODE, FULLWIDTH_DIGITS),
    CREDIT_CODE: (MISSING_MANDATORY, FULLWIDTH_DIGITS),
}
CONTRACT_DEFECTS = (MISSING_MANDATORY, ORPHAN_POLICY, IMPOSSIBLE_DATE, UNKNOWN_CODE)

PERSON_MANDATORY = ("Name", "Birthday", "IDNo", "Mobile", "PostalAddress")
CORPORATE_MANDATORY = ("Name", "IDNo", "Mobile", "PostalAddress")
CONTRACT_MANDATORY = ("RiskCode", "CValiDate")
UNKNOWN_SEX = "7"
UNKNOWN_CONT_STATE = "9"
UNKNOWN_AUTH_TYPE = "ZZ"
IMPOSSIBLE_MONTH_DAYS = ("0230", "0231", "0431", "0631", "0931", "1131", "1301", "1232", "0001")

_PERSON = {name: i for i, name in enumerate(PERSON_COLUMNS)}
_CONTRACT = {name: i for i, name in enumerate(CONTRACT_COLUMNS)}
_CONSENT = {name: i for i, name in enumerate(CONSENT_COLUMNS)}
_RESERVOIR = 4096
_DUPLICATE_AGES = range(25, 81)


def id_constraint(defect: str | None) -> Callable[[str], bool] | None:
    """Return what the true resident ID must satisfy so that ``defect`` can be injected into it."""
    if defect == LOWERCASE_X:
        return _ends_in_x
    if defect == EXCEL_DAMAGED_ID:
        return _damage_shows
    return None


def _ends_in_x(resident_id: str) -> bool:
    """True when the check character is ``X``."""
    return resident_id.endswith("X")


def _damage_shows(resident_id: str) -> bool:
    """True when a spreadsheet would have stored the ID as a number and the damaged ID fails the check."""
    damaged = excel_damaged(resident_id)
    return not resident_id.endswith("X") and resident_check_char(damaged[:17]) != damaged[17]


def impossible_date(rng: random.Random, year: int) -> str:
    """Return a ``YYYYMMDD`` string in ``year`` that is not a calendar date (e.g. 30 February)."""
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    choices = IMPOSSIBLE_MONTH_DAYS if leap else (*IMPOSSIBLE_MONTH_DAYS, "0229")
    return f"{year:04d}{rng.choice(choices)}"


def wrong_check_char(rng: random.Random, resident_id: str) -> str:
    """Return a check character that is not the right one (and does not mimic Excel damage)."""
    right = resident_id[-1]
    choices = [c for c in "0123456789X" if c != right and not (c == "0" and resident_id[-3:-1] == "00")]
    return rng.choice(choices)


class DefectPlanner:
    """Decides, row by row, whether and which defect to inject, and damages the row accordingly.

    Uses its own random generator so that the defect rate does not reshuffle the clean content.
    """

    def __init__(self, rate: float, seed: int) -> None:
        """Inject defects into a fraction ``rate`` of the eligible rows."""
        self.rate = rate
        self._rng = random.Random(f"defects/{seed}")
        self._sources: list[Person] = []

    def _draw(self, choices: tuple[str, ...]) -> str | None:
        """With probability ``rate`` return one of ``choices``, otherwise None."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        return self._rng.choice(choices)

    def person_defect(self, id_type: str, may_duplicate: bool) -> str | None:
        """Choose the defect of a customer row with certificate ``id_type`` (None: clean)."""
        choices = PERSON_DEFECTS[id_type]
        if not (may_duplicate and self._sources):
            choices = tuple(c for c in choices if c != DUPLICATE_PERSON)
        return self._draw(choices)

    def contract_defect(self) -> str | None:
        """Choose the defect of a policy row (None: clean)."""
        return self._draw(CONTRACT_DEFECTS)

    def consent_defect(self) -> str | None:
        """Choose the defect of a consent event row (None: clean)."""
        return self._draw((UNKNOWN_CODE,))

    def spoil_shares(self) -> bool:
        """Decide whether the beneficiary shares of one policy and grade stop summing to 100."""
        return self._draw((SHARES_NOT_100,)) is not None

    def offer_duplicate_source(self, person: Person) -> None:
        """Remember a clean adult resident as a possible source for a later DUPLICATE_PERSON row."""
        if self.rate <= 0 or person.birth is None or age_on(person.birth, AS_OF) not in _DUPLICATE_AGES:
            return
        if len(self._sources) < _RESERVOIR:
            self._sources.append(person)
        else:
            self._sources[self._rng.randrange(_RESERVOIR)] = person

    def take_duplicate_source(self) -> Person:
        """Remove and return a remembered clean person (each is duplicated at most once)."""
        index = self._rng.randrange(len(self._sources))
        self._sources[index], self._sources[-1] = self._sources[-1], self._sources[index]
        return self._sources.pop()

    def damage_person(self, row: list[str], person: Person) -> str:
        """Inject ``person.defect`` into the ``LDPERSON`` row; return the damaged column."""
        defect = person.defect
        if defect == DUPLICATE_PERSON:
            return "IDNo"
        if defect == MISSING_MANDATORY:
            column = self._rng.choice(PERSON_MANDATORY if person.is_individual else CORPORATE_MANDATORY)
            row[_PERSON[column]] = ""
            return column
        if defect == FULLWIDTH_DIGITS:
            column = self._rng.choice(("IDNo", "Mobile")) if person.has_resident_id else "Mobile"
            row[_PERSON[column]] = fullwidth(row[_PERSON[column]])
            return column
        if defect == IMPOSSIBLE_DATE:
            row[_PERSON["Birthday"]] = impossible_date(self._rng, person.birth.year)
            return "Birthday"
        if defect == UNKNOWN_CODE:
            row[_PERSON["Sex"]] = UNKNOWN_SEX
            return "Sex"
        row[_PERSON["IDNo"]] = self._damaged_id(defect, person.id_no)
        return "IDNo"

    def _damaged_id(self, defect: str, resident_id: str) -> str:
        """Return the resident ID as ``defect`` spoils it."""
        if defect == ID_CHECK_DIGIT:
            return resident_id[:17] + wrong_check_char(self._rng, resident_id)
        if defect == LOWERCASE_X:
            return resident_id[:17] + "x"
        if defect == EXCEL_DAMAGED_ID:
            return excel_damaged(resident_id)
        raise ValueError(f"not a customer defect: {defect}")

    def damage_contract(
        self, row: list[str], defect: str, issued: date, unused_customer_no: Callable[[], str]
    ) -> str:
        """Inject ``defect`` into the ``LCCONT`` row; return the damaged column."""
        if defect == MISSING_MANDATORY:
            column = self._rng.choice(CONTRACT_MANDATORY)
            row[_CONTRACT[column]] = ""
            return column
        if defect == ORPHAN_POLICY:
            row[_CONTRACT["AppntNo"]] = unused_customer_no()
            return "AppntNo"
        if defect == IMPOSSIBLE_DATE:
            row[_CONTRACT["CValiDate"]] = impossible_date(self._rng, issued.year)
            return "CValiDate"
        if defect == UNKNOWN_CODE:
            row[_CONTRACT["ContState"]] = UNKNOWN_CONT_STATE
            return "ContState"
        raise ValueError(f"not a policy defect: {defect}")

    def damage_consent(self, row: list[str]) -> str:
        """Inject UNKNOWN_CODE into the ``CUST_AUTH_LOG`` row; return the damaged column."""
        row[_CONSENT["AuthType"]] = UNKNOWN_AUTH_TYPE
        return "AuthType"

    def damage_shares(self, lots: list[int]) -> list[int]:
        """Return the shares with one of them changed, so that they no longer sum to 100."""
        spoilt = list(lots)
        index = self._rng.randrange(len(spoilt))
        delta = self._rng.choice((-20, -10, -5, 5, 10, 20))
        if not 1 <= spoilt[index] + delta <= 100:
            delta = -delta
        spoilt[index] += delta
        return spoilt
