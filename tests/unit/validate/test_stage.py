"""booktransfer.validate.stage: the run's as-of date reaches the rules that take one, and only those."""

from __future__ import annotations

from datetime import date

from booktransfer.validate.custom_expectations import AS_OF_TYPES
from booktransfer.validate.entity import check_entity
from booktransfer.validate.gx_suite import build_suite, load_suite_dict
from booktransfer.validate.stage import _with_as_of
from tests.unit.validate.builders import SUITES, customer, example_set, mapped, resident_id


def test_as_of_goes_to_the_rules_that_take_it():
    """Every shipped suite still builds with the as-of date; exactly the as-of types carry it."""
    for entity in ("customers", "policies", "policy_parties", "consents"):
        doc = _with_as_of(load_suite_dict(SUITES / f"{entity}.json"), date(2025, 12, 31))

        build_suite(doc)
        for exp in doc["expectations"]:
            assert ("as_of" in exp["kwargs"]) == (exp["type"] in AS_OF_TYPES), exp["type"]


def test_birth_after_the_as_of_date_is_refused():
    """A person born 2010-05-05 has no real birth date on an as-of date of 2009-12-31 (and does on 2025-12-31)."""
    row = customer(1, Birthday="20100505", IDNo=resident_id(1, birth="20100505"))
    raw, table, _ = mapped("customers", [row])
    doc = load_suite_dict(SUITES / "customers.json")
    spec = example_set().entities["customers"]

    early = check_entity(spec, table, _with_as_of(doc, date(2009, 12, 31)), raw=raw)
    late = check_entity(spec, table, _with_as_of(doc, date(2025, 12, 31)), raw=raw)

    assert [r["reason"] for p in early.rejects for r in p.to_pylist()] == ["ID_BIRTH_DATE"]
    assert late.rejects == []
