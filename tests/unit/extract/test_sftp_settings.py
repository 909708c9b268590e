"""SFTP settings without a server: host key pinning rules, connection refusals, secrets kept out of reprs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from booktransfer.errors import ChecksumMismatch, MappingError, SourceAccessError
from booktransfer.extract.security_events import SecurityEventLog, read_events
from booktransfer.extract.sftp_source import SftpSettings, SftpSource, parse_host_key
from booktransfer.extract.sources import LocalFolderSource


@pytest.fixture(scope="module")
def host_key() -> str:
    """A freshly generated Ed25519 public key line."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


@pytest.fixture()
def client_key(tmp_path) -> str:
    """A private key file in OpenSSH format."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = tmp_path / "id_ed25519"
    path.write_bytes(Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()))
    return str(path)


def test_host_key_forms_all_pin_the_same_key(host_key):
    """'type base64', 'type base64 comment', a known_hosts line and bare base64 give the same key."""
    kind, data = host_key.split()
    forms = [host_key, f"{host_key} seller-host", f"[sftp.example]:2222 {kind} {data}", data]
    fingerprints = {parse_host_key(f).fingerprint for f in forms}
    assert len(fingerprints) == 1 and next(iter(fingerprints)).startswith("SHA256:")


@pytest.mark.parametrize("text", ["", "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU", "ssh-ed25519 !!notbase64",
                                  "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"])
def test_unusable_host_keys_are_refused(text):
    """No key, a fingerprint, garbage, or a key whose data contradicts its declared type: refused."""
    with pytest.raises(SourceAccessError, match="host_key"):
        parse_host_key(text)


def test_settings_repr_never_shows_the_private_key(host_key):
    """The key text and its passphrase stay out of reprs (and so out of logs and tracebacks)."""
    settings = SftpSettings(host="h", username="u", folder="/drop", host_key=host_key,
                            private_key="-----BEGIN OPENSSH PRIVATE KEY-----secret", passphrase="hunter22")
    assert "secret" not in repr(settings) and "hunter22" not in repr(settings)
    assert settings.location == "sftp://h:22/drop"


def test_source_without_a_client_key_is_refused(host_key):
    """booktransfer logs in with a key only."""
    with pytest.raises(SourceAccessError, match="no private key"):
        SftpSource(SftpSettings(host="h", username="u", folder="drop", host_key=host_key))


def test_unreadable_client_key_is_refused(host_key, tmp_path):
    """A key file that is not a private key is refused, naming the file but not its content."""
    bad = tmp_path / "key"
    bad.write_text("not a key", encoding="ascii")
    with pytest.raises(SourceAccessError, match="not a readable private key"):
        SftpSource(SftpSettings(host="h", username="u", folder="drop", host_key=host_key, key_file=str(bad)))


def _conn(**extra):
    from airflow.sdk import Connection

    return Connection(conn_id="seller_sftp", conn_type="sftp", host="sftp.example", login="seller", port=2222,
                      extra=json.dumps(extra))


def test_connection_with_pinned_key_becomes_settings(host_key, client_key):
    """Host, port, login, key file and pinned key are carried over; the folder comes from the params."""
    from booktransfer.orchestration.drop_source import sftp_settings

    settings = sftp_settings("seller_sftp", _conn(host_key=host_key, key_file=client_key,
                                                  no_host_key_check="false"), "/drop")
    assert (settings.host, settings.port, settings.username, settings.folder) == ("sftp.example", 2222, "seller",
                                                                                  "/drop")
    assert settings.host_key == host_key and settings.key_file == client_key


@pytest.mark.parametrize(("extra", "message"), [
    ({"no_host_key_check": True}, "no_host_key_check is set"),
    ({"no_host_key_check": "true"}, "no_host_key_check is set"),
    ({"allow_host_key_change": "True"}, "allow_host_key_change is set"),
    ({"host_key": None}, "no host key pinned"),
    ({"key_file": None}, "no client key"),
])
def test_unsafe_connections_are_refused(host_key, client_key, extra, message):
    """Host key checking off, no pinned key, or no client key: refused before any connection."""
    from booktransfer.orchestration.drop_source import sftp_settings

    values = {"host_key": host_key, "key_file": client_key, **extra}
    with pytest.raises(SourceAccessError, match=message):
        sftp_settings("seller_sftp", _conn(**{k: v for k, v in values.items() if v is not None}), "/drop")


def test_local_source_is_chosen_without_a_connection(tmp_path):
    """An empty source_conn_id keeps the local folder source, which answers exists() like the SFTP one."""
    from booktransfer.orchestration.drop_source import resolve_source

    (tmp_path / "CONTROL.txt").write_text("", encoding="ascii")
    source = resolve_source({"source": str(tmp_path), "source_conn_id": ""}, tmp_path)
    assert isinstance(source, LocalFolderSource)
    assert source.exists("CONTROL.txt") and not source.exists("LDPERSON.csv")


def test_security_event_record_has_every_r36_field(tmp_path):
    """An event line holds the Art. 57 contents and deadlines 4 h and 72 h after detection."""
    log = SecurityEventLog(tmp_path / "events.jsonl", "t-1", "r-1")
    when = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    log.record(log.event("checksum_mismatch", "LCCONT.csv", "LCCONT.csv: SHA-256 does not match", ["personal"],
                         detected_at=when))
    [event] = read_events(tmp_path / "events.jsonl")
    assert all(event.values())
    assert datetime.fromisoformat(event["report_deadline"]) == when + timedelta(hours=4)
    assert datetime.fromisoformat(event["gdpr_report_deadline"]) == when + timedelta(hours=72)


def test_only_security_matters_become_events(tmp_path):
    """A checksum mismatch is recorded; a mapping error is not a security event."""
    log = SecurityEventLog(tmp_path / "events.jsonl", "t-1", "r-1")
    assert log.record_error(MappingError("x.csv: unmapped"), "x.csv", ["personal"]) is None
    assert log.record_error(ChecksumMismatch("x.csv: SHA-256"), "x.csv", ["personal"]).event_type == \
        "checksum_mismatch"
    assert [e["file"] for e in read_events(tmp_path / "events.jsonl")] == ["x.csv"]
