"""Small builders shared by the unit tests: the example mapping set and raw tables shaped like extract output.

All values are synthetic. Resident ID numbers are built from a made-up prefix with python-stdnum's check
digit, so they pass GB 11643 checks; the serials are made up.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pyarrow as pa
from stdnum.cn import ric

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.loader import MappingSet, load_mapping_set

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE_SET = ROOT / "mappings" / "example_seller"
SUITES = ROOT / "expectations" / "example_buyer"

CUSTOMER_COLUMNS = ("CustomerNo", "CustomerType", "Name", "Sex", "Birthday", "IDType", "IDNo", "Mobile",
                    "PostalAddress", "ZipCode", "MakeDate")
POLICY_COLUMNS = ("ContNo", "AppntNo", "RiskCode", "ContState", "CValiDate", "EndDate", "Prem", "Amnt")


@cache
def example_set() -> MappingSet:
    """The example mapping set, loaded once per session (it is immutable)."""
    return load_mapping_set(EXAMPLE_SET)


def synthetic_ric(serial: int, birth: str = "19800101") -> str:
    """A check-digit-valid 18-character resident ID (area 110101, made-up birth date and serial)."""
    body = f"110101{birth}{serial:03d}"
    return body + ric.calc_check_digit(body + "0")  # stdnum reads the first 17 characters


def raw_table(columns: tuple[str, ...], rows: list[dict[str, str]], first_line: int = 2) -> pa.Table:
    """A staged source table as extract writes it: every column text (blank = ''), plus int64 `_line`."""
    data = {c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in columns}
    data[LINE_COLUMN] = pa.array(range(first_line, first_line + len(rows)), pa.int64())
    return pa.table(data)


def customer_row(n: int, **overrides: str) -> dict[str, str]:
    """One clean synthetic LDPERSON row for an individual (customer number C + 9 digits)."""
    row = {
        "CustomerNo": f"C{n:09d}",
        "CustomerType": "0",
        "Name": f"测试{'甲乙丙丁戊己庚辛壬癸'[n % 10]}",
        "Sex": "0",
        "Birthday": "19800101",
        "IDType": "0",
        "IDNo": synthetic_ric(n),
        "Mobile": f"1390000{n:04d}",
        "PostalAddress": f"测试省测试市样例路{n}号",
        "ZipCode": "100000",
        "MakeDate": "2020-01-01",
    }
    return row | overrides


def policy_row(n: int, holder: str, **overrides: str) -> dict[str, str]:
    """One clean synthetic LCCONT row."""
    row = {
        "ContNo": f"P{n:011d}",
        "AppntNo": holder,
        "RiskCode": "LA0101",
        "ContState": "1",
        "CValiDate": "20200101",
        "EndDate": "20300101",
        "Prem": "1200.00",
        "Amnt": "100000.00",
    }
    return row | overrides
