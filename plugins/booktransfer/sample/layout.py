"""File names, column layouts and code tables of the sample seller book (docs/sample-book.md)."""

from datetime import date

PERSON_FILE = "LDPERSON.csv"
CONTRACT_FILE = "LCCONT.csv"
PARTY_FILE = "LCPARTY.csv"
CONSENT_FILE = "CUST_AUTH_LOG.csv"
CONTROL_FILE = "CONTROL.txt"
DATA_FILES = (PERSON_FILE, CONTRACT_FILE, PARTY_FILE, CONSENT_FILE)

PERSON_COLUMNS = (
    "CustomerNo",
    "CustomerType",
    "Name",
    "Sex",
    "Birthday",
    "IDType",
    "IDNo",
    "Mobile",
    "PostalAddress",
    "ZipCode",
    "MakeDate",
)
CONTRACT_COLUMNS = ("ContNo", "AppntNo", "RiskCode", "ContState", "CValiDate", "EndDate", "Prem", "Amnt")
PARTY_COLUMNS = ("ContNo", "CustomerNo", "RoleType", "RelationToAppnt", "BnfGrade", "BnfLot")
CONSENT_COLUMNS = ("LogNo", "CustomerNo", "AuthType", "AuthFlag", "AuthTime", "Channel", "EvidenceNo")

COLUMNS = {
    PERSON_FILE: PERSON_COLUMNS,
    CONTRACT_FILE: CONTRACT_COLUMNS,
    PARTY_FILE: PARTY_COLUMNS,
    CONSENT_FILE: CONSENT_COLUMNS,
}

INDIVIDUAL = "0"
CORPORATE = "1"
CUSTOMER_TYPES = (INDIVIDUAL, CORPORATE)

MALE = "0"
FEMALE = "1"
SEXES = (MALE, FEMALE, "2")

RESIDENT_ID = "0"
PASSPORT = "1"
CREDIT_CODE = "9"
ID_TYPES = (RESIDENT_ID, PASSPORT, CREDIT_CODE)

RISK_CODES = ("LA0101", "LA0201", "HB0301", "AC0401", "EN0501")
IN_FORCE, LAPSED, MATURED, SURRENDERED = "1", "2", "3", "4"
CONT_STATES = (IN_FORCE, LAPSED, MATURED, SURRENDERED)

INSURED_ROLE = "1"
BENEFICIARY_ROLE = "2"
ROLE_TYPES = (INSURED_ROLE, BENEFICIARY_ROLE)
SELF, SPOUSE, CHILD, PARENT, OTHER = "00", "01", "02", "03", "04"
RELATIONS = (SELF, SPOUSE, CHILD, PARENT, OTHER)
BNF_GRADES = ("1", "2")

AUTH_TYPES = ("YX", "GX", "MG", "JW")
GRANTED = "1"
WITHDRAWN = "0"
AUTH_FLAGS = (GRANTED, WITHDRAWN)
CHANNELS = ("01", "02", "03", "04")

EARLIEST_ISSUE = date(2000, 1, 1)
AS_OF = date(2025, 12, 31)
"""The export date: no policy, record or consent event is later than this day."""


def ymd(day: date) -> str:
    """Format a date as ``YYYYMMDD``."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def iso(day: date) -> str:
    """Format a date as ``YYYY-MM-DD``."""
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def add_years(day: date, years: int) -> date:
    """Return the same calendar day ``years`` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def age_on(birth: date, day: date) -> int:
    """Return the age in whole years of someone born on ``birth`` at ``day``."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
