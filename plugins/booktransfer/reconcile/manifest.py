"""Tamper evidence for a report folder: a MANIFEST of every file's SHA-256 plus run metadata, signed with Ed25519.

`MANIFEST` is canonical JSON (sorted keys, UTF-8); `MANIFEST.sig` holds the key id and the Ed25519 signature
over MANIFEST's exact bytes. Verification needs only the public key, so an auditor can check a report
without any secret.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

MANIFEST = "MANIFEST"
SIGNATURE = "MANIFEST.sig"
FORMAT = "booktransfer-manifest/1"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def report_files(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under the report folder (relative POSIX paths), MANIFEST files excluded."""
    return {p.relative_to(folder).as_posix(): _sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (MANIFEST, SIGNATURE)}


def write_manifest(folder: Path, metadata: dict[str, Any], key: Ed25519PrivateKey, key_id: str) -> Path:
    """Write MANIFEST (file hashes + metadata) and its signature; returns the manifest path."""
    doc = {"format": FORMAT, "run": metadata, "files": report_files(folder)}
    body = json.dumps(doc, sort_keys=True, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"
    (folder / MANIFEST).write_bytes(body)
    signature = {"algorithm": "Ed25519", "key_id": key_id, "signature": base64.b64encode(key.sign(body)).decode()}
    (folder / SIGNATURE).write_text(json.dumps(signature, indent=1) + "\n", encoding="utf-8")
    return folder / MANIFEST


@dataclass(frozen=True)
class Verification:
    """The outcome of `report verify`: OK, or which files changed, went missing or appeared."""

    signature_ok: bool
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    problem: str = ""

    @property
    def ok(self) -> bool:
        """Whether the report is exactly as signed."""
        return self.signature_ok and not (self.changed or self.missing or self.added or self.problem)

    def describe(self) -> str:
        """One line per finding; 'OK' when there is none."""
        if self.ok:
            return "OK"
        lines = [self.problem] if self.problem else []
        if not self.signature_ok and not self.problem:
            lines.append(f"{MANIFEST}: signature does not verify (the manifest was changed or signed by another key)")
        lines += [f"{f}: changed since the report was signed" for f in self.changed]
        lines += [f"{f}: missing" for f in self.missing]
        lines += [f"{f}: not in the signed manifest" for f in self.added]
        return "\n".join(lines)


def verify_folder(folder: Path, public_key: Ed25519PublicKey) -> Verification:
    """Check the signature over MANIFEST, then every file's hash against it."""
    try:
        body = (folder / MANIFEST).read_bytes()
        signature = json.loads((folder / SIGNATURE).read_text(encoding="utf-8"))
        public_key.verify(base64.b64decode(signature["signature"]), body)
        listed = json.loads(body)["files"]
    except FileNotFoundError as e:
        return Verification(False, problem=f"{Path(e.filename).name}: missing")
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return Verification(False)
    actual = report_files(folder)
    return Verification(
        True,
        changed=tuple(sorted(f for f in listed if f in actual and actual[f] != listed[f])),
        missing=tuple(sorted(f for f in listed if f not in actual)),
        added=tuple(sorted(f for f in actual if f not in listed)),
    )
