"""The load stage inside whole transfers of the sample book (SQLite and the real PostgreSQL): data-subject
requests, consent carried over, notices, reruns, concurrent runs, purposes beyond the seller's consents."""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import threading
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from booktransfer import pipeline
from booktransfer.errors import PurposeNotPermitted, TransferLocked
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.load.lock import transfer_lock
from booktransfer.load.settings import TransferSettings
from booktransfer.load.target import engine_for

pytestmark = pytest.mark.integration
AS_OF = date(2025, 12, 31)   # the sample book's export day
ENTITIES = ("customers", "policies", "policy_parties", "consents")
DERIVED = ("consent_status", "notification_manifest", "processing_restrictions")


@pytest.fixture(scope="module")
def staged(sample_book, tmp_path_factory):
    """The sample book extracted, mapped, validated and protected once; tests load copies of this run."""
    from booktransfer.protect.keyring import load_keyring, write_keyring

    root = tmp_path_factory.mktemp("staged")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BOOKTRANSFER_KEYRING", str(write_keyring(root / "keyring.json")))
        mp.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
        ring = load_keyring()
    ctx = pipeline.RunContext(transfer_id="t-1", run_id="staged", mapping_set="example_seller", target_url="",
                              staging_root=root / "staging", reports_root=root / "reports", keys=ring, as_of=AS_OF)
    pipeline.run_extract(ctx, LocalFolderSource(sample_book))
    for stage in ("map", "validate", "protect"):
        getattr(pipeline, f"run_{stage}")(ctx)
    return ctx


def fresh(staged: pipeline.RunContext, folder: Path, run_id: str, target: str, dry_run: bool = False,
          **settings) -> pipeline.RunContext:
    """A new run of the transfer that starts from a copy of the staged run, in a folder of its own."""
    root = folder / run_id
    ctx = dataclasses.replace(staged, run_id=run_id, target_url=target, dry_run=dry_run,
                              staging_root=root / "staging", reports_root=root / "reports",
                              settings=TransferSettings(**settings))
    shutil.copytree(staged.run_dir, ctx.run_dir, ignore=shutil.ignore_patterns("load"))
    return ctx


def load_and_reconcile(ctx: pipeline.RunContext) -> dict:
    pipeline.run_load(ctx)
    pipeline.run_reconcile(ctx)
    return json.loads((ctx.report_dir / "reconciliation.json").read_text(encoding="utf-8"))


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'buyer.db'}"
    return request.getfixturevalue("pg_url")


def query(url: str, sql: str, **params) -> list[tuple]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


def counts(url: str, transfer_id: str = "t-1") -> dict[str, int]:
    return {t: query(url, f"SELECT count(*) FROM {t} WHERE transfer_id = :t", t=transfer_id)[0][0]
            for t in ENTITIES + DERIVED}


def staged_rows(ctx: pipeline.RunContext, entity: str) -> list[dict]:
    return ctx.read_staged(ctx.stage_path("protected", entity)).to_pylist()


def drop_rows(drop: Path, name: str) -> dict[int, dict]:
    """The seller's file by physical line (header = line 1)."""
    with (drop / name).open(encoding="utf-8", newline="") as fh:
        return {i + 2: row for i, row in enumerate(csv.DictReader(fh))}


# ---------- data-subject requests

