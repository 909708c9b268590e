"""booktransfer.protect.ciphers: keyed tokens, column-bound AES-256-GCM and deterministic AES-SIV."""

from __future__ import annotations

import base64

import pytest

from booktransfer.errors import AuthenticationFailed, KeyringError, UnknownKeyId
from booktransfer.protect.ciphers import (
    decrypt_value,
    deterministic_candidates,
    encrypt_deterministic,
    encrypt_values,
    hmac_sha256_hex,
    is_ciphertext,
    token,
    tokens,
)
from booktransfer.protect.keyring import parse_keyring
from tests.unit.protect.fixed_keys import ENC_KEY, SIV_KEY, TOKEN_KEY, fixed_document, fixed_ring

# Computed with `openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f` over namespace, 0x1F, value.
KAT_TOKENS = {
    ("cn_id_number", "11010519491231002X"): "932497ae26d6950d546726882c8bdf4c355042cb869b7e56e13786524efee109",
    ("cn_mobile", "13800138000"): "48c1840c0861e11d4ba194f1df9cdbb9509dc63ba8dad198760eb91dd107300f",
    ("name", "测试甲"): "38f74c4fb4ef19f4dff7b3bf4cf2241989c96423be91b1176a4baa1a9d999e57",
}
# Made with cryptography's AESGCM (key 0x11 * 32, nonce 00..0b, AAD "name") and AESSIV (key 0x22 * 64, AD "mobile").
KAT_GCM = "v1:enc-kat:AAECAwQFBgcICQoL9VY9+9Q20mCmbZR83+cOIe8PW2l1YuSdPg=="
KAT_SIV = "s1:siv-kat:qDKGtUlzg62t5zRQDY0td6yz1XJ3tqS892Fu"
NEW_ENC = b"\x55" * 32
NEW_SIV = b"\x66" * 64


def _flip(ciphertext: str, at: int) -> str:
    head, body = ciphertext.rsplit(":", 1)
    raw = bytearray(base64.b64decode(body))
    raw[at] ^= 0x01
    return f"{head}:{base64.b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize(("namespace", "value"), list(KAT_TOKENS))
def test_token_known_answers(namespace, value):
    """Fixed key and value give the token openssl computes: hex HMAC-SHA256 of namespace ␟ value."""
    assert token(TOKEN_KEY, namespace, value) == KAT_TOKENS[(namespace, value)]
    assert tokens(TOKEN_KEY, namespace, [value, None]) == [KAT_TOKENS[(namespace, value)], None]


def test_token_stable_and_namespaced():
    """Same value and namespace give the same token; another namespace or key gives another."""
    first = token(TOKEN_KEY, "ns_a", "v1")

    assert token(TOKEN_KEY, "ns_a", "v1") == first
    assert token(TOKEN_KEY, "ns_b", "v1") != first
    assert token(b"\x00" * 32, "ns_a", "v1") != first


def test_namespace_separator_prevents_shifting():
    """Moving characters between namespace and value changes the token (the separator is part of the MAC)."""
    assert token(TOKEN_KEY, "ab", "c") != token(TOKEN_KEY, "a", "bc")


def test_known_gcm_ciphertext_decrypts():
    """A GCM ciphertext made outside booktransfer with the fixed key decrypts to its plaintext."""
    assert decrypt_value(fixed_ring(), "name", KAT_GCM) == "测试甲"


def test_known_siv_ciphertext_is_reproduced_and_decrypts():
    """AES-SIV is deterministic: the fixed key gives exactly the known ciphertext, which decrypts back."""
    ring = fixed_ring()

    assert encrypt_deterministic(ring, "mobile", ["13800138000", None]) == [KAT_SIV, None]
    assert decrypt_value(ring, "mobile", KAT_SIV) == "13800138000"


def test_gcm_round_trip_and_random_nonce():
    """GCM values decrypt back; the same plaintext encrypts differently each time; nulls stay None."""
    ring = fixed_ring()

    out = encrypt_values(ring, "name", ["测试甲", None, "", "测试甲"])

    assert out[1] is None and out[0] != out[3]
    assert out[0].startswith("v1:enc-kat:")
    assert [decrypt_value(ring, "name", out[i]) for i in (0, 2, 3)] == ["测试甲", "", "测试甲"]


def test_siv_equal_values_equal_ciphertexts_per_column():
    """Deterministic ciphertexts support equality lookup, but differ between columns (bound to the column)."""
    ring = fixed_ring()

    a, b = encrypt_deterministic(ring, "mobile", ["13900000001", "13900000001"])
    other = encrypt_deterministic(ring, "phone", ["13900000001"])[0]

    assert a == b != other
    assert deterministic_candidates(ring, "mobile", "13900000001") == [a]


@pytest.mark.parametrize(("ciphertext", "column", "at"), [(KAT_GCM, "name", 3), (KAT_GCM, "name", 20),
                                                           (KAT_SIV, "mobile", 0), (KAT_SIV, "mobile", 18)])
def test_flipped_bit_fails_closed(ciphertext, column, at):
    """Changing one bit of the nonce, the IV, the ciphertext or the tag fails authentication."""
    with pytest.raises(AuthenticationFailed, match=f"column {column}: ciphertext failed authentication"):
        decrypt_value(fixed_ring(), column, _flip(ciphertext, at))


