"""A partitioned run gives the same transfer as a run of one partition: same quarantine, merges, loaded rows,
consent decisions, notices and report numbers, on a book with defects, duplicate persons (R17), duplicate keys
that the partitioning puts into different partitions, and data-subject requests. Real PostgreSQL targets."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from booktransfer import pipeline
from booktransfer.errors import TransferLocked
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.load.settings import TransferSettings
from booktransfer.sample.drop_writer import write_control_file
from booktransfer.sample.generator import generate_book
from tests.integration.conftest import PG_URL

pytestmark = pytest.mark.integration
AS_OF = date(2025, 12, 31)
PARTITIONS = 4
KEYS = {"customers": "customer_no", "policies": "policy_no", "policy_parties": "policy_no, customer_no, role",
        "consents": "event_no", "consent_status": "customer_no, purpose", "notification_manifest": "customer_no",
        "processing_restrictions": "customer_no"}
CIPHERTEXTS = {"customers": ("name", "mobile", "address"), "notification_manifest": ("mobile", "address")}


def _append_rows(path: Path, rows: list[list[str]]) -> None:
    with path.open("a", encoding="utf-8", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def inject_duplicate_keys(drop: Path) -> dict[str, list[str]]:
    """Rows that reuse another row's key with other content: 6 customer numbers (each under another person's
    passport, so they route elsewhere), 6 policy numbers (other holders), 6 consent event numbers (other
    customers). Rewrites the control file. Returns the duplicated keys per file."""
    people, policies, events = (_rows(drop / f) for f in ("LDPERSON.csv", "LCCONT.csv", "CUST_AUTH_LOG.csv"))
    head_p, head_c, head_e = people[0], policies[0], events[0]
    dup_people, dup_policies, dup_events = [], [], []
    for i in range(6):
        row = dict(zip(head_p, people[10 + 37 * i], strict=True))
        row.update(IDType="1", IDNo=f"E{90_000_000 + i:08d}")
        dup_people.append([row[c] for c in head_p])
        pol = dict(zip(head_c, policies[20 + 41 * i], strict=True))
        pol["AppntNo"] = people[300 + i][0]
        dup_policies.append([pol[c] for c in head_c])
        ev = dict(zip(head_e, events[30 + 53 * i], strict=True))
        ev["CustomerNo"] = people[400 + i][0]
        dup_events.append([ev[c] for c in head_e])
    _append_rows(drop / "LDPERSON.csv", dup_people)
    _append_rows(drop / "LCCONT.csv", dup_policies)
    _append_rows(drop / "CUST_AUTH_LOG.csv", dup_events)
    counts = {f: len(_rows(drop / f)) - 1 for f in ("LDPERSON.csv", "LCCONT.csv", "LCPARTY.csv", "CUST_AUTH_LOG.csv")}
    write_control_file(drop, counts)
    return {"LDPERSON.csv": [r[0] for r in dup_people], "LCCONT.csv": [r[0] for r in dup_policies],
            "CUST_AUTH_LOG.csv": [r[0] for r in dup_events]}


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    """A 600-customer book with 10 % defects (3 duplicate persons) and injected duplicate keys; and a request
    file naming three customers."""
    root = tmp_path_factory.mktemp("scale")
    drop = root / "drop"
    generate_book(drop, customers=600, seed=3, defect_rate=0.1)
    dups = inject_duplicate_keys(drop)
    people = _rows(drop / "LDPERSON.csv")
    requests = root / "requests.csv"
    requests.write_text("request_type,customer_no,id_number,request_ref\n"
                        f"ERASURE,{people[50][0]},,R-1\nOBJECTION,{people[120][0]},,R-2\n"
                        f"ERASURE,,{people[200][people[0].index('IDNo')]},R-3\n", encoding="utf-8")
    return {"drop": drop, "dups": dups, "requests": requests, "root": root}


def schema_url(name: str) -> str:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        conn.execute(f'CREATE SCHEMA "{name}"')
    return f"{PG_URL}?options=-csearch_path%3D{name}"


@pytest.fixture(scope="module")
def runs(book, tmp_path_factory):
    """The same transfer twice: one partition through the whole-stage functions (what `booktransfer run` calls),
    four partitions through the per-partition functions the DAG's mapped tasks call."""
    from booktransfer.protect.keyring import new_keyring_document, parse_keyring

    root = tmp_path_factory.mktemp("runs")
    keys = parse_keyring(new_keyring_document())
    settings = TransferSettings(suppression_file=book["requests"])
    out = {}
    for label, partitions in (("one", 1), ("four", PARTITIONS)):
        schema = f"bt_scale_{label}_{root.name[-6:]}".replace("-", "_")
        ctx = pipeline.RunContext(transfer_id="scale", run_id=f"run-{label}", mapping_set="example_seller",
                                  target_url=schema_url(schema), staging_root=root / "staging",
                                  reports_root=root / "reports", keys=keys, as_of=AS_OF, settings=settings,
                                  max_reject_rate=1.0, partitions=partitions)
        pipeline.run_extract(ctx, LocalFolderSource(book["drop"]))
        if partitions == 1:
            for stage in ("map", "validate", "protect", "load", "reconcile"):
                getattr(pipeline, f"run_{stage}")(ctx)
        else:
            run_as_the_dag_does(ctx)
        out[label] = {"ctx": ctx, "schema": schema}
    yield out
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        for run in out.values():
            conn.execute(f'DROP SCHEMA IF EXISTS "{run["schema"]}" CASCADE')