def _choose_persons(staged: pipeline.RunContext) -> dict[str, str]:
    """Four persons the test names: two with no policy at all, one holding only long-expired policies, and one
    holding a policy in force (retention hold)."""
    customers = [c for c in staged_rows(staged, "customers") if c["customer_type"] == "individual"]
    policies = staged_rows(staged, "policies")
    parties = staged_rows(staged, "policy_parties")
    involved: dict[str, list[dict]] = {}
    by_no = {p["policy_no"]: p for p in policies}
    for p in policies:
        involved.setdefault(p["holder_customer_no"], []).append(p)
    for party in parties:
        involved.setdefault(party["customer_no"], []).append(by_no[party["policy_no"]])

    def expired(p: dict) -> bool:   # Insurance Law Art. 87, written out for this test
        if p["status"] not in ("MATURED", "SURRENDERED") or p["expiry_date"] is None:
            return False
        short = (p["expiry_date"] - p["issue_date"]).days <= 366
        return date(p["expiry_date"].year + (5 if short else 10), p["expiry_date"].month, 1) < AS_OF.replace(day=1)

    no_role = [c["customer_no"] for c in customers if c["customer_no"] not in involved]
    only_expired = [c["customer_no"] for c in customers if involved.get(c["customer_no"])
                    and all(expired(p) for p in involved[c["customer_no"]])
                    and any(p["holder_customer_no"] == c["customer_no"] for p in involved[c["customer_no"]])]
    in_force = [p["holder_customer_no"] for p in policies if p["status"] == "IN_FORCE"
                and p["holder_customer_no"] in {c["customer_no"] for c in customers}]
    assert len(no_role) >= 2 and only_expired and in_force, "the sample book must hold every kind of person"
    return {"by_number": no_role[0], "by_id": no_role[1], "expired": only_expired[0], "held": in_force[0]}


def _requests_file(tmp_path: Path, staged: pipeline.RunContext, drop: Path, chosen: dict[str, str]) -> Path:
    line_of = {c["customer_no"]: c["_line"] for c in staged_rows(staged, "customers")}
    clear_id = drop_rows(drop, "LDPERSON.csv")[line_of[chosen["by_id"]]]["IDNo"]
    path = tmp_path / "requests.csv"
    path.write_text("request_type,id_number,customer_no,request_ref\n"
                    f"ERASURE,,{chosen['by_number'].lower()},R-1\n"
                    f"ERASURE,{clear_id},,R-2\n"
                    f"OBJECTION,,{chosen['expired']},R-3\n"
                    f"ERASURE,,{chosen['held']},R-4\n"
                    "ERASURE,,C999999999,R-5\n", encoding="utf-8")
    return path


def test_suppression_removes_exactly_the_listed_persons(staged, sample_book, target, tmp_path):
    """Listed persons without a retention hold are gone with every dependent row; the one under a hold is loaded,
    restricted and listed; the equation holds with them counted as suppressed; the report names none of them."""
    chosen = _choose_persons(staged)
    requests = _requests_file(tmp_path, staged, sample_book, chosen)
    ctx = fresh(staged, tmp_path, "dsr", target, suppression_file=requests)
    report = load_and_reconcile(ctx)
    assert report["verdict"] == "PASS"

    gone = {chosen["by_number"], chosen["by_id"], chosen["expired"]}
    staged_customers = {c["customer_no"] for c in staged_rows(staged, "customers")}
    loaded = {r[0] for r in query(target, "SELECT customer_no FROM customers WHERE transfer_id = 't-1'")}
    assert staged_customers - loaded == gone
    dropped_policies = {p["policy_no"] for p in staged_rows(staged, "policies") if p["holder_customer_no"] in gone}
    assert dropped_policies, "the person with expired policies held some"
    expected = {
        "customers": [c for c in staged_rows(staged, "customers") if c["customer_no"] in gone],
        "policies": [p for p in staged_rows(staged, "policies") if p["policy_no"] in dropped_policies],
        "policy_parties": [p for p in staged_rows(staged, "policy_parties")
                           if p["customer_no"] in gone or p["policy_no"] in dropped_policies],
        "consents": [e for e in staged_rows(staged, "consents") if e["customer_no"] in gone],
    }
    for entity, rows in expected.items():
        balance = report["entities"][entity]
        assert balance["suppressed"] == len(rows), entity
        assert balance["loaded"] + balance["quarantined"] + balance["suppressed"] == balance["source_rows"]
        assert counts(target)[entity] == len(staged_rows(staged, entity)) - len(rows), entity
    assert query(target, "SELECT count(*) FROM consents WHERE customer_no IN ({})".format(
        ",".join(f"'{c}'" for c in gone)))[0][0] == 0

    assert query(target, "SELECT customer_no, request_type, request_ref, basis FROM processing_restrictions") == [
        (chosen["held"], "ERASURE", "R-4", "CONTRACT_IN_FORCE")]
    dsr = report["load_plan"]["data_subject_requests"]
    assert (dsr["persons_suppressed"], dsr["persons_held"], dsr["requests_matching_no_loaded_person"]) == (3, 1, 1)
    held_row = next(c for c in staged_rows(staged, "customers") if c["customer_no"] == chosen["held"])
    assert dsr["held"] == [{"source_file": "LDPERSON.csv", "source_line": held_row["_line"],
                            "id_token": held_row["id_number"], "hold_until": None, "basis": "CONTRACT_IN_FORCE"}]
    report_text = "".join(p.read_text(encoding="utf-8") for p in ctx.report_dir.iterdir() if p.is_file())
    suppressed_rows = [c for c in staged_rows(staged, "customers") if c["customer_no"] in gone]
    for row in suppressed_rows:
        assert row["customer_no"] not in report_text and row["id_number"] not in report_text


