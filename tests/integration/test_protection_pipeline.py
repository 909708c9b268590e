"""Protection through the whole pipeline, into SQLite and the real PostgreSQL: encrypted staging, landed files
removed, fingerprints that re-compute from the buyer's tables, `booktransfer decrypt`, rotation, tampering."""

from __future__ import annotations

import base64
import csv
import json
import stat
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from booktransfer import pipeline
from booktransfer.cli import main
from booktransfer.errors import AuthenticationFailed, ChecksumMismatch
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.load.target import engine_for
from booktransfer.mapping.loader import load_mapping_set
from booktransfer.protect.decrypt import verify_fingerprints
from booktransfer.protect.keyring import load_keyring, read_keyring_document, rotate_document, save_keyring_document
from booktransfer.protect.staging import is_encrypted

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ENTITIES = ("customers", "policies", "policy_parties", "consents")


def run_all(drop: Path, target: str, tmp_path: Path, transfer_id: str = "t-p",
            run_id: str = "r-1") -> pipeline.RunContext:
    ctx = pipeline.RunContext(transfer_id=transfer_id, run_id=run_id, mapping_set="example_seller",
                              target_url=target, staging_root=tmp_path / "staging", reports_root=tmp_path / "reports")
    pipeline.run_extract(ctx, LocalFolderSource(drop))
    for stage in ("map", "validate", "protect", "load", "reconcile"):
        getattr(pipeline, f"run_{stage}")(ctx)
    return ctx


def source_names(drop: Path) -> dict[int, str]:
    """Each LDPERSON line's name as the seller wrote it (separator variants unified as the mapping does)."""
    with (drop / "LDPERSON.csv").open(encoding="utf-8", newline="") as fh:
        return {i + 2: row["Name"].strip().replace("•", "·") for i, row in enumerate(csv.DictReader(fh))}


def fetch(url: str, query: str, **params) -> list[tuple]:
    engine = engine_for(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(query), params)]
    finally:
        engine.dispose()


def execute(url: str, query: str, **params) -> None:
    engine = engine_for(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(query), params)
    finally:
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_run(request, sample_book, tmp_path_factory):
    """One whole transfer of the sample book per target, shared by the tests that only read it."""
    import uuid

    import psycopg

    from booktransfer.protect.keyring import write_keyring
    from tests.integration.conftest import PG_URL

    folder = tmp_path_factory.mktemp(f"shared-{request.param}")
    keys = write_keyring(folder / "keyring.json")
    schema = None
    if request.param == "sqlite":
        target = f"sqlite:///{folder / 'buyer.db'}"
    else:
        schema = f"bt_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        target = f"{PG_URL}?options=-csearch_path%3D{schema}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOOKTRANSFER_KEYRING", str(keys))
        patch.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
        ctx = run_all(sample_book, target, folder)
    yield ctx, keys
    if schema:
        with psycopg.connect(PG_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture()
def transferred(shared_run, monkeypatch):
    """The shared transfer, with its keyring as this test's local keyring (read-only tests)."""
    ctx, keys = shared_run
    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(keys))
    monkeypatch.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
    return ctx


@pytest.fixture(params=["sqlite", "postgresql"])
def own_run(request, sample_book, keyring, tmp_path):
    """A transfer of this test's own, which it may tamper with."""
    target = f"sqlite:///{tmp_path / 'buyer.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    return run_all(sample_book, target, tmp_path)


def test_every_staged_parquet_is_encrypted_and_landing_is_empty(transferred):
    """raw, mapped, valid, protected and rejects: encrypted Parquet, unreadable without the keyring; landed
    source files were removed once staged."""
    staged = sorted(transferred.run_dir.rglob("*.parquet"))
    stages = {p.parent.name for p in staged}

    assert {"raw", "mapped", "valid", "protected", "rejects"} <= stages
    assert [p for p in staged if not is_encrypted(p)] == []
    for path in staged:
        with pytest.raises(OSError):
            pq.read_table(path)
    assert transferred.read_staged(transferred.stage_path("raw", "customers")).num_rows > 0
    assert list((transferred.run_dir / "landing").iterdir()) == []


def test_landed_files_are_removed_when_extract_fails(sample_book, keyring, tmp_path):
    """A file that fails its checksum stops extract, and no landed copy of any file stays on the worker."""
    drop = tmp_path / "drop"
    drop.mkdir()
    for f in sample_book.iterdir():
        (drop / f.name).write_bytes(f.read_bytes())
    data = bytearray((drop / "LCPARTY.csv").read_bytes())
    data[-2] = ord("7") if data[-2] != ord("7") else ord("8")
    (drop / "LCPARTY.csv").write_bytes(bytes(data))
    ctx = pipeline.RunContext("t-bad", "r-1", "example_seller", "sqlite://", staging_root=tmp_path / "staging")

    with pytest.raises(ChecksumMismatch):
        pipeline.run_extract(ctx, LocalFolderSource(drop))
    assert list((ctx.run_dir / "landing").iterdir()) == []


