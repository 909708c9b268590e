"""The customers of the sample book and the households that group them."""

from dataclasses import dataclass, field
from datetime import date

from booktransfer.sample.layout import (
    CHILD,
    CORPORATE,
    INDIVIDUAL,
    OTHER,
    PARENT,
    RESIDENT_ID,
    SELF,
    SPOUSE,
    iso,
    ymd,
)

HEAD = "head"
PARTNER = "spouse"
OFFSPRING = "child"
ELDER = "parent"
EMPLOYEE = "employee"
COMPANY = "company"


@dataclass(slots=True)
class Person:
    """One customer (an ``LDPERSON`` row) as the seller's system should hold it, before any defect."""

    customer_no: str
    customer_type: str
    name: str
    sex: str
    birth: date | None
    id_type: str
    id_no: str
    mobile: str
    address: str
    zipcode: str
    make_date: date
    member: str
    surname: str = ""
    minority: bool = False
    defect: str | None = None

    @property
    def is_individual(self) -> bool:
        """True for a natural person, False for a company."""
        return self.customer_type == INDIVIDUAL

    @property
    def has_resident_id(self) -> bool:
        """True when the certificate is a resident identity card."""
        return self.customer_type == INDIVIDUAL and self.id_type == RESIDENT_ID

    def row(self) -> list[str]:
        """Return the ``LDPERSON`` row in column order."""
        return [
            self.customer_no,
            self.customer_type,
            self.name,
            self.sex,
            ymd(self.birth) if self.birth else "",
            self.id_type,
            self.id_no,
            self.mobile,
            self.address,
            self.zipcode,
            iso(self.make_date),
        ]


@dataclass(slots=True)
class Household:
    """A policyholder and the people insured or named as beneficiaries alongside them."""

    head: Person
    spouse: Person | None = None
    children: list[Person] = field(default_factory=list)
    parents: list[Person] = field(default_factory=list)
    employees: list[Person] = field(default_factory=list)

    @property
    def members(self) -> list[Person]:
        """Everyone in the household, head first."""
        spouse = [self.spouse] if self.spouse else []
        return [self.head, *spouse, *self.children, *self.parents, *self.employees]


_RELATIONS = {
    (PARTNER, HEAD): SPOUSE,
    (HEAD, PARTNER): SPOUSE,
    (OFFSPRING, HEAD): CHILD,
    (OFFSPRING, PARTNER): CHILD,
    (ELDER, HEAD): PARENT,
}


def relation_to_holder(person: Person, holder: Person) -> str:
    """Return the ``RelationToAppnt`` code of ``person`` towards the policyholder."""
    if person is holder:
        return SELF
    return _RELATIONS.get((person.member, holder.member), OTHER)


def is_corporate(person: Person) -> bool:
    """True for a corporate customer."""
    return person.customer_type == CORPORATE