def test_dry_run_with_requests_balances_and_writes_nothing(staged, sample_book, tmp_path):
    """A dry run applies the same requests, reports what would load, and creates nothing in the target."""
    chosen = _choose_persons(staged)
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    ctx = fresh(staged, tmp_path, "dsr-dry", target, dry_run=True,
                suppression_file=_requests_file(tmp_path, staged, sample_book, chosen))
    report = load_and_reconcile(ctx)
    assert report["verdict"] == "PASS" and report["dry_run"] is True
    assert report["entities"]["customers"]["suppressed"] == 3
    assert not (tmp_path / "buyer.db").exists()


# ---------- reruns and concurrent runs

def test_rerun_adds_zero_rows(staged, target, tmp_path):
    """The same run again writes nothing; a new run of the transfer replaces its rows and leaves the counts."""
    first = fresh(staged, tmp_path, "r-1", target)
    load_and_reconcile(first)
    before = counts(target)
    assert all(before[t] > 0 for t in ENTITIES + DERIVED[:2])
    again = pipeline.run_load(first)
    assert set(again["written"].values()) == {0}
    assert counts(target) == before
    second = fresh(staged, tmp_path, "r-2", target)
    report = load_and_reconcile(second)
    assert report["verdict"] == "PASS"
    assert counts(target) == before
    actions = dict(query(target, "SELECT entity, action FROM transfer_runs WHERE run_id = 'r-2'"))
    assert actions["consent_status"] == "UNCHANGED", "consent decisions are deterministic"
    assert actions["policies"] == "UNCHANGED"
    digests = query(target, "SELECT run_id, entity, rows_digest, rows_loaded FROM transfer_runs ORDER BY 1, 2")
    assert {len(d) for _, _, d, _ in digests} == {64}


def test_a_second_concurrent_run_of_the_transfer_is_refused(staged, pg_url, tmp_path):
    """While run A holds the transfer's load, run B's load stage is refused at once and writes nothing."""
    a_started, release, errors = threading.Event(), threading.Event(), []

    def run_a() -> None:
        engine = engine_for(pg_url, application_name="booktransfer load t-1 run-A")
        try:
            with transfer_lock(engine, "t-1", "run-A"):
                a_started.set()
                release.wait(timeout=60)
        except Exception as e:  # surfaced below
            errors.append(e)
        finally:
            engine.dispose()

    holder = threading.Thread(target=run_a)
    holder.start()
    try:
        assert a_started.wait(timeout=30)
        with pytest.raises(TransferLocked, match="booktransfer load t-1 run-A"):
            pipeline.run_load(fresh(staged, tmp_path, "run-B", pg_url))
    finally:
        release.set()
        holder.join()
    assert errors == []
    assert not sa.inspect(engine_for(pg_url)).has_table("customers")
    assert pipeline.run_load(fresh(staged, tmp_path, "run-B2", pg_url))["target"] == "created"


# ---------- consent and notices

def test_a_buyer_purpose_beyond_the_sellers_consents_fails_before_any_write(staged, tmp_path):
    """Declaring a purpose the seller never collected consent for stops the load; the target stays empty."""
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    ctx = fresh(staged, tmp_path, "purpose", target,
                buyer_purposes=("SERVICING", "MARKETING", "PROFILING_FOR_RESALE"))
    with pytest.raises(PurposeNotPermitted, match="PROFILING_FOR_RESALE"):
        pipeline.run_load(ctx)
    assert not (tmp_path / "buyer.db").exists()


