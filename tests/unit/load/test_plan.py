"""booktransfer.load.plan: purposes checked, requests honoured (suppressed or held), consent decided, notices listed."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from booktransfer.consent.model import ConsentEvent
from booktransfer.errors import PurposeNotPermitted
from booktransfer.load.plan import PlanInputs, build_plan
from booktransfer.load.settings import TransferSettings
from booktransfer.load.subject_requests import IdLookup, read_requests
from tests.unit.load.builders import Book, example_mapping

AS_OF = date(2026, 1, 15)
G1, G2 = datetime(2020, 3, 1, 10), datetime(2021, 3, 1, 10)


def _book() -> Book:
    b = Book()
    b.person("C01")
    b.person("C02", date(2018, 5, 5))                 # a child: guardian
    b.person("C03")                                   # beneficiary only
    b.person("C04")                                   # no policy at all
    b.person("C05", None, kind="corporate")           # a company: not a data subject
    b.person("C06", mobile=None, address=None)        # employee insured by the company, no own channel
    b.person("C07")                                   # erasure; only an old, expired short-term policy
    b.person("C08")                                   # beneficiary of C07's old policy
    b.person("C09")                                   # objection; in-force policy: held
    b.person("C10", id_token="tok:110101199003070011")  # erasure by ID number
    b.person("C11", id_token="tok:110101199003070011")  # the same person under a second customer number
    b.policy("P1", "C01")
    b.party("P1", "C01", "INSURED")
    b.party("P1", "C02", "INSURED")
    b.party("P1", "C03", "BENEFICIARY")
    b.policy("P2", "C05")
    b.party("P2", "C06", "INSURED")
    b.policy("P3", "C07", status="MATURED", issue=date(2010, 1, 1), expiry=date(2011, 1, 1))
    b.party("P3", "C07", "INSURED")
    b.party("P3", "C08", "BENEFICIARY")
    b.policy("P4", "C09")
    b.party("P4", "C09", "INSURED")
    b.consent("C01", "MARKETING", "GRANTED", G1)
    b.consent("C01", "SENSITIVE_DATA", "GRANTED", G1)
    b.consent("C01", "SENSITIVE_DATA", "WITHDRAWN", G2)
    b.consent("C02", "SENSITIVE_DATA", "GRANTED", G1)
    b.consent("C03", "MARKETING", "GRANTED", G1)
    b.consent("C04", "MARKETING", "GRANTED", G1)
    b.consent("C07", "MARKETING", "GRANTED", G1)
    b.consent("C09", "MARKETING", "GRANTED", G1)
    b.consent("C10", "MARKETING", "GRANTED", G1)
    return b


def _requests(tmp_path, text: str):
    path = tmp_path / "requests.csv"
    path.write_text(text, encoding="utf-8")
    return read_requests(path)


REQUESTS = ("request_type,id_number,customer_no,request_ref\n"
            "ERASURE,,C07,R-1\n"
            "OBJECTION,,c09 ,R-2\n"
            "ERASURE,110101199003070011,,R-3\n"
            "ERASURE,,C99,R-4\n")


def _plan(tmp_path, book: Book | None = None, requests: str = REQUESTS, **kw):
    inputs = dict(mapping=example_mapping(), tables=(book or _book()).tables(),
                  birth_dates={c["customer_no"]: c["birth_date"] for c in (book or _book()).customers},
                  settings=TransferSettings(), as_of=AS_OF, requests=_requests(tmp_path, requests),
                  id_lookup=IdLookup("id_number", lambda values: [f"tok:{v}" for v in values]))
    return build_plan(PlanInputs(**(inputs | kw)))


def _rows(plan, name):
    return next(t.rows for t in plan.tables if t.name == name).to_pylist()


def _status(plan):
    return {(r["customer_no"], r["purpose"]): r for r in _rows(plan, "consent_status")}


def test_requests_suppress_exactly_the_named_persons_and_their_dependent_rows(tmp_path):
    """C07 (and its old policy, its parties, its consents) and C10/C11 go; C09 stays, held; C99 matches nobody."""
    book = _book()
    plan = _plan(tmp_path, book)
    kept = {r["customer_no"] for r in _rows(plan, "customers")}
    assert {c["customer_no"] for c in book.customers} - kept == {"C07", "C10", "C11"}
    line = {c["customer_no"]: c["_line"] for c in book.customers}
    assert plan.suppressed_lines["customers"] == sorted(line[c] for c in ("C07", "C10", "C11"))
    assert plan.suppressed_lines["policies"] == [p["_line"] for p in book.policies if p["policy_no"] == "P3"]
    assert plan.suppressed_lines["policy_parties"] == [p["_line"] for p in book.parties if p["policy_no"] == "P3"]
    assert plan.suppressed_lines["consents"] == [e["_line"] for e in book.consents if e["customer_no"] in
                                                 ("C07", "C10")]
    assert "C08" in kept, "a beneficiary of a suppressed person's policy is not suppressed with it"
    dsr = plan.summary["data_subject_requests"]
    assert (dsr["requests"], dsr["persons_suppressed"], dsr["persons_held"]) == (4, 3, 1)
    assert dsr["requests_matching_no_loaded_person"] == 1
    assert dsr["rows_suppressed"] == {e: len(v) for e, v in plan.suppressed_lines.items()}


def test_a_person_under_retention_hold_is_loaded_restricted_and_listed(tmp_path):
    """C09 objected but holds an in-force policy: loaded, in processing_restrictions, listed by line and token."""
    plan = _plan(tmp_path)
    assert "C09" in {r["customer_no"] for r in _rows(plan, "customers")}
    [restriction] = _rows(plan, "processing_restrictions")
    assert (restriction["customer_no"], restriction["request_type"], restriction["request_ref"],
            restriction["hold_until"], restriction["basis"]) == ("C09", "OBJECTION", "R-2", None,
                                                                  "CONTRACT_IN_FORCE")
    [held] = plan.summary["data_subject_requests"]["held"]
    assert held == {"source_file": "LDPERSON.csv", "source_line": 10, "id_token": "tok-C09", "hold_until": None,
                    "basis": "CONTRACT_IN_FORCE"}
    status = _status(plan)
    assert status[("C09", "MARKETING")]["reason"] == "PROCESSING_RESTRICTED"
    assert status[("C09", "SERVICING")]["allowed"] is True


def test_summary_names_no_suppressed_person(tmp_path):
    """The summary the report takes holds counts for suppressed persons, never their numbers or tokens."""
    text = json.dumps(_plan(tmp_path).summary)
    for secret in ("C07", "C10", "C11", "tok:110101199003070011", "110101199003070011", "R-1", "R-3"):
        assert secret not in text


def test_consent_status_for_every_natural_person_and_purpose(tmp_path):
    """Seven natural persons remain (company and suppressed persons excluded), five purposes each."""
    plan = _plan(tmp_path)
    status = _status(plan)
    assert {c for c, _ in status} == {"C01", "C02", "C03", "C04", "C06", "C08", "C09"}
    assert len(status) == 7 * 5
    assert status[("C01", "MARKETING")]["allowed"] is True
    assert (status[("C01", "SENSITIVE_DATA")]["state"], status[("C01", "SENSITIVE_DATA")]["allowed"]) == (
        "WITHDRAWN", False)
    assert status[("C01", "SENSITIVE_DATA")]["decided_at"] == G2
    assert status[("C02", "SENSITIVE_DATA")]["reason"] == "GUARDIAN_CONSENT_REQUIRED"
    assert status[("C02", "MARKETING")]["reason"] == "NOT_A_POLICYHOLDER"
    assert status[("C03", "MARKETING")]["reason"] == "NOT_A_POLICYHOLDER"
    assert status[("C04", "MARKETING")]["allowed"] is True
    assert status[("C04", "SERVICING")]["reason"] == "NO_LEGAL_BASIS"
    assert status[("C08", "SERVICING")]["reason"] == "NO_LEGAL_BASIS", "its only policy was suppressed"
    assert status[("C06", "CROSS_BORDER")]["state"] == "UNKNOWN"


def test_quarantined_withdrawal_of_unknown_purpose_blocks_an_older_grant(tmp_path):
    """A withdrawal whose purpose code was damaged (quarantined) after C01's marketing grant: not allowed."""
    doubt = {"C01": [ConsentEvent(None, "WITHDRAWN", G2, event_no="AQ", source_line=99, quarantined=True)]}
    status = _status(_plan(tmp_path, quarantined_events=doubt))
    assert (status[("C01", "MARKETING")]["state"], status[("C01", "MARKETING")]["allowed"]) == ("UNKNOWN", False)
    assert status[("C01", "MARKETING")]["decided_source_line"] == 99


