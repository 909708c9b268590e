"""The SFTP drop against a real OpenSSH sshd: pinned host key, resumed downloads, integrity, encodings."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import logging
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from booktransfer import pipeline
from booktransfer.errors import (
    ChecksumMismatch,
    ControlFileError,
    HostKeyMismatch,
    SourceFormatError,
    SourceUnavailable,
)
from booktransfer.extract.drop import extract_drop
from booktransfer.extract.security_events import EVENTS_FILE, read_events
from booktransfer.extract.sftp_source import SftpSource
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.mapping.loader import MappingSet, load_mapping_set
from booktransfer.mapping.model import DropSpec
from tests.integration.sshd import write_ed25519_pair

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
ENTITIES = ("customers", "policies", "policy_parties", "consents")
R36_FIELDS = ("event_type", "transfer_id", "run_id", "file", "detected_at", "cause", "pi_categories",
              "possible_harm", "remedial_measures", "individual_measures", "contact", "report_deadline",
              "gdpr_report_deadline")


def example_set(encoding: str = "utf-8") -> MappingSet:
    """The example mapping set, declaring the drop's encoding as given."""
    mapping = load_mapping_set(ROOT / "mappings" / "example_seller")
    drop = DropSpec(**{**mapping.spec.drop.model_dump(), "encoding": encoding})
    return dataclasses.replace(mapping, spec=mapping.spec.model_copy(update={"drop": drop}))


def copy_drop(src: Path, dest: Path) -> Path:
    """Put a drop's files into a folder (the sshd serves it: this is the seller uploading)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        shutil.copyfile(f, dest / f.name)
    return dest


def rewrite_control(drop: Path) -> None:
    """Re-declare every file's SHA-256 (row counts kept), as a seller does after re-exporting a file."""
    control = drop / "CONTROL.txt"
    lines = []
    for line in control.read_text(encoding="ascii").split():
        name, rows, _ = line.split("|")
        lines.append(f"{name}|{rows}|{hashlib.sha256((drop / name).read_bytes()).hexdigest()}")
    control.write_text("\n".join(lines) + "\n", encoding="ascii")


def read_rows(path: Path, encoding: str) -> list[list[str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.reader(fh))


def write_rows(path: Path, rows: list[list[str]], encoding: str, newline: str = "\n", bom: bool = False) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buf.getvalue().encode(encoding))


def clear_values(drop: Path, encoding: str = "utf-8") -> set[str]:
    """Every ID number, name, mobile and address in the drop, as the seller wrote them."""
    with (drop / "LDPERSON.csv").open(encoding=encoding, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r[c].strip() for r in rows for c in ("IDNo", "Name", "Mobile", "PostalAddress") if r[c].strip()}


def extract_both(sshd, remote: Path, mapping: MappingSet, tmp_path: Path) -> tuple[list, list]:
    """Extract the same drop over SFTP and from the local folder; return both staged lists."""
    with SftpSource(sshd.settings(remote)) as source:
        over_sftp = extract_drop(source, mapping, tmp_path / "sftp" / "landing", tmp_path / "sftp" / "raw")
    local = extract_drop(LocalFolderSource(remote), mapping, tmp_path / "local" / "landing",
                         tmp_path / "local" / "raw")
    assert list((tmp_path / "sftp" / "landing").iterdir()) == []
    return over_sftp, local


def assert_same_tables(over_sftp: list, local: list) -> None:
    assert [(s.entity, s.rows, s.sha256) for s in over_sftp] == [(s.entity, s.rows, s.sha256) for s in local]
    for a, b in zip(over_sftp, local, strict=True):
        assert pq.read_table(a.path).equals(pq.read_table(b.path)), a.entity


def run_context(tmp_path: Path, run_id: str = "r-1") -> pipeline.RunContext:
    return pipeline.RunContext(transfer_id="t-sftp", run_id=run_id, mapping_set="example_seller",
                               target_url=f"sqlite:///{tmp_path / 'buyer.db'}", staging_root=tmp_path / "staging",
                               reports_root=tmp_path / "reports")


