"""The seller's control file and the integrity checks it allows: every file present, hash and row count equal."""

from __future__ import annotations

import codecs
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from booktransfer.errors import ChecksumMismatch, ControlFileError, SourceFormatError

_CHUNK = 1 << 20
_DIGITS = re.compile(r"[0-9]+")
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class ControlEntry:
    """What the seller declares about one data file."""

    file: str
    rows: int
    sha256: str | None  # None: the seller's format carries no checksum (trailer records)


def parse_control(path: Path) -> dict[str, ControlEntry]:
    """Parse a `file|rows|sha256` control file; a malformed line stops the run naming its line."""
    entries: dict[str, ControlEntry] = {}
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split("|")
        if len(parts) != 3 or not _DIGITS.fullmatch(parts[1]) or not _SHA256.fullmatch(parts[2]):
            raise ControlFileError(f"{path.name}:{lineno}: expected 'file|rows|sha256'")
        name, rows, digest = parts
        if "/" in name or "\\" in name or name in (".", ".."):
            raise ControlFileError(f"{path.name}:{lineno}: file name with a path component is refused")
        if name in entries:
            raise ControlFileError(f"{path.name}:{lineno}: {name} listed twice")
        entries[name] = ControlEntry(name, int(rows), digest.lower())
    return entries


def parse_control_json(path: Path) -> dict[str, ControlEntry]:
    """Parse a JSON control file `{"files": [{"name": ..., "rows": ..., "sha256": ...}]}`."""
    try:
        files = json.loads(path.read_text(encoding="utf-8"))["files"]
        entries = [ControlEntry(f["name"], f["rows"], f["sha256"]) for f in files]
    except (ValueError, KeyError, TypeError):
        raise ControlFileError(f"{path.name}: expected {{\"files\": [{{\"name\", \"rows\", \"sha256\"}}]}}") from None
    out: dict[str, ControlEntry] = {}
    for i, entry in enumerate(entries):
        where = f"{path.name}: files[{i}]"
        if not isinstance(entry.file, str) or "/" in entry.file or "\\" in entry.file or entry.file in ("", ".", ".."):
            raise ControlFileError(f"{where}: file name with a path component is refused")
        if type(entry.rows) is not int or entry.rows < 0 or not _SHA256.fullmatch(str(entry.sha256)):
            raise ControlFileError(f"{where}: rows must be a non-negative integer and sha256 64 hex digits")
        if entry.file in out:
            raise ControlFileError(f"{where}: {entry.file} listed twice")
        out[entry.file] = ControlEntry(entry.file, entry.rows, entry.sha256.lower())
    return out


def split_trailer(path: Path, prefix: str, delimiter: str, encoding: str) -> ControlEntry:
    """Remove a data file's trailer record (`<prefix><delimiter><rows>`, its last line) and return its count."""
    data = path.read_bytes()
    body, _, last = data.rstrip(b"\r\n").rpartition(b"\n")
    try:
        tag, _, rows = last.decode(encoding).strip().partition(delimiter)
    except UnicodeDecodeError:
        tag, rows = "", ""
    if tag != prefix or not _DIGITS.fullmatch(rows):
        raise ControlFileError(f"{path.name}: last line is not a trailer record '{prefix}{delimiter}<rows>'")
    path.write_bytes(body + b"\n")
    return ControlEntry(path.name, int(rows), None)


def hash_and_check_encoding(path: Path, encoding: str) -> str:
    """Return the file's SHA-256 while decoding it strictly; a decoding error names the byte offset."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                raise SourceFormatError(
                    f"{path.name}: not valid {encoding} at byte offset {offset - pending + e.start}; "
                    "the file is quarantined, ask the seller to re-export it"
                ) from None
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise SourceFormatError(f"{path.name}: truncated {encoding} sequence at end of file") from None
    return digest.hexdigest()


def verify_file(path: Path, entry: ControlEntry, encoding: str) -> None:
    """Check a landed file's hash against its control entry (row counts are checked after parsing)."""
    actual = hash_and_check_encoding(path, encoding)
    if entry.sha256 is not None and actual != entry.sha256:
        raise ChecksumMismatch(
            f"{path.name}: SHA-256 does not match the control file (expected {entry.sha256[:12]}…, "
            f"got {actual[:12]}…); the file was altered or truncated after the control file was written"
        )
