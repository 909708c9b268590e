"""Policies of a household: products, dates, premiums, the insured person and the beneficiaries."""

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from booktransfer.sample.layout import (
    AS_OF,
    IN_FORCE,
    LAPSED,
    MATURED,
    SURRENDERED,
    add_years,
    age_on,
    ymd,
)
from booktransfer.sample.people import ELDER, HEAD, OFFSPRING, PARTNER, Household, Person

WHOLE_LIFE, TERM_LIFE, CRITICAL_ILLNESS, ACCIDENT, ENDOWMENT = (
    "LA0101",
    "LA0201",
    "HB0301",
    "AC0401",
    "EN0501",
)

PRODUCT_MIX = {
    "adult": ((WHOLE_LIFE, TERM_LIFE, CRITICAL_ILLNESS, ACCIDENT, ENDOWMENT), (20, 20, 30, 15, 15)),
    "minor": ((CRITICAL_ILLNESS, ENDOWMENT, ACCIDENT, WHOLE_LIFE), (40, 30, 20, 10)),
    "elderly": ((ACCIDENT, WHOLE_LIFE, CRITICAL_ILLNESS), (50, 30, 20)),
    "staff": ((ACCIDENT, TERM_LIFE, CRITICAL_ILLNESS), (60, 25, 15)),
}
SUMS_INSURED = {
    WHOLE_LIFE: (100_000, 200_000, 300_000, 500_000, 1_000_000),
    TERM_LIFE: (200_000, 500_000, 1_000_000, 2_000_000),
    CRITICAL_ILLNESS: (100_000, 200_000, 300_000, 500_000),
    ACCIDENT: (50_000, 100_000, 200_000, 500_000),
    ENDOWMENT: (50_000, 100_000, 200_000),
}
PREMIUM_RATES = {
    WHOLE_LIFE: 0.015,
    TERM_LIFE: 0.002,
    CRITICAL_ILLNESS: 0.01,
    ACCIDENT: 0.001,
    ENDOWMENT: 0.08,
}
TERMS = {TERM_LIFE: (10, 20, 30), CRITICAL_ILLNESS: (20, 30), ACCIDENT: (1,), ENDOWMENT: (10, 15, 20)}
WHOLE_LIFE_TO_AGE = 105
SPLITS = {2: ((50, 50), (60, 40), (70, 30), (80, 20)), 3: ((40, 30, 30), (34, 33, 33), (50, 25, 25))}
DESIGNATED_BENEFICIARIES = 0.33


@dataclass(slots=True)
class Beneficiary:
    """A named beneficiary: grade (order) and share in percent."""

    person: Person
    grade: str
    lot: int


@dataclass(slots=True)
class Policy:
    """One contract: holder, insured person, product, dates, money and beneficiaries."""

    holder: Person
    insured: Person
    risk: str
    state: str
    issued: date
    ends: date
    premium_cents: int
    amount: int
    beneficiaries: list[Beneficiary] = field(default_factory=list)

    def row(self, cont_no: str) -> list[str]:
        """Return the ``LCCONT`` row in column order."""
        return [
            cont_no,
            self.holder.customer_no,
            self.risk,
            self.state,
            ymd(self.issued),
            ymd(self.ends),
            money(self.premium_cents),
            f"{self.amount}.00",
        ]


def money(cents: int) -> str:
    """Format an amount in cents as a decimal with two places."""
    return f"{cents // 100}.{cents % 100:02d}"


def household_policies(rng: random.Random, household: Household) -> list[Policy]:
    """Plan the policies of a household (about 1.5 per customer overall)."""
    head = household.head
    if not head.is_individual:
        cover = (1, 2)
        return [
            _policy(rng, household, head, employee)
            for employee in household.employees
            for _ in range(rng.choices(cover, (70, 30))[0])
        ]
    policies = [
        _policy(rng, household, head, head) for _ in range(rng.choices((1, 2, 3, 4), (25, 35, 27, 13))[0])
    ]
    spouse = household.spouse
    if spouse is not None:
        if rng.random() < 0.6:
            policies.append(_policy(rng, household, head, spouse))
        for _ in range(rng.choices((0, 1, 2), (40, 40, 20))[0]):
            policies.append(_policy(rng, household, spouse, spouse))
    for child in household.children:
        holder = spouse if spouse is not None and rng.random() < 0.3 else head
        for _ in range(rng.choices((0, 1, 2), (20, 55, 25))[0]):
            policies.append(_policy(rng, household, holder, child))
    for parent in household.parents:
        if rng.random() < 0.8:
            policies.append(_policy(rng, household, head, parent))
    return policies


