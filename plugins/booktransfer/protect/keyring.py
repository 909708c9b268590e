"""Keys for tokens, encryption, row fingerprints and staging: held outside code, mappings, params and XCom.

A keyring holds five sets of keys, each by key id:

| purpose         | used for                                                       | size     | rotates |
|-----------------|----------------------------------------------------------------|----------|---------|
| `token`         | HMAC-SHA256 tokens and blind indexes (one secret per transfer) | 256 bit  | no      |
| `audit`         | HMAC-SHA256 row fingerprints (reconciliation)                  | 256 bit  | no      |
| `encryption`    | AES-256-GCM ciphertexts the buyer reads back                   | 256 bit  | yes     |
| `deterministic` | AES-SIV ciphertexts for equality lookup (AES-256-SIV)          | 512 bit  | yes     |
| `staging`       | wrapping the data keys of encrypted staged Parquet files       | 256 bit  | yes     |

Token and audit keys do not rotate within a transfer: a new token key would give the same ID number a new
token and break joins. The rotating purposes keep every old key so older data still decrypts; the
`active` key id is the one new writes use.

Where the keyring comes from, in order: the `BOOKTRANSFER_KEYRING_JSON` environment variable (the document
itself, as a secrets backend injects it), the file named by `BOOKTRANSFER_KEYRING`, or the local default
`var/keys/keyring.json` that `booktransfer keys init` creates for the demo. In Airflow, the
`booktransfer_keyring` connection comes first (see `booktransfer.orchestration.keyring_source`).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from booktransfer.errors import KeyringError, UnknownKeyId

FORMAT = "booktransfer-keyring/2"
LEGACY_FORMATS = ("booktransfer-keyring/1",)


class KeyPurpose(StrEnum):
    """What a set of keys is for; each purpose is a section of the keyring document."""

    TOKEN = "token"
    AUDIT = "audit"
    ENCRYPTION = "encryption"
    DETERMINISTIC = "deterministic"
    STAGING = "staging"


KEY_BYTES = {KeyPurpose.TOKEN: 32, KeyPurpose.AUDIT: 32, KeyPurpose.ENCRYPTION: 32,
             KeyPurpose.DETERMINISTIC: 64, KeyPurpose.STAGING: 32}
KID_PREFIX = {KeyPurpose.TOKEN: "tok", KeyPurpose.AUDIT: "aud", KeyPurpose.ENCRYPTION: "enc",
              KeyPurpose.DETERMINISTIC: "siv", KeyPurpose.STAGING: "stg"}
SINGLE_KEY = (KeyPurpose.TOKEN, KeyPurpose.AUDIT)
ROTATING = (KeyPurpose.ENCRYPTION, KeyPurpose.DETERMINISTIC, KeyPurpose.STAGING)


@dataclass(frozen=True, repr=False)
class KeySet:
    """The keys of one purpose by key id; the active one is used for new writes."""

    purpose: KeyPurpose
    active: str
    keys: Mapping[str, bytes]

    def __repr__(self) -> str:
        return f"KeySet({self.purpose.value}, active={self.active!r}, kids={sorted(self.keys)})"

    def key(self, kid: str) -> bytes:
        """The key with this id; an unknown id fails closed."""
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKeyId(
                f"unknown {self.purpose.value} key id {kid!r}; the keyring holds {sorted(self.keys)}"
            ) from None

    @property
    def active_key(self) -> bytes:
        """The key new writes use."""
        return self.key(self.active)


@dataclass(frozen=True, repr=False)
class Keyring:
    """Every key a transfer uses, by purpose. Never printed: its repr shows key ids only."""

    token: KeySet
    encryption: KeySet
    audit: KeySet | None = None
    deterministic: KeySet | None = None
    staging: KeySet | None = None

    def __repr__(self) -> str:
        return f"Keyring({self.key_ids})"

    def keyset(self, purpose: KeyPurpose) -> KeySet:
        """The keys of one purpose; a keyring of an older format that lacks them fails with what to do."""
        found = getattr(self, purpose.value)
        if found is None:
            raise KeyringError(f"the keyring holds no {purpose.value} key (an older keyring format); add it with "
                               "`booktransfer keys init --if-missing`, which keeps every existing key")
        return found

    @property
    def token_kid(self) -> str:
        """The id of the token key."""
        return self.token.active

    @property
    def token_key(self) -> bytes:
        """The HMAC key for tokens and blind indexes."""
        return self.token.active_key

    @property
    def active_kid(self) -> str:
        """The id of the AES-256-GCM key new ciphertexts use."""
        return self.encryption.active

    @property
    def encryption_keys(self) -> Mapping[str, bytes]:
        """Every AES-256-GCM key by id."""
        return self.encryption.keys

    def encryption_key(self, kid: str) -> bytes:
        """The AES-256-GCM key with this id; an unknown id fails closed."""
        return self.encryption.key(kid)

    @property
    def audit_key(self) -> bytes:
        """The HMAC key for row fingerprints."""
        return self.keyset(KeyPurpose.AUDIT).active_key

    @property
    def key_ids(self) -> dict[str, Any]:
        """Key ids only (for reports and manifests), never key material."""
        ids: dict[str, Any] = {"token": self.token.active, "encryption_active": self.encryption.active,
                               "encryption": sorted(self.encryption.keys)}
        if self.audit is not None:
            ids["audit"] = self.audit.active
        for keyset in (self.deterministic, self.staging):
            if keyset is not None:
                ids[f"{keyset.purpose.value}_active"] = keyset.active
                ids[keyset.purpose.value] = sorted(keyset.keys)
        return ids


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def new_kid(purpose: KeyPurpose, now: datetime | None = None) -> str:
    """A key id: purpose prefix, UTC creation time and a random suffix (two keys made in one second differ)."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
    return f"{KID_PREFIX[purpose]}-{stamp}-{secrets.token_hex(3)}"


