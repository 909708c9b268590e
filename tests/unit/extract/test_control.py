"""booktransfer.extract.control: the control file, strict encoding checks and file hashes."""

from __future__ import annotations

import hashlib

import pytest

from booktransfer.errors import ControlFileError, SourceFormatError
from booktransfer.extract.control import (
    _CHUNK,
    ControlEntry,
    hash_and_check_encoding,
    parse_control,
    verify_file,
)

SHA = "ab" * 32


def _control(tmp_path, text):
    path = tmp_path / "CONTROL.txt"
    path.write_text(text, encoding="utf-8")
    return path


def test_parse_control_reads_entries(tmp_path):
    """Each `file|rows|sha256` line becomes an entry; blank lines are skipped and the digest lower-cased."""
    path = _control(tmp_path, f"A.csv|3|{SHA.upper()}\n\nB.csv|0|{SHA}\n")

    entries = parse_control(path)

    assert entries == {"A.csv": ControlEntry("A.csv", 3, SHA), "B.csv": ControlEntry("B.csv", 0, SHA)}


@pytest.mark.parametrize("bad", ["A.csv|3", "A.csv|x|" + SHA, "A.csv|3|abc", "A.csv|-1|" + SHA,
                                 f"A.csv|3|{SHA}|extra"])
def test_parse_control_malformed_line_names_line(tmp_path, bad):
    """A malformed line stops parsing with file name and line number."""
    path = _control(tmp_path, f"B.csv|1|{SHA}\n{bad}\n")

    with pytest.raises(ControlFileError, match=r"CONTROL\.txt:2: expected 'file\|rows\|sha256'"):
        parse_control(path)


def test_parse_control_duplicate_names_line(tmp_path):
    """A file listed twice is refused, naming the second line."""
    path = _control(tmp_path, f"A.csv|1|{SHA}\nA.csv|1|{SHA}\n")

    with pytest.raises(ControlFileError, match=r"CONTROL\.txt:2: A\.csv listed twice"):
        parse_control(path)


@pytest.mark.parametrize("name", ["../A.csv", "sub/A.csv", "sub\\A.csv", ".."])
def test_parse_control_path_component_names_line(tmp_path, name):
    """A file name with a path component is refused, naming the line."""
    path = _control(tmp_path, f"{name}|1|{SHA}\n")

    with pytest.raises(ControlFileError, match=r"CONTROL\.txt:1: file name with a path component"):
        parse_control(path)


def test_parse_control_superscript_digit_is_malformed(tmp_path):
    """A row count that str.isdigit() accepts but int() does not is reported as a malformed line."""
    path = _control(tmp_path, f"A.csv|\u00b2|{SHA}\n")

    with pytest.raises(ControlFileError, match=r"CONTROL\.txt:1"):
        parse_control(path)


def test_hash_matches_hashlib(tmp_path):
    """The returned digest is the SHA-256 of the file's bytes."""
    data = "编号,名称\n1,测试\n".encode("gb18030")
    path = tmp_path / "f.csv"
    path.write_bytes(data)

    assert hash_and_check_encoding(path, "gb18030") == hashlib.sha256(data).hexdigest()


def test_bad_gb18030_byte_offset(tmp_path):
    """An invalid GB18030 byte is reported at its exact byte offset."""
    good = "编号,名称\n1,测试䶮\n".encode("gb18030")
    path = tmp_path / "f.csv"
    path.write_bytes(good + b"\xff" + b"tail\n")

    with pytest.raises(SourceFormatError, match=rf"f\.csv: not valid gb18030 at byte offset {len(good)};"):
        hash_and_check_encoding(path, "gb18030")


def test_bad_utf8_byte_offset(tmp_path):
    """An invalid UTF-8 byte is reported at its exact byte offset."""
    good = "a,测试\n".encode()
    path = tmp_path / "f.csv"
    path.write_bytes(good + b"\xc3\x28")

    with pytest.raises(SourceFormatError, match=rf"at byte offset {len(good)};"):
        hash_and_check_encoding(path, "utf-8")


def test_truncated_sequence_at_end(tmp_path):
    """A multi-byte sequence cut off at the end of the file is reported as truncated."""
    path = tmp_path / "f.csv"
    path.write_bytes("测".encode()[:2])

    with pytest.raises(SourceFormatError, match="truncated utf-8 sequence"):
        hash_and_check_encoding(path, "utf-8")


def test_bad_byte_offset_after_char_straddling_chunk(tmp_path):
    """The offset stays exact when a multi-byte character spans the read-chunk boundary before the bad byte."""
    good = b"a" * (_CHUNK - 1) + "测".encode("gb18030")
    path = tmp_path / "big.csv"
    path.write_bytes(good + b"\xff" + b"tail")

    with pytest.raises(SourceFormatError, match=rf"at byte offset {len(good)};"):
        hash_and_check_encoding(path, "gb18030")


def test_verify_file_detects_one_byte_change(tmp_path):
    """Changing one byte after the control file was written fails the hash check."""
    path = tmp_path / "A.csv"
    path.write_bytes(b"ID,N\n1,a\n")
    entry = ControlEntry("A.csv", 1, hashlib.sha256(path.read_bytes()).hexdigest())
    verify_file(path, entry, "utf-8")
    path.write_bytes(b"ID,N\n1,b\n")

    with pytest.raises(ControlFileError, match=r"A\.csv: SHA-256 does not match"):
        verify_file(path, entry, "utf-8")