def test_notification_manifest_one_row_per_natural_person(tmp_path):
    """Channel from the person's own contact, else through the policyholder; a child is addressed via the guardian."""
    rows = {r["customer_no"]: r for r in _rows(_plan(tmp_path), "notification_manifest")}
    assert set(rows) == {"C01", "C02", "C03", "C04", "C06", "C08", "C09"}
    assert (rows["C06"]["channel"], rows["C06"]["via_customer_no"], rows["C06"]["status"]) == (
        "VIA_POLICYHOLDER", "C05", "PENDING")
    assert (rows["C01"]["channel"], rows["C01"]["roles"], rows["C01"]["mobile"]) == ("SMS", "HOLDER,INSURED",
                                                                                      "v1:k:mob")
    assert rows["C02"]["addressee"] == "GUARDIAN"
    assert rows["C04"]["roles"] == "NONE"
    settings = TransferSettings()
    assert {(r["recipient_name"], r["recipient_contact"]) for r in rows.values()} == {
        (settings.recipient_name, settings.recipient_contact)}


def test_no_channel_when_notice_via_policyholder_is_off(tmp_path):
    """With notify_via_policyholder off, an insured person with no contact of their own is NO_CHANNEL."""
    plan = _plan(tmp_path, settings=TransferSettings(notify_via_policyholder=False))
    rows = {r["customer_no"]: r for r in _rows(plan, "notification_manifest")}
    assert (rows["C06"]["channel"], rows["C06"]["status"]) == ("NONE", "NO_CHANNEL")
    assert plan.summary["notices"]["by_status"] == {"NO_CHANNEL": 1, "PENDING": 6}