def run_as_the_dag_does(ctx: pipeline.RunContext) -> dict:
    """The DAG's order: mapped map/validate, validate_book, mapped protect, plan_load, mapped plan, load and
    verify, reconcile; each partition in a context of its own, as in its own task instance."""
    parts = ctx.partition_contexts()
    for stage in ("map", "validate"):
        for part in parts:
            getattr(pipeline, f"run_{stage}")(part)
    pipeline.run_validate_book(ctx)
    for part in parts:
        pipeline.run_protect(part)
    pipeline.run_plan_load(ctx)
    for part in parts:
        pipeline.run_plan_load(part)
    for part in reversed(parts):  # partitions finish in any order
        pipeline.run_load(part)
    for part in parts:
        pipeline.run_verify(part)
    return pipeline.run_reconcile(replace(ctx, verified=True))


def report(run: dict) -> dict:
    return json.loads((run["ctx"].report_dir / "reconciliation.json").read_text(encoding="utf-8"))


def target_rows(run: dict, table: str) -> list[tuple]:
    """The transfer's rows of a buyer table, ordered by key; ciphertexts (random nonces) as present/absent."""
    with psycopg.connect(f"{PG_URL}?options=-csearch_path%3D{run['schema']}") as conn:
        cur = conn.execute(f"SELECT * FROM {table} WHERE transfer_id = 'scale' ORDER BY {KEYS[table]}")
        names = [d.name for d in cur.description]
        hidden = CIPHERTEXTS.get(table, ())
        return [tuple((v is not None) if n in hidden else v for n, v in zip(names, row, strict=True))
                for row in cur.fetchall()]


def test_the_report_is_the_same_with_four_partitions(runs):
    """Both runs pass; every entity's equation, the quarantine and the merges are identical, line by line."""
    one, four = report(runs["one"]), report(runs["four"])
    assert one["verdict"] == four["verdict"] == "PASS"
    equations = [{e: b["equation"] for e, b in r["entities"].items()} for r in (one, four)]
    assert equations[0] == equations[1]
    assert four["record_level"] == one["record_level"] and all(r["ok"] for r in four["record_level"])
    assert four["control_totals"] == one["control_totals"]
    assert four["consent_distribution"] == one["consent_distribution"]
    assert four["load_plan"] == one["load_plan"]
    for name in ("quarantine.csv", "merges.csv", "consent_summary.csv", "differences.csv"):
        a = (runs["one"]["ctx"].report_dir / name).read_text(encoding="utf-8")
        b = (runs["four"]["ctx"].report_dir / name).read_text(encoding="utf-8")
        assert a == b, name
    merges = (runs["four"]["ctx"].report_dir / "merges.csv").read_text(encoding="utf-8").splitlines()
    assert len(merges) > 1, "the book's duplicate persons were merged"
    assert four["load_plan"]["data_subject_requests"]["persons_matched"] >= 3