@pytest.fixture(scope="module")
def small_book(tmp_path_factory) -> Path:
    """A clean 40-customer book in UTF-8, to derive encoding variants from."""
    from booktransfer.sample.generator import generate_book

    out = tmp_path_factory.mktemp("small") / "drop"
    generate_book(out, customers=40, seed=5)
    return out


def test_sample_book_over_sftp_stages_what_the_local_folder_does(sshd, sftp_drop, sample_book, keyring, tmp_path):
    """The sample book extracted over SFTP stages the same tables as from a local folder; nothing is left over."""
    copy_drop(sample_book, sftp_drop)
    ctx = run_context(tmp_path)
    with SftpSource(sshd.settings(sftp_drop)) as source:
        assert source.list_files() == sorted(p.name for p in sample_book.iterdir())
        assert source.exists("CONTROL.txt") and not source.exists("MISSING.csv")
        result = pipeline.run_extract(ctx, source)
    control = {line.split("|")[0]: int(line.split("|")[1])
               for line in (sample_book / "CONTROL.txt").read_text().split()}
    assert sum(result["rows"].values()) == sum(control.values())
    local = extract_drop(LocalFolderSource(sample_book), load_mapping_set(ROOT / "mappings" / "example_seller"),
                         tmp_path / "local" / "landing", tmp_path / "local" / "raw")
    for staged in local:
        assert ctx.read_staged(ctx.stage_path("raw", staged.entity)).equals(pq.read_table(staged.path))
    assert list((ctx.run_dir / "landing").iterdir()) == []
    assert not (ctx.run_dir / EVENTS_FILE).exists()


def test_changed_host_key_is_refused_before_login(sshd, sftp_drop, sample_book, tmp_path):
    """A server presenting another host key than the pinned one is refused: no login, nothing downloaded,
    and the run records a host_key_mismatch security event."""
    copy_drop(sample_book, sftp_drop)
    other = write_ed25519_pair(tmp_path / "other_host_key", "someone-else")
    logins_before = sshd.log_file.read_text().count("Accepted publickey")
    settings = sshd.settings(sftp_drop, host_key=other, attempts=3)
    with pytest.raises(HostKeyMismatch, match="is not the pinned key") as err, SftpSource(settings) as source:
        source.fetch("LDPERSON.csv", tmp_path / "landing")
    assert "SHA256:" in str(err.value)
    assert not (tmp_path / "landing").exists() or list((tmp_path / "landing").iterdir()) == []

    ctx = run_context(tmp_path)
    with pytest.raises(HostKeyMismatch), SftpSource(settings) as source:
        pipeline.run_extract(ctx, source)
    assert list((ctx.run_dir / "landing").iterdir()) == []
    assert sshd.log_file.read_text().count("Accepted publickey") == logins_before
    [event] = read_events(ctx.run_dir / EVENTS_FILE)
    assert event["event_type"] == "host_key_mismatch" and event["file"] == "CONTROL.txt"


def test_transfer_cut_mid_file_resumes_to_a_byte_correct_file(sshd, sftp_drop, tmp_path, caplog):
    """Killing the sshd session serving a multi-MB download makes the source reconnect and resume from the
    partial file's size; the landed file is byte-identical."""
    payload = os.urandom(8 * 1024 * 1024)
    (sftp_drop / "BIG.csv").write_bytes(payload)
    killed: list[int] = []
    seen: list[int] = []

    def cut_once(name: str, done: int, size: int) -> None:
        seen.append(done)
        if not killed:
            killed.extend(sshd.kill_sessions())

    with caplog.at_level(logging.INFO, logger="booktransfer.extract.sftp_source"), \
            SftpSource(sshd.settings(sftp_drop), progress=cut_once) as source:
        landed = source.fetch("BIG.csv", tmp_path / "landing")
    assert killed, "the test must have cut a live session"
    assert hashlib.sha256(landed.read_bytes()).digest() == hashlib.sha256(payload).digest()
    assert sorted(p.name for p in landed.parent.iterdir()) == ["BIG.csv"]
    resumed = [r.getMessage() for r in caplog.records if "resuming the download" in r.getMessage()]
    assert len(resumed) == 1, caplog.text
    offset = int(resumed[0].split(" at byte ")[1].split()[0])
    assert 0 < offset < len(payload)
    assert seen[-1] == len(payload)


