"""Data subjects in the loaded book: who is a natural person, and who holds, is insured on or benefits from what.

Written against the example buyer schema: `customers(customer_no, customer_type, id_type, birth_date, …)`,
`policies(policy_no, holder_customer_no, …)`, `policy_parties(policy_no, customer_no, role, …)`.
"""

from __future__ import annotations

from collections import defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.consent.model import Role

CUSTOMERS, POLICIES, PARTIES, CONSENTS = "customers", "policies", "policy_parties", "consents"
ORGANISATION_TYPES = ("CORPORATE", "COMPANY", "ORGANIZATION", "ORGANISATION", "ENTERPRISE")
ORGANISATION_ID_TYPES = ("USCC", "ORG_CODE", "BUSINESS_LICENCE")


def natural_persons(customers: pa.Table) -> pa.Array:
    """A mask of the customers who are natural persons (PIPL protects them; companies are not data subjects)."""
    kind = pc.fill_null(pc.utf8_upper(customers.column("customer_type")), "")
    org = pc.is_in(kind, value_set=pa.array(ORGANISATION_TYPES))
    if "id_type" in customers.column_names:
        id_type = pc.fill_null(pc.utf8_upper(customers.column("id_type")), "")
        org = pc.or_(org, pc.is_in(id_type, value_set=pa.array(ORGANISATION_ID_TYPES)))
    return pc.invert(org).combine_chunks() if isinstance(org, pa.ChunkedArray) else pc.invert(org)


def roles_by_customer(policies: pa.Table, parties: pa.Table) -> dict[str, set[str]]:
    """Every role of every customer on the loaded policies: HOLDER, and each party role (INSURED, BENEFICIARY)."""
    holders = policies.column("holder_customer_no").combine_chunks()
    pairs = pa.table({
        "customer": pa.concat_arrays([holders.cast(pa.string()),
                                      parties.column("customer_no").combine_chunks().cast(pa.string())]),
        "role": pa.concat_arrays([pa.array([Role.HOLDER.value] * len(holders), pa.string()),
                                  parties.column("role").combine_chunks().cast(pa.string())]),
    }).drop_null().group_by(["customer", "role"]).aggregate([])  # distinct pairs, computed in Arrow
    roles: dict[str, set[str]] = defaultdict(set)
    for customer, role in zip(pairs.column("customer").to_pylist(), pairs.column("role").to_pylist(), strict=True):
        roles[customer].add(role)
    return roles


def policyholder_of(policies: pa.Table, parties: pa.Table) -> dict[str, str]:
    """For each insured person or beneficiary, the holder of their first policy (by policy number)."""
    holder = dict(zip(policies.column("policy_no").to_pylist(), policies.column("holder_customer_no").to_pylist(),
                      strict=True))
    out: dict[str, str] = {}
    pairs = sorted(zip(parties.column("policy_no").to_pylist(), parties.column("customer_no").to_pylist(),
                       strict=True), key=lambda p: (p[0] or "", p[1] or ""))
    for policy_no, customer in pairs:
        h = holder.get(policy_no)
        if customer is not None and h is not None and h != customer:
            out.setdefault(customer, h)
    return out
