"""The wait_for_drop sensor's poke (what the DAG task calls), against a local folder and the real sshd."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from booktransfer.extract.security_events import EVENTS_FILE, read_events
from booktransfer.orchestration import tasks
from tests.integration.sshd import free_port, write_ed25519_pair

pytestmark = pytest.mark.integration


def connection_json(sshd, **overrides) -> str:
    """An Airflow SFTP connection to the test sshd (as AIRFLOW_CONN_<ID> holds it), key file and pinned key."""
    extra = {"host_key": sshd.host_key, "key_file": str(sshd.client_key_file), "conn_timeout": 5}
    conn = {"conn_type": "sftp", "host": sshd.host, "port": sshd.port, "login": sshd.username, "extra": extra}
    for key, value in overrides.items():
        (conn if key in conn else extra)[key] = value
    return json.dumps(conn)


def params(source: Path, conn_id: str = "") -> dict:
    return {"transfer_id": "t-sensor", "mapping_set": "example_seller", "dry_run": False, "source": str(source),
            "source_conn_id": conn_id, "target": "sqlite:///var/unused.db"}


@pytest.fixture(autouse=True)
def staging(tmp_path, monkeypatch) -> Path:
    """This test's staging folder (where security events go)."""
    monkeypatch.setenv("BOOKTRANSFER_STAGING", str(tmp_path / "staging"))
    return tmp_path / "staging"


def test_sensor_waits_for_the_control_file_on_the_local_folder(tmp_path):
    """Not there yet: False (poke again). Once the seller writes CONTROL.txt: True."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "LDPERSON.csv").write_text("CustomerNo\n", encoding="utf-8")
    assert tasks.wait_for_drop(params(drop), "run-1") is False
    (drop / "CONTROL.txt").write_text("", encoding="ascii")
    assert tasks.wait_for_drop(params(drop), "run-1") is True


def test_sensor_waits_for_the_control_file_over_sftp(sshd, sftp_drop, monkeypatch):
    """The same over SFTP, through an Airflow connection given as an environment variable."""
    monkeypatch.setenv("AIRFLOW_CONN_SELLER_SFTP", connection_json(sshd))
    assert tasks.wait_for_drop(params(sftp_drop, "seller_sftp"), "run-1") is False
    (sftp_drop / "CONTROL.txt").write_text("", encoding="ascii")
    assert tasks.wait_for_drop(params(sftp_drop, "seller_sftp"), "run-1") is True


def test_sensor_fails_at_once_on_a_changed_host_key(sshd, sftp_drop, monkeypatch, tmp_path, staging):
    """A server with another host key fails the task without waiting, and the event is recorded."""
    from airflow.sdk.exceptions import AirflowFailException

    other = write_ed25519_pair(tmp_path / "other", "someone-else")
    monkeypatch.setenv("AIRFLOW_CONN_SELLER_SFTP", connection_json(sshd, host_key=other))
    (sftp_drop / "CONTROL.txt").write_text("", encoding="ascii")
    with pytest.raises(AirflowFailException, match="is not the pinned key"):
        tasks.wait_for_drop(params(sftp_drop, "seller_sftp"), "run-1")
    [event] = read_events(staging / "t-sensor" / "run-1" / EVENTS_FILE)
    assert event["event_type"] == "host_key_mismatch" and event["file"] == "CONTROL.txt"


def test_sensor_refuses_a_connection_without_host_key_checking(sshd, sftp_drop, monkeypatch):
    """no_host_key_check: true is refused outright, even though the server would answer."""
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW_CONN_SELLER_SFTP", connection_json(sshd, no_host_key_check=True))
    with pytest.raises(AirflowFailException, match="no_host_key_check is set"):
        tasks.wait_for_drop(params(sftp_drop, "seller_sftp"), "run-1")


def test_sensor_keeps_waiting_while_the_server_is_down(sshd, sftp_drop, monkeypatch):
    """Nobody listening is not a verdict: the poke says "not yet" and the sensor tries again later."""
    monkeypatch.setenv("AIRFLOW_CONN_SELLER_SFTP", connection_json(sshd, port=free_port()))
    assert tasks.wait_for_drop(params(sftp_drop, "seller_sftp"), "run-1") is False
