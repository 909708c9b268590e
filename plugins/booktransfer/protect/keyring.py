"""Keys for tokens and encryption: created once per transfer, held outside code, mappings, params and XCom.

Where they come from, in order: the `BOOKTRANSFER_KEYRING_JSON` environment variable (how a secrets
backend or an Airflow connection hands them over), the file named by `BOOKTRANSFER_KEYRING`, or the
local default `var/keys/keyring.json` that `booktransfer keys init` creates for the demo.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from booktransfer.errors import KeyringError

FORMAT = "booktransfer-keyring/1"


@dataclass(frozen=True, repr=False)
class Keyring:
    """A token key and a set of encryption keys by key id (the newest one encrypts)."""

    token_kid: str
    token_key: bytes
    active_kid: str
    encryption_keys: dict[str, bytes]

    def __repr__(self) -> str:
        return f"Keyring(token_kid={self.token_kid!r}, active_kid={self.active_kid!r})"

    def encryption_key(self, kid: str) -> bytes:
        """The encryption key with this id; an unknown id fails closed."""
        try:
            return self.encryption_keys[kid]
        except KeyError:
            known = sorted(self.encryption_keys)
            raise KeyringError(f"unknown encryption key id {kid!r}; the keyring holds {known}") from None

    @property
    def key_ids(self) -> dict[str, object]:
        """Key ids only (for reports and manifests), never key material."""
        return {"token": self.token_kid, "encryption_active": self.active_kid,
                "encryption": sorted(self.encryption_keys)}


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def new_keyring_document(now: datetime | None = None) -> dict[str, object]:
    """A fresh keyring: a 256-bit HMAC key and one AES-256 key, ids stamped with the creation date."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return {
        "format": FORMAT,
        "token": {"kid": f"tok-{stamp}", "key": _b64(secrets.token_bytes(32))},
        "encryption": {"active": f"enc-{stamp}", "keys": {f"enc-{stamp}": _b64(secrets.token_bytes(32))}},
    }


def write_keyring(path: Path, overwrite: bool = False) -> Path:
    """Create a keyring file readable by its owner only; refuse to overwrite an existing one."""
    if path.exists() and not overwrite:
        raise KeyringError(f"{path} exists; refusing to overwrite keys (data encrypted with them would be lost)")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(new_keyring_document(), fh, indent=2)
    tmp.replace(path)
    return path


def parse_keyring(doc: dict) -> Keyring:
    """Build a Keyring from its JSON document, checking every key is 32 bytes."""
    if not isinstance(doc, dict):
        raise KeyringError("a keyring must be a JSON object")
    try:
        if doc.get("format") != FORMAT:
            raise KeyringError(f"keyring format must be {FORMAT!r}")
        keys = {kid: base64.b64decode(k) for kid, k in doc["encryption"]["keys"].items()}
        ring = Keyring(doc["token"]["kid"], base64.b64decode(doc["token"]["key"]),
                       doc["encryption"]["active"], keys)
    except (KeyError, TypeError, ValueError) as e:
        raise KeyringError(
            f"malformed keyring ({type(e).__name__}); recreate it with `booktransfer keys init`"
        ) from None
    if len(ring.token_key) != 32 or any(len(k) != 32 for k in keys.values()):
        raise KeyringError("every key in the keyring must be 32 bytes")
    ring.encryption_key(ring.active_kid)
    return ring


def default_keyring_path() -> Path:
    """Where the local keyring lives unless BOOKTRANSFER_KEYRING says otherwise."""
    home = Path(os.environ.get("BOOKTRANSFER_HOME", Path.cwd()))
    return Path(os.environ.get("BOOKTRANSFER_KEYRING", home / "var" / "keys" / "keyring.json"))


def load_keyring() -> Keyring:
    """The keyring from the environment or the key file; missing keys stop the run."""
    inline = os.environ.get("BOOKTRANSFER_KEYRING_JSON")
    if inline:
        try:
            return parse_keyring(json.loads(inline))
        except json.JSONDecodeError:
            raise KeyringError("BOOKTRANSFER_KEYRING_JSON is not valid JSON") from None
    path = default_keyring_path()
    if not path.is_file():
        raise KeyringError(f"no keyring at {path}; run `booktransfer keys init` or set BOOKTRANSFER_KEYRING")
    return parse_keyring(json.loads(path.read_text(encoding="utf-8")))
