"""booktransfer.validate.entity: the example customers suite, run by Great Expectations on mapped rows.

GX is slow to start, so the customers are checked once per module and the tests assert on the result.
"""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from booktransfer.errors import ValidationFailed
from booktransfer.validate.entity import check_entity, normalized_counts
from booktransfer.validate.gx_suite import load_suite_dict
from tests.unit.validate.builders import SUITES, company, customer, example_set, mapped, resident_id

# Source lines: the header is line 1, so row i is line i + 2.
ROWS = [
    customer(1),                                              # 2 clean
    customer(2, Name="不详"),                                  # 3 placeholder name
    customer(3),                                              # 4 duplicate customer number ...
    customer(4, CustomerNo="C000000003"),                     # 5 ... of line 4
    customer(5, Mobile="1390000"),                            # 6 not a mobile number
    customer(6, IDNo="11010119800101006Z"),                   # 7 malformed resident ID
    company(7),                                               # 8 clean company
    customer(8, IDNo=resident_id(8)[:17] + ("1" if resident_id(8)[17] != "1" else "2")),  # 9 check digit
    customer(9, IDNo=resident_id(9)[:15] + "000"),            # 10 Excel damage
    customer(10, IDNo="1.10105E+17"),                         # 11 Excel scientific notation
    customer(11, Sex="1"),                                    # 12 female, but the ID says male
    customer(12, Birthday="19810101"),                        # 13 birth date differs from the ID's
    customer(13, IDNo=resident_id(13).lower().replace("x", "x")[:17] + "X"
             if resident_id(13).endswith("X") else resident_id(13)),  # 14 clean
    customer(14, Mobile="+86 139-0000-0014"),                 # 15 mobile with prefix and separators: clean
    customer(15, IDNo="１" + resident_id(15)[1:]),            # 16 a full-width digit: clean once folded
    customer(16, Birthday=""),                                # 17 individual without a birth date
    company(17, "91350100M000100Y44"),                        # 18 credit code check character
    customer(18, Mobile="13800138000"),                       # 19 well-known placeholder mobile
    customer(19, IDNo=resident_id(19, region="340524")),      # 20 region in no table: warning only
    customer(20, IDNo="110101800101201"),                     # 21 15-digit legacy number: warning only
]
EXPECTED = {
    (3, "CUS-010", "name", "PLACEHOLDER_VALUE"),
    (4, "CUS-012", "customer_no", "DUPLICATE_KEY"),
    (5, "CUS-012", "customer_no", "DUPLICATE_KEY"),
    (6, "CUS-021", "mobile", "MOBILE_FORMAT"),
    (7, "CUS-014", "id_number", "ID_FORMAT"),
    (9, "CUS-016", "id_number", "ID_CHECK_DIGIT"),
    (10, "CUS-013", "id_number", "EXCEL_DAMAGED_ID"),
    (11, "CUS-013", "id_number", "EXCEL_DAMAGED_ID"),
    (12, "CUS-025", "id_number", "INCONSISTENT_GENDER"),
    (13, "CUS-024", "id_number", "INCONSISTENT_BIRTH_DATE"),
    (17, "CUS-009", "birth_date", "MISSING_MANDATORY"),
    (18, "CUS-020", "id_number", "USCC_CHECK_DIGIT"),
    (19, "CUS-022", "mobile", "PLACEHOLDER_VALUE"),
}


@pytest.fixture(scope="module")
def customers():
    """ROWS mapped (all map cleanly) and checked once against the example suite (row count 20 expected)."""
    raw, table, rejects = mapped("customers", ROWS)
    assert rejects.num_rows == 0
    doc = load_suite_dict(SUITES / "customers.json")
    return check_entity(example_set().entities["customers"], table, doc, expected_rows=len(ROWS), raw=raw)


def _records(parts: list[pa.Table]) -> set[tuple]:
    return {(r["source_line"], r["rule_id"], r["column"], r["reason"]) for p in parts for r in p.to_pylist()}


