"""Builds the customers of the book one household at a time: a family, or a company and its staff."""

import random
from dataclasses import replace
from datetime import date, timedelta

from booktransfer.sample.defects import DUPLICATE_PERSON, DefectPlanner, id_constraint
from booktransfer.sample.identifiers import (
    REGIONS,
    XINJIANG_REGIONS,
    Region,
    ResidentIds,
    Serial,
    UniqueCodes,
    mobile_number,
    region_for,
)
from booktransfer.sample.layout import (
    AS_OF,
    CORPORATE,
    CREDIT_CODE,
    EARLIEST_ISSUE,
    FEMALE,
    INDIVIDUAL,
    MALE,
    PASSPORT,
    RESIDENT_ID,
    add_years,
    age_on,
)
from booktransfer.sample.name_pools import RARE_GIVEN, NamePools, minority_name
from booktransfer.sample.people import COMPANY, ELDER, EMPLOYEE, HEAD, OFFSPRING, PARTNER, Household, Person

CORPORATE_HOUSEHOLDS = 0.13
PASSPORT_HOLDERS = 0.01
MINORITY_HOUSEHOLDS = 0.012
RARE_NAMES = 0.004
SPOUSES = 0.55
PARENTS = 0.12
CHILD_COUNTS = (0, 1, 2)
CHILD_COUNT_WEIGHTS = (0.40, 0.38, 0.22)
OWN_MOBILE_AGE = 16
LATEST_RECORD = AS_OF - timedelta(days=60)