def test_a_transfer_that_keeps_breaking_fails_and_leaves_no_partial_file(sshd, sftp_drop, tmp_path):
    """When every attempt is cut, fetch gives up naming the file, and no partial clear copy stays behind."""
    (sftp_drop / "BIG.csv").write_bytes(os.urandom(8 * 1024 * 1024))

    def cut_always(name: str, done: int, size: int) -> None:
        sshd.kill_sessions()

    with pytest.raises(SourceUnavailable, match=r"BIG\.csv: .* failed after 2 attempt"), \
            SftpSource(sshd.settings(sftp_drop, attempts=2), progress=cut_always) as source:
        source.fetch("BIG.csv", tmp_path / "landing")
    assert list((tmp_path / "landing").iterdir()) == []


def test_file_altered_after_the_control_file_fails_closed_with_a_security_event(sshd, sftp_drop, sample_book,
                                                                                keyring, tmp_path):
    """One changed byte on the server: extract stops naming the file, stages nothing of it, keeps no landed
    copy, and writes one R36 incident record that names the file and holds no personal data."""
    copy_drop(sample_book, sftp_drop)
    data = bytearray((sftp_drop / "LCCONT.csv").read_bytes())
    data[-3] = ord("7") if data[-3] != ord("7") else ord("8")
    (sftp_drop / "LCCONT.csv").write_bytes(bytes(data))
    ctx = run_context(tmp_path)
    with pytest.raises(ChecksumMismatch, match=r"LCCONT\.csv: SHA-256 does not match"), \
            SftpSource(sshd.settings(sftp_drop)) as source:
        pipeline.run_extract(ctx, source)
    assert not ctx.stage_path("raw", "policies").exists()
    assert list((ctx.run_dir / "landing").iterdir()) == []

    lines = (ctx.run_dir / EVENTS_FILE).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    event = json.loads(lines[0])
    assert event["event_type"] == "checksum_mismatch" and event["file"] == "LCCONT.csv"
    assert all(event[f] for f in R36_FIELDS), event
    detected = datetime.fromisoformat(event["detected_at"])
    assert datetime.fromisoformat(event["report_deadline"]) - detected == timedelta(hours=4)
    assert datetime.fromisoformat(event["gdpr_report_deadline"]) - detected == timedelta(hours=72)
    assert (event["transfer_id"], event["run_id"]) == ("t-sftp", "r-1")
    assert "LCCONT.csv" in event["cause"]
    leaked = [v for v in clear_values(sample_book) if v in lines[0]]
    assert leaked == []


def test_gb18030_file_with_characters_outside_gbk_arrives_intact(sshd, sftp_drop, tmp_path):
    """A GB18030 drop whose names hold 䶮 and 𪚥 (not in GBK) lands and stages them unchanged."""
    from booktransfer.sample.generator import generate_book

    generate_book(sftp_drop, customers=30, seed=8, encoding="gb18030")
    rows = read_rows(sftp_drop / "LDPERSON.csv", "gb18030")
    name = rows[0].index("Name")
    rows[1][name], rows[2][name] = "李䶮", "王𪚥龙"
    write_rows(sftp_drop / "LDPERSON.csv", rows, "gb18030")
    rewrite_control(sftp_drop)
    assert "李䶮".encode("gb18030") in (sftp_drop / "LDPERSON.csv").read_bytes()
    with pytest.raises(UnicodeEncodeError):
        "䶮".encode("gbk")

    over_sftp, local = extract_both(sshd, sftp_drop, example_set("gb18030"), tmp_path)
    assert_same_tables(over_sftp, local)
    names = pq.read_table(over_sftp[0].path).column("Name").to_pylist()
    assert names[:2] == ["李䶮", "王𪚥龙"]