def _new_section(purpose: KeyPurpose, now: datetime | None) -> dict[str, Any]:
    kid = new_kid(purpose, now)
    key = _b64(secrets.token_bytes(KEY_BYTES[purpose]))
    if purpose in SINGLE_KEY:
        return {"kid": kid, "key": key}
    return {"active": kid, "keys": {kid: key}}


def new_keyring_document(now: datetime | None = None) -> dict[str, Any]:
    """A fresh keyring: one new random key for every purpose."""
    return {"format": FORMAT, **{p.value: _new_section(p, now) for p in KeyPurpose}}


def complete_document(doc: dict[str, Any], now: datetime | None = None) -> tuple[dict[str, Any], list[str]]:
    """Add the purposes an older keyring lacks (never touching an existing key); returns (document, added)."""
    parse_keyring(doc)
    added = [p.value for p in KeyPurpose if p.value not in doc]
    out = {**doc, "format": FORMAT, **{p: _new_section(KeyPurpose(p), now) for p in added}}
    parse_keyring(out)
    return out, added


def rotate_document(doc: dict[str, Any], purposes: Iterable[KeyPurpose] = ROTATING,
                    now: datetime | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Add a new key to each rotating purpose and make it active; old keys stay to decrypt older data.

    Returns the new document and the new active key id per purpose.
    """
    out, _ = complete_document(doc, now)
    new_ids = {}
    for purpose in purposes:
        if purpose not in ROTATING:
            raise KeyringError(f"{purpose.value} keys do not rotate within a transfer (tokens and fingerprints "
                               "must stay comparable); start a new transfer with a new keyring instead")
        kid = new_kid(purpose, now)
        section = out[purpose.value]
        out[purpose.value] = {"active": kid, "keys": {**section["keys"], kid: _b64(secrets.token_bytes(
            KEY_BYTES[purpose]))}}
        new_ids[purpose.value] = kid
    parse_keyring(out)
    return out, new_ids


def save_keyring_document(path: Path, doc: dict[str, Any]) -> Path:
    """Write a keyring document atomically, readable by its owner only (mode 600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")
    tmp.replace(path)
    return path


def write_keyring(path: Path, overwrite: bool = False) -> Path:
    """Create a keyring file readable by its owner only; refuse to overwrite an existing one."""
    if path.exists() and not overwrite:
        raise KeyringError(f"{path} exists; refusing to overwrite keys (data encrypted with them would be lost)")
    return save_keyring_document(path, new_keyring_document())


def read_keyring_document(path: Path) -> dict[str, Any]:
    """The keyring document in a file, checked."""
    if not path.is_file():
        raise KeyringError(f"no keyring at {path}; run `booktransfer keys init` or set BOOKTRANSFER_KEYRING")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise KeyringError(f"{path} is not a JSON keyring document") from None
    parse_keyring(doc)
    return doc


def _decode(purpose: KeyPurpose, kid: str, text: Any) -> bytes:
    if not isinstance(kid, str) or not kid or not isinstance(text, str):
        raise KeyringError(f"malformed keyring: {purpose.value} key ids and keys must be non-empty strings")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyringError(f"malformed keyring: {purpose.value} key {kid!r} is not base64") from None
    if len(raw) != KEY_BYTES[purpose]:
        raise KeyringError(f"every {purpose.value} key must be {KEY_BYTES[purpose]} bytes; {kid!r} is not")
    return raw


def _parse_section(purpose: KeyPurpose, section: Any) -> KeySet:
    if not isinstance(section, dict):
        raise KeyringError(f"malformed keyring: section {purpose.value!r} must be an object")
    if purpose in SINGLE_KEY:
        if set(section) != {"kid", "key"}:
            raise KeyringError(f"malformed keyring: section {purpose.value!r} needs exactly 'kid' and 'key'")
        return KeySet(purpose, section["kid"], {section["kid"]: _decode(purpose, section["kid"], section["key"])})
    if set(section) != {"active", "keys"} or not isinstance(section["keys"], dict) or not section["keys"]:
        raise KeyringError(f"malformed keyring: section {purpose.value!r} needs 'active' and a non-empty 'keys'")
    keys = {kid: _decode(purpose, kid, text) for kid, text in section["keys"].items()}
    keyset = KeySet(purpose, section["active"], keys)
    keyset.active_key  # noqa: B018 - the active key must be one of the keys
    return keyset


def parse_keyring(doc: Any) -> Keyring:
    """Build a Keyring from its JSON document, checking every key's size. Messages never hold key material."""
    if not isinstance(doc, dict):
        raise KeyringError("a keyring must be a JSON object")
    fmt = doc.get("format")
    if fmt != FORMAT and fmt not in LEGACY_FORMATS:
        raise KeyringError(f"keyring format must be {FORMAT!r}")
    required = (KeyPurpose.TOKEN, KeyPurpose.ENCRYPTION) if fmt in LEGACY_FORMATS else tuple(KeyPurpose)
    missing = [p.value for p in required if p.value not in doc]
    if missing:
        raise KeyringError(f"malformed keyring: no {', '.join(missing)} section; "
                           "recreate it with `booktransfer keys init`")
    unknown = sorted(set(doc) - {"format", *(p.value for p in KeyPurpose)})
    if unknown:
        raise KeyringError(f"malformed keyring: unknown section(s) {', '.join(unknown)}")
    sets = {p.value: _parse_section(p, doc[p.value]) for p in KeyPurpose if p.value in doc}
    return Keyring(**sets)


def keyring_from_json(text: str, origin: str) -> Keyring:
    """A keyring from its JSON text; `origin` names where it came from (never the text) in errors."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        raise KeyringError(f"{origin} is not valid JSON") from None
    return parse_keyring(doc)


def default_keyring_path() -> Path:
    """Where the local keyring lives unless BOOKTRANSFER_KEYRING says otherwise."""
    home = Path(os.environ.get("BOOKTRANSFER_HOME", Path.cwd()))
    return Path(os.environ.get("BOOKTRANSFER_KEYRING", home / "var" / "keys" / "keyring.json"))


def keyring_origin() -> str:
    """Where `load_keyring` will take the keyring from (a name, never its content)."""
    if os.environ.get("BOOKTRANSFER_KEYRING_JSON"):
        return "environment variable BOOKTRANSFER_KEYRING_JSON"
    return f"file {default_keyring_path()}"


def load_keyring() -> Keyring:
    """The keyring from the environment or the key file; missing keys stop the run."""
    inline = os.environ.get("BOOKTRANSFER_KEYRING_JSON")
    if inline:
        return keyring_from_json(inline, "BOOKTRANSFER_KEYRING_JSON")
    return parse_keyring(read_keyring_document(default_keyring_path()))
