"""The notification manifest (PIPL Art. 22; R06, R39): one row per natural person loaded, so the buyer can
tell every data subject who the new processor is and how to reach it.

Channel, in order: SMS to the person's own mobile, post to their own address, else — for insured persons
and beneficiaries, when the transfer says so — through the policyholder of their first policy, else NONE
(status NO_CHANNEL, listed as an exception). Persons under 14 or of unknown age are addressed through
their guardian. Mobile and address (both, when known: the second is the fallback) are the customers' own
ciphertexts, never clear text.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from booktransfer.consent.model import Role
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.settings import TransferSettings

KEY = ("customer_no",)
ROLE_ORDER = (Role.HOLDER.value, Role.INSURED.value, Role.BENEFICIARY.value)


def manifest_schema() -> pa.Schema:
    """The Arrow schema of `notification_manifest` (the loader adds `transfer_id`)."""
    return pa.schema([
        ("customer_no", pa.string()), ("roles", pa.string()), ("addressee", pa.string()), ("channel", pa.string()),
        ("via_customer_no", pa.string()), ("mobile", pa.string()), ("address", pa.string()),
        ("recipient_name", pa.string()), ("recipient_contact", pa.string()), ("status", pa.string()),
        ("source_line", pa.int64()),
    ])


def _roles_text(roles: set[str]) -> str:
    ordered = [r for r in ROLE_ORDER if r in roles] + sorted(r for r in roles if r not in ROLE_ORDER)
    return ",".join(ordered) or "NONE"


def _channel(mobile: str | None, address: str | None, roles: set[str], via: str | None,
             settings: TransferSettings) -> tuple[str, str | None]:
    if mobile is not None:
        return "SMS", None
    if address is not None:
        return "POST", None
    if settings.notify_via_policyholder and roles and Role.HOLDER.value not in roles and via is not None:
        return "VIA_POLICYHOLDER", via
    return "NONE", None


def notification_manifest(persons: pa.Table, roles: Mapping[str, set[str]], via_holder: Mapping[str, str],
                          guardian: set[str], settings: TransferSettings) -> pa.Table:
    """The manifest for the natural persons loaded (`persons`: customers rows in the buyer's shape)."""
    cols: dict[str, list] = {f.name: [] for f in manifest_schema()}
    mobiles = persons.column("mobile").to_pylist() if "mobile" in persons.column_names else [None] * len(persons)
    addresses = persons.column("address").to_pylist() if "address" in persons.column_names else [None] * len(persons)
    for customer, mobile, address, line in zip(persons.column("customer_no").to_pylist(), mobiles, addresses,
                                               persons.column(LINE_COLUMN).to_pylist(), strict=True):
        own = roles.get(customer, set())
        channel, via = _channel(mobile, address, own, via_holder.get(customer), settings)
        cols["customer_no"].append(customer)
        cols["roles"].append(_roles_text(own))
        cols["addressee"].append("GUARDIAN" if customer in guardian else "SUBJECT")
        cols["channel"].append(channel)
        cols["via_customer_no"].append(via)
        cols["mobile"].append(mobile)
        cols["address"].append(address)
        cols["recipient_name"].append(settings.recipient_name)
        cols["recipient_contact"].append(settings.recipient_contact)
        cols["status"].append("NO_CHANNEL" if channel == "NONE" else "PENDING")
        cols["source_line"].append(line)
    return pa.table(cols, schema=manifest_schema())
