"""Keyed tokens (HMAC-SHA256) and authenticated encryption (AES-256-GCM, AES-SIV), from the stdlib and `cryptography`.

Tokens are domain-separated by namespace, so the same ID number gives the same token in every entity
that uses the namespace. Ciphertexts are text, tagged with a scheme and the key id:

- `v1:<key id>:<base64(nonce[12] | ciphertext | tag[16])>`: AES-256-GCM with a random 96-bit nonce;
- `s1:<key id>:<base64(synthetic iv[16] | ciphertext)>`: AES-SIV (RFC 5297, AES-256-SIV), deterministic:
  the same value in the same column under the same key gives the same ciphertext (equality lookup).

Both are bound to their column through the associated data (the column name, UTF-8), so a value moved
to another column does not decrypt. An unknown key id, a foreign column or any tampering fails closed
with `UnknownKeyId` or `AuthenticationFailed`; no message holds a value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from booktransfer.errors import AuthenticationFailed, KeyringError
from booktransfer.protect.keyring import KeyPurpose, Keyring

_SEP = b"\x1f"
GCM = "v1"
SIV = "s1"
_NONCE = 12


def token(key: bytes, namespace: str, value: str) -> str:
    """The hex HMAC-SHA256 of `namespace ␟ value` under `key`."""
    return hmac.new(key, namespace.encode() + _SEP + value.encode(), hashlib.sha256).hexdigest()


def tokens(key: bytes, namespace: str, values: list[str | None]) -> list[str | None]:
    """Tokens for a column; nulls stay null."""
    one = hmac_sha256_hex(key, namespace.encode() + _SEP)
    return [None if v is None else one(v.encode()) for v in values]


def hmac_sha256_hex(key: bytes, prefix: bytes = b"") -> Callable[[bytes], str]:
    """`message -> hmac.new(key, prefix + message, sha256).hexdigest()`, for one key over many messages.

    RFC 2104 over hashlib's SHA-256 with the padded key's inner and outer states computed once and copied per
    message (what `hmac.HMAC.copy` does, without its Python-level object per call: about twice as fast for the
    short messages of tokens and row fingerprints). Equality with `hmac.new` is tested for every key length.
    """
    block = 64  # SHA-256's block size
    padded = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    inner.update(prefix)

    def one(message: bytes, inner_copy: Callable[[], Any] = inner.copy,
            outer_copy: Callable[[], Any] = outer.copy) -> str:
        i = inner_copy()
        i.update(message)
        o = outer_copy()
        o.update(i.digest())
        return o.hexdigest()

    return one


def encrypt_values(ring: Keyring, column: str, values: list[str | None]) -> list[str | None]:
    """Encrypt a column with the active AES-256-GCM key (a fresh random nonce per value); nulls stay null."""
    seal = AESGCM(ring.encryption_key(ring.active_kid)).encrypt
    aad = column.encode()
    head = f"{GCM}:{ring.active_kid}:".encode()
    nonces = os.urandom(_NONCE * len(values))
    b64 = binascii.b2a_base64
    # One comprehension, bytes joined before a single decode: this loop is the protect stage's hot path.
    return [None if v is None else
            (head + b64((n := nonces[i * _NONCE:(i + 1) * _NONCE]) + seal(n, v.encode(), aad), newline=False)).decode()
            for i, v in enumerate(values)]


def encrypt_deterministic(ring: Keyring, column: str, values: list[str | None],
                          kid: str | None = None) -> list[str | None]:
    """Encrypt a column with AES-SIV under the active (or the named) deterministic key; nulls stay null.

    Equal values give equal ciphertexts under one key id, so the buyer can look a value up by encrypting it.
    After a rotation, look a value up under every key id (`deterministic_candidates`).
    """
    keys = ring.keyset(KeyPurpose.DETERMINISTIC)
    kid = kid or keys.active
    seal = AESSIV(keys.key(kid)).encrypt
    aad = [column.encode()]
    head = f"{SIV}:{kid}:".encode()
    b64 = binascii.b2a_base64
    return [None if v is None else (head + b64(seal(v.encode(), aad), newline=False)).decode() for v in values]


def deterministic_candidates(ring: Keyring, column: str, value: str) -> list[str]:
    """The AES-SIV ciphertexts `value` has in `column` under every deterministic key id (for lookups)."""
    keys = ring.keyset(KeyPurpose.DETERMINISTIC)
    return [encrypt_deterministic(ring, column, [value], kid)[0] or "" for kid in sorted(keys.keys)]


def _split(column: str, ciphertext: str) -> tuple[str, str, bytes]:
    """(scheme, key id, raw bytes) of a ciphertext, or a refusal naming the column."""
    try:
        scheme, kid, body = ciphertext.split(":", 2)
        raw = base64.b64decode(body, validate=True)
    except (ValueError, binascii.Error):
        raise AuthenticationFailed(f"column {column}: not a booktransfer ciphertext") from None
    if scheme not in (GCM, SIV) or len(raw) < (_NONCE + 16 if scheme == GCM else 16):
        raise AuthenticationFailed(f"column {column}: unsupported ciphertext format")
    return scheme, kid, raw


def _cipher(ring: Keyring, scheme: str, kid: str) -> AESGCM | AESSIV:
    """The cipher that opens a scheme's values under a key id (GCM: an encryption key; SIV: a deterministic one)."""
    return AESGCM(ring.encryption_key(kid)) if scheme == GCM else AESSIV(ring.keyset(KeyPurpose.DETERMINISTIC).key(kid))


