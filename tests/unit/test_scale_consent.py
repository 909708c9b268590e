"""The columnar consent decisions equal the per-person rules (consent.decide / consent.resolve), row for row."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pyarrow as pa
import pytest

from booktransfer.consent.columnar import consent_status_columnar
from booktransfer.consent.model import ConsentEvent, Person
from booktransfer.consent.table import consent_status_table
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.load.consent_events import events_from_table, merge_events

AS_OF = date(2025, 12, 31)
PURPOSES = ["SERVICING", "CROSS_BORDER", "MARKETING", "NEW_PURPOSE", "THIRD_PARTY_SHARING"]
ACTIONS = ["GRANTED", "WITHDRAWN", "REFUSED", "UNKNOWN", "granted", None]
EVENT_PURPOSES = ["MARKETING", "CROSS_BORDER", "NEW_PURPOSE", "SERVICING", None, "OTHER"]


def random_book(seed: int, persons: int = 300):
    rng = random.Random(seed)
    base = datetime(2020, 1, 1)
    times = [base + timedelta(days=rng.randint(0, 5)) for _ in range(4)] + [None]  # few distinct: many ties
    numbers = [f"C{i:05d}" for i in range(persons)]
    people = []
    for no in numbers:
        birth = rng.choice([date(1980, 5, 5), date(2015, 1, 1), AS_OF.replace(year=AS_OF.year - 14), None,
                            date(2030, 1, 1)])
        roles = frozenset(rng.sample(["HOLDER", "INSURED", "BENEFICIARY"], rng.randint(0, 2)))
        people.append(Person(no, birth, roles, restricted=rng.random() < 0.1))
    rows = {"event_no": [], "customer_no": [], "purpose": [], "action": [], "event_time": [], "channel": [],
            "evidence_ref": [], LINE_COLUMN: []}
    for i in range(persons * 4):
        rows["event_no"].append(f"E{i}")
        rows["customer_no"].append(rng.choice(numbers + [None, "C99999"]))
        rows["purpose"].append(rng.choice(EVENT_PURPOSES))
        rows["action"].append(rng.choice(ACTIONS))
        rows["event_time"].append(rng.choice(times))
        rows["channel"].append(rng.choice(["APP", None]))
        rows["evidence_ref"].append(f"EV{i}")
        rows[LINE_COLUMN].append(i + 2)
    consents = pa.table({**{k: v for k, v in rows.items() if k != "event_time"},
                         "event_time": pa.array(rows["event_time"], pa.timestamp("ms"))})
    extra: dict[str, list[ConsentEvent]] = {}
    for i in range(persons):
        no = rng.choice(numbers)
        extra.setdefault(no, []).append(ConsentEvent(
            rng.choice(EVENT_PURPOSES), rng.choice(ACTIONS), rng.choice(times), event_no=f"Q{i}",
            channel="PAPER", evidence_ref=f"R{i}", source_line=10_000 + i,
            source=rng.choice(["SELLER", "RECONSENT"]), quarantined=rng.random() < 0.5,
            by_guardian=rng.random() < 0.5))
    return people, consents, extra


@pytest.mark.parametrize("seed", range(6))
def test_columnar_decisions_equal_the_per_person_rules(seed):
    people, consents, extra = random_book(seed)
    undeclared = random.Random(seed).choice(["CROSS_BORDER", "NEW_PURPOSE", "THIRD_PARTY_SHARING"])
    declared = frozenset(PURPOSES) - {undeclared}
    expected = consent_status_table(people, merge_events(events_from_table(consents), extra), PURPOSES, declared,
                                    AS_OF)
    got = consent_status_columnar([p.customer_no for p in people], [p.birth_date for p in people],
                                  [p.roles for p in people], [p.restricted for p in people], consents, extra,
                                  PURPOSES, declared, AS_OF)
    assert got.schema == expected.schema
    for name in expected.column_names:
        assert got.column(name).to_pylist() == expected.column(name).to_pylist(), name
    states = set(got.column("state").to_pylist())
    reasons = set(got.column("reason").to_pylist())
    assert {"GRANTED", "WITHDRAWN", "REFUSED", "UNKNOWN"} <= states  # every branch was exercised
    assert {"GUARDIAN_CONSENT_REQUIRED", "NOT_A_POLICYHOLDER", "PROCESSING_RESTRICTED", "NO_LEGAL_BASIS",
            "NOT_DECLARED"} <= reasons


def test_no_events_and_no_persons():
    got = consent_status_columnar([], [], [], [], None, {}, PURPOSES, frozenset(PURPOSES), AS_OF)
    assert got.num_rows == 0
    got = consent_status_columnar(["C1"], [None], [frozenset()], [False], None, {}, PURPOSES, frozenset(), AS_OF)
    assert got.column("state").to_pylist() == ["UNKNOWN"] * len(PURPOSES)
    assert got.column("reason").to_pylist() == ["NOT_DECLARED"] * len(PURPOSES)