@pytest.mark.parametrize("text", ["plain text", "v2:enc-kat:AAAA", "v1:enc-kat:!!!", "v1:enc-kat:AAAA",
                                  "s1:siv-kat:AAAA", "13800138000"])
def test_not_a_ciphertext_fails_closed(text):
    """Text that is not a v1/s1 ciphertext of sufficient length is refused, naming the column only."""
    with pytest.raises(AuthenticationFailed, match="column name") as caught:
        decrypt_value(fixed_ring(), "name", text)
    assert text not in str(caught.value)


@pytest.mark.parametrize(("ciphertext", "column", "purpose"), [(KAT_GCM, "name", "encryption"),
                                                                (KAT_SIV, "mobile", "deterministic")])
def test_unknown_key_id_fails_closed(ciphertext, column, purpose):
    """A ciphertext naming a key id the keyring does not hold is refused with the id and what it holds."""
    ring = fixed_ring(enc={"enc-new": NEW_ENC}, siv={"siv-new": NEW_SIV})

    with pytest.raises(UnknownKeyId, match=f"unknown {purpose} key id '{ciphertext.split(':')[1]}'"):
        decrypt_value(ring, column, ciphertext)


@pytest.mark.parametrize(("ciphertext", "column"), [(KAT_GCM, "name"), (KAT_SIV, "mobile")])
def test_wrong_key_under_same_id_fails_closed(ciphertext, column):
    """A key id whose key material differs does not decrypt."""
    ring = fixed_ring(enc={"enc-kat": NEW_ENC}, siv={"siv-kat": NEW_SIV})

    with pytest.raises(AuthenticationFailed, match="failed authentication"):
        decrypt_value(ring, column, ciphertext)


@pytest.mark.parametrize(("ciphertext", "column"), [(KAT_GCM, "name"), (KAT_SIV, "mobile")])
def test_ciphertext_moved_to_other_column_fails(ciphertext, column):
    """A ciphertext is bound to its column: it does not decrypt under another column name."""
    with pytest.raises(AuthenticationFailed, match="column address"):
        decrypt_value(fixed_ring(), "address", ciphertext)


def test_rotation_new_writes_use_newest_key_old_still_decrypt():
    """After rotation, new GCM and SIV ciphertexts carry the new key ids; the old known answers still decrypt."""
    rotated = fixed_ring(enc={"enc-kat": ENC_KEY, "enc-new": NEW_ENC}, siv={"siv-kat": SIV_KEY, "siv-new": NEW_SIV},
                         active={"encryption": "enc-new", "deterministic": "siv-new"})

    gcm = encrypt_values(rotated, "name", ["新值"])[0]
    siv = encrypt_deterministic(rotated, "mobile", ["13800138000"])[0]

    assert gcm.startswith("v1:enc-new:") and siv.startswith("s1:siv-new:") and siv != KAT_SIV
    assert decrypt_value(rotated, "name", KAT_GCM) == "测试甲"
    assert decrypt_value(rotated, "mobile", KAT_SIV) == "13800138000"
    assert [decrypt_value(rotated, "name", gcm), decrypt_value(rotated, "mobile", siv)] == ["新值", "13800138000"]
    assert deterministic_candidates(rotated, "mobile", "13800138000") == [KAT_SIV, siv]


def test_legacy_keyring_without_deterministic_keys_says_what_to_do():
    """A format-1 keyring has no AES-SIV keys: deterministic encryption stops and names the fix."""
    doc = fixed_document()
    legacy = {"format": "booktransfer-keyring/1", "token": doc["token"], "encryption": doc["encryption"]}

    with pytest.raises(KeyringError, match="no deterministic key.*keys init --if-missing"):
        encrypt_deterministic(parse_keyring(legacy), "mobile", ["x"])


def test_is_ciphertext():
    """Ciphertexts of both schemes are recognised; clear values are not."""
    assert is_ciphertext(KAT_GCM) and is_ciphertext(KAT_SIV)
    assert not is_ciphertext("13800138000") and not is_ciphertext("v1:x")


@pytest.mark.parametrize("key_length", [0, 1, 32, 63, 64, 65, 200])
def test_batch_hmac_equals_the_standard_library(key_length):
    """The per-message HMAC used for tokens and fingerprints is RFC 2104 exactly, for every key length."""
    import hashlib
    import hmac
    import os

    key = os.urandom(key_length)
    prefix = b"customers.id_number\x1f"
    one = hmac_sha256_hex(key, prefix)
    for message in [b"", b"x", "张三丰".encode(), os.urandom(63), os.urandom(64), os.urandom(1000)]:
        assert one(message) == hmac.new(key, prefix + message, hashlib.sha256).hexdigest()
    assert hmac_sha256_hex(key)(b"abc") == hmac.new(key, b"abc", hashlib.sha256).hexdigest()


def test_tokens_keep_nulls_and_match_single_tokens():
    values = ["110101199001011234", None, "", "91350100M000100Y43"]
    out = tokens(TOKEN_KEY, "id", values)
    assert out[1] is None
    assert out[0] == token(TOKEN_KEY, "id", values[0]) and out[2] == token(TOKEN_KEY, "id", "")
    assert out[3] == token(TOKEN_KEY, "id", values[3]) and len(set(out) - {None}) == 3
