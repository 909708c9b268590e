"""The report-signing key (Ed25519): from the environment (secrets backend / Airflow connection) or a local file.

`BOOKTRANSFER_SIGNING_KEY` holds the PEM itself; `BOOKTRANSFER_SIGNING_KEY_FILE` names a file; the local
default is `var/keys/report-signing.pem`, created by `booktransfer keys init` with its public half beside it
(`report-signing.pub.pem`) to hand to auditors.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from booktransfer.errors import KeyringError


def default_signing_key_path() -> Path:
    """Where the local signing key lives unless BOOKTRANSFER_SIGNING_KEY_FILE says otherwise."""
    home = Path(os.environ.get("BOOKTRANSFER_HOME", Path.cwd()))
    return Path(os.environ.get("BOOKTRANSFER_SIGNING_KEY_FILE", home / "var" / "keys" / "report-signing.pem"))


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short, stable id of a public key (never the key itself)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "sig-" + hashlib.sha256(raw).hexdigest()[:16]


def create_signing_key(path: Path) -> Path:
    """Write a new private key (mode 600) and its public half (`.pub.pem`); refuse to overwrite."""
    if path.exists():
        raise KeyringError(f"{path} exists; refusing to overwrite the report-signing key")
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    public_path(path).write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def public_path(path: Path) -> Path:
    """The public half's file beside a private key file."""
    return path.with_name(path.name.removesuffix(".pem") + ".pub.pem")


def load_signing_key() -> Ed25519PrivateKey:
    """The private signing key from the environment or the key file; missing keys stop the run."""
    pem = os.environ.get("BOOKTRANSFER_SIGNING_KEY")
    if pem is None:
        path = default_signing_key_path()
        if not path.is_file():
            raise KeyringError(f"no report-signing key at {path}; run `booktransfer keys init`")
        pem = path.read_text(encoding="ascii")
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    except ValueError:
        raise KeyringError("the report-signing key is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyringError("the report-signing key must be an Ed25519 key")
    return key


def load_public_key(path: Path | None = None) -> Ed25519PublicKey:
    """The public key to verify with: a PEM file, else the public half of the configured signing key."""
    if path is None:
        return load_signing_key().public_key()
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError):
        raise KeyringError(f"{path}: not a readable PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyringError(f"{path}: not an Ed25519 public key")
    return key