def test_a_purpose_beyond_the_sellers_consents_fails_before_anything(tmp_path):
    """A declared purpose the seller never collected consent for stops the plan."""
    settings = TransferSettings(buyer_purposes=("SERVICING", "HEALTH_CROSS_SELL"))
    with pytest.raises(PurposeNotPermitted, match="HEALTH_CROSS_SELL"):
        _plan(tmp_path, settings=settings)


def test_recorded_reconsent_opens_a_new_purpose_only_for_those_who_granted_it(tmp_path):
    """With re-consent recorded for the new purpose, the run goes on; only C04 (who granted it) is allowed."""
    settings = TransferSettings(buyer_purposes=("SERVICING", "HEALTH_CROSS_SELL"))
    reconsent = {"C04": [ConsentEvent("HEALTH_CROSS_SELL", "GRANTED", G2, event_no="RC1", evidence_ref="EVR1",
                                      source="RECONSENT")]}
    status = _status(_plan(tmp_path, settings=settings, reconsent_events=reconsent))
    allowed = {c for (c, p), r in status.items() if p == "HEALTH_CROSS_SELL" and r["allowed"]}
    assert allowed == {"C04"}
    assert status[("C04", "HEALTH_CROSS_SELL")]["decided_source"] == "RECONSENT"
    assert status[("C01", "MARKETING")]["reason"] == "NOT_DECLARED"


def test_declared_hold_in_the_request_keeps_a_person(tmp_path):
    """A request declaring a statutory hold beyond the policies (e.g. AML) keeps an otherwise free person."""
    plan = _plan(tmp_path, requests="request_type,customer_no,hold_until\nERASURE,C04,2030-12-31\n")
    [restriction] = _rows(plan, "processing_restrictions")
    assert (restriction["customer_no"], restriction["hold_until"], restriction["basis"]) == (
        "C04", date(2030, 12, 31), "DECLARED_IN_REQUEST")
    assert plan.summary["data_subject_requests"]["persons_suppressed"] == 0


def test_a_request_naming_a_merged_customer_number_finds_the_survivor(tmp_path):
    """Validation merged C98 (same person) into C04: a request by C98 suppresses C04."""
    plan = _plan(tmp_path, requests="request_type,customer_no\nERASURE,C98\n", merged_aliases={"C98": "C04"})
    assert "C04" not in {r["customer_no"] for r in _rows(plan, "customers")}
    assert plan.summary["data_subject_requests"]["requests_matching_no_loaded_person"] == 0


def test_deciding_in_chunks_gives_the_same_table(tmp_path):
    """Consent decided two persons at a time equals consent decided all at once (chunks bound memory only)."""
    from booktransfer.consent.model import Person
    from booktransfer.load.plan import consent_status

    book = _book()
    consents = book.tables()["consents"]
    people = [Person(c["customer_no"], c["birth_date"], frozenset({"HOLDER"})) for c in book.customers]
    extra = {"C01": [ConsentEvent(None, "WITHDRAWN", G2, quarantined=True)]}
    purposes = ["SERVICING", "MARKETING", "SENSITIVE_DATA"]
    whole = consent_status(people, consents, extra, purposes, frozenset(purposes), AS_OF, chunk=1000)
    assert consent_status(people, consents, extra, purposes, frozenset(purposes), AS_OF, chunk=2).equals(whole)
    assert whole.num_rows == len(people) * 3


def test_consent_summary_counts(tmp_path):
    """The report's consent summary: persons, minors, and per purpose how many are allowed."""
    consent = _plan(tmp_path).summary["consent"]
    assert (consent["persons"], consent["guardian_required"]) == (7, 1)
    assert consent["purposes"]["MARKETING"]["allowed"] == 2
    assert consent["purposes"]["SERVICING"]["reasons"] == {"CONTRACT": 5, "NO_LEGAL_BASIS": 2}
    assert sum(consent["purposes"]["SENSITIVE_DATA"]["states"].values()) == 7
