"""Keyed tokens (HMAC-SHA256) and authenticated encryption (AES-256-GCM), from the standard library and `cryptography`.

Tokens are domain-separated by namespace, so the same ID number gives the same token in every entity
that uses the namespace. Ciphertexts read `v1:<key id>:<base64(nonce | ciphertext | tag)>` and are bound
to their column through the associated data, so a value moved to another column does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from booktransfer.errors import KeyringError
from booktransfer.protect.keyring import Keyring

_SEP = b"\x1f"


def token(key: bytes, namespace: str, value: str) -> str:
    """The hex HMAC-SHA256 of `namespace ␟ value` under `key`."""
    return hmac.new(key, namespace.encode() + _SEP + value.encode(), hashlib.sha256).hexdigest()


def tokens(key: bytes, namespace: str, values: list[str | None]) -> list[str | None]:
    """Tokens for a column; nulls stay null."""
    prefix = namespace.encode() + _SEP
    mac = hmac.new(key, prefix, hashlib.sha256)
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        h = mac.copy()
        h.update(v.encode())
        out.append(h.hexdigest())
    return out


def encrypt_values(ring: Keyring, column: str, values: list[str | None]) -> list[str | None]:
    """Encrypt a column with the active key; nulls stay null."""
    aead = AESGCM(ring.encryption_key(ring.active_kid))
    aad = column.encode()
    head = f"v1:{ring.active_kid}:"
    out: list[str | None] = []
    for v in values:
        if v is None:
            out.append(None)
            continue
        nonce = os.urandom(12)
        out.append(head + base64.b64encode(nonce + aead.encrypt(nonce, v.encode(), aad)).decode("ascii"))
    return out


def decrypt_value(ring: Keyring, column: str, ciphertext: str) -> str:
    """Decrypt one value; an unknown key id, a foreign column or any tampering fails closed."""
    try:
        version, kid, body = ciphertext.split(":", 2)
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raise KeyringError(f"column {column}: not a booktransfer ciphertext") from None
    if version != "v1" or len(raw) < 28:
        raise KeyringError(f"column {column}: unsupported ciphertext format")
    try:
        return AESGCM(ring.encryption_key(kid)).decrypt(raw[:12], raw[12:], column.encode()).decode()
    except InvalidTag:
        raise KeyringError(f"column {column}: ciphertext failed authentication (tampered, or wrong key)") from None
