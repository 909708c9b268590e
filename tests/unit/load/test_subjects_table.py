"""booktransfer.load.partitioned.subjects_table: the book-level roles and policyholders, vectorised, against the
one-partition plan's plain definitions (`roles_by_customer`, `policyholder_of`)."""

from __future__ import annotations

import random

import pyarrow as pa

from booktransfer.load.partitioned import subjects_table
from booktransfer.load.subjects import policyholder_of, roles_by_customer


def _book(rng: random.Random) -> tuple[pa.Table, pa.Table]:
    people = [f"C{i:03d}" for i in range(rng.randint(1, 30))]
    numbers = [f"P{i:03d}" for i in rng.sample(range(200), rng.randint(0, 25))]
    policies = pa.table({"policy_no": pa.array(numbers, pa.string()),
                         "holder_customer_no": pa.array([rng.choice([*people, None]) for _ in numbers], pa.string())})
    parties = [(rng.choice([*numbers, "P999", None]), rng.choice([*people, None]),
                rng.choice(["INSURED", "BENEFICIARY", "PAYER", None])) for _ in range(rng.randint(0, 60))]
    rng.shuffle(parties)
    return policies, pa.table({"policy_no": pa.array([p[0] for p in parties], pa.string()),
                               "customer_no": pa.array([p[1] for p in parties], pa.string()),
                               "role": pa.array([p[2] for p in parties], pa.string())})


def test_roles_and_policyholders_are_those_of_the_plain_definitions():
    """On 300 random books (null customers, roles and holders, policies no party names, parties of policies not
    loaded, a holder who is also a party, roles outside the three): the same customers, each with the same set
    of roles and the same policyholder to notify through (their first policy by number held by someone else)."""
    rng = random.Random(17)
    for case in range(300):
        policies, parties = _book(rng)
        table = subjects_table(policies, parties)
        customers = table.column("customer_no").to_pylist()
        assert len(customers) == len(set(customers)), case
        roles = {c: set(r.split(",")) for c, r in zip(customers, table.column("roles").to_pylist(), strict=True)}
        assert roles == dict(roles_by_customer(policies, parties)), case
        via = {c: v for c, v in zip(customers, table.column("via_customer_no").to_pylist(), strict=True) if v}
        # (a party row without a role gives its customer no subject row, so no policyholder either)
        assert via == {c: h for c, h in policyholder_of(policies, parties).items() if c in roles}, case


def test_an_empty_book_has_no_subjects():
    """No policies and no parties: an empty table with the three columns."""
    empty = pa.table({"policy_no": pa.array([], pa.string()), "holder_customer_no": pa.array([], pa.string())})
    parties = pa.table({"policy_no": pa.array([], pa.string()), "customer_no": pa.array([], pa.string()),
                        "role": pa.array([], pa.string())})
    table = subjects_table(empty, parties)
    assert table.num_rows == 0 and table.column_names == ["customer_no", "roles", "via_customer_no"]