class HouseholdBuilder:
    """Creates households with fresh customer numbers and unique, valid identifiers."""

    def __init__(
        self,
        rng: random.Random,
        pools: NamePools,
        customer_numbers: Serial,
        planner: DefectPlanner,
        expected: int,
    ) -> None:
        """Draw from ``rng`` and ``pools``; ``expected`` customers size the uniqueness bitmaps."""
        self._rng = rng
        self._pools = pools
        self._numbers = customer_numbers
        self._planner = planner
        self._ids = ResidentIds(rng, expected)
        self._codes = UniqueCodes(rng, expected // 10 + 1000)

    def build(self, limit: int) -> Household:
        """Return the next household, with at most ``limit`` customers (a company needs room for staff)."""
        if limit > 1 and self._rng.random() < CORPORATE_HOUSEHOLDS:
            return self._company(limit)
        return self._family(limit)

    # -- families -----------------------------------------------------------------------------------

    def _family(self, limit: int) -> Household:
        """A policyholder, maybe with a spouse, children and a parent."""
        rng = self._rng
        id_type = PASSPORT if rng.random() < PASSPORT_HOLDERS else RESIDENT_ID
        defect = self._planner.person_defect(id_type, may_duplicate=True)
        if defect == DUPLICATE_PERSON:
            head = self._duplicate(self._planner.take_duplicate_source())
        else:
            minority = id_type == RESIDENT_ID and rng.random() < MINORITY_HOUSEHOLDS
            head = self._head(id_type, defect, minority)
        household = Household(head=head)
        head_age = age_on(head.birth, AS_OF)
        room = limit - 1
        if room and rng.random() < SPOUSES:
            household.spouse = self._spouse(head, head_age)
            room -= 1
        children = rng.choices(CHILD_COUNTS, CHILD_COUNT_WEIGHTS)[0] if head_age >= 24 else 0
        for _ in range(min(children, room)):
            household.children.append(self._child(household, head_age))
            room -= 1
        if room and head_age <= 62 and rng.random() < PARENTS:
            household.parents.append(self._parent(head, head_age))
        return household

    def _head(self, id_type: str, defect: str | None, minority: bool) -> Person:
        """A new adult policyholder with a new address."""
        rng = self._rng
        male = rng.random() < 0.5
        birth = self._birth(round(rng.triangular(25, 80, 40)))
        region, address = self._home(minority)
        start = self._day_between(max(EARLIEST_ISSUE, add_years(birth, 18)), LATEST_RECORD)
        surname = "" if minority else self._pools.surname(rng)
        return self._individual(
            HEAD, male, birth, surname, minority, region, address, start, mobile_number(rng), defect, id_type
        )

    def _duplicate(self, source: Person) -> Person:
        """The same person as ``source`` registered again under a new customer number and address."""
        rng = self._rng
        region, address = self._home(source.minority)
        start = self._day_between(max(EARLIEST_ISSUE, add_years(source.birth, 18)), LATEST_RECORD)
        return replace(
            source,
            customer_no=self._numbers.next(),
            mobile=source.mobile if rng.random() < 0.5 else mobile_number(rng),
            address=address,
            zipcode=region.zipcode,
            make_date=start,
            member=HEAD,
            defect=DUPLICATE_PERSON,
        )

    def _spouse(self, head: Person, head_age: int) -> Person:
        """The head's spouse, of the other sex and a similar age."""
        rng = self._rng
        age = min(max(head_age + rng.randint(-6, 6), 22), 95)
        birth = self._birth(age)
        make_date = max(head.make_date, add_years(birth, 18))
        surname = "" if head.minority else self._pools.surname(rng)
        return self._relative(PARTNER, head.sex != MALE, birth, surname, head, make_date, mobile_number(rng))

    def _child(self, household: Household, head_age: int) -> Person:
        """A child of the head (and spouse): minors are common."""
        rng = self._rng
        head = household.head
        birth = self._birth(rng.randint(0, min(head_age - 22, 32)))
        father = head if head.sex == MALE or household.spouse is None else household.spouse
        age = age_on(birth, AS_OF)
        mobile = head.mobile if age < OWN_MOBILE_AGE else mobile_number(rng)
        make_date = max(head.make_date, birth + timedelta(days=30))
        male = rng.random() < 0.5
        person = self._relative(OFFSPRING, male, birth, father.surname, head, make_date, mobile)
        if head.minority:
            father_given = father.name.split("\u00b7")[0] if father.sex == MALE else None
            person.name = minority_name(rng, male, father_given)
        return person

    def _parent(self, head: Person, head_age: int) -> Person:
        """An elderly parent of the head."""
        rng = self._rng
        male = rng.random() < 0.5
        birth = self._birth(min(head_age + rng.randint(22, 34), 98))
        surname = head.surname if male and head.surname else self._pools.surname(rng)
        return self._relative(ELDER, male, birth, surname, head, head.make_date, mobile_number(rng))

    def _relative(
        self, member: str, male: bool, birth: date, surname: str, head: Person, make_date: date, mobile: str
    ) -> Person:
        """A family member living at the head's address."""
        defect = self._planner.person_defect(RESIDENT_ID, may_duplicate=False)
        region = region_for(self._rng, birth.year, XINJIANG_REGIONS if head.minority else REGIONS)
        person = self._individual(
            member, male, birth, surname, head.minority, region, head.address, make_date, mobile, defect
        )
        person.zipcode = head.zipcode
        return person

    def _individual(
        self,
        member: str,
        male: bool,
        birth: date,
        surname: str,
        minority: bool,
        region: Region,
        address: str,
        make_date: date,
        mobile: str,
        defect: str | None,
        id_type: str = RESIDENT_ID,
    ) -> Person:
        """A natural person with a fresh customer number and a unique certificate number."""
        if id_type == PASSPORT:
            id_no = self._codes.passport()
        else:
            id_region = region if region.since <= birth.year and self._rng.random() < 0.6 else None
            id_region = id_region or region_for(
                self._rng, birth.year, XINJIANG_REGIONS if minority else REGIONS
            )
            id_no = self._ids.issue(id_region.code, birth, male, id_constraint(defect))
        return Person(
            customer_no=self._numbers.next(),
            customer_type=INDIVIDUAL,
            name=self._name(male, surname, minority),
            sex=MALE if male else FEMALE,
            birth=birth,
            id_type=id_type,
            id_no=id_no,
            mobile=mobile,
            address=address,
            zipcode=region.zipcode,
            make_date=make_date,
            member=member,
            surname=surname,
            minority=minority,
            defect=defect,
        )

    # -- companies ----------------------------------------------------------------------------------

    def _company(self, limit: int) -> Household:
        """A corporate policyholder insuring some of its employees."""
        rng = self._rng
        region = rng.choice(REGIONS)
        address = (
            f"{region.place}{rng.choice(self._pools.streets)}{rng.randint(1, 999)}号{rng.randint(1, 30)}层"
        )
        company = Person(
            customer_no=self._numbers.next(),
            customer_type=CORPORATE,
            name=rng.choice(self._pools.companies),
            sex="",
            birth=None,
            id_type=CREDIT_CODE,
            id_no=self._codes.credit_code(),
            mobile=mobile_number(rng),
            address=address,
            zipcode=region.zipcode,
            make_date=self._day_between(EARLIEST_ISSUE, LATEST_RECORD),
            member=COMPANY,
            defect=self._planner.person_defect(CREDIT_CODE, may_duplicate=False),
        )
        household = Household(head=company)
        for _ in range(min(rng.randint(1, 3), limit - 1)):
            household.employees.append(self._employee(company))
        return household

    def _employee(self, company: Person) -> Person:
        """An employee of ``company`` with a home of their own."""
        rng = self._rng
        male = rng.random() < 0.5
        birth = self._birth(rng.randint(22, 58))
        region, address = self._home(minority=False)
        make_date = max(company.make_date, add_years(birth, 18))
        defect = self._planner.person_defect(RESIDENT_ID, may_duplicate=False)
        surname = self._pools.surname(rng)
        return self._individual(
            EMPLOYEE, male, birth, surname, False, region, address, make_date, mobile_number(rng), defect
        )

    # -- helpers ------------------------------------------------------------------------------------

    def _name(self, male: bool, surname: str, minority: bool) -> str:
        """A Han name (rarely with a character outside GBK) or a minority name."""
        rng = self._rng
        if minority:
            return minority_name(rng, male)
        if rng.random() < RARE_NAMES:
            return surname + rng.choice(RARE_GIVEN)
        return surname + self._pools.given_name(rng, male)

    def _home(self, minority: bool) -> tuple[Region, str]:
        """A region and a postal address in it."""
        rng = self._rng
        region = rng.choice(XINJIANG_REGIONS if minority else REGIONS)
        address = f"{region.place}{rng.choice(self._pools.streets)}{rng.randint(1, 999)}号"
        if rng.random() < 0.7:
            address += (
                f"{rng.randint(1, 40)}栋{rng.randint(1, 6)}单元{rng.randint(1, 33)}{rng.randint(1, 8):02d}室"
            )
        return region, address

    def _birth(self, age: int) -> date:
        """A birth date for someone ``age`` years old at the export date (and at least 60 days old)."""
        days = round(age * 365.2425) + self._rng.randrange(60, 365)
        return AS_OF - timedelta(days=days)

    def _day_between(self, first: date, last: date) -> date:
        """A day between ``first`` and ``last`` inclusive (``first`` if the range is empty)."""
        span = (last - first).days
        return first + timedelta(days=self._rng.randint(0, span)) if span > 0 else first
