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

import numpy as np
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


def role_flags(roles: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """For each person's role names joined by commas (in any order; null: no role on a loaded policy): the
    manifest's roles text (HOLDER, INSURED, BENEFICIARY first, in that order; NONE without a role), whether the
    person has a role, and whether they have roles but hold no policy. Worked out once per distinct text."""
    import pyarrow.compute as pc

    texts = roles.combine_chunks() if isinstance(roles, pa.ChunkedArray) else roles
    distinct = pc.unique(texts.drop_null()).to_pylist()
    sets = [set(t.split(",")) for t in distinct] + [set()]  # the last: no role
    at = np.asarray(pc.fill_null(pc.index_in(texts, value_set=pa.array(distinct, pa.string())), len(distinct)))
    shown = pa.array([_roles_text(s) for s in sets], pa.string()).take(pa.array(at))
    has = np.array([bool(s) for s in sets])[at]
    not_holder = np.array([bool(s) and Role.HOLDER.value not in s for s in sets])[at]
    return shown, has, not_holder


_CHANNELS = pa.array(["SMS", "POST", "VIA_POLICYHOLDER", "NONE"], pa.string())


def notification_manifest(persons: pa.Table, roles: Mapping[str, set[str]], via_holder: Mapping[str, str],
                          guardian: set[str], settings: TransferSettings) -> pa.Table:
    """The manifest for the natural persons loaded (`persons`: customers rows in the buyer's shape), from each
    customer's roles, policyholder to notify through and need of a guardian by customer number."""
    numbers = persons.column("customer_no").to_pylist()
    shown, _, not_holder = role_flags(pa.array([",".join(sorted(roles[c])) if roles.get(c) else None
                                                for c in numbers], pa.string()))
    return manifest_table(persons, shown, not_holder, pa.array([via_holder.get(c) for c in numbers], pa.string()),
                          np.array([c in guardian for c in numbers], dtype=bool), settings)


def manifest_table(persons: pa.Table, roles: pa.Array, not_holder: np.ndarray, via: pa.Array,
                   guardian: np.ndarray, settings: TransferSettings) -> pa.Table:
    """`notification_manifest` from arrays in the order of `persons`: the roles text and whether the person has
    roles but holds no policy (`role_flags`), the policyholder of their first policy (null: none), whether they
    need a guardian."""
    import pyarrow.compute as pc

    n = persons.num_rows

    def contact(name: str) -> pa.Array:
        return persons.column(name).combine_chunks().cast(pa.string()) if name in persons.column_names \
            else pa.nulls(n, pa.string())

    mobile, address = contact("mobile"), contact("address")
    via = via.combine_chunks() if isinstance(via, pa.ChunkedArray) else via
    through_holder = not_holder & np.asarray(pc.is_valid(via)) & bool(settings.notify_via_policyholder)
    channel = np.select([np.asarray(pc.is_valid(mobile)), np.asarray(pc.is_valid(address)), through_holder],
                        [0, 1, 2], 3)
    return pa.table({
        "customer_no": persons.column("customer_no").combine_chunks().cast(pa.string()), "roles": roles,
        "addressee": pa.array(["SUBJECT", "GUARDIAN"], pa.string()).take(pa.array(guardian.astype(np.int8))),
        "channel": _CHANNELS.take(pa.array(channel)),
        "via_customer_no": pc.if_else(pa.array(channel == 2), via.cast(pa.string()), pa.scalar(None, pa.string())),
        "mobile": mobile, "address": address,
        "recipient_name": pa.repeat(pa.scalar(settings.recipient_name, pa.string()), n),
        "recipient_contact": pa.repeat(pa.scalar(settings.recipient_contact, pa.string()), n),
        "status": pa.array(["PENDING", "NO_CHANNEL"], pa.string()).take(pa.array((channel == 3).astype(np.int8))),
        "source_line": persons.column(LINE_COLUMN).combine_chunks().cast(pa.int64()),
    }, schema=manifest_schema())
