"""Log hygiene: a real Airflow run of the DAG on the sample book leaves no clear personal value anywhere.

The keyring comes from the `booktransfer_keyring` Airflow connection (the local key file named by
BOOKTRANSFER_KEYRING does not exist, so nothing else could have served it). Two runs: one that transfers
the book, one that fails at extract on a malformed row (its exception quotes nothing). Then every task
log line, the `airflow dags test` output, every XCom value and the whole metadata DB, every staged file
and every report file is scanned for every name, ID number, mobile and address of the sample (as the
seller wrote them and as the mapping normalizes them), and for the keyring's key material: zero hits.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from booktransfer.protect.keyring import new_keyring_document
from booktransfer.protect.staging import is_encrypted
from tests.integration.transfer_conf import DAGS_TEST_APPROVE, compliant

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
PERSONAL = ("Name", "IDNo", "Mobile", "PostalAddress")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\U00020000-\U0003ffff\u00b70-9A-Za-z]{2,}")
_DIGIT_RUN = re.compile(r"[0-9X]{11,}")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def personal_values(drop: Path) -> set[str]:
    """Every name, ID number, mobile and address of the sample: as written and as the mapping normalizes them."""
    with (drop / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    values = set()
    for row in rows:
        for column in PERSONAL:
            raw = row[column].strip()
            if raw:
                values |= {raw, unicodedata.normalize("NFKC", raw).upper(), re.sub("[•・･．.]", "·", raw)}
    return values


def canonical(value: str) -> str:
    """How the scanner compares identifiers: NFKC (full-width digits to ASCII) and upper case."""
    return unicodedata.normalize("NFKC", value).upper()


class Scanner:
    """Finds given values in text or bytes, also in full-width digits and behind JSON \\uXXXX escapes."""

    def __init__(self, values: set[str]) -> None:
        self.digits = {canonical(v) for v in values if re.fullmatch(r"[0-9X]+", canonical(v))}
        self.texts = {v for v in values if not re.fullmatch(r"[0-9X]+", canonical(v))}
        self.lengths = sorted({len(v) for v in self.digits})

    def _digit_hits(self, text: str) -> set[str]:
        hits = set()
        for run in _DIGIT_RUN.findall(canonical(text)):
            for n in self.lengths:
                hits |= {run[i:i + n] for i in range(len(run) - n + 1)} & self.digits
        return hits

    def _text_hits(self, text: str) -> set[str]:
        runs = "\n".join(_CJK_RUN.findall(text))  # no run holds a newline: no match spans two runs
        return {v for v in self.texts if v in runs}

    def hits(self, data: bytes) -> set[str]:
        """Every value found in `data` (raw bytes, UTF-8 text, or JSON with escaped non-ASCII)."""
        text = data.decode("utf-8", errors="replace")
        unescaped = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
        unescaped = unescaped.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")
        return self._digit_hits(text) | self._digit_hits(unescaped) | self._text_hits(text) | self._text_hits(
            unescaped)


def _key_material(doc: dict) -> set[str]:
    keys = set()
    for section in doc.values():
        if isinstance(section, dict):
            for text in ([section["key"]] if "key" in section else section["keys"].values()):
                keys |= {text, base64.b64decode(text).hex()}
    return keys


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def keyring_doc() -> dict:
    return new_keyring_document()


@pytest.fixture(scope="module")
def leak_env(tmp_path_factory, keyring_doc) -> dict[str, str]:
    """A fresh Airflow home; the keyring only in the booktransfer_keyring connection (env-provided)."""
    home = tmp_path_factory.mktemp("leak-airflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "BOOKTRANSFER"))}
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "BOOKTRANSFER_HOME": str(ROOT),
        "BOOKTRANSFER_STAGING": str(home / "staging"),
        "BOOKTRANSFER_REPORTS": str(home / "reports"),
        "BOOKTRANSFER_KEYRING": str(home / "no-such-keyring.json"),
        "AIRFLOW_CONN_BOOKTRANSFER_KEYRING": json.dumps({"conn_type": "generic",
                                                          "password": json.dumps(keyring_doc)}),
    })
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    return env


def _dags_test(env: dict[str, str], conf: dict) -> subprocess.CompletedProcess:
    return subprocess.run([AIRFLOW, "dags", "test", "portfolio_transfer", *DAGS_TEST_APPROVE,
                           "--conf", json.dumps(compliant(conf))],
                          env=env, capture_output=True, text=True, timeout=600)


def _ragged_drop(sample_book: Path, folder: Path) -> Path:
    """The sample with one LDPERSON row given an extra field (its control file kept consistent)."""
    drop = folder / "ragged-drop"
    drop.mkdir()
    for f in sample_book.iterdir():
        (drop / f.name).write_bytes(f.read_bytes())
    lines = (drop / "LDPERSON.csv").read_text(encoding="utf-8").split("\n")
    lines[3] += "," + lines[3].split(",")[2]
    (drop / "LDPERSON.csv").write_text("\n".join(lines), encoding="utf-8")
    digest = hashlib.sha256((drop / "LDPERSON.csv").read_bytes()).hexdigest()
    control = [f"{r.split('|')[0]}|{r.split('|')[1]}|{digest}" if r.startswith("LDPERSON.csv|") else r
               for r in (drop / "CONTROL.txt").read_text().split()]
    (drop / "CONTROL.txt").write_text("\n".join(control) + "\n")
    return drop


@pytest.fixture(scope="module")
def runs(leak_env, sample_book, tmp_path_factory):
    """A transfer that succeeds and one that fails at extract on a malformed row."""
    folder = tmp_path_factory.mktemp("leak-runs")
    ok = _dags_test(leak_env, {"transfer_id": "leak", "source": str(sample_book),
                               "target": f"sqlite:///{folder / 'buyer.db'}"})
    bad = _dags_test(leak_env, {"transfer_id": "leak-bad", "source": str(_ragged_drop(sample_book, folder)),
                                "target": f"sqlite:///{folder / 'bad.db'}"})
    return ok, bad


def _corpus(env: dict[str, str], runs) -> dict[str, bytes]:
    """Everything a run leaves outside the drop and the buyer's database, by name."""
    home = Path(env["AIRFLOW_HOME"])
    corpus = {f"output of run {i}": (r.stdout + r.stderr).encode() for i, r in enumerate(runs)}
    for folder in (home / "logs", Path(env["BOOKTRANSFER_STAGING"]), Path(env["BOOKTRANSFER_REPORTS"])):
        corpus |= {str(p.relative_to(home)): p.read_bytes() for p in _files(folder)}
    with sqlite3.connect(home / "airflow.db") as db:
        xcoms = db.execute("SELECT task_id, key, value FROM xcom").fetchall()
    corpus |= {f"xcom {t}.{k}": (v if isinstance(v, bytes) else str(v).encode()) for t, k, v in xcoms}
    corpus["metadata DB"] = (home / "airflow.db").read_bytes()
    return corpus