def test_the_target_holds_the_same_rows(runs):
    """Every buyer table holds the same rows for the transfer: keys, source lines, fingerprints, consent
    decisions, notices, restrictions (ciphertexts differ by nonce; compared as present or absent)."""
    for table in KEYS:
        one, four = target_rows(runs["one"], table), target_rows(runs["four"], table)
        assert one == four, table
        assert one or table == "processing_restrictions", table


def test_duplicate_keys_split_across_partitions_are_quarantined_as_in_one_partition(runs, book):
    """The injected duplicate keys fail the suites' uniqueness rules in both runs, with the same rule ids, and
    at least one duplicate pair of each file sat in two different partitions of the four-partition run."""
    ctx = runs["four"]["ctx"]
    rules = {"LDPERSON.csv": ("customers", "customer_no", "CUS-012", "CustomerNo"),
             "LCCONT.csv": ("policies", "policy_no", "POL-008", "ContNo"),
             "CUST_AUTH_LOG.csv": ("consents", "event_no", "CON-006", "LogNo")}
    quarantine = list(csv.DictReader((ctx.report_dir / "quarantine.csv").open(encoding="utf-8")))
    for file, keys in book["dups"].items():
        entity, _, rule, column = rules[file]
        flagged = {int(r["source_line"]) for r in quarantine if r["source_file"] == file and r["rule_id"] == rule}
        mapped = set(ctx.read_stage("mapped", entity, ["_line"]).column(0).to_pylist())
        split = checked = 0
        for key in keys:
            where = []
            for p, part in enumerate(ctx.partition_contexts()):
                raw = ctx.read_staged(part.stage_path("raw", entity))
                lines = raw.filter(pc.equal(pc.utf8_trim_whitespace(raw.column(column)), key)).column("_line")
                where += [(p, line) for line in lines.to_pylist()]
            assert len(where) == 2, (file, key)
            if not {line for _, line in where} <= mapped:
                continue  # one of the two was quarantined by the map stage: no duplicate left to find
            assert {line for _, line in where} <= flagged, (file, key)
            checked += 1
            split += where[0][0] != where[1][0]
        assert checked >= 3 and split >= 1, f"no duplicate of {file} crossed partitions"


def test_rows_of_one_person_share_a_partition(runs):
    """Each merged duplicate and its survivor were routed to the same partition; partitions are all used."""
    ctx = runs["four"]["ctx"]
    extract = json.loads((ctx.run_dir / "extract.json").read_text(encoding="utf-8"))
    assert extract["partitions"]["count"] == PARTITIONS
    assert all(n > 0 for n in extract["partitions"]["rows"]["customers"])
    part_of = {}
    for p, part in enumerate(ctx.partition_contexts()):
        part_of.update(dict.fromkeys(ctx.read_staged(part.stage_path("raw", "customers")).column("_line").to_pylist(),
                                     p))
    merges = list(csv.DictReader((ctx.report_dir / "merges.csv").open(encoding="utf-8")))
    customer_merges = [m for m in merges if m["entity"] == "customers"]
    assert customer_merges
    for m in customer_merges:
        assert part_of[int(m["source_line"])] == part_of[int(m["survivor_line"])]


