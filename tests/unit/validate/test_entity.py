"""booktransfer.validate: the buyer suite (Great Expectations) and reference checks turn bad rows into rejects.

GX is slow to import, so each entity is validated once per module and the tests assert on the results.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from booktransfer.errors import ValidationFailed
from booktransfer.mapping.apply import map_entity
from booktransfer.validate.entity import reference_failures, validate_entity
from booktransfer.validate.gx_suite import load_suite_dict
from tests.unit.mapping.builders import (
    CUSTOMER_COLUMNS,
    POLICY_COLUMNS,
    SUITES,
    customer_row,
    example_set,
    policy_row,
    raw_table,
)

# Source lines: header is line 1, so row i of CUSTOMER_ROWS is line i + 2.
CUSTOMER_ROWS = [
    customer_row(1),                                    # 2: clean
    customer_row(2, Name="不详"),                        # 3: placeholder name
    customer_row(3),                                    # 4: duplicate customer number ...
    customer_row(4, CustomerNo="C000000003"),           # 5: ... of this one
    customer_row(5, Mobile="1390000"),                  # 6: bad mobile
    customer_row(6, IDNo="11010119800101006Z"),         # 7: resident ID in the wrong format
    customer_row(7, CustomerType="1", Sex="", Birthday="", IDType="9",
                 IDNo="91110000MA00000007"),            # 8: clean corporate customer
]
EXPECTED_REJECTS = {
    (3, "CUS-010", "name", "PLACEHOLDER_VALUE"),
    (4, "CUS-012", "customer_no", "DUPLICATE_KEY"),
    (5, "CUS-012", "customer_no", "DUPLICATE_KEY"),
    (6, "CUS-015", "mobile", "MOBILE_FORMAT"),
    (7, "CUS-013", "id_number", "ID_FORMAT"),
}


@pytest.fixture(scope="module")
def mapped_customers() -> pa.Table:
    """CUSTOMER_ROWS mapped with the example set (all of them map cleanly)."""
    mapped = map_entity(example_set(), "customers", raw_table(CUSTOMER_COLUMNS, CUSTOMER_ROWS))
    assert mapped.rejects.num_rows == 0
    return mapped.table


@pytest.fixture(scope="module")
def customers(mapped_customers):
    """The customers validated once against the example suite."""
    return validate_entity(example_set().entities["customers"], mapped_customers, SUITES / "customers.json", {})


@pytest.fixture(scope="module")
def policies(customers):
    """Three policies (holders: valid, unknown, quarantined) validated against the valid customers."""
    raw = raw_table(POLICY_COLUMNS, [policy_row(1, "C000000001"), policy_row(2, "C000000999"),
                                     policy_row(3, "C000000002")])
    mapped = map_entity(example_set(), "policies", raw).table
    return validate_entity(example_set().entities["policies"], mapped, SUITES / "policies.json",
                           {"customers": customers.table})


def test_bad_customers_quarantined_with_suite_rules(customers):
    """Placeholder name, duplicate customer number, bad mobile and malformed RIC leave with the suite's ids."""
    got = {(r["source_line"], r["rule_id"], r["column"], r["reason"]) for r in customers.rejects.to_pylist()}

    assert got == EXPECTED_REJECTS
    assert set(customers.rejects.column("stage").to_pylist()) == {"validate"}
    assert set(customers.rejects.column("source_file").to_pylist()) == {"LDPERSON.csv"}


def test_clean_customers_pass(customers):
    """Only the clean individual and the clean corporate customer remain, with their lines."""
    assert customers.table.column("_line").to_pylist() == [2, 8]
    assert customers.summary["rows_in"] == len(CUSTOMER_ROWS)
    assert customers.summary["rows_valid"] == 2
    assert customers.summary["rows_quarantined"] == len(CUSTOMER_ROWS) - 2


def test_summary_counts_failed_rules(customers):
    """The summary lists each failed rule with its reason and row count."""
    rules = {r["rule_id"]: (r["reason"], r["rows"]) for r in customers.summary["failed_rules"]}

    assert rules == {"CUS-010": ("PLACEHOLDER_VALUE", 1), "CUS-012": ("DUPLICATE_KEY", 2),
                     "CUS-013": ("ID_FORMAT", 1), "CUS-015": ("MOBILE_FORMAT", 1)}


def test_summary_holds_no_field_values(customers, policies, mapped_customers):
    """Neither summary contains any field value of the test rows (names, IDs, phones, addresses, numbers)."""
    text = json.dumps([customers.summary, policies.summary], ensure_ascii=False)
    personal = ("CustomerNo", "Name", "Birthday", "IDNo", "Mobile", "PostalAddress", "ZipCode")
    values = {row[c] for row in CUSTOMER_ROWS for c in personal if row[c]}
    values |= {str(v) for v in mapped_customers.column("id_number").to_pylist()}

    assert not [v for v in values if v in text]


def test_orphan_policy_fails_reference(policies):
    """A policy whose holder is not a valid customer leaves as ORPHAN_REFERENCE on holder_customer_no."""
    got = [(r["source_line"], r["rule_id"], r["column"], r["reason"]) for r in policies.rejects.to_pylist()]

    assert sorted(got) == [(3, "REF.policies.holder_customer_no", "holder_customer_no", "ORPHAN_REFERENCE"),
                           (4, "REF.policies.holder_customer_no", "holder_customer_no", "ORPHAN_REFERENCE")]
    assert policies.table.column("policy_no").to_pylist() == ["P00000000001"]
    assert {"rule_id": "REF.policies.holder_customer_no", "reason": "ORPHAN_REFERENCE", "rows": 2} \
        in policies.summary["failed_rules"]


def test_reference_failures_ignore_nulls():
    """A null reference is left to completeness rules, not reported as an orphan."""
    mapping = example_set().entities["policies"]
    table = pa.table({"holder_customer_no": pa.array(["C1", None, "C2"], pa.string())})
    parents = {"customers": pa.table({"customer_no": pa.array(["C1"], pa.string())})}

    [(rule_id, column, orphan)] = reference_failures(mapping, table, parents)

    assert (rule_id, column) == ("REF.policies.holder_customer_no", "holder_customer_no")
    assert orphan.to_pylist() == [False, False, True]


def test_suite_without_rule_metadata_refused(tmp_path):
    """A suite expectation without meta.rule_id and meta.reason is refused before GX runs."""
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"name": "s", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}, "meta": {"rule_id": "X-1"}}]}))

    with pytest.raises(ValidationFailed, match="expectation #0"):
        load_suite_dict(path)