def test_scanner_finds_what_it_looks_for(sample_book):
    """The scanner finds every value in the seller's own file, and behind JSON escapes (so zero hits mean zero)."""
    values = personal_values(sample_book)
    scanner = Scanner(values)
    names = sorted(v for v in values if not re.fullmatch(r"[0-9Xx]+", v))[:50]

    assert len(values) > 1000
    raw = (sample_book / "LDPERSON.csv").read_bytes()
    found = {canonical(v) for v in scanner.hits(raw)}
    assert {canonical(v) for v in values if v in raw.decode()} <= found
    assert set(names) <= scanner.hits(json.dumps(names).encode())
    assert scanner.hits(json.dumps(["电话 " + sorted(scanner.digits)[0]]).encode()) == {sorted(scanner.digits)[0]}


def test_runs_end_as_expected(runs):
    """The sample transfers; the malformed drop stops at extract, naming the file and the reason."""
    ok, bad = runs
    assert ok.returncode == 0, ok.stdout[-3000:] + ok.stderr[-3000:]
    assert "[DAG TEST] end task task_id=reconcile" in ok.stdout + ok.stderr
    assert "stage protect done" in ok.stdout + ok.stderr, "task log lines must be in the scanned output"
    assert bad.returncode != 0
    assert "LDPERSON.csv: cannot be parsed" in bad.stdout + bad.stderr


def test_keyring_came_from_the_airflow_connection(runs, leak_env):
    """Every stage logged the connection as its keyring's origin (the local key file does not exist)."""
    home = Path(leak_env["AIRFLOW_HOME"])
    text = "".join(r.stdout + r.stderr for r in runs) + "".join(
        p.read_text(errors="replace") for p in _files(home / "logs"))

    assert "keyring from Airflow connection booktransfer_keyring" in text
    assert "no-such-keyring.json" not in text


def test_no_clear_personal_value_or_key_anywhere(runs, leak_env, sample_book, keyring_doc):
    """Task logs, run output, XCom, the metadata DB, staged files and reports: no name, ID number, mobile or
    address of the sample and no key material."""
    corpus = _corpus(leak_env, runs)
    scanner = Scanner(personal_values(sample_book))
    keys = _key_material(keyring_doc)

    leaks = {name: sorted(scanner.hits(data))[:3] for name, data in corpus.items()}
    key_leaks = {name: len([k for k in keys if k.encode() in data]) for name, data in corpus.items()}

    assert any(name.startswith("staging") for name in corpus) and any("xcom" in n for n in corpus)
    assert {n: h for n, h in leaks.items() if h} == {}
    assert {n: k for n, k in key_leaks.items() if k} == {}


def test_every_staged_parquet_is_encrypted(runs, leak_env):
    """Both runs' staged Parquet files (raw, mapped, valid, protected, rejects) are encrypted at rest."""
    staged = [p for p in _files(Path(leak_env["BOOKTRANSFER_STAGING"])) if p.suffix == ".parquet"]

    assert len(staged) >= 16
    assert [str(p) for p in staged if not is_encrypted(p)] == []
