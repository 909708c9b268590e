"""The keyring of a DAG run, resolved by Airflow itself: the booktransfer_keyring connection, else the local file."""

from __future__ import annotations

import base64
import json

import pytest

from booktransfer.errors import KeyringError
from booktransfer.orchestration.keyring_source import KEYRING_CONN_ID, resolve_keyring, with_keyring
from booktransfer.pipeline import RunContext
from booktransfer.protect.keyring import new_keyring_document, parse_keyring, write_keyring

pytestmark = pytest.mark.integration
ENV = "AIRFLOW_CONN_" + KEYRING_CONN_ID.upper()


@pytest.fixture()
def doc() -> dict:
    return new_keyring_document()


@pytest.fixture()
def local_keyring(tmp_path, monkeypatch):
    """A different keyring in the local key file, so tests can tell which one was used."""
    monkeypatch.delenv("BOOKTRANSFER_KEYRING_JSON", raising=False)
    monkeypatch.delenv(ENV, raising=False)
    path = write_keyring(tmp_path / "keyring.json")
    monkeypatch.setenv("BOOKTRANSFER_KEYRING", str(path))
    return parse_keyring(json.loads(path.read_text()))


@pytest.mark.parametrize("where", ["password", "extra-keyring-object", "extra-keyring-string", "extra-document"])
def test_connection_holds_the_keyring(where, doc, local_keyring, monkeypatch):
    """The connection's password, its extra under 'keyring', or its whole extra hold the keyring; it wins."""
    text = json.dumps(doc)
    conn = {"conn_type": "generic",
            **{"password": {"password": text}, "extra-keyring-object": {"extra": {"keyring": doc}},
               "extra-keyring-string": {"extra": {"keyring": text}}, "extra-document": {"extra": doc}}[where]}
    monkeypatch.setenv(ENV, json.dumps(conn))

    ring, origin = resolve_keyring()

    assert origin == f"Airflow connection {KEYRING_CONN_ID}"
    assert ring.key_ids == parse_keyring(doc).key_ids != local_keyring.key_ids
    assert ring.token_key == base64.b64decode(doc["token"]["key"])


def test_without_connection_the_local_keyring_is_used(local_keyring, tmp_path):
    """No booktransfer_keyring connection: the key file named by BOOKTRANSFER_KEYRING (the demo default)."""
    ring, origin = resolve_keyring()

    assert origin == f"file {tmp_path / 'keyring.json'}"
    assert ring.key_ids == local_keyring.key_ids


def test_keys_are_masked_in_airflow_logs(doc, local_keyring, monkeypatch):
    """Every key of the keyring is registered with Airflow's secrets masker (base64 and hex)."""
    from airflow.sdk.log import _secrets_masker

    monkeypatch.setenv(ENV, json.dumps({"conn_type": "generic", "password": json.dumps(doc)}))
    resolve_keyring()
    staging_key = doc["staging"]["keys"][doc["staging"]["active"]]
    line = f"oops {staging_key} and {base64.b64decode(doc['audit']['key']).hex()}"

    redacted = _secrets_masker().redact(line)

    assert staging_key not in redacted and base64.b64decode(doc["audit"]["key"]).hex() not in redacted
    assert "***" in redacted


def test_connection_without_keyring_fails_closed(local_keyring, monkeypatch):
    """A booktransfer_keyring connection that holds no keyring stops the run; it never falls back silently."""
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "generic", "extra": {"note": "nothing here"}}))

    with pytest.raises(KeyringError, match=f"connection {KEYRING_CONN_ID}: no keyring"):
        resolve_keyring()


def test_malformed_keyring_in_connection_is_not_echoed(local_keyring, monkeypatch):
    """Invalid JSON in the connection is named by origin; its text is not in the message."""
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "generic", "password": "{not-json-secret"}))

    with pytest.raises(KeyringError, match="Airflow connection booktransfer_keyring is not valid JSON") as caught:
        resolve_keyring()
    assert "not-json-secret" not in str(caught.value)


def test_run_context_gets_the_keyring_in_memory_only(doc, local_keyring, monkeypatch, tmp_path):
    """with_keyring hands the ring over in memory; the context's repr and equality do not involve it."""
    monkeypatch.setenv(ENV, json.dumps({"conn_type": "generic", "password": json.dumps(doc)}))
    ctx = RunContext("t-1", "r-1", "example_seller", "sqlite://", staging_root=tmp_path)

    handed = with_keyring(ctx)

    assert handed.keyring.key_ids == parse_keyring(doc).key_ids
    assert ctx.keyring.key_ids == local_keyring.key_ids
    assert handed == ctx and repr(handed) == repr(ctx)
    assert doc["token"]["key"] not in repr(handed)
