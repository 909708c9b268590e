"""Keyrings with fixed, published test keys (for known-answer tests); never used outside tests."""

from __future__ import annotations

import base64
from typing import Any

from booktransfer.protect.keyring import FORMAT, Keyring, parse_keyring

TOKEN_KEY = bytes(range(32))
AUDIT_KEY = b"\x33" * 32
ENC_KEY = b"\x11" * 32
SIV_KEY = b"\x22" * 64
STAGING_KEY = b"\x44" * 32


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def fixed_document(enc: dict[str, bytes] | None = None, siv: dict[str, bytes] | None = None,
                   staging: dict[str, bytes] | None = None, active: dict[str, str] | None = None) -> dict[str, Any]:
    """A complete keyring document with fixed keys; `active` overrides the active key id per purpose."""
    enc = enc or {"enc-kat": ENC_KEY}
    siv = siv or {"siv-kat": SIV_KEY}
    staging = staging or {"stg-kat": STAGING_KEY}
    active = active or {}

    def section(name: str, keys: dict[str, bytes]) -> dict[str, Any]:
        return {"active": active.get(name, next(iter(keys))), "keys": {k: b64(v) for k, v in keys.items()}}

    return {
        "format": FORMAT,
        "token": {"kid": "tok-kat", "key": b64(TOKEN_KEY)},
        "audit": {"kid": "aud-kat", "key": b64(AUDIT_KEY)},
        "encryption": section("encryption", enc),
        "deterministic": section("deterministic", siv),
        "staging": section("staging", staging),
    }


def fixed_ring(**kwargs: Any) -> Keyring:
    """The Keyring of `fixed_document(**kwargs)`."""
    return parse_keyring(fixed_document(**kwargs))