def _policy(rng: random.Random, household: Household, holder: Person, insured: Person) -> Policy:
    """One policy of ``holder`` on ``insured``, issued after both became customers."""
    first = max(holder.make_date, insured.make_date)
    issued = first + timedelta(days=rng.randint(0, max((AS_OF - first).days, 0)))
    age = age_on(insured.birth, issued)
    risk = _product(rng, insured, age)
    ends = _end_date(rng, risk, issued, insured.birth)
    amount = rng.choice(SUMS_INSURED[risk])
    policy = Policy(
        holder, insured, risk, _state(rng, ends), issued, ends, _premium(rng, risk, amount, age), amount
    )
    if holder.is_individual and rng.random() < DESIGNATED_BENEFICIARIES:
        policy.beneficiaries = _beneficiaries(rng, household, insured, issued)
    return policy


def _product(rng: random.Random, insured: Person, age: int) -> str:
    """Choose a product that suits the insured person."""
    if insured.member not in (HEAD, PARTNER, OFFSPRING, ELDER):
        mix = "staff"
    elif age < 18:
        mix = "minor"
    elif age >= 60:
        mix = "elderly"
    else:
        mix = "adult"
    products, weights = PRODUCT_MIX[mix]
    return rng.choices(products, weights)[0]


def _end_date(rng: random.Random, risk: str, issued: date, birth: date) -> date:
    """Expiry: whole life runs to age 105, the others for a term of years."""
    if risk == WHOLE_LIFE:
        return add_years(birth, WHOLE_LIFE_TO_AGE)
    return add_years(issued, rng.choice(TERMS[risk])) - timedelta(days=1)


def _state(rng: random.Random, ends: date) -> str:
    """Status at the export date: expired policies matured (or were surrendered before)."""
    if ends < AS_OF:
        return MATURED if rng.random() < 0.9 else SURRENDERED
    return rng.choices((IN_FORCE, LAPSED, SURRENDERED), (80, 8, 12))[0]


def _premium(rng: random.Random, risk: str, amount: int, age: int) -> int:
    """Annual premium in cents, rising with age except for accident cover."""
    factor = 1.0 if risk == "AC0401" else 1 + age / 40
    return max(1000, round(amount * 100 * PREMIUM_RATES[risk] * factor * rng.uniform(0.9, 1.1)))


def _beneficiaries(
    rng: random.Random, household: Household, insured: Person, issued: date
) -> list[Beneficiary]:
    """Name first-order (and sometimes second-order) beneficiaries who were customers when issued."""
    first = [p for p in _first_order(rng, household, insured) if p.make_date <= issued]
    if not first:
        return []
    grades = [("1", first)]
    second = [p for p in household.parents if p.make_date <= issued]
    if insured is household.head and second and rng.random() < 0.3:
        grades.append(("2", second))
    return [
        Beneficiary(person, grade, lot)
        for grade, people in grades
        for person, lot in zip(people, split(rng, len(people)), strict=True)
    ]


def _first_order(rng: random.Random, household: Household, insured: Person) -> list[Person]:
    """The natural first-order beneficiaries of ``insured`` within the household."""
    head, spouse, children = household.head, household.spouse, household.children
    if insured is head:
        if spouse is None:
            return list(children)
        return [spouse, *children] if rng.random() < 0.4 else [spouse]
    if insured is spouse:
        return [head, *children] if rng.random() < 0.3 else [head]
    if insured.member == OFFSPRING and spouse is not None and rng.random() < 0.5:
        return [head, spouse]
    return [head]


def split(rng: random.Random, count: int) -> list[int]:
    """Split 100 % among ``count`` beneficiaries."""
    if count == 1:
        return [100]
    if count in SPLITS:
        return list(rng.choice(SPLITS[count]))
    shares = [100 // count] * count
    shares[0] += 100 - sum(shares)
    return shares
