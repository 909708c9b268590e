"""booktransfer.protect.identifier_scan: Chinese identifiers in clear text fields, reported by column and line."""

from __future__ import annotations

import pyarrow as pa
import pytest

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.model import EntityMapping
from booktransfer.protect.identifier_scan import (
    BANK_CARD,
    MOBILE,
    RESIDENT_ID,
    USCC,
    identifiers_in,
    scan_entity,
    scanned_fields,
)
from tests.unit.mapping.builders import synthetic_ric

RIC = synthetic_ric(21)  # check-digit-valid, synthetic
RIC_X = "11010519491231002X"  # GB 11643's own example
USCC_OK = "91350100M000100Y43"  # GB 32100 worked example
CARD = "4111111111111111"  # the well-known Luhn-valid test card number


@pytest.mark.parametrize(("text", "kinds"), [
    (f"客户身份证{RIC_X}已核实", {RESIDENT_ID}),
    (f"ID:{RIC.lower()}", {RESIDENT_ID}),
    ("440524188001010014", {RESIDENT_ID}),  # historic region code: still an ID number
    ("电话 138-0013-8000 请回电", {MOBILE}),
    ("+86 13800138000", {MOBILE}),
    ("联系０１３８００１３８０００", set()),  # 12 digits: not a mobile
    ("联系１３８００１３８０００", {MOBILE}),  # full-width digits
    ("tel13800138000", {MOBILE}),
    (f"卡号{CARD}", {BANK_CARD}),
    (f"统一代码{USCC_OK}", {USCC}),
    (f"{RIC_X} 13800138000", {RESIDENT_ID, MOBILE}),
])
def test_identifiers_found(text, kinds):
    """Resident IDs (check digit + birth date), mobiles, Luhn-valid cards and USCCs are found in free text."""
    assert identifiers_in(text) == kinds


@pytest.mark.parametrize("text", [
    "110105194912310021",  # wrong check digit
    "110105194902300020",  # 30 February, correct check digit
    "4111111111111112",  # fails Luhn
    "91350100M000100Y44",  # wrong USCC check character
    "12800138000",  # not a mobile prefix
    "138001380001",  # 12 digits
    "C000000001", "P00000000001", "EV000012345678", "A0000000001",  # the sample's own codes
    "正常的备注，没有号码", "",
])
def test_no_false_finding(text):
    """Near misses and the sample book's code formats are not reported."""
    assert identifiers_in(text) == set()


REMARKS = EntityMapping.model_validate({
    "entity": "policies", "source": {"file": "P.csv"}, "key": ["policy_no"],
    "fields": [
        {"target": "policy_no", "source": "ContNo", "classification": "identifier", "protection": "keep"},
        {"target": "remark", "source": "Remark", "classification": "public", "protection": "keep"},
        {"target": "holder_mobile", "source": "Mobile", "classification": "personal", "protection": "encrypt"},
        {"target": "issue_date", "source": "D", "type": "date", "format": "%Y%m%d", "classification": "public",
         "protection": "keep"},
    ],
})


def test_scan_reports_column_kind_and_source_lines_never_values():
    """Findings name entity, column, kind, row count and source lines; the values appear nowhere in them."""
    remarks = ["续保", f"投保人身份证{RIC}", None, "客户电话13800138000", f"补充{RIC_X}", "无"]
    table = pa.table({
        "policy_no": [f"P{n:011d}" for n in range(6)], "remark": remarks,
        "holder_mobile": ["13900000001"] * 6, "issue_date": pa.array([None] * 6, pa.date32()),
        LINE_COLUMN: pa.array([2, 3, 4, 5, 6, 7], pa.int64()),
    })

    findings = [f.as_dict() for f in scan_entity(REMARKS, table)]

    assert findings == [
        {"entity": "policies", "column": "remark", "kind": MOBILE, "rows": 1, "source_lines": [5],
         "source_lines_shown": 1},
        {"entity": "policies", "column": "remark", "kind": RESIDENT_ID, "rows": 2, "source_lines": [3, 6],
         "source_lines_shown": 2},
    ]
    assert not [v for v in (RIC, RIC_X, "13800138000") if v in repr(findings)]


def test_only_keep_text_fields_are_scanned():
    """Encrypted, tokenized and non-text fields are not scanned: they do not reach the buyer in clear as text."""
    assert scanned_fields(REMARKS) == ["policy_no", "remark"]


def test_shown_lines_are_capped():
    """A column full of IDs reports every row in the count but only the first 20 source lines."""
    table = pa.table({"policy_no": ["P1"] * 30, "remark": [RIC_X] * 30, "holder_mobile": [None] * 30,
                      "issue_date": pa.array([None] * 30, pa.date32()), LINE_COLUMN: list(range(2, 32))})

    [finding] = scan_entity(REMARKS, table)

    assert finding.rows == 30 and finding.source_lines == list(range(2, 22))
