"""booktransfer.protect.keyring: parsing, creating, completing, rotating and loading keyrings, never leaking keys."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from booktransfer.errors import KeyringError, UnknownKeyId
from booktransfer.protect.keyring import (
    FORMAT,
    KeyPurpose,
    complete_document,
    load_keyring,
    new_keyring_document,
    parse_keyring,
    read_keyring_document,
    rotate_document,
    save_keyring_document,
    write_keyring,
)
from tests.unit.protect.fixed_keys import AUDIT_KEY, ENC_KEY, SIV_KEY, STAGING_KEY, TOKEN_KEY, b64, fixed_document


def _legacy() -> dict:
    doc = fixed_document()
    return {"format": "booktransfer-keyring/1", "token": doc["token"], "encryption": doc["encryption"]}


def _material(doc: dict) -> list[str]:
    """Every base64 key of a document."""
    out = []
    for purpose in KeyPurpose:
        section = doc.get(purpose.value)
        if section:
            out += [section["key"]] if "key" in section else list(section["keys"].values())
    return out


def test_parse_complete_keyring():
    """A well-formed document gives every key id and every decoded key at its size."""
    ring = parse_keyring(fixed_document())

    assert (ring.token_kid, ring.token_key) == ("tok-kat", TOKEN_KEY)
    assert (ring.active_kid, ring.encryption_key("enc-kat")) == ("enc-kat", ENC_KEY)
    assert ring.audit_key == AUDIT_KEY
    assert ring.keyset(KeyPurpose.DETERMINISTIC).active_key == SIV_KEY
    assert ring.keyset(KeyPurpose.STAGING).key("stg-kat") == STAGING_KEY


@pytest.mark.parametrize(("section", "size"), [("token", 16), ("audit", 31), ("encryption", 33),
                                               ("deterministic", 32), ("staging", 64)])
def test_parse_rejects_wrong_key_length(section, size):
    """Each purpose has its key size (AES-SIV 64 bytes, all others 32); anything else is refused."""
    doc = fixed_document()
    if "key" in doc[section]:
        doc[section]["key"] = b64(b"\x01" * size)
    else:
        doc[section]["keys"] = {doc[section]["active"]: b64(b"\x01" * size)}

    with pytest.raises(KeyringError, match=f"every {section} key must be"):
        parse_keyring(doc)


@pytest.mark.parametrize("change", [
    {"format": "booktransfer-keyring/0"},
    {"token": None},
    {"audit": None},
    {"encryption": {"active": "enc-kat"}},
    {"token": {"kid": "tok-1", "key": "not=base64"}},
    {"token": "flat string"},
    {"staging": {"active": "stg-kat", "keys": {}}},
    {"extra": {}},
], ids=["format-tag", "no-token", "no-audit", "no-keys", "bad-base64", "token-not-object", "empty-keys",
        "unknown-section"])
def test_parse_rejects_wrong_format(change):
    """A wrong format tag, a missing or unknown section or an undecodable key is refused as a KeyringError."""
    doc = {k: v for k, v in (fixed_document() | change).items() if v is not None}

    with pytest.raises(KeyringError):
        parse_keyring(doc)


def test_parse_rejects_active_key_not_held():
    """An active key id absent from the keys is refused."""
    doc = fixed_document()
    doc["encryption"]["active"] = "enc-9"

    with pytest.raises(UnknownKeyId, match="unknown encryption key id 'enc-9'"):
        parse_keyring(doc)


def test_errors_never_hold_key_material():
    """A malformed key is named by its id, never echoed."""
    doc = fixed_document()
    doc["audit"]["key"] = b64(b"\x07" * 20)

    with pytest.raises(KeyringError) as caught:
        parse_keyring(doc)
    assert "aud-kat" in str(caught.value) and doc["audit"]["key"] not in str(caught.value)


def test_repr_and_key_ids_show_no_key_material():
    """repr/str and key_ids of a keyring show key ids only, never key bytes (raw, hex or base64)."""
    doc = new_keyring_document()
    ring = parse_keyring(doc)

    text = repr(ring) + str(ring) + json.dumps(ring.key_ids) + repr(ring.token)

    assert doc["token"]["kid"] in text and doc["staging"]["active"] in text
    for key in _material(doc):
        raw = base64.b64decode(key)
        for form in (key, repr(raw), raw.hex()):
            assert form not in text
    assert set(ring.key_ids) == {"token", "audit", "encryption", "encryption_active", "deterministic",
                                 "deterministic_active", "staging", "staging_active"}


def test_new_keyrings_are_complete_and_differ():
    """Fresh keyrings have every purpose, distinct key ids within one keyring, and never share key material."""
    a, b = new_keyring_document(), new_keyring_document()

    parse_keyring(a)
    assert set(a) == {"format", *(p.value for p in KeyPurpose)} and a["format"] == FORMAT
    assert not set(_material(a)) & set(_material(b))
    kids = [a["token"]["kid"], a["audit"]["kid"], a["encryption"]["active"], a["deterministic"]["active"],
            a["staging"]["active"]]
    assert len(set(kids)) == 5


def test_legacy_keyring_parses_but_new_purposes_say_what_to_do():
    """A format-1 keyring (token + encryption only) still decrypts; asking it for an audit key names the fix."""
    ring = parse_keyring(_legacy())

    assert ring.encryption_key("enc-kat") == ENC_KEY
    with pytest.raises(KeyringError, match="no audit key.*keys init --if-missing"):
        _ = ring.audit_key


def test_complete_document_adds_missing_purposes_and_keeps_existing_keys():
    """Completing a legacy keyring adds audit, deterministic and staging keys and changes no existing key."""
    legacy = _legacy()

    done, added = complete_document(legacy)

    assert added == ["audit", "deterministic", "staging"]
    assert done["format"] == FORMAT
    assert done["token"] == legacy["token"] and done["encryption"] == legacy["encryption"]
    assert complete_document(done) == (done, [])


def test_rotate_adds_active_keys_and_keeps_old_ones():
    """Rotation adds one new key per rotating purpose and makes it active; every old key stays."""
    before = fixed_document()

    after, new_ids = rotate_document(before)
    ring = parse_keyring(after)

    assert set(new_ids) == {"encryption", "deterministic", "staging"}
    for purpose, kid in new_ids.items():
        keyset = ring.keyset(KeyPurpose(purpose))
        assert keyset.active == kid and len(keyset.keys) == 2
        assert after[purpose]["keys"] | before[purpose]["keys"] == after[purpose]["keys"]
    assert ring.encryption_key("enc-kat") == ENC_KEY
    assert after["token"] == before["token"] and after["audit"] == before["audit"]


def test_rotate_one_purpose_only():
    """Rotating only the encryption keys leaves the others' active key ids unchanged."""
    after, new_ids = rotate_document(fixed_document(), [KeyPurpose.ENCRYPTION])

    assert list(new_ids) == ["encryption"]
    assert after["staging"]["active"] == "stg-kat" and after["deterministic"]["active"] == "siv-kat"


