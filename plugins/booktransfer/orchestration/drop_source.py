"""The drop source of a run, from the DAG params: a local folder, or an SFTP drop behind an Airflow connection.

The SFTP connection holds host, port, login and, in its extra, the client key (`key_file` or `private_key`,
optionally `private_key_passphrase`) and the server's pinned public key (`host_key`). A connection that
turns host key checking off (`no_host_key_check: true`, `allow_host_key_change: true`) or pins no host key
is refused: booktransfer never trusts a server on first sight.

Imported at DAG parse time: paramiko is imported only inside functions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from booktransfer.errors import SourceAccessError

if TYPE_CHECKING:
    from booktransfer.extract.sftp_source import SftpSettings
    from booktransfer.extract.sources import DropSource

SFTP_CONN_TYPES = ("sftp", "ssh")
_UNSAFE_FLAGS = ("no_host_key_check", "allow_host_key_change")


def _truthy(value: Any) -> bool:
    """An extra's flag as Airflow writes it: a bool, or a string such as 'true'."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes")


def sftp_settings(conn_id: str, conn: Any, folder: str) -> SftpSettings:
    """SFTP settings from an Airflow connection; refuse one that does not pin the host key or has no key."""
    from booktransfer.extract.sftp_source import SftpSettings

    extra = conn.extra_dejson or {}
    if conn.conn_type and conn.conn_type not in SFTP_CONN_TYPES:
        raise SourceAccessError(f"connection {conn_id}: type {conn.conn_type!r}, expected an sftp connection")
    unsafe = [flag for flag in _UNSAFE_FLAGS if _truthy(extra.get(flag, False))]
    if unsafe:
        raise SourceAccessError(f"connection {conn_id}: {', '.join(unsafe)} is set; booktransfer only connects "
                                "to a server whose host key is pinned in the connection's extra 'host_key'")
    if not extra.get("host_key"):
        raise SourceAccessError(f"connection {conn_id}: no host key pinned; put the server's public key "
                                "('ssh-ed25519 AAAA…') in the connection's extra 'host_key'")
    if not (extra.get("key_file") or extra.get("private_key")):
        raise SourceAccessError(f"connection {conn_id}: no client key; set the extra 'key_file' or "
                                "'private_key' (password logins are not used)")
    if not conn.host or not conn.login:
        raise SourceAccessError(f"connection {conn_id}: host and login are required")
    return SftpSettings(
        host=conn.host, port=int(conn.port or 22), username=conn.login, folder=folder,
        host_key=str(extra["host_key"]), key_file=extra.get("key_file") or None,
        private_key=extra.get("private_key") or None, passphrase=extra.get("private_key_passphrase") or None,
        timeout=float(extra.get("conn_timeout") or extra.get("timeout") or 30),
    )


def resolve_source(params: dict[str, Any], home: Path, attempts: int | None = None) -> DropSource:
    """The drop: `source` is a local folder (relative to the project), or with `source_conn_id` a remote folder.

    `attempts` overrides how often an SFTP operation is tried before giving up (the sensor tries once per poke).
    """
    conn_id = (params.get("source_conn_id") or "").strip()
    if not conn_id:
        from booktransfer.extract.sources import LocalFolderSource

        path = Path(params["source"])
        return LocalFolderSource(path if path.is_absolute() else home / path)
    from dataclasses import replace

    from airflow.sdk import BaseHook

    from booktransfer.extract.sftp_source import SftpSource

    settings = sftp_settings(conn_id, BaseHook.get_connection(conn_id), params["source"])
    return SftpSource(settings if attempts is None else replace(settings, attempts=attempts))
