"""booktransfer.validate.book: merges (R17), references, cascades and whole policies, on a small book.

The book is checked once per module (four GX suites); the tests assert on the final state of each entity.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from stdnum.cn import ric

from booktransfer.validate.book import (
    CASCADE_REASONS,
    DEPENDENT_QUARANTINED,
    DUPLICATE_ID_CONFLICT,
    NO_INSURED,
    ORPHAN_REFERENCE,
    PARENT_QUARANTINED,
    valid_rows,
    validate_book,
)
from booktransfer.validate.book_rules import load_book_rules
from booktransfer.validate.entity import check_entity
from booktransfer.validate.gx_suite import load_suite_dict
from tests.unit.validate.builders import (
    SUITES,
    beneficiary,
    consent,
    customer,
    example_set,
    insured,
    mapped,
    policy,
    resident_id,
)

LEGACY = "110101800101031"  # 15 digits: 110101 + 800101 + 031 (male) ...
LEGACY_18 = "11010119800101031" + ric.calc_check_digit("110101198001010310")  # ... and its 18-digit form
C = [
    customer(1),                                                    # line 2  C1 clean
    customer(2, Name="王二"),                                        # line 3  C2 same ID as C4, other name
    customer(3, IDNo=resident_id(1), Name=customer(1)["Name"], MakeDate="2023-01-01"),  # line 4 C3 = C1
    customer(4, IDNo=resident_id(2), Name="李四"),                   # line 5  C4 conflicts with C2
    customer(5, IDNo=resident_id(5)[:17] + ("0" if resident_id(5)[17] != "0" else "1")),  # line 6 C5 bad check
    customer(6, IDNo=LEGACY),                                       # line 7  C6 legacy 15-digit number
    customer(7, IDNo=LEGACY_18, Name=customer(6)["Name"]),          # line 8  C7 the same person, 18 digits
    customer(8),                                                    # line 9  C8 clean
    customer(9),                                                    # line 10 C9 clean
]
P = [
    policy(1, "C000000001"),   # line 2 P1 clean
    policy(2, "C000000003"),   # line 3 P2 held by the merged duplicate: re-pointed to C1
    policy(3, "C000000005"),   # line 4 P3 holder quarantined -> PARENT_QUARANTINED
    policy(4, "C000000999"),   # line 5 P4 holder in no source row -> ORPHAN_REFERENCE
    policy(5, "C000000001"),   # line 6 P5 a beneficiary's customer is quarantined -> DEPENDENT_QUARANTINED
    policy(6, "C000000001"),   # line 7 P6 no insured person at all -> NO_INSURED
    policy(7, "C000000008"),   # line 8 P7 beneficiary shares 60 + 30 -> its parties SHARES_NOT_100
    policy(8, "C000000009"),   # line 9 P8 clean, two beneficiary orders summing to 100 each
]
PARTIES = [
    insured("P00000000001", "C000000001"),            # line 2
    insured("P00000000002", "C000000003"),            # line 3 re-pointed to C1
    insured("P00000000003", "C000000005"),            # line 4 cascade (policy and customer)
    insured("P00000000004", "C000000001"),            # line 5 cascade (policy orphan)
    insured("P00000000005", "C000000001"),            # line 6 cascade (its policy held back)
    beneficiary("P00000000005", "C000000005", "100"),  # line 7 cascade (customer quarantined)
    insured("P00000000007", "C000000008"),            # line 8 cascade (policy held back by its shares)
    beneficiary("P00000000007", "C000000009", "60"),   # line 9 SHARES_NOT_100
    beneficiary("P00000000007", "C000000001", "30"),   # line 10 SHARES_NOT_100
    insured("P00000000008", "C000000009"),            # line 11
    beneficiary("P00000000008", "C000000008", "50"),   # line 12
    beneficiary("P00000000008", "C000000001", "50"),   # line 13
    beneficiary("P00000000008", "C000000007", "100", grade="2"),  # line 14 C7: re-pointed to C6
]
E = [
    consent(1, "C000000001"),   # line 2
    consent(2, "C000000003"),   # line 3 re-pointed to C1
    consent(3, "C000000005"),   # line 4 cascade
    consent(4, "C000000999"),   # line 5 orphan
]


def _checked_book() -> tuple[dict, dict, dict]:
    """The small book through map and every suite: (checked entities, raw rows, map-rejected lines)."""
    rows = {"customers": C, "policies": P, "policy_parties": PARTIES, "consents": E}
    checked, raw, rejected = {}, {}, {}
    for entity, entity_rows in rows.items():
        raw[entity], table, map_rejects = mapped(entity, entity_rows)
        assert map_rejects.num_rows == 0, entity
        rejected[entity] = pa.array([], pa.int64())
        checked[entity] = check_entity(example_set().entities[entity], table,
                                       load_suite_dict(SUITES / f"{entity}.json"), len(entity_rows), raw[entity])
    return checked, raw, rejected


@pytest.fixture(scope="module")
def book():
    """The small book through map, every suite and the book rules of the example buyer schema."""
    checked, raw, rejected = _checked_book()
    return validate_book(checked, example_set(), load_book_rules(SUITES), raw, rejected)


def test_the_hashed_columns_are_all_computed_ahead_in_threads(monkeypatch):
    """Every lookup the reference and aggregate checks ask for is there before their first pass (computed two
    at a time by `_warm_lookups`), except the one over rows the map stage rejected; and the book's decisions
    are those of a run that computes each lookup when first asked."""
    from booktransfer.validate import book as module

    late: list[tuple] = []
    once = module._once

    def counting(cache, key, make, *args):
        if key not in cache:
            late.append(key)
        return once(cache, key, make, *args)

    monkeypatch.setattr(module, "_once", counting)
    checked, raw, rejected = _checked_book()  # (the merge re-points the checked tables: fresh ones per run)
    warm = validate_book(checked, example_set(), load_book_rules(SUITES), raw, rejected)
    assert late and {key[0] for key in late} == {"rejected"}
    monkeypatch.setattr(module, "_warm_lookups", lambda *args: {})
    checked, raw, rejected = _checked_book()
    cold = validate_book(checked, example_set(), load_book_rules(SUITES), raw, rejected)
    assert {key[0] for key in late} == {"rejected", "source", "rows", "held"}
    for entity in cold:
        assert valid_rows(warm[entity]).equals(valid_rows(cold[entity]))
        assert _reasons(warm[entity]) == _reasons(cold[entity])


def _reasons(state) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for part in state.parts + state.checked.rejects:
        for r in part.to_pylist():
            out.setdefault(r["source_line"], set()).add(r["reason"])
    return out


def test_same_person_merged_into_earliest_row(book):
    """C3 repeats C1 (ID, name, sex, birth date): merged into C1, which lists C3 as merged; not quarantined."""
    customers = book["customers"]
    merges = customers.merges.to_pylist()
    survivors = {r["customer_no"]: r["merged_customer_nos"] for r in valid_rows(customers).to_pylist()}

    assert {(m["source_line"], m["survivor_line"], m["reason"]) for m in merges} >= {(4, 2, "MERGED_DUPLICATE")}
    assert survivors["C000000001"] == "C000000003"
    assert "C000000003" not in survivors
    assert 4 not in _reasons(customers)


def test_fifteen_digit_number_matches_its_eighteen_digit_form(book):
    """C6 (15 digits) and C7 (the same number in 18 digits) are one person (R13 + R17): C7 merges into C6."""
    customers = book["customers"]
    merges = {(m["source_line"], m["survivor_line"]) for m in customers.merges.to_pylist()}
    kept = {r["customer_no"]: r for r in valid_rows(customers).to_pylist()}

    assert (8, 7) in merges
    assert kept["C000000006"]["id_number"] == LEGACY  # the original number is kept, never rewritten
    assert kept["C000000006"]["merged_customer_nos"] == "C000000007"


def test_same_number_different_person_quarantined_not_merged(book):
    """C2 and C4 share an ID number but not a name: both quarantined DUPLICATE_ID_CONFLICT, nothing merged."""
    reasons = _reasons(book["customers"])

    assert reasons[3] == {DUPLICATE_ID_CONFLICT} and reasons[5] == {DUPLICATE_ID_CONFLICT}
    assert not {3, 5} & set(book["customers"].merges.column("source_line").to_pylist())


def test_references_to_the_merged_number_are_repointed(book):
    """P2, its insured row and consent E2 named C3; they now name the survivor C1 and load."""
    policies = {r["policy_no"]: r for r in valid_rows(book["policies"]).to_pylist()}
    parties = {(r["policy_no"], r["role"]): r for r in valid_rows(book["policy_parties"]).to_pylist()}
    consents = {r["event_no"]: r for r in valid_rows(book["consents"]).to_pylist()}

    assert policies["P00000000002"]["holder_customer_no"] == "C000000001"
    assert parties[("P00000000002", "INSURED")]["customer_no"] == "C000000001"
    assert consents["A0000000002"]["customer_no"] == "C000000001"
    assert book["policies"].counts["repointed"] == {"holder_customer_no": 1}


def test_orphan_is_primary_parent_quarantined_is_cascade(book):
    """A holder no source row has is the policy's own defect; a quarantined holder holds it back as cascade."""
    reasons = _reasons(book["policies"])

    assert reasons[5] == {ORPHAN_REFERENCE}
    assert reasons[4] == {PARENT_QUARANTINED}
    assert _reasons(book["consents"]) == {4: {PARENT_QUARANTINED}, 5: {ORPHAN_REFERENCE}}