@pytest.mark.parametrize("purpose", [KeyPurpose.TOKEN, KeyPurpose.AUDIT])
def test_token_and_audit_keys_do_not_rotate(purpose):
    """Rotating the token or audit key is refused: tokens and fingerprints must stay comparable."""
    with pytest.raises(KeyringError, match=f"{purpose.value} keys do not rotate"):
        rotate_document(fixed_document(), [purpose])


def test_write_keyring_creates_private_complete_file(tmp_path):
    """write_keyring creates a parseable, complete keyring readable by its owner only (mode 0600)."""
    path = tmp_path / "keys" / "keyring.json"

    write_keyring(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert parse_keyring(read_keyring_document(path)).keyset(KeyPurpose.STAGING).active.startswith("stg-")


def test_write_keyring_refuses_overwrite(tmp_path):
    """An existing keyring is never overwritten by default."""
    path = write_keyring(tmp_path / "keyring.json")
    before = path.read_bytes()

    with pytest.raises(KeyringError, match="refusing to overwrite"):
        write_keyring(path)
    assert path.read_bytes() == before


def test_write_keyring_overwrite_makes_file_private(tmp_path):
    """Overwriting (keys init --force) leaves the keyring readable by its owner only."""
    path = tmp_path / "keyring.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)

    write_keyring(path, overwrite=True)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_save_keeps_file_private_after_rotation(tmp_path):
    """A rotated keyring saved over the old one stays mode 0600 and reads back rotated."""
    path = save_keyring_document(tmp_path / "k.json", fixed_document())
    rotated, ids = rotate_document(read_keyring_document(path))

    save_keyring_document(path, rotated)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert parse_keyring(read_keyring_document(path)).active_kid == ids["encryption"]


def test_load_keyring_from_env_json(monkeypatch):
    """BOOKTRANSFER_KEYRING_JSON takes precedence and is parsed."""
    monkeypatch.setenv("BOOKTRANSFER_KEYRING_JSON", json.dumps(fixed_document()))

    assert load_keyring().token_key == TOKEN_KEY


def test_load_keyring_invalid_env_json(monkeypatch):
    """Invalid JSON in BOOKTRANSFER_KEYRING_JSON is a KeyringError that does not echo the value."""
    monkeypatch.setenv("BOOKTRANSFER_KEYRING_JSON", "{secret-ish")

    with pytest.raises(KeyringError, match="not valid JSON") as err:
        load_keyring()
    assert "secret-ish" not in str(err.value)


def test_load_keyring_missing_file(monkeypatch, tmp_path):
    """No env JSON and no key file stops the run naming the path."""
    monkeypatch.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(tmp_path / "none.json"))

    with pytest.raises(KeyringError, match="none.json"):
        load_keyring()


def test_load_keyring_from_file(monkeypatch, tmp_path):
    """BOOKTRANSFER_KEYRING names the key file to read."""
    path = write_keyring(tmp_path / "k.json")
    monkeypatch.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(path))

    assert load_keyring().key_ids["encryption"] == [load_keyring().active_kid]


def test_load_keyring_non_object_json(monkeypatch):
    """A keyring document that is valid JSON but not an object is a KeyringError."""
    monkeypatch.setenv("BOOKTRANSFER_KEYRING_JSON", "[]")

    with pytest.raises(KeyringError):
        load_keyring()
