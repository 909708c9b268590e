"""The seller's drop on an SFTP server, over paramiko: key login, a pinned host key, resumable downloads.

The server must present exactly the pinned host key (paramiko's RejectPolicy, with the pinned key as the
only known key): an unknown or changed key is refused before authenticating. A download goes to a
temporary `.<name>.part` file; a connection that breaks off is reopened with exponential backoff and the
download resumes from the partial file's size. Only then is the file renamed into place; its SHA-256 and
row count are checked against the control file by `extract_drop`, the final word on its integrity.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import os
import posixpath
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypeVar

import paramiko

from booktransfer.errors import HostKeyMismatch, SourceAccessError, SourceFormatError, SourceUnavailable
from booktransfer.extract.sources import safe_name

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[str, int, int], None]
"""Called after each chunk with (file name, bytes landed so far, file size)."""

CHUNK = 1 << 18
_KEY_TYPES = ("ssh-", "ecdsa-sha2-", "sk-")
# Errors of a connection that broke or could not be made: worth reconnecting. Host key and login
# failures are turned into SourceAccessError before they get here; SFTP status errors such as a
# missing file into SourceFormatError.
_TRANSIENT = (SourceUnavailable, paramiko.SSHException, EOFError, OSError)


@dataclass(frozen=True)
class SftpSettings:
    """Where the drop is and how to log in. The private key and passphrase never show in a repr."""

    host: str
    username: str
    folder: str
    host_key: str
    port: int = 22
    key_file: str | None = None
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    attempts: int = 3
    backoff: float = 2.0

    @property
    def location(self) -> str:
        """The drop as an address for messages (no credentials)."""
        folder = self.folder if self.folder.startswith("/") else f"~/{self.folder}"
        return f"sftp://{self.host}:{self.port}{folder}"


def parse_host_key(text: str) -> paramiko.PKey:
    """The pinned public key from `ssh-ed25519 AAAA… [comment]`, a known_hosts line, or bare base64."""
    tokens = (text or "").split()
    if any(t.upper().startswith(("SHA256:", "MD5:")) for t in tokens):
        raise SourceAccessError("host_key: a fingerprint cannot be pinned, give the server's full public key "
                                "('ssh-ed25519 AAAA…', as in its .pub file)")
    typed = [i for i, t in enumerate(tokens[:-1]) if t.startswith(_KEY_TYPES)]
    if typed:
        declared, encoded = tokens[typed[0]], tokens[typed[0] + 1]
    elif len(tokens) == 1:
        declared, encoded = None, tokens[0]
    else:
        raise SourceAccessError("host_key: expected the server's public key, 'ssh-ed25519 AAAA…'")
    try:
        blob = base64.b64decode(encoded, validate=True)
        embedded = paramiko.Message(blob).get_text()
        if declared is not None and declared != embedded:
            raise SourceAccessError(f"host_key: declared as {declared} but the key data is {embedded}")
        return paramiko.PKey.from_type_string(embedded, blob)
    except (binascii.Error, paramiko.SSHException, paramiko.UnknownKeyType, ValueError, TypeError):
        raise SourceAccessError("host_key: not a readable SSH public key") from None


def load_client_key(settings: SftpSettings) -> paramiko.PKey:
    """The private key to log in with, from `private_key` (the key's text) or `key_file` (a path)."""
    if settings.private_key:
        return _key_from_text(settings.private_key, settings.passphrase)
    if not settings.key_file:
        raise SourceAccessError(f"{settings.location}: no private key; set 'key_file' or 'private_key' "
                                "(booktransfer logs in with a key only)")
    try:
        return paramiko.PKey.from_path(settings.key_file, password=settings.passphrase)
    except FileNotFoundError:
        raise SourceAccessError(f"key_file {settings.key_file}: no such file") from None
    except (paramiko.SSHException, paramiko.UnknownKeyType, ValueError, TypeError):
        raise SourceAccessError(f"key_file {settings.key_file}: not a readable private key "
                                "(or a wrong passphrase)") from None


def _key_from_text(text: str, passphrase: str | None) -> paramiko.PKey:
    """A private key from its PEM/OpenSSH text, whatever its algorithm."""
    for key_class in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return key_class.from_private_key(io.StringIO(text), password=passphrase)
        except (paramiko.SSHException, ValueError, TypeError):
            continue
    raise SourceAccessError("private_key: not a readable Ed25519, ECDSA or RSA private key (or a wrong passphrase)")


def _reason(error: BaseException) -> str:
    """A short account of a connection error for messages (transport errors carry no field values)."""
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class SftpSource:
    """A drop that is a folder on an SFTP server. Connects on first use; `close()` (or `with`) disconnects."""

    def __init__(self, settings: SftpSettings, progress: Progress | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.progress = progress
        self._sleep = sleep
        self._host_key = parse_host_key(settings.host_key)
        self._client_key = load_client_key(settings)
        self._client: paramiko.SSHClient | None = None
        self._sftp: paramiko.SFTPClient | None = None

    def __enter__(self) -> SftpSource:
        """Use as a context manager; the connection is closed on exit."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Close the connection."""
        self.close()

    def list_files(self) -> list[str]:
        """Names of the regular files in the drop folder."""
        return self._retrying("listing the drop", self._list)

    def exists(self, name: str) -> bool:
        """Whether the drop folder holds a regular file called `name`."""
        name = safe_name(name)
        return self._retrying(name, lambda: self._exists(name))

    def fetch(self, name: str, dest: Path) -> Path:
        """Download `name` into `dest` via `.<name>.part`, resuming after a broken connection; then rename it."""
        name = safe_name(name)
        dest.mkdir(parents=True, exist_ok=True)
        part = dest / f".{name}.part"
        try:
            self._retrying(name, lambda: self._download(name, part))
        except BaseException:
            part.unlink(missing_ok=True)  # no clear partial copy stays on the worker
            raise
        return part.replace(dest / name)

    def close(self) -> None:
        """Close the SFTP session and the SSH connection, if open."""
        sftp, client = self._sftp, self._client
        self._sftp = self._client = None
        if sftp is not None:
            sftp.close()
        if client is not None:
            client.close()

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run `operation`; on a broken connection reconnect and retry with exponential backoff."""
        attempts = max(1, self.settings.attempts)
        for attempt in range(1, attempts + 1):
            try:
                return operation()
            except _TRANSIENT as e:
                self.close()
                if attempt == attempts:
                    raise SourceUnavailable(f"{what}: {self.settings.location} failed after {attempts} attempt(s) "
                                            f"({_reason(e)})") from None
                delay = self.settings.backoff * 2 ** (attempt - 1)
                log.warning("%s: %s (attempt %d of %d); retrying in %.1f s", what, _reason(e), attempt,
                            attempts, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def _connection(self) -> paramiko.SFTPClient:
        """The open SFTP session, connecting first if needed."""
        if self._sftp is None:
            self._connect()
        assert self._sftp is not None
        return self._sftp

    def _connect(self) -> None:
        """Open the SSH connection (the pinned host key or nothing) and an SFTP session on it."""
        s = self.settings
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        known_as = s.host if s.port == 22 else f"[{s.host}]:{s.port}"
        client.get_host_keys().add(known_as, self._host_key.get_name(), self._host_key)
        try:
            client.connect(s.host, port=s.port, username=s.username, pkey=self._client_key, timeout=s.timeout,
                           banner_timeout=s.timeout, auth_timeout=s.timeout, channel_timeout=s.timeout,
                           allow_agent=False, look_for_keys=False)
            sftp = client.open_sftp()
        except paramiko.BadHostKeyException as e:
            client.close()
            raise HostKeyMismatch(
                f"{s.location}: the server's host key ({e.key.get_name()} {e.key.fingerprint}) is not the pinned "
                f"key ({e.expected_key.fingerprint}); connection refused, nothing was downloaded"
            ) from None
        except paramiko.AuthenticationException:
            client.close()
            raise SourceAccessError(f"{s.location}: the server refused the private key for login "
                                    f"{s.username!r}") from None
        except (paramiko.SSHException, OSError, EOFError) as e:
            client.close()
            raise SourceUnavailable(f"{s.location}: cannot connect ({_reason(e)})") from None
        sftp.get_channel().settimeout(s.timeout)
        self._client, self._sftp = client, sftp

    def _remote(self, name: str) -> str:
        """The remote path of a file of the drop."""
        return posixpath.join(self.settings.folder, name)

    def _list(self) -> list[str]:
        """One listing of the drop folder."""
        try:
            entries = self._connection().listdir_attr(self.settings.folder)
        except FileNotFoundError:
            raise SourceFormatError(f"drop folder {self.settings.location} does not exist") from None
        except PermissionError:
            raise SourceAccessError(f"drop folder {self.settings.location}: permission denied") from None
        return sorted(e.filename for e in entries if stat.S_ISREG(e.st_mode or 0))

    def _exists(self, name: str) -> bool:
        """One look for a file."""
        try:
            attrs = self._connection().stat(self._remote(name))
        except FileNotFoundError:
            return False
        except PermissionError:
            raise SourceAccessError(f"{name}: permission denied on {self.settings.location}") from None
        return stat.S_ISREG(attrs.st_mode or 0)

    def _remote_size(self, sftp: paramiko.SFTPClient, name: str) -> int:
        """The size of a regular file of the drop; a missing one is named."""
        try:
            attrs = sftp.stat(self._remote(name))
        except FileNotFoundError:
            raise SourceFormatError(f"{name}: listed in the control file but not in the drop folder") from None
        except PermissionError:
            raise SourceAccessError(f"{name}: permission denied on {self.settings.location}") from None
        if not stat.S_ISREG(attrs.st_mode or 0):
            raise SourceFormatError(f"{name}: not a regular file in the drop folder")
        return attrs.st_size or 0

    def _download(self, name: str, part: Path) -> None:
        """One download attempt: continue `part` from its size up to the remote file's size."""
        sftp = self._connection()
        size = self._remote_size(sftp, name)
        offset = _resume_offset(part, size, name)
        with sftp.open(self._remote(name), "rb") as remote, part.open("ab") as out:
            remote.seek(offset)
            remote.prefetch(size)
            self._copy(remote, out, name, offset, size)
            out.flush()
            os.fsync(out.fileno())
        landed = part.stat().st_size
        if landed != size:
            raise SourceUnavailable(f"{name}: landed {landed} bytes, the server reports {size}")

    def _copy(self, remote: IO[bytes], out: IO[bytes], name: str, offset: int, size: int) -> None:
        """Append the remote bytes from `offset` to `size` to `out`, reporting progress after each chunk."""
        while offset < size:
            chunk = remote.read(min(CHUNK, size - offset))
            if not chunk:
                raise SourceUnavailable(f"{name}: the file ended at byte {offset}, the server reported {size}")
            out.write(chunk)
            offset += len(chunk)
            if self.progress is not None:
                self.progress(name, offset, size)


def _resume_offset(part: Path, size: int, name: str) -> int:
    """Where to continue a download: the partial file's size, or 0 when it cannot be a prefix of the file."""
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        return 0
    if have:
        log.info("%s: resuming the download at byte %d of %d", name, have, size)
    return have