def test_failing_rows_carry_rule_column_and_reason(customers):
    """Every planted defect is quarantined by its rule, naming the column and reason; nothing else is."""
    assert _records(customers.rejects) == EXPECTED


def test_warnings_flag_without_holding_back(customers):
    """Unknown region and a 15-digit number are warnings: recorded, and the rows are not failed."""
    assert _records(customers.warnings) == {(20, "CUS-017", "id_number", "ID_REGION_UNKNOWN"),
                                            (21, "CUS-018", "id_number", "ID_15_DIGIT_REVERIFY")}
    lines = customers.table.column("_line").to_pylist()
    assert not customers.failed[lines.index(20)] and not customers.failed[lines.index(21)]


def test_failed_mask_matches_rejects(customers):
    """The failed mask holds exactly the rejected lines."""
    lines = customers.table.column("_line").to_pylist()
    failed = {line for line, bad in zip(lines, customers.failed, strict=True) if bad}

    assert failed == {e[0] for e in EXPECTED}


def test_identifiers_folded_and_normalised_counted(customers):
    """The full-width ID and the +86 mobile leave in canonical form; the summary counts them, no values."""
    rows = {r["_line"]: r for r in customers.table.to_pylist()}

    assert rows[16]["id_number"] == resident_id(15)
    assert rows[15]["mobile"] == "13900000014"
    assert customers.summary["normalized"] == {"id_number": 1, "mobile": 1}


def test_summary_lists_failed_rules_without_values(customers):
    """The summary names rules and counts; no field value of the test rows appears in it."""
    text = json.dumps(customers.summary, ensure_ascii=False)
    values = {v for row in ROWS for k, v in row.items() if k in ("Name", "IDNo", "Mobile", "PostalAddress") and v}

    assert {r["rule_id"] for r in customers.summary["failed_rules"]} == {e[1] for e in EXPECTED}
    assert not [v for v in values if v in text]


def test_sanitised_result_holds_counts_only(customers):
    """The GX result kept for Data Docs has no unexpected values, indexes or batch fingerprint."""
    doc = customers.result.to_json_dict()
    text = json.dumps(doc, ensure_ascii=False)

    for key in ("unexpected_list", "partial_unexpected_list", "unexpected_index_list", "partial_unexpected_counts",
                "pandas_data_fingerprint", "unexpected_index_query"):
        assert key not in text
    assert {r["result"].get("unexpected_count") for r in doc["results"]} >= {2, 1}


def test_row_count_mismatch_stops_the_entity(customers):
    """Rows mapped != control-file rows minus map rejects: a table-level failure naming file and check."""
    raw, table, _ = mapped("customers", ROWS[:2])
    doc = load_suite_dict(SUITES / "customers.json")

    with pytest.raises(ValidationFailed, match=r"LDPERSON\.csv: table-level check TBL\.customers\.row_count"):
        check_entity(example_set().entities["customers"], table, doc, expected_rows=3, raw=raw)


def test_missing_column_stops_the_entity():
    """A suite column the mapped table lacks cannot be evaluated: the run stops, naming file and rule."""
    _, table, _ = mapped("customers", ROWS[:2])
    doc = load_suite_dict(SUITES / "customers.json")

    with pytest.raises(ValidationFailed, match=r"LDPERSON\.csv: check CUS-006 .* could not be evaluated.*\(mobile\)"):
        check_entity(example_set().entities["customers"], table.drop_columns(["mobile"]), doc)


def test_normalized_counts_compare_with_the_seller_text():
    """Only representation changes count; a changed value would be a different row, not normalised."""
    raw, table, _ = mapped("customers", [customer(1, Mobile="１３９０００００００１"), customer(2)])

    assert normalized_counts(example_set().entities["customers"], table, raw, ["mobile", "id_number"]) == \
        {"mobile": 1, "id_number": 0}