def test_each_partition_records_its_share_and_a_rerun_writes_nothing(runs):
    """transfer_runs: the run's claim and one record per table and partition; loading every partition again
    changes nothing (each share's digest matches)."""
    run = runs["four"]
    with psycopg.connect(f"{PG_URL}?options=-csearch_path%3D{run['schema']}") as conn:
        records = conn.execute("SELECT entity, action FROM transfer_runs WHERE transfer_id = 'scale'").fetchall()
    entities = {e for e, _ in records}
    assert ("*", "CLAIMED") in records
    assert {f"customers#part-00{p}-of-004" for p in range(PARTITIONS)} <= entities
    assert len(entities) == 1 + 7 * PARTITIONS
    again = [pipeline.run_load(part) for part in run["ctx"].partition_contexts()]
    assert all(set(r["written"].values()) == {0} for r in again)
    assert target_rows(run, "customers") == target_rows(runs["one"], "customers")


def test_another_run_takes_over_and_the_first_run_loads_nothing_more(runs):
    """A second run of the same transfer claims it (deleting what the first loaded, then loading its own); a
    late partition of the first run is refused instead of mixing the two."""
    import shutil

    first = runs["four"]["ctx"]
    second = replace(first, run_id="run-four-again")
    shutil.copytree(first.run_dir, second.run_dir, dirs_exist_ok=True)  # the same staged book, another run
    for part in second.partition_contexts():
        pipeline.run_load(part)
    assert pipeline.run_reconcile(second)["verdict"] == "PASS"
    with pytest.raises(TransferLocked, match="took over"):
        pipeline.run_load(first.for_partition(2))
    assert target_rows(runs["four"], "customers") == target_rows(runs["one"], "customers")
    with psycopg.connect(f"{PG_URL}?options=-csearch_path%3D{runs['four']['schema']}") as conn:
        lines = conn.execute("SELECT count(*), count(DISTINCT source_line) FROM customers").fetchone()
    assert lines[0] == lines[1] == len(target_rows(runs["one"], "customers"))


def test_the_partitioned_plan_equals_the_whole_book_plan(runs):
    """The tables the partitions planned (consent per person and purpose, notices, restrictions; the rows of each
    entity) equal what `build_plan` makes of the whole book at once, the reference implementation."""
    from booktransfer.load.partitioned import DERIVED
    from booktransfer.load.stage import make_plan

    ctx = runs["four"]["ctx"]
    whole = {t.name: t.rows for t in make_plan(ctx, ctx.read_staged).tables}
    for name in DERIVED:
        planned = pa.concat_tables([ctx.read_staged(p.doc_path(f"load/{name}.parquet"))
                                    for p in ctx.partition_contexts()])
        keys = [(k, "ascending") for k in KEYS[name].split(", ")]
        assert planned.sort_by(keys).to_pylist() == whole[name].sort_by(keys).to_pylist(), name


def test_one_partition_reconcile_uses_the_verify_task_records(runs):
    """With one partition the DAG's verify task checks the whole book and reconcile takes its records instead of
    reading the target a second time: a row altered before verify shows in the report as VALUES_DIFFER at its
    line; once restored and verified again, the report passes."""
    from booktransfer.errors import ReconciliationFailed

    run = runs["one"]
    ctx, url = run["ctx"], f"{PG_URL}?options=-csearch_path%3D{run['schema']}"
    with psycopg.connect(url, autocommit=True) as conn:
        line, postcode = conn.execute("SELECT source_line, postcode FROM customers WHERE postcode IS NOT NULL "
                                      "ORDER BY source_line LIMIT 1").fetchone()
        conn.execute("UPDATE customers SET postcode = '999999' WHERE source_line = %s", [line])
    try:
        pipeline.run_verify(ctx.for_partition(0))
        with pytest.raises(ReconciliationFailed):
            pipeline.run_reconcile(replace(ctx, verified=True))
        customers = next(r for r in report(run)["record_level"] if r["entity"] == "customers")
        assert customers["VALUES_DIFFER"] == 1 and not customers["ok"]
        differences = (ctx.report_dir / "differences.csv").read_text(encoding="utf-8")
        assert f"LDPERSON.csv,{line},VALUES_DIFFER,postcode" in differences
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE customers SET postcode = %s WHERE source_line = %s", [postcode, line])
    pipeline.run_verify(ctx.for_partition(0))
    assert pipeline.run_reconcile(replace(ctx, verified=True))["verdict"] == "PASS"