def test_fingerprints_recompute_from_the_buyer_tables(transferred):
    """Every loaded row's stored fingerprint equals the one re-computed from the decrypted buyer row."""
    mapping = load_mapping_set(ROOT / "mappings" / "example_seller")
    engine = engine_for(transferred.target_url)
    try:
        checks = {e: verify_fingerprints(engine, load_keyring(), mapping.entities[e], "t-p") for e in ENTITIES}
    finally:
        engine.dispose()

    assert all(c["rows"] > 0 and c["mismatched"] == 0 and c["fingerprints_match"] == c["rows"]
               for c in checks.values()), checks


def test_swapped_ciphertexts_show_up_as_fingerprint_mismatches(own_run):
    """Two customers' name ciphertexts swapped in the target still decrypt, but both rows now fail their
    fingerprints, named by source line."""
    url = own_run.target_url
    (a_line, a_name), (b_line, b_name) = fetch(url, "SELECT source_line, name FROM customers "
                                                    "WHERE transfer_id = 't-p' ORDER BY source_line LIMIT 2")
    execute(url, "UPDATE customers SET name = :n WHERE transfer_id = 't-p' AND source_line = :l", n=b_name, l=a_line)
    execute(url, "UPDATE customers SET name = :n WHERE transfer_id = 't-p' AND source_line = :l", n=a_name, l=b_line)
    mapping = load_mapping_set(ROOT / "mappings" / "example_seller").entities["customers"]
    engine = engine_for(url)
    try:
        check = verify_fingerprints(engine, load_keyring(), mapping, "t-p")
    finally:
        engine.dispose()

    assert check["mismatched_source_lines"] == [a_line, b_line]


def test_decrypt_cli_writes_the_sellers_names(transferred, sample_book, tmp_path, capsys):
    """`booktransfer decrypt` gives the key holder exactly the seller's names by source line (file mode 600)."""
    out = tmp_path / "names.csv"

    code = main(["decrypt", "--target", transferred.target_url, "--transfer-id", "t-p", "--table", "customers",
                 "--columns", "name,mobile", "--out", str(out)])

    assert code == 0 and stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["customer_no", "source_line", "name", "mobile"]
    names = source_names(sample_book)
    assert rows and all(r["name"] == names[int(r["source_line"])] for r in rows)
    assert all(r["mobile"] == "" or (len(r["mobile"]) == 11 and r["mobile"].isdigit()) for r in rows)
    assert "names.csv" in capsys.readouterr().err


def test_decrypt_cli_verify_reports_counts_only(transferred, sample_book, capsys):
    """--verify decrypts and authenticates everything and checks fingerprints, printing no value."""
    code = main(["decrypt", "--target", transferred.target_url, "--transfer-id", "t-p", "--table", "customers",
                 "--verify"])

    printed = capsys.readouterr().out
    assert code == 0 and "name, mobile, address decrypted and authenticated" in printed
    assert "row fingerprints:" in printed and "mismatched source lines: none" in printed
    assert not [n for n in source_names(sample_book).values() if n in printed]


def test_decrypt_cli_fails_closed_on_a_tampered_ciphertext(own_run, tmp_path, capsys):
    """One altered character in one stored ciphertext: decrypt stops, names table, column and source line,
    shows no value and writes no file."""
    url = own_run.target_url
    line, address = fetch(url, "SELECT source_line, address FROM customers WHERE transfer_id = 't-p' "
                               "AND address IS NOT NULL ORDER BY source_line LIMIT 1")[0]
    body = address.rsplit(":", 1)[1]
    flipped = address[: -len(body)] + ("A" if body[5] != "A" else "B").join([body[:5], body[6:]])
    execute(url, "UPDATE customers SET address = :a WHERE transfer_id = 't-p' AND source_line = :l",
            a=flipped, l=line)
    out = tmp_path / "out.csv"

    code = main(["decrypt", "--target", url, "--transfer-id", "t-p", "--table", "customers", "--out", str(out)])

    err = capsys.readouterr().err
    assert code == 2 and not out.exists()
    assert f"table customers, source line {line}: column address: ciphertext failed authentication" in err


def test_decrypt_with_another_keyring_fails_closed(transferred, tmp_path, monkeypatch, capsys):
    """A keyring that does not hold the ciphertexts' key ids decrypts nothing and names the unknown key id."""
    from booktransfer.protect.keyring import write_keyring

    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(write_keyring(tmp_path / "other.json")))

    code = main(["decrypt", "--target", transferred.target_url, "--transfer-id", "t-p", "--table", "customers"])

    assert code == 2 and "unknown" in capsys.readouterr().err


