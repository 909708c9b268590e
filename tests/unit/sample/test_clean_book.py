"""A defect-free book is fully valid, consistent and shaped like a real portfolio."""

import re
from collections import Counter, defaultdict

from tests.unit.sample.book_checks import (
    MOBILE,
    RELATIONS,
    beneficiary_groups,
    consent_problems,
    contract_problems,
    parse_day,
    person_problems,
    read_book,
)


def test_every_customer_row_is_valid(clean_book):
    """IDs pass GB 11643 / GB 32100, sex and birthday agree with the ID, mobiles and codes are valid."""
    book = read_book(clean_book.out_dir)
    bad = [line for line, row in book.rows["LDPERSON.csv"].items() if person_problems(row)]
    assert bad == []


def test_certificate_numbers_are_unique(clean_book):
    """No two customers share a certificate number (duplicates are a defect, not noise)."""
    book = read_book(clean_book.out_dir)
    counts = Counter(row["IDNo"] for row in book.rows["LDPERSON.csv"].values())
    assert [n for n in counts.values() if n > 1] == []


def test_customer_mix(clean_book):
    """About 5 % corporate customers; minors under 14 and people over 65 are present."""
    rows = list(read_book(clean_book.out_dir).rows["LDPERSON.csv"].values())
    corporate = sum(row["CustomerType"] == "1" for row in rows) / len(rows)
    ages = [2025 - int(row["Birthday"][:4]) for row in rows if row["Birthday"]]
    assert 0.03 <= corporate <= 0.08
    assert sum(age < 14 for age in ages) > len(rows) * 0.05
    assert sum(age >= 65 for age in ages) > len(rows) * 0.03


def test_every_policy_row_is_valid(clean_book):
    """Codes in their tables, real dates with EndDate after CValiDate, holders exist, money has 2 places."""
    book = read_book(clean_book.out_dir)
    customers = book.customers()
    bad = [line for line, row in book.rows["LCCONT.csv"].items() if contract_problems(row, customers)]
    assert bad == []


def test_individual_holders_are_adults_when_the_policy_starts(clean_book):
    """A natural person holding a policy is at least 18 on its CValiDate."""
    book = read_book(clean_book.out_dir)
    births = {
        r["CustomerNo"]: parse_day(r["Birthday"]) for r in book.rows["LDPERSON.csv"].values() if r["Birthday"]
    }
    minors = []
    for line, row in book.rows["LCCONT.csv"].items():
        birth, issued = births.get(row["AppntNo"]), parse_day(row["CValiDate"])
        if birth is None:
            continue
        age = issued.year - birth.year - ((issued.month, issued.day) < (birth.month, birth.day))
        if age < 18:
            minors.append(line)
    assert minors == []


def test_every_policy_has_exactly_one_insured(clean_book):
    """One RoleType 1 row per policy; insured and beneficiaries are existing individual customers."""
    book = read_book(clean_book.out_dir)
    individuals = {r["CustomerNo"] for r in book.rows["LDPERSON.csv"].values() if r["CustomerType"] == "0"}
    insured = Counter(r["ContNo"] for r in book.rows["LCPARTY.csv"].values() if r["RoleType"] == "1")
    policies = [row["ContNo"] for row in book.rows["LCCONT.csv"].values()]
    assert sorted(insured) == sorted(policies)
    assert set(insured.values()) == {1}
    strangers = [line for line, r in book.rows["LCPARTY.csv"].items() if r["CustomerNo"] not in individuals]
    assert strangers == []


def test_party_codes(clean_book):
    """Roles, relations, grades and shares are in their tables; self-insured rows say 00."""
    book = read_book(clean_book.out_dir)
    holders = {row["ContNo"]: row["AppntNo"] for row in book.rows["LCCONT.csv"].values()}
    bad = []
    for line, row in book.rows["LCPARTY.csv"].items():
        insured = row["RoleType"] == "1"
        grade_ok = row["BnfGrade"] == row["BnfLot"] == "" if insured else row["BnfGrade"] in {"1", "2"}
        self_ok = (row["RelationToAppnt"] == "00") == (row["CustomerNo"] == holders[row["ContNo"]])
        if row["RoleType"] not in {"1", "2"} or row["RelationToAppnt"] not in RELATIONS or not grade_ok:
            bad.append(line)
        elif not self_ok:
            bad.append(line)
    assert bad == []


def test_beneficiary_shares_sum_to_100(clean_book):
    """Per policy and grade, the BnfLot shares sum to exactly 100; some policies pay legal heirs."""
    book = read_book(clean_book.out_dir)
    parties = book.rows["LCPARTY.csv"]
    groups = beneficiary_groups(book)
    wrong = [
        key for key, lines in groups.items() if sum(int(parties[line]["BnfLot"]) for line in lines) != 100
    ]
    assert groups and wrong == []
    with_beneficiaries = {cont for cont, _ in groups}
    assert len(with_beneficiaries) < len(book.rows["LCCONT.csv"]) / 2


def test_every_consent_row_is_valid(clean_book):
    """Consent events use known codes, real times up to the export day and existing customers."""
    book = read_book(clean_book.out_dir)
    customers = book.customers()
    bad = [line for line, row in book.rows["CUST_AUTH_LOG.csv"].items() if consent_problems(row, customers)]
    assert bad == []


def test_consent_histories_are_in_time_order(clean_book):
    """A customer's events are in time order; per purpose, grants and withdrawals alternate from a grant."""
    book = read_book(clean_book.out_dir)
    history: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for row in book.rows["CUST_AUTH_LOG.csv"].values():
        history[row["CustomerNo"]].append((row["AuthTime"], row["AuthType"], row["AuthFlag"]))
    unordered = [customer for customer, events in history.items() if events != sorted(events)]
    assert unordered == []
    flags: dict[tuple[str, str], str] = defaultdict(str)
    for customer, events in history.items():
        for _, purpose, flag in events:
            flags[customer, purpose] += flag
    patterns = Counter(flags.values())
    assert [p for p in patterns if not re.fullmatch(r"1(01)*0?", p)] == []
    assert patterns["10"] > 0


def test_ratios_per_customer(clean_book):
    """About 1.5 policies, 2 party rows and 3 consent events per customer."""
    rows = clean_book.rows
    customers = rows["LDPERSON.csv"]
    assert 1.3 <= rows["LCCONT.csv"] / customers <= 1.7
    assert 1.8 <= rows["LCPARTY.csv"] / customers <= 2.2
    assert 2.7 <= rows["CUST_AUTH_LOG.csv"] / customers <= 3.3


def test_mobiles_are_plausible(clean_book):
    """Every mobile matches ^1[3-9]\\d{9}$ and the test number 13800138000 never appears."""
    rows = read_book(clean_book.out_dir).rows["LDPERSON.csv"]
    bad = [
        line
        for line, row in rows.items()
        if not MOBILE.match(row["Mobile"]) or row["Mobile"] == "13800138000"
    ]
    assert bad == []
