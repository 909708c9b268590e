"""booktransfer.protect.keyring: parsing, creating and loading keyrings, without leaking key material."""

from __future__ import annotations

import base64
import json
import stat

import pytest

from booktransfer.errors import KeyringError
from booktransfer.protect.keyring import FORMAT, Keyring, load_keyring, parse_keyring, write_keyring

TOKEN_KEY = b"\x01" * 32
ENC_KEY = b"\x02" * 32


def _doc(token_key: bytes = TOKEN_KEY, enc_key: bytes = ENC_KEY, **overrides) -> dict:
    doc = {
        "format": FORMAT,
        "token": {"kid": "tok-1", "key": base64.b64encode(token_key).decode()},
        "encryption": {"active": "enc-1", "keys": {"enc-1": base64.b64encode(enc_key).decode()}},
    }
    return doc | overrides


def test_parse_valid_keyring():
    """A well-formed document gives the key ids and the decoded 32-byte keys."""
    ring = parse_keyring(_doc())

    assert ring.token_kid == "tok-1"
    assert ring.token_key == TOKEN_KEY
    assert ring.active_kid == "enc-1"
    assert ring.encryption_key("enc-1") == ENC_KEY


@pytest.mark.parametrize(("token_key", "enc_key"), [(b"\x01" * 16, ENC_KEY), (TOKEN_KEY, b"\x02" * 31)])
def test_parse_rejects_wrong_key_length(token_key, enc_key):
    """A token or encryption key that is not 32 bytes is refused."""
    with pytest.raises(KeyringError, match="32 bytes"):
        parse_keyring(_doc(token_key, enc_key))


@pytest.mark.parametrize("doc", [
    _doc(format="booktransfer-keyring/0"),
    {k: v for k, v in _doc().items() if k != "token"},
    _doc(encryption={"active": "enc-1"}),
    _doc(token={"kid": "tok-1", "key": "not=base64"}),
    _doc(token="flat string"),
], ids=["format-tag", "no-token", "no-keys", "bad-base64", "token-not-object"])
def test_parse_rejects_wrong_format(doc):
    """A wrong format tag, a missing section or undecodable key is refused as a KeyringError."""
    with pytest.raises(KeyringError):
        parse_keyring(doc)


def test_parse_rejects_active_key_not_held():
    """An active key id absent from the keys is refused."""
    with pytest.raises(KeyringError, match="unknown encryption key id 'enc-9'"):
        parse_keyring(_doc(encryption={"active": "enc-9", "keys": {"enc-1": base64.b64encode(ENC_KEY).decode()}}))


def test_repr_shows_no_key_material():
    """repr/str of a keyring show key ids only, never key bytes (raw, hex or base64)."""
    ring = Keyring("tok-1", bytes(range(32)), "enc-1", {"enc-1": bytes(range(32, 64))})

    text = repr(ring) + str(ring) + f"{ring}"

    assert "tok-1" in text and "enc-1" in text
    for key in (ring.token_key, ring.encryption_keys["enc-1"]):
        for form in (repr(key), key.hex(), base64.b64encode(key).decode()):
            assert form not in text
    assert json.dumps(ring.key_ids) == json.dumps({"token": "tok-1", "encryption_active": "enc-1",
                                                   "encryption": ["enc-1"]})


def test_write_keyring_creates_private_file(tmp_path):
    """write_keyring creates a parseable keyring readable by its owner only (mode 0600)."""
    path = tmp_path / "keys" / "keyring.json"

    write_keyring(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    ring = parse_keyring(json.loads(path.read_text(encoding="utf-8")))
    assert len(ring.token_key) == 32


def test_write_keyring_refuses_overwrite(tmp_path):
    """An existing keyring is never overwritten by default."""
    path = tmp_path / "keyring.json"
    write_keyring(path)
    before = path.read_bytes()

    with pytest.raises(KeyringError, match="refusing to overwrite"):
        write_keyring(path)
    assert path.read_bytes() == before


def test_new_keyrings_differ(tmp_path):
    """Two fresh keyrings never share key material."""
    a, b = write_keyring(tmp_path / "a.json"), write_keyring(tmp_path / "b.json")

    ring_a = parse_keyring(json.loads(a.read_text()))
    ring_b = parse_keyring(json.loads(b.read_text()))

    assert ring_a.token_key != ring_b.token_key


def test_load_keyring_from_env_json(monkeypatch):
    """BOOKTRANSFER_KEYRING_JSON takes precedence and is parsed."""
    monkeypatch.setenv("BOOKTRANSFER_KEYRING_JSON", json.dumps(_doc()))

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


def test_write_keyring_overwrite_makes_file_private(tmp_path):
    """Overwriting (keys init --force) leaves the keyring readable by its owner only."""
    path = tmp_path / "keyring.json"
    path.write_text("{}", encoding="utf-8")
    path.chmod(0o644)

    write_keyring(path, overwrite=True)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_keyring_non_object_json(monkeypatch):
    """A keyring document that is valid JSON but not an object is a KeyringError."""
    monkeypatch.setenv("BOOKTRANSFER_KEYRING_JSON", "[]")

    with pytest.raises(KeyringError):
        load_keyring()