def test_rotation_between_runs(sample_book, keyring, tmp_path):
    """After `keys rotate`, a new run encrypts with the new keys; the old run's rows and staged files still
    decrypt, and both runs' fingerprints hold."""
    target = f"sqlite:///{tmp_path / 'buyer.db'}"
    first = run_all(sample_book, target, tmp_path, transfer_id="t-old")
    before = load_keyring()
    assert main(["keys", "rotate", "--path", str(keyring)]) == 0
    after = load_keyring()
    second = run_all(sample_book, target, tmp_path, transfer_id="t-new")

    kids = {t: {r[0].split(":")[1] for r in fetch(target, "SELECT name FROM customers WHERE transfer_id = :t", t=t)}
            for t in ("t-old", "t-new")}
    assert kids == {"t-old": {before.active_kid}, "t-new": {after.active_kid}} and before.active_kid != after.active_kid
    mapping = load_mapping_set(ROOT / "mappings" / "example_seller").entities["customers"]
    engine = engine_for(target)
    try:
        assert [verify_fingerprints(engine, after, mapping, t)["mismatched"] for t in ("t-old", "t-new")] == [0, 0]
    finally:
        engine.dispose()
    assert first.read_staged(first.stage_path("valid", "customers")).num_rows > 0
    assert second.read_staged(second.stage_path("valid", "customers")).num_rows > 0


def test_staged_file_tampered_between_stages_stops_the_run(sample_book, keyring, tmp_path):
    """A staged file changed between two stages is refused by the next stage, naming the file."""
    ctx = pipeline.RunContext("t-tamper", "r-1", "example_seller", "sqlite://", staging_root=tmp_path / "staging")
    pipeline.run_extract(ctx, LocalFolderSource(sample_book))
    path = ctx.stage_path("raw", "customers")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(AuthenticationFailed, match="raw/customers.parquet"):
        pipeline.run_map(ctx)


def test_legacy_keyring_is_completed_by_keys_init(tmp_path, capsys):
    """`keys init --if-missing` on a format-1 keyring adds the missing key purposes and keeps the old keys."""
    path = tmp_path / "keyring.json"
    main(["keys", "init", "--path", str(path)])
    doc = read_keyring_document(path)
    legacy = {"format": "booktransfer-keyring/1", "token": doc["token"], "encryption": doc["encryption"]}
    save_keyring_document(path, legacy)

    assert main(["keys", "init", "--path", str(path), "--if-missing"]) == 0

    upgraded = read_keyring_document(path)
    assert upgraded["token"] == legacy["token"] and upgraded["encryption"] == legacy["encryption"]
    assert {"audit", "deterministic", "staging"} <= set(upgraded)
    assert "added audit, deterministic, staging keys" in capsys.readouterr().out


def test_keys_rotate_stdout_leaves_the_file_alone(tmp_path, monkeypatch, capsys):
    """`keys rotate --stdout` prints a rotated document for a secrets backend; the source is unchanged."""
    path = tmp_path / "keyring.json"
    main(["keys", "init", "--path", str(path)])
    before = path.read_bytes()
    monkeypatch.setenv("BOOKTRANSFER_KEYRING_JSON", before.decode())
    capsys.readouterr()

    assert main(["keys", "rotate", "--stdout"]) == 0

    rotated = json.loads(capsys.readouterr().out)
    assert path.read_bytes() == before
    old = json.loads(before)
    assert rotated["encryption"]["active"] != old["encryption"]["active"]
    assert old["encryption"]["keys"].items() <= rotated["encryption"]["keys"].items()
    assert rotate_document(rotated)[0]["token"] == old["token"]


def test_protect_report_names_keys_and_finds_no_identifier_in_the_samples_clear_fields(transferred):
    """protect.json records key ids (no key), the as-of date and per-column work; the sample's keep fields
    (customer, policy and evidence numbers, codes) hold no ID number, mobile, card or credit code."""
    doc = json.loads((transferred.run_dir / "protect.json").read_text(encoding="utf-8"))
    report = json.loads((transferred.report_dir / "reconciliation.json").read_text(encoding="utf-8"))
    ring = load_keyring()

    assert doc["key_ids"] == ring.key_ids and doc["identifier_findings"] == []
    assert doc["entities"]["customers"]["columns"]["mobile"]["scheme"].startswith("aes-siv:")
    assert doc["entities"]["customers"]["columns"]["id_number"]["namespace"] == "cn_id_number"
    assert report["identifier_findings"] == [] and report["key_ids"] == ring.key_ids
    text = json.dumps(doc)
    assert not [k for k in ring.encryption_keys.values() if base64.b64encode(k).decode() in text]
