"""booktransfer.protect.ciphers: keyed tokens and column-bound authenticated encryption."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from booktransfer.errors import KeyringError
from booktransfer.protect.ciphers import decrypt_value, encrypt_values, token, tokens
from booktransfer.protect.keyring import Keyring

TOKEN_KEY = bytes(range(32))
OLD_KEY = b"\x11" * 32
NEW_KEY = b"\x22" * 32


def _ring(active: str = "enc-old", keys: dict[str, bytes] | None = None) -> Keyring:
    return Keyring("tok-1", TOKEN_KEY, active, keys if keys is not None else {"enc-old": OLD_KEY})


def test_token_known_answer():
    """A token is hex HMAC-SHA256 over namespace, U+001F and the value, under the token key."""
    expected = hmac.new(TOKEN_KEY, b"cn_id_number\x1fSYNTHETIC-ID-1", hashlib.sha256).hexdigest()

    assert token(TOKEN_KEY, "cn_id_number", "SYNTHETIC-ID-1") == expected


def test_token_stable_and_namespaced():
    """Same value and namespace give the same token; another namespace or key gives another."""
    first = token(TOKEN_KEY, "ns_a", "v1")

    assert token(TOKEN_KEY, "ns_a", "v1") == first
    assert token(TOKEN_KEY, "ns_b", "v1") != first
    assert token(b"\x00" * 32, "ns_a", "v1") != first


def test_namespace_separator_prevents_shifting():
    """Moving characters between namespace and value changes the token (the separator is part of the MAC)."""
    assert token(TOKEN_KEY, "ab", "c") != token(TOKEN_KEY, "a", "bc")


def test_tokens_equal_token_and_keep_none():
    """tokens() gives token() for each value and keeps nulls as None."""
    values = ["v1", None, "测试", "v1"]

    out = tokens(TOKEN_KEY, "ns", values)

    assert out == [token(TOKEN_KEY, "ns", "v1"), None, token(TOKEN_KEY, "ns", "测试"), token(TOKEN_KEY, "ns", "v1")]


def test_encrypt_decrypt_round_trip():
    """Encrypted values decrypt back to the original for the same column; nulls stay None."""
    ring = _ring()

    out = encrypt_values(ring, "name", ["测试甲", None, ""])

    assert out[1] is None
    assert out[0].startswith("v1:enc-old:")
    assert [decrypt_value(ring, "name", out[0]), decrypt_value(ring, "name", out[2])] == ["测试甲", ""]


def test_ciphertext_differs_each_time():
    """The same plaintext encrypts differently each time (random nonce)."""
    a, b = encrypt_values(_ring(), "name", ["same", "same"])

    assert a != b


def test_flipped_character_fails_closed():
    """Changing any character of the ciphertext body fails authentication."""
    ring = _ring()
    ct = encrypt_values(ring, "mobile", ["13900000001"])[0]
    head, body = ct.rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    raw[20] ^= 0x01
    tampered = f"{head}:{base64.b64encode(bytes(raw)).decode()}"

    with pytest.raises(KeyringError, match="failed authentication"):
        decrypt_value(ring, "mobile", tampered)


@pytest.mark.parametrize("text", ["plain text", "v2:enc-old:AAAA", "v1:enc-old:!!!", "v1:enc-old:AAAA"])
def test_not_a_ciphertext_fails_closed(text):
    """Text that is not a v1 ciphertext of sufficient length is refused."""
    with pytest.raises(KeyringError, match="column name"):
        decrypt_value(_ring(), "name", text)


def test_unknown_key_id_fails_closed():
    """A ciphertext naming a key id the keyring does not hold is refused."""
    ct = encrypt_values(_ring(), "name", ["x"])[0]

    with pytest.raises(KeyringError, match="unknown encryption key id 'enc-old'"):
        decrypt_value(_ring("enc-new", {"enc-new": NEW_KEY}), "name", ct)


def test_wrong_key_under_same_id_fails_closed():
    """A key id whose key material differs does not decrypt."""
    ct = encrypt_values(_ring(), "name", ["x"])[0]

    with pytest.raises(KeyringError, match="failed authentication"):
        decrypt_value(_ring(keys={"enc-old": NEW_KEY}), "name", ct)


def test_ciphertext_moved_to_other_column_fails():
    """A ciphertext is bound to its column: it does not decrypt under another column name."""
    ring = _ring()
    ct = encrypt_values(ring, "name", ["测试甲"])[0]

    with pytest.raises(KeyringError, match="column address"):
        decrypt_value(ring, "address", ct)


def test_rotation_still_decrypts_old_values():
    """After the active key changes, values encrypted with the old key still decrypt; new ones use the new key."""
    old_ring = _ring()
    old_ct = encrypt_values(old_ring, "name", ["旧值"])[0]
    rotated = _ring("enc-new", {"enc-old": OLD_KEY, "enc-new": NEW_KEY})

    new_ct = encrypt_values(rotated, "name", ["新值"])[0]

    assert decrypt_value(rotated, "name", old_ct) == "旧值"
    assert new_ct.startswith("v1:enc-new:")
    assert decrypt_value(rotated, "name", new_ct) == "新值"
