"""A small buyer-shaped book, built row by row, in the shape the protect stage hands to the load stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from booktransfer.mapping.loader import MappingSet, load_mapping_set

ROOT = Path(__file__).resolve().parents[3]


def example_mapping() -> MappingSet:
    """The example seller's mapping set (references and keys drive the cascade)."""
    return load_mapping_set(ROOT / "mappings" / "example_seller")


@dataclass
class Book:
    """Rows of the four entities; `_line` numbers are given per row (the seller's physical lines)."""

    customers: list[dict] = field(default_factory=list)
    policies: list[dict] = field(default_factory=list)
    parties: list[dict] = field(default_factory=list)
    consents: list[dict] = field(default_factory=list)

    def person(self, no: str, birth: date | None = date(1980, 1, 1), *, kind: str = "individual",
               id_token: str | None = None, mobile: str | None = "v1:k:mob", address: str | None = "v1:k:adr") -> str:
        self.customers.append({"customer_no": no, "customer_type": kind, "id_type": "USCC" if kind != "individual"
                               else "RIC", "id_number": id_token or f"tok-{no}", "name": f"v1:k:{no}",
                               "gender": "M", "birth_date": birth, "mobile": mobile, "address": address,
                               "postcode": "100000", "row_fingerprint": f"fp-{no}", "_line": len(self.customers) + 2})
        return no

    def policy(self, no: str, holder: str, *, status: str = "IN_FORCE", issue: date = date(2015, 1, 1),
               expiry: date | None = date(2035, 1, 1)) -> str:
        self.policies.append({"policy_no": no, "holder_customer_no": holder, "product_code": "LA0101",
                              "status": status, "issue_date": issue, "expiry_date": expiry,
                              "annual_premium": Decimal("1000.00"), "sum_insured": Decimal("100000.00"),
                              "row_fingerprint": f"fp-{no}", "_line": len(self.policies) + 2})
        return no

    def party(self, policy: str, customer: str, role: str = "INSURED") -> None:
        self.parties.append({"policy_no": policy, "customer_no": customer, "role": role,
                             "relation_to_holder": "CHILD", "beneficiary_order": 1 if role == "BENEFICIARY" else None,
                             "benefit_share_pct": Decimal("100.00") if role == "BENEFICIARY" else None,
                             "row_fingerprint": f"fp-{policy}-{customer}-{role}", "_line": len(self.parties) + 2})

    def consent(self, customer: str, purpose: str | None, action: str | None, when: datetime | None,
                channel: str = "APP") -> str:
        no = f"A{len(self.consents) + 1:010d}"
        self.consents.append({"event_no": no, "customer_no": customer, "purpose": purpose, "action": action,
                              "event_time": when, "channel": channel, "evidence_ref": f"EV{len(self.consents):012d}",
                              "row_fingerprint": f"fp-{no}", "_line": len(self.consents) + 2})
        return no

    def tables(self) -> dict[str, pa.Table]:
        return {"customers": _table(self.customers, CUSTOMERS), "policies": _table(self.policies, POLICIES),
                "policy_parties": _table(self.parties, PARTIES), "consents": _table(self.consents, CONSENTS)}


CUSTOMERS = pa.schema([("customer_no", pa.string()), ("customer_type", pa.string()), ("id_type", pa.string()),
                       ("id_number", pa.string()), ("name", pa.string()), ("gender", pa.string()),
                       ("birth_date", pa.date32()), ("mobile", pa.string()), ("address", pa.string()),
                       ("postcode", pa.string()), ("row_fingerprint", pa.string()), ("_line", pa.int64())])
POLICIES = pa.schema([("policy_no", pa.string()), ("holder_customer_no", pa.string()), ("product_code", pa.string()),
                      ("status", pa.string()), ("issue_date", pa.date32()), ("expiry_date", pa.date32()),
                      ("annual_premium", pa.decimal128(18, 2)), ("sum_insured", pa.decimal128(18, 2)),
                      ("row_fingerprint", pa.string()), ("_line", pa.int64())])
PARTIES = pa.schema([("policy_no", pa.string()), ("customer_no", pa.string()), ("role", pa.string()),
                     ("relation_to_holder", pa.string()), ("beneficiary_order", pa.int64()),
                     ("benefit_share_pct", pa.decimal128(18, 2)), ("row_fingerprint", pa.string()),
                     ("_line", pa.int64())])
CONSENTS = pa.schema([("event_no", pa.string()), ("customer_no", pa.string()), ("purpose", pa.string()),
                      ("action", pa.string()), ("event_time", pa.timestamp("s")), ("channel", pa.string()),
                      ("evidence_ref", pa.string()), ("row_fingerprint", pa.string()),
                     ("_line", pa.int64())])


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)
