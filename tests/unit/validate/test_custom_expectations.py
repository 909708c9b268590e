"""booktransfer.validate.custom_expectations: registered with GX by type name, rendered in Data Docs, and
judging rows as documented (through GX itself, on small frames)."""

from __future__ import annotations

import json

import great_expectations as gx
import pyarrow as pa
import pytest
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
from great_expectations.expectations.registry import get_renderer_impl
from great_expectations.render import LegacyRendererType
from great_expectations.util import camel_to_snake

from booktransfer.validate.custom_expectations import CUSTOM_EXPECTATIONS
from booktransfer.validate.gx_suite import to_validation_frame, validate_frame
from tests.unit.validate.builders import ROOT

TYPES = [camel_to_snake(c.__name__) for c in CUSTOM_EXPECTATIONS]


def _failing(table: pa.Table, *expectations: dict) -> list[list[int]]:
    """Failing row positions per expectation, as GX reports them."""
    suite = gx.ExpectationSuite(name="t", expectations=[{**e, "meta": {}} for e in expectations])
    result = validate_frame(suite, to_validation_frame(table))
    return [sorted(r.result.get("unexpected_index_list") or []) for r in result.results]


def test_batches_are_not_fingerprinted():
    """GX's per-batch hash of every cell (a fifth of a suite run at scale) is turned off; the verdicts stand."""
    suite = gx.ExpectationSuite(name="t", expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="a")])
    result = validate_frame(suite, to_validation_frame(pa.table({"a": ["x", None, "y"]})))
    assert "pandas_data_fingerprint" not in result.meta["batch_markers"]
    assert "ge_load_time" in result.meta["batch_markers"]
    assert result.results[0].result["unexpected_index_list"] == [1]


def test_every_custom_type_rebuilds_from_json_by_name():
    """A suite dict naming each custom type by its snake-case name rebuilds as a GX suite."""
    def kwargs(t: str) -> dict:
        if t == "expect_column_values_to_be_present_for_type":
            return {"column_list": ["a", "b"], "type_value": "x"}
        return {"column": "a"} if "column_values" in t else {"column_list": ["a", "b", "c", "d"]}

    suite = gx.ExpectationSuite(name="all", expectations=[{"type": t, "kwargs": kwargs(t)} for t in TYPES])

    assert [e.expectation_type for e in suite.expectations] == TYPES


def test_shipped_suites_use_the_custom_types():
    """The example buyer suites use every custom type except the Luhn check (no card column in the schema)."""
    used = {e["type"] for p in (ROOT / "expectations" / "example_buyer").glob("*.json")
            for e in json.loads(p.read_text(encoding="utf-8"))["expectations"]}

    assert set(TYPES) - used == {"expect_column_values_to_pass_luhn_check"}


@pytest.mark.parametrize("expectation_type", TYPES)
def test_data_docs_sentence_names_the_columns(expectation_type):
    """Data Docs render each custom type as a sentence with its columns, not as `type(**kwargs)`."""
    kwargs = {"column": "mobile"} if "column_values" in expectation_type and "present" not in expectation_type \
        else {"column_list": ["id_number", "id_type", "gender", "x"], "type_value": "individual"}
    _, render = get_renderer_impl(expectation_type, LegacyRendererType.PRESCRIPTIVE)

    [content] = render(configuration=ExpectationConfiguration(type=expectation_type, kwargs=kwargs))
    template = content.string_template["template"]
    params = content.string_template["params"]

    assert "**" not in template and len(template) > 40
    assert ("mobile" in str(params.values())) or ("id_number" in str(params.values()))


def test_luhn_flags_card_numbers():
    """§3.3 numbers: the invalid ones are flagged; nulls are not."""
    table = pa.table({"card": ["79927398713", "79927398710", "4111111111111111", "6226000000000004", None]})

    assert _failing(table, {"type": "expect_column_values_to_pass_luhn_check", "kwargs": {"column": "card"},
                            "severity": "warning"}) == [[1, 3]]


def test_shares_are_judged_per_policy_and_order():
    """Order 1 of P1 sums to 100, order 2 to 90 (both rows fail); P2 has no beneficiary: legal heirs, passes."""
    table = pa.table({
        "policy_no": ["P1", "P1", "P1", "P1", "P1", "P2"],
        "role": ["INSURED", "BENEFICIARY", "BENEFICIARY", "BENEFICIARY", "BENEFICIARY", "INSURED"],
        "beneficiary_order": pa.array([None, 1, 1, 2, 2, None], pa.int64()),
        "benefit_share_pct": pa.array([None, 50, 50, 45, 45, None], pa.float64()),
    })

    assert _failing(table, {"type": "expect_beneficiary_shares_to_sum_to_total",
                            "kwargs": {"column_list": ["policy_no", "role", "beneficiary_order",
                                                       "benefit_share_pct"]}}) == [[3, 4]]


def test_id_rules_judge_only_their_id_type():
    """A passport number is not judged as a resident ID; a credit code only by the credit code rules."""
    table = pa.table({"id_number": ["E12345678", "91350100M000100Y44", "11010519491231002X", None],
                      "id_type": ["PASSPORT", "USCC", "RIC", "RIC"]})
    ids = ["id_number", "id_type"]

    got = _failing(table,
                   {"type": "expect_resident_id_numbers_to_be_well_formed", "kwargs": {"column_list": ids}},
                   {"type": "expect_credit_code_check_characters_to_be_correct",
                    "kwargs": {"column_list": ids, "id_type": "USCC"}})

    assert got == [[], [1]]


def test_present_for_type():
    """Individuals need a value; companies may leave it empty."""
    table = pa.table({"gender": ["M", None, None], "customer_type": ["individual", "individual", "corporate"]})

    assert _failing(table, {"type": "expect_column_values_to_be_present_for_type",
                            "kwargs": {"column_list": ["gender", "customer_type"], "type_value": "individual"}}) \
        == [[1]]


def test_placeholder_dates():
    """1900-01-01 stands in for an unknown birth date when the suite lists it."""
    table = pa.table({"birth_date": pa.array([19000, -25567, None], pa.date32())})  # 2022-01-08, 1900-01-01

    assert _failing(table, {"type": "expect_column_values_to_not_be_placeholders",
                            "kwargs": {"column": "birth_date", "placeholder_dates": ["1900-01-01"]}}) == [[1]]


def test_shares_all_right_and_nothing_to_judge():
    """A book whose shares all sum to 100, and one without any beneficiary, pass (no group is off)."""
    columns = ["policy_no", "role", "beneficiary_order", "benefit_share_pct"]
    right = pa.table({"policy_no": ["P1", "P1", "P1"], "role": ["INSURED", "BENEFICIARY", "BENEFICIARY"],
                      "beneficiary_order": pa.array([None, 1, 1], pa.int64()),
                      "benefit_share_pct": pa.array([None, 30, 70], pa.float64())})
    heirs = pa.table({"policy_no": ["P1"], "role": ["INSURED"], "beneficiary_order": pa.array([None], pa.int64()),
                      "benefit_share_pct": pa.array([None], pa.float64())})
    expectation = {"type": "expect_beneficiary_shares_to_sum_to_total", "kwargs": {"column_list": columns}}

    assert _failing(right, expectation) == [[]]
    assert _failing(heirs, expectation) == [[]]
