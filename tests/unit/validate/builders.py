"""Small synthetic seller tables for the validate tests, mapped with the example mapping set (real parts).

Every value is made up. Resident ID numbers get their check character from python-stdnum and a sex digit
that agrees with the row's Sex, so a clean row is clean under every rule.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pyarrow as pa
from stdnum.cn import ric

from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.mapping.apply import map_entity
from booktransfer.mapping.loader import MappingSet, load_mapping_set

ROOT = Path(__file__).resolve().parents[3]
SUITES = ROOT / "expectations" / "example_buyer"
COLUMNS = {
    "customers": ("CustomerNo", "CustomerType", "Name", "Sex", "Birthday", "IDType", "IDNo", "Mobile",
                  "PostalAddress", "ZipCode", "MakeDate"),
    "policies": ("ContNo", "AppntNo", "RiskCode", "ContState", "CValiDate", "EndDate", "Prem", "Amnt"),
    "policy_parties": ("ContNo", "CustomerNo", "RoleType", "RelationToAppnt", "BnfGrade", "BnfLot"),
    "consents": ("LogNo", "CustomerNo", "AuthType", "AuthFlag", "AuthTime", "Channel", "EvidenceNo"),
}


@cache
def example_set() -> MappingSet:
    """The example mapping set (immutable, loaded once)."""
    return load_mapping_set(ROOT / "mappings" / "example_seller")


def resident_id(serial: int, birth: str = "19800101", male: bool = True, region: str = "110101") -> str:
    """A valid 18-character resident ID: region, birth date, a sequence whose last digit has the right parity."""
    sequence = (serial % 100) * 10 + (1 if male else 2)
    body = f"{region}{birth}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def customer(n: int, **overrides: str) -> dict[str, str]:
    """A clean individual (male, born 1980-01-01) with customer number C + 9 digits."""
    row = {"CustomerNo": f"C{n:09d}", "CustomerType": "0", "Name": f"测试{'甲乙丙丁戊己庚辛壬癸'[n % 10]}",
           "Sex": "0", "Birthday": "19800101", "IDType": "0", "IDNo": resident_id(n), "Mobile": f"1390000{n:04d}",
           "PostalAddress": f"测试省测试市样例路{n}号", "ZipCode": "100000", "MakeDate": "2020-01-01"}
    return row | overrides


def company(n: int, code: str = "91350100M000100Y43", **overrides: str) -> dict[str, str]:
    """A clean corporate customer holding a valid unified social credit code."""
    return customer(n, CustomerType="1", Name=f"测试公司{n}", Sex="", Birthday="", IDType="9", IDNo=code) | overrides


def policy(n: int, holder: str, **overrides: str) -> dict[str, str]:
    """A clean in-force whole-life policy."""
    row = {"ContNo": f"P{n:011d}", "AppntNo": holder, "RiskCode": "LA0101", "ContState": "1",
           "CValiDate": "20200101", "EndDate": "20850101", "Prem": "1200.00", "Amnt": "100000.00"}
    return row | overrides


def insured(policy_no: str, customer_no: str) -> dict[str, str]:
    """The insured person of a policy (the holder themself)."""
    return {"ContNo": policy_no, "CustomerNo": customer_no, "RoleType": "1", "RelationToAppnt": "00",
            "BnfGrade": "", "BnfLot": ""}


def beneficiary(policy_no: str, customer_no: str, share: str, grade: str = "1") -> dict[str, str]:
    """A named beneficiary with a share in % of one beneficiary order."""
    return {"ContNo": policy_no, "CustomerNo": customer_no, "RoleType": "2", "RelationToAppnt": "01",
            "BnfGrade": grade, "BnfLot": share}


def consent(n: int, customer_no: str, **overrides: str) -> dict[str, str]:
    """A marketing consent granted at the counter."""
    row = {"LogNo": f"A{n:010d}", "CustomerNo": customer_no, "AuthType": "YX", "AuthFlag": "1",
           "AuthTime": "2021-05-01 10:00:00", "Channel": "01", "EvidenceNo": f"EV{n:012d}"}
    return row | overrides


def raw_table(entity: str, rows: list[dict[str, str]]) -> pa.Table:
    """A staged source table as extract writes it: text columns and `_line` (header = line 1)."""
    data = {c: pa.array([r.get(c, "") for r in rows], pa.string()) for c in COLUMNS[entity]}
    data[LINE_COLUMN] = pa.array(range(2, len(rows) + 2), pa.int64())
    return pa.table(data)


def mapped(entity: str, rows: list[dict[str, str]]) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(raw, mapped rows, map rejects) of an entity's rows under the example mapping set."""
    raw = raw_table(entity, rows)
    result = map_entity(example_set(), entity, raw)
    return raw, result.table, result.rejects