def test_policy_travels_whole(book):
    """P5's beneficiary is held back, so P5 is too (DEPENDENT_QUARANTINED) and so is its insured row."""
    assert _reasons(book["policies"])[6] == {DEPENDENT_QUARANTINED}
    assert _reasons(book["policy_parties"])[6] == {PARENT_QUARANTINED}
    assert _reasons(book["policy_parties"])[7] == {PARENT_QUARANTINED}


def test_policy_without_insured_refused(book):
    """P6 has no insured row in the seller's file at all: its own defect, NO_INSURED (R16)."""
    assert _reasons(book["policies"])[7] == {NO_INSURED}


def test_shares_not_100_quarantines_the_group_and_holds_the_policy(book):
    """P7's beneficiaries sum to 90: both rows SHARES_NOT_100; P7 and its insured row are held back."""
    parties = _reasons(book["policy_parties"])

    assert parties[9] == {"SHARES_NOT_100"} and parties[10] == {"SHARES_NOT_100"}
    assert parties[8] == {PARENT_QUARANTINED}
    assert _reasons(book["policies"])[8] == {DEPENDENT_QUARANTINED}


def test_clean_rows_load(book):
    """P1, P2 and P8 with all their parties load; every held-back row has a reason."""
    policies = set(valid_rows(book["policies"]).column("policy_no").to_pylist())
    parties = sorted(valid_rows(book["policy_parties"]).column("_line").to_pylist())

    assert policies == {"P00000000001", "P00000000002", "P00000000008"}
    assert parties == [2, 3, 11, 12, 13, 14]
    for state in book.values():
        assert set(_reasons(state)) == set(state.table.filter(pa.array(state.held)).column("_line").to_pylist())


def test_cascade_rows_only_carry_cascade_reasons(book):
    """A row held back because of another row never gets a primary reason for it."""
    for state in book.values():
        for line, reasons in _reasons(state).items():
            assert reasons <= CASCADE_REASONS or not reasons & CASCADE_REASONS, (line, reasons)
