"""booktransfer.load.subject_requests: reading the request file, and finding the persons it names."""

from __future__ import annotations

import pyarrow as pa
import pytest

from booktransfer.errors import RequestFileError
from booktransfer.load.subject_requests import IdLookup, legacy_ric_to_18, match_requests, read_requests

SECRET_ID = "110101199003070011"


def _file(tmp_path, text):
    path = tmp_path / "dsr.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("text", "message"), [
    ("request_type,id_number\nDELETE," + SECRET_ID + "\n", "dsr.csv:2: column request_type must be one of"),
    ("request_type,id_number,customer_no\nERASURE,,\n", "dsr.csv:2: give id_number or customer_no"),
    ("request_type,customer_no,hold_until\nERASURE,C1,31/12/2030\n", "dsr.csv:2: column hold_until"),
    ("request_type,id_number,name\nERASURE," + SECRET_ID + ",张三\n", "unexpected: name"),
    ("id_number\n" + SECRET_ID + "\n", "header must"),
])
def test_unreadable_requests_stop_the_run_naming_line_and_column_never_the_value(tmp_path, text, message):
    """A request that cannot be read must not be lost silently; the error holds no value from the file."""
    with pytest.raises(RequestFileError, match=message) as caught:
        read_requests(_file(tmp_path, text))
    assert SECRET_ID not in str(caught.value) and "张三" not in str(caught.value)


def test_requests_are_read_with_a_bom_and_padded_values(tmp_path):
    """Excel's UTF-8 BOM and stray spaces do not matter; types are case-insensitive."""
    [req] = read_requests(_file(tmp_path, "\ufeffrequest_type,customer_no\n erasure , C1 \n"))
    assert (req.line, req.request_type, req.customer_no, req.id_number) == (2, "ERASURE", "C1", None)


def test_fifteen_digit_id_gets_its_eighteen_digit_form():
    """REQUIREMENTS R13's worked example."""
    assert legacy_ric_to_18("150102880730303") == "150102198807303035"
    assert legacy_ric_to_18("15010288073030X") is None


def test_matching_by_number_id_legacy_id_and_same_person(tmp_path):
    """By customer number, by ID (also its 15-digit form), and every customer number sharing a matched ID."""
    customers = pa.table({"customer_no": ["C1", "C2", "C3", "C4"],
                          "id_number": ["t:150102198807303035", "t:X", "t:X", "t:Y"]})
    lookup = IdLookup("id_number", lambda values: [f"t:{v}" for v in values])
    requests = read_requests(_file(tmp_path, "request_type,id_number,customer_no\n"
                                   "ERASURE,150102880730303,\nOBJECTION,,c2\nERASURE,999,\n"))
    matched, unmatched = match_requests(requests, customers, lookup, lambda v: [s.strip().upper() for s in v])
    assert {c: r.line for c, r in matched.items()} == {"C1": 2, "C2": 3, "C3": 3}
    assert unmatched == 1


def test_id_requests_need_a_way_to_look_ids_up(tmp_path):
    """When the mapping keeps no token or deterministic ciphertext of the ID, ID requests are refused."""
    requests = read_requests(_file(tmp_path, "request_type,id_number\nERASURE,123\n"))
    with pytest.raises(RequestFileError, match="name them by customer_no"):
        match_requests(requests, pa.table({"customer_no": ["C1"]}), None, lambda v: v)



def test_matching_among_many_unrelated_customers_and_merged_numbers(tmp_path):
    """Only the rows a request reaches matter: thousands of other customers change nothing, and a number
    validation merged into a survivor (R17) reaches the survivor and everyone sharing its ID."""
    others = [f"D{i}" for i in range(5000)]
    customers = pa.table({"customer_no": ["C1", "C2", *others, "C3"],
                          "id_number": ["t:A", None, *[f"t:{i % 97}" for i in range(5000)], "t:A"]})
    lookup = IdLookup("id_number", lambda values: [f"t:{v}" for v in values])
    requests = read_requests(_file(tmp_path, "request_type,customer_no\nERASURE,c9\nOBJECTION,C2\nERASURE,nobody\n"))
    matched, unmatched = match_requests(requests, customers, lookup, lambda v: [s.strip().upper() for s in v],
                                        aliases={"C9": "C1"})
    assert {c: r.line for c, r in matched.items()} == {"C1": 2, "C3": 2, "C2": 3}
    assert unmatched == 1