def decrypt_value(ring: Keyring, column: str, ciphertext: str) -> str:
    """Decrypt one value of either scheme; an unknown key id, a foreign column or any tampering fails closed."""
    scheme, kid, raw = _split(column, ciphertext)
    cipher = _cipher(ring, scheme, kid)
    try:
        if scheme == GCM:
            clear = cipher.decrypt(raw[:_NONCE], raw[_NONCE:], column.encode())
        else:
            clear = cipher.decrypt(raw, [column.encode()])
    except InvalidTag:
        raise AuthenticationFailed(
            f"column {column}: ciphertext failed authentication (tampered, moved from another column, or wrong key)"
        ) from None
    return clear.decode()


def is_ciphertext(value: str) -> bool:
    """Whether a text looks like a booktransfer ciphertext (scheme and key id; not checked cryptographically)."""
    return value.startswith((f"{GCM}:", f"{SIV}:")) and value.count(":") >= 2


def decrypt_column(ring: Keyring, column: str, ciphertexts: list[str | None]) -> tuple[list[str | None], int | None]:
    """Decrypt a column of either scheme, a cipher object per key id (the reconciliation's hot path); nulls stay
    null. Returns (clear values, None), or (values so far, index of the first value that fails) so the caller
    can name the row; `decrypt_value` then gives the reason."""
    same_key = _decrypt_under_one_key(ring, column, ciphertexts)
    if same_key is not None:
        return same_key, None
    ciphers: dict[tuple[str, str], object] = {}
    aad = column.encode()
    out: list[str | None] = []
    append = out.append
    b64decode = binascii.a2b_base64
    for i, text in enumerate(ciphertexts):
        if text is None:
            append(None)
            continue
        try:
            scheme, kid, body = text.split(":", 2)
            raw = b64decode(body)
            cipher = ciphers.get((scheme, kid))
            if cipher is None:
                cipher = ciphers[(scheme, kid)] = _cipher(ring, scheme, kid)
            if scheme == GCM:
                append(cipher.decrypt(raw[:_NONCE], raw[_NONCE:], aad).decode())
            elif scheme == SIV:
                append(cipher.decrypt(raw, [aad]).decode())
            else:
                return out, i
        except (ValueError, binascii.Error, InvalidTag, KeyringError):  # the caller asks decrypt_value why
            return out, i
    return out, None


def _decrypt_under_one_key(ring: Keyring, column: str, ciphertexts: list[str | None]) -> list[str | None] | None:
    """`decrypt_column`'s common case in one comprehension: every value under the first value's scheme and key id
    (one column, one key: what a run writes). None when some value is not, or fails: the caller's loop then
    decrypts value by value and points at the failure."""
    first = next((t for t in ciphertexts if t is not None), None)
    if first is None:
        return list(ciphertexts)
    scheme, kid, _ = (first.split(":", 2) + ["", ""])[:3]
    head, aad, b64decode = f"{scheme}:{kid}:", column.encode(), binascii.a2b_base64
    if scheme not in (GCM, SIV) or any(t is not None and not t.startswith(head) for t in ciphertexts):
        return None
    skip = len(head)
    try:
        open_ = _cipher(ring, scheme, kid).decrypt
        if scheme == GCM:
            return [None if t is None else open_((raw := b64decode(t[skip:]))[:_NONCE], raw[_NONCE:], aad).decode()
                    for t in ciphertexts]
        return [None if t is None else open_(b64decode(t[skip:]), [aad]).decode() for t in ciphertexts]
    except (ValueError, binascii.Error, InvalidTag, KeyringError):
        return None
