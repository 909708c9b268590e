"""The acceptance check of issue 4: on generated books with defects, the quarantine equals the ground truth.

For several seeds and defect rates (2,000 customers each), the real stages run (extract, map, validate) and
`booktransfer.validate.truth_check` compares the outcome with the generator's truth file: every injected
defect caught with its reason code and column, no clean row quarantined (precision and recall 1.0 on
primary outcomes), full-width digits and a lower-case x normalised and kept. Cascades are checked against
the seller's files independently: every row held back only because of another row names a row that was
quarantined. One book goes all the way into SQLite, where the conservation equation holds with merges.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from pathlib import Path

import pytest

from booktransfer import pipeline
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.validate.book import DEPENDENT_QUARANTINED, PARENT_QUARANTINED
from booktransfer.validate.stage import merges_path
from booktransfer.validate.truth_check import RunOutcomes, compare, read_truth

pytestmark = pytest.mark.integration
BOOKS = [(3, 0.05), (7, 0.2), (11, 0.05), (23, 0.2)]
CUSTOMERS = 2000


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    """Each book of BOOKS generated and run through extract, map and validate once for the module (own keyring)."""
    from booktransfer.protect.keyring import write_keyring
    from booktransfer.sample.generator import generate_book

    runs: dict[tuple[int, float], tuple[Path, pipeline.RunContext]] = {}
    with pytest.MonkeyPatch.context() as mp:
        folder = tmp_path_factory.mktemp("truth")
        mp.setenv("BOOKTRANSFER_KEYRING", str(write_keyring(folder / "keyring.json")))
        mp.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)

        def run(seed: int, rate: float) -> tuple[Path, pipeline.RunContext]:
            if (seed, rate) not in runs:
                work = folder / f"seed{seed}-rate{rate}"
                generate_book(work / "drop", customers=CUSTOMERS, seed=seed, defect_rate=rate)
                ctx = pipeline.RunContext(transfer_id="truth", run_id="r-1", mapping_set="example_seller",
                                          target_url=f"sqlite:///{work / 'buyer.db'}", staging_root=work / "staging",
                                          reports_root=work / "reports", max_reject_rate=1.0)
                pipeline.run_extract(ctx, LocalFolderSource(work / "drop"))
                pipeline.run_map(ctx)
                pipeline.run_validate(ctx)
                runs[seed, rate] = (work / "drop", ctx)
            return runs[seed, rate]

        yield run


def outcomes(ctx: pipeline.RunContext) -> tuple[RunOutcomes, dict[tuple[str, str], str], dict]:
    """What the run did per source line, the reject column -> seller column map, and every reject row."""
    mapping = ctx.load_mapping()
    run, source_column, rejects = RunOutcomes(), {}, {}
    for entity, spec in mapping.entities.items():
        file = spec.source.file
        rows = [r for stage in ("map", "validate")
                for r in ctx.read_staged(ctx.rejects_path(stage, entity)).to_pylist()]
        run.add_rejects(rows)
        rejects[file] = rows
        run.merged[file] = set(ctx.read_staged(merges_path(ctx, entity)).column("source_line").to_pylist())
        run.loaded[file] = set(ctx.read_staged(ctx.stage_path("valid", entity)).column("_line").to_pylist())
        source_column.update({(file, f.target): f.source for f in spec.fields if f.source})
    return run, source_column, rejects


def seller_rows(drop: Path, file: str) -> dict[int, dict[str, str]]:
    """A seller file's rows by physical line (header = line 1; the sample has no line breaks in fields)."""
    with (drop / file).open(encoding="utf-8", newline="") as fh:
        return {i + 2: row for i, row in enumerate(csv.DictReader(fh))}


@pytest.mark.parametrize(("seed", "rate"), BOOKS, ids=[f"seed{s}-rate{r}" for s, r in BOOKS])
def test_quarantine_equals_ground_truth(books, seed, rate):
    """Precision and recall 1.0 on primary outcomes; right reason and column; normalised rows loaded."""
    drop, ctx = books(seed, rate)
    run, source_column, _ = outcomes(ctx)
    truth = read_truth(drop.parent / "drop.truth.csv")

    result = compare(truth, run, source_column)

    assert result["false_positives"] == []
    assert result["false_negatives"] == []
    assert result["wrong_column"] == []
    assert result["normalised_not_loaded"] == []
    assert (result["precision"], result["recall"]) == (1.0, 1.0)
    assert result["true_positives"] == result["expected"] > 0.5 * rate * CUSTOMERS
    assert all(d["caught"] == d["injected"] for d in result["by_defect"].values())


