"""A second, differently shaped seller export mapped with the language alone: no Python changed.

The export is built from a generated sample: pinyin column names, GB18030, '|' delimiter, a JSON control
file, addresses in a file of their own (merged into the customer entity), other code values.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from booktransfer import pipeline
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.load.target import engine_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "mappings" / "second_seller"

_SEX = {"0": "1", "1": "2", "2": "0"}
_IDTYPE = {"0": "A", "1": "B", "9": "C"}
_PRODUCT = {"LA0101": "ZSX01", "LA0201": "DQS01", "HB0301": "ZJX01", "AC0401": "YWX01", "EN0501": "LQX01"}
_ROLE = {"1": "B", "2": "S"}
_RELATION = {"00": "BR", "01": "PO", "02": "ZN", "03": "FM", "04": "QT"}
_PURPOSE = {"YX": "01", "GX": "02", "MG": "03", "JW": "04"}
_CHANNEL = {"01": "GT", "02": "DH", "03": "APP", "04": "WZ"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _dash(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}" if yyyymmdd else ""


def _write(drop: Path, name: str, header: list[str], rows: list[list[str]]) -> tuple[str, int, str]:
    path = drop / name
    with path.open("w", encoding="gb18030", newline="") as fh:
        writer = csv.writer(fh, delimiter="|", lineterminator="\r\n")
        writer.writerow(header)
        writer.writerows(rows)
    return name, len(rows), hashlib.sha256(path.read_bytes()).hexdigest()


def build_second_export(sample: Path, drop: Path) -> dict[str, list]:
    """Re-shape the example seller's sample into the second seller's export; return what it contains."""
    drop.mkdir(parents=True)
    people = _rows(sample / "LDPERSON.csv")
    stamp = "20261126"
    files = [
        _write(drop, f"KH_JBXX_{stamp}.txt", ["KHH", "KHLB", "XM", "XB", "CSRQ", "ZJLX", "ZJHM", "SJH", "LRSJ"],
               [[p["CustomerNo"], "1" if p["CustomerType"] == "0" else "2", p["Name"], _SEX.get(p["Sex"], ""),
                 _dash(p["Birthday"]), _IDTYPE[p["IDType"]], p["IDNo"], p["Mobile"], p["MakeDate"]] for p in people]),
        # Addresses in their own file, provinces split off, in another order, plus one row for nobody.
        _write(drop, f"KH_DZ_{stamp}.txt", ["CZ", "YB", "XXDZ", "SHENG", "KHH"],
               [["", p["ZipCode"], p["PostalAddress"][3:], p["PostalAddress"][:3], p["CustomerNo"]]
                for p in reversed(people)] + [["", "100000", "某路1号", "北京市", "C999999999"]]),
        _write(drop, f"BD_{stamp}.txt", ["BDH", "TBRKHH", "XZDM", "BDZT", "SXRQ", "ZZRQ", "NJBF", "BE"],
               [[c["ContNo"], c["AppntNo"], _PRODUCT[c["RiskCode"]], f"0{c['ContState']}", _dash(c["CValiDate"]),
                 _dash(c["EndDate"]), c["Prem"], c["Amnt"]] for c in _rows(sample / "LCCONT.csv")]),
        _write(drop, f"GX_{stamp}.txt", ["BDH", "KHH", "JS", "GX", "SYSX", "SYBL"],
               [[r["ContNo"], r["CustomerNo"], _ROLE[r["RoleType"]], _RELATION[r["RelationToAppnt"]], r["BnfGrade"],
                 r["BnfLot"]] for r in _rows(sample / "LCPARTY.csv")]),
        _write(drop, f"SQ_{stamp}.txt", ["LSH", "KHH", "SQLX", "SQBZ", "SQSJ", "QD", "PZH"],
               [[a["LogNo"], a["CustomerNo"], _PURPOSE[a["AuthType"]], "Y" if a["AuthFlag"] == "1" else "N",
                 a["AuthTime"].replace("-", "").replace(" ", "").replace(":", ""), _CHANNEL[a["Channel"]],
                 a["EvidenceNo"]] for a in _rows(sample / "CUST_AUTH_LOG.csv")]),
    ]
    (drop / "manifest.json").write_text(json.dumps(
        {"files": [{"name": n, "rows": r, "sha256": h} for n, r, h in files]}, indent=1), encoding="utf-8")
    return {"people": people}


@pytest.fixture(scope="module")
def clean_sample(tmp_path_factory) -> Path:
    """A clean 300-customer sample of the example seller, with names outside GBK among them."""
    from booktransfer.sample.generator import generate_book

    out = tmp_path_factory.mktemp("clean") / "drop"
    generate_book(out, customers=300, seed=5)
    return out


@pytest.fixture()
def home(tmp_path) -> Path:
    """A project folder holding the second seller's mapping set beside the shipped buyer schema."""
    shutil.copytree(FIXTURE, tmp_path / "mappings" / "second_seller")
    os.symlink(ROOT / "schemas", tmp_path / "schemas")
    os.symlink(ROOT / "expectations", tmp_path / "expectations")
    return tmp_path


def test_lint_is_clean_on_the_second_export(home, clean_sample, tmp_path):
    """The mapping written from the docs lints clean against the export and the buyer schema."""
    from booktransfer.mapping.lint import lint_mapping_set

    build_second_export(clean_sample, tmp_path / "drop")
    assert [str(f) for f in lint_mapping_set(home / "mappings" / "second_seller", source=tmp_path / "drop")] == []


def test_second_export_transfers_whole(home, clean_sample, tmp_path, keyring):
    """Every row loads, the joined address file balances, and names and addresses decrypt to the source."""
    from booktransfer.protect.ciphers import decrypt_value
    from booktransfer.protect.keyring import load_keyring

    built = build_second_export(clean_sample, tmp_path / "drop")
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    ctx = pipeline.RunContext(transfer_id="second", run_id="r1", mapping_set="second_seller", target_url=target,
                              home=home, staging_root=tmp_path / "staging", reports_root=tmp_path / "reports")
    pipeline.run_extract(ctx, LocalFolderSource(tmp_path / "drop"))
    for stage in ("map", "validate", "protect", "load", "reconcile"):
        getattr(pipeline, f"run_{stage}")(ctx)
    report = json.loads((ctx.report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    assert report["verdict"] == "PASS" and report["mapping_version"] == "0.3.0"
    customers = report["entities"]["customers"]
    assert customers["loaded"] == len(built["people"]) and customers["quarantined"] == 0
    joined = customers["joined_files"]["addr"]
    assert joined["rows"] == len(built["people"]) + 1
    assert joined["matched"] == len(built["people"]) and joined["quarantined"] == 1
    engine = engine_for(target)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT customer_no, name, address FROM customers")).all()
    engine.dispose()
    ring = load_keyring()
    by_no = {p["CustomerNo"]: p for p in built["people"]}
    for customer_no, name, address in stored:
        source = by_no[customer_no]
        assert decrypt_value(ring, "name", name) == source["Name"].replace("•", "·")
        assert decrypt_value(ring, "address", address) == source["PostalAddress"]
    rare = [p["Name"] for p in built["people"] if any(ord(ch) > 0xFFFF or 0x3400 <= ord(ch) <= 0x4DBF
                                                      for ch in p["Name"])]
    assert rare, "the sample should hold names outside GBK, to prove GB18030 survives"