def _expected_states(drop: Path) -> dict[tuple[str, str], str]:
    """The consent state per customer and purpose, straight from the seller's log: the latest event wins, and a
    quarantined (unknown-code) withdrawal at or after the latest grant leaves the state unknown."""
    purposes = {"YX": "MARKETING", "GX": "THIRD_PARTY_SHARING", "MG": "SENSITIVE_DATA", "JW": "CROSS_BORDER"}
    flags = {"1": "GRANTED", "0": "WITHDRAWN"}
    latest: dict[tuple[str, str], tuple[datetime, str]] = {}
    doubtful: dict[str, list[datetime]] = {}
    for row in drop_rows(drop, "CUST_AUTH_LOG.csv").values():
        when = datetime.strptime(row["AuthTime"], "%Y-%m-%d %H:%M:%S")
        customer = row["CustomerNo"].strip().upper()
        if row["AuthType"] not in purposes:
            if row["AuthFlag"] != "1":
                doubtful.setdefault(customer, []).append(when)
            continue
        key = (customer, purposes[row["AuthType"]])
        if key not in latest or when > latest[key][0]:
            latest[key] = (when, flags[row["AuthFlag"]])
    out = {}
    for (customer, purpose), (when, state) in latest.items():
        if state == "GRANTED" and any(d >= when for d in doubtful.get(customer, [])):
            state = "UNKNOWN"
        out[(customer, purpose)] = state
    return out


def test_consent_status_matches_the_sellers_log(staged, sample_book, tmp_path):
    """Every loaded person's state per purpose is what the seller's own log says (or UNKNOWN without events);
    marketing is never allowed to someone who is not a policyholder; minors need their guardian."""
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    load_and_reconcile(fresh(staged, tmp_path, "consent", target))
    expected = _expected_states(sample_book)
    rows = query(target, "SELECT customer_no, purpose, state, allowed, reason, guardian_required FROM consent_status")
    seller_purposes = {"MARKETING", "THIRD_PARTY_SHARING", "SENSITIVE_DATA", "CROSS_BORDER"}
    checked = 0
    for customer, purpose, state, _allowed, reason, guardian in rows:
        if purpose in seller_purposes:
            assert state == expected.get((customer, purpose), "UNKNOWN"), (customer, purpose)
            checked += 1
        if reason == "CONSENT_GRANTED":
            assert state == "GRANTED" and not guardian
    assert checked == 4 * len({r[0] for r in rows}) > 0
    holders = {r[0] for r in query(target, "SELECT holder_customer_no FROM policies")}
    marketing = {r[0] for r in rows if r[1] == "MARKETING" and r[3]}
    assert marketing and marketing <= holders | {r[0] for r in rows if r[4] == "CONSENT_GRANTED"}
    assert not marketing & ({r[0] for r in query(target, "SELECT customer_no FROM policy_parties")} - holders)
    births = {c["customer_no"]: c["birth_date"] for c in staged_rows(staged, "customers")}
    for customer, _, _, _, _, guardian in rows:
        born = births[customer]
        minor = born is None or (AS_OF.year - born.year - ((AS_OF.month, AS_OF.day) < (born.month, born.day))) < 14
        assert bool(guardian) == minor, customer


def test_manifest_lists_every_natural_person_loaded_with_encrypted_contacts(staged, sample_book, tmp_path):
    """One row per natural person loaded; mobile and address are the customers' ciphertexts, never clear."""
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    load_and_reconcile(fresh(staged, tmp_path, "notices", target, recipient_name="新东家人寿",
                             recipient_contact="4008-123-456"))
    people = dict(query(target, "SELECT customer_no, mobile FROM customers WHERE customer_type = 'individual'"))
    manifest = query(target, "SELECT customer_no, mobile, recipient_name, recipient_contact, status FROM "
                             "notification_manifest")
    assert {m[0] for m in manifest} == set(people)
    assert all(m[1] == people[m[0]] for m in manifest)
    assert {(m[2], m[3]) for m in manifest} == {("新东家人寿", "4008-123-456")}
    clear = {r["Mobile"].strip() for r in drop_rows(sample_book, "LDPERSON.csv").values() if r["Mobile"].strip()}
    assert not clear & {m[1] for m in manifest}