@pytest.mark.parametrize(("seed", "rate"), BOOKS[:2], ids=[f"seed{s}-rate{r}" for s, r in BOOKS[:2]])
def test_every_cascade_names_a_quarantined_row(books, seed, rate):
    """Read from the seller's files: a PARENT_QUARANTINED row refers to a held-back row; a DEPENDENT_QUARANTINED
    policy has a held-back party row. And every held-back policy takes all its party rows with it."""
    drop, ctx = books(seed, rate)
    run, _, rejects = outcomes(ctx)
    held = {file: set(lines) for file, lines in run.reasons.items()}
    customers, policies = seller_rows(drop, "LDPERSON.csv"), seller_rows(drop, "LCCONT.csv")
    parties, consents = seller_rows(drop, "LCPARTY.csv"), seller_rows(drop, "CUST_AUTH_LOG.csv")
    held_customers = {customers[line]["CustomerNo"] for line in held["LDPERSON.csv"]}
    held_policies = {policies[line]["ContNo"] for line in held["LCCONT.csv"]}
    held_party_policies = {parties[line]["ContNo"] for line in held.get("LCPARTY.csv", set())}

    cascades = 0
    for file, rows in rejects.items():
        for r in rows:
            if r["reason"] == PARENT_QUARANTINED:
                cascades += 1
                if file == "LCCONT.csv":
                    assert policies[r["source_line"]]["AppntNo"] in held_customers, r
                elif file == "CUST_AUTH_LOG.csv":
                    assert consents[r["source_line"]]["CustomerNo"] in held_customers, r
                else:
                    row = parties[r["source_line"]]
                    assert row["ContNo"] in held_policies or row["CustomerNo"] in held_customers, r
            elif r["reason"] == DEPENDENT_QUARANTINED:
                cascades += 1
                assert policies[r["source_line"]]["ContNo"] in held_party_policies, r
    assert cascades > 0
    orphaned = [line for line, row in parties.items()
                if row["ContNo"] in held_policies and line not in held["LCPARTY.csv"]]
    assert orphaned == []


def test_whole_book_balances_with_merges(books):
    """Into SQLite: source = loaded + quarantined + merged per entity; survivors keep the merged numbers;
    the normalised rows are in the buyer's tables by their source lines; the report lists the merges."""
    drop, ctx = books(7, 0.2)
    for stage in ("protect", "load", "reconcile"):
        getattr(pipeline, f"run_{stage}")(ctx)
    truth = read_truth(drop.parent / "drop.truth.csv")
    report = json.loads((ctx.report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    customers = report["entities"]["customers"]

    assert report["verdict"] == "PASS"
    duplicates = {t["line"] for t in truth if t["defect"] == "DUPLICATE_PERSON"}
    assert customers["merged"] == len(duplicates) > 0
    assert customers["loaded"] + customers["quarantined"] + customers["merged"] == customers["source_rows"]
    with (ctx.report_dir / "merges.csv").open(encoding="utf-8", newline="") as fh:
        assert {int(r["source_line"]) for r in csv.DictReader(fh)} == duplicates
    with sqlite3.connect(drop.parent / "buyer.db") as db:
        lines = {r[0] for r in db.execute("SELECT source_line FROM customers WHERE transfer_id = 'truth'")}
        merged_nos = [r[0] for r in db.execute("SELECT merged_customer_nos FROM customers "
                                               "WHERE merged_customer_nos IS NOT NULL")]
    normalised = {t["line"] for t in truth if t["file"] == "LDPERSON.csv" and t["defect"] in ("FULLWIDTH_DIGITS",
                                                                                            "LOWERCASE_X")}
    assert normalised and normalised <= lines
    assert not duplicates & lines
    assert sum(len(m.split(",")) for m in merged_nos) == len(duplicates)