def test_gb18030_file_with_an_invalid_byte_fails_naming_the_byte_offset(sshd, sftp_drop, tmp_path):
    """A byte that is not GB18030 stops the run naming the file and the byte offset — never replaced."""
    from booktransfer.sample.generator import generate_book

    generate_book(sftp_drop, customers=10, seed=9, encoding="gb18030")
    data = (sftp_drop / "LDPERSON.csv").read_bytes()
    offset = data.index(b"\n") + 5
    (sftp_drop / "LDPERSON.csv").write_bytes(data[:offset] + b"\xff" + data[offset + 1:])
    rewrite_control(sftp_drop)
    with pytest.raises(SourceFormatError, match=rf"LDPERSON\.csv: not valid gb18030 at byte offset {offset};"), \
            SftpSource(sshd.settings(sftp_drop)) as source:
        extract_drop(source, example_set("gb18030"), tmp_path / "landing", tmp_path / "raw")
    assert list((tmp_path / "landing").iterdir()) == []


def _bom(rows: list[list[str]], path: Path) -> None:
    write_rows(path, rows, "utf-8", bom=True)


def _crlf(rows: list[list[str]], path: Path) -> None:
    write_rows(path, rows, "utf-8", newline="\r\n")


def _quoted_newline(rows: list[list[str]], path: Path) -> None:
    address = rows[0].index("PostalAddress")
    rows[2][address] = rows[2][address] + "\n3号楼\n2单元"
    write_rows(path, rows, "utf-8")


@pytest.mark.parametrize("variant", [_bom, _crlf, _quoted_newline], ids=["utf8-bom", "crlf", "quoted-newline"])
def test_utf8_variants_over_sftp_stage_like_the_local_folder(sshd, sftp_drop, small_book, tmp_path, variant):
    """A BOM, CRLF line ends and a newline inside a quoted value come through SFTP as they do locally."""
    copy_drop(small_book, sftp_drop)
    rows = read_rows(sftp_drop / "LDPERSON.csv", "utf-8")
    variant(rows, sftp_drop / "LDPERSON.csv")
    rewrite_control(sftp_drop)

    over_sftp, local = extract_both(sshd, sftp_drop, example_set(), tmp_path)
    assert_same_tables(over_sftp, local)
    table = pq.read_table(over_sftp[0].path)
    assert table.column_names[0] == "CustomerNo"
    assert table.num_rows == len(rows) - 1
    assert table.column("CustomerNo").to_pylist() == [r[0] for r in rows[1:]]
    assert table.column("PostalAddress").to_pylist() == [r[rows[0].index("PostalAddress")] for r in rows[1:]]
    if variant is _quoted_newline:
        assert table.column("_line").to_pylist()[:4] == [2, 3, 6, 7]


def test_path_components_are_refused(sshd, sftp_drop, small_book, tmp_path):
    """`../` in the control file stops the run (and is recorded); fetch refuses such a name before connecting."""
    copy_drop(small_book, sftp_drop)
    control = sftp_drop / "CONTROL.txt"
    first = control.read_text(encoding="ascii").split()[0]
    control.write_text(f"../{first}\n" + control.read_text(encoding="ascii"), encoding="ascii")
    ctx = run_context(tmp_path)
    with pytest.raises(ControlFileError, match=r"CONTROL\.txt:1: file name with a path component is refused"), \
            SftpSource(sshd.settings(sftp_drop)) as source:
        pipeline.run_extract(ctx, source)
    [event] = read_events(ctx.run_dir / EVENTS_FILE)
    assert event["event_type"] == "control_file_mismatch" and event["file"] == "CONTROL.txt"

    connections = sshd.log_file.read_text().count("Connection from")
    with SftpSource(sshd.settings(sftp_drop)) as source:
        for name in ("../CONTROL.txt", "a/b.csv", ".."):
            with pytest.raises(SourceFormatError, match="path components are not allowed"):
                source.fetch(name, tmp_path / "landing")
    assert sshd.log_file.read_text().count("Connection from") == connections, "refused before connecting"


def test_missing_file_is_named(sshd, sftp_drop, small_book, tmp_path):
    """A file the control file lists but the server lacks stops the run, as for a local folder."""
    copy_drop(small_book, sftp_drop)
    (sftp_drop / "LCPARTY.csv").unlink()
    with pytest.raises(SourceFormatError, match=r"LCPARTY\.csv: listed in the control file but not in the drop"), \
            SftpSource(sshd.settings(sftp_drop)) as source:
        extract_drop(source, example_set(), tmp_path / "landing", tmp_path / "raw")
