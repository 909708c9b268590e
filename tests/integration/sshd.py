"""A real OpenSSH server for the SFTP tests: `/usr/sbin/sshd -D -e` on 127.0.0.1, a free port, its own keys.

Keys are generated per test session (never committed): an Ed25519 host key, and an Ed25519 client key
authorized for the current user. Passwords are off; SFTP is served by internal-sftp.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from booktransfer.extract.sftp_source import SftpSettings

SSHD = "/usr/sbin/sshd"

_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {host_key}
PidFile {pid_file}
AuthorizedKeysFile {authorized_keys}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
LogLevel VERBOSE
Subsystem sftp internal-sftp
"""


def write_ed25519_pair(private_path: Path, comment: str) -> str:
    """Write an OpenSSH Ed25519 private key (mode 600); return its public line 'ssh-ed25519 AAAA… comment'."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                               serialization.NoEncryption()))
    private_path.chmod(0o600)
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{public.decode()} {comment}"


def free_port() -> int:
    """A TCP port nobody listens on at the moment, on the loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers_ssh(port: int) -> bool:
    """Whether an SSH server answers with its banner on the port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _alive(process: object) -> bool:
    """Whether a process still runs (a zombie waiting to be reaped does not)."""
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class SshdServer:
    """A running sshd and what a client needs to reach it."""

    process: subprocess.Popen
    port: int
    host_key: str
    client_key_file: Path
    username: str
    log_file: Path
    host: str = "127.0.0.1"

    @property
    def client_key_text(self) -> str:
        """The client's private key as text (for a connection's `private_key` extra)."""
        return self.client_key_file.read_text(encoding="ascii")

    def settings(self, folder: Path | str, **overrides: object) -> SftpSettings:
        """SFTP settings for a drop folder on this server: the pinned host key, the client key file."""
        from booktransfer.extract.sftp_source import SftpSettings

        values = {"host": self.host, "port": self.port, "username": self.username, "folder": str(folder),
                  "host_key": self.host_key, "key_file": str(self.client_key_file), "timeout": 10.0,
                  "backoff": 0.1}
        return SftpSettings(**{**values, **overrides})

    def session_pids(self) -> list[int]:
        """Processes serving connections now: every descendant of the listening sshd."""
        import psutil

        return [p.pid for p in psutil.Process(self.process.pid).children(recursive=True)]

    def kill_sessions(self) -> list[int]:
        """Kill every connection's sshd processes (SIGKILL, by pid) — the listener stays up. Returns the pids."""
        import psutil

        children = psutil.Process(self.process.pid).children(recursive=True)
        for child in children:
            try:
                child.kill()
            except psutil.NoSuchProcess:
                continue
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.01)
        return [c.pid for c in children]

    def stop(self) -> None:
        """Kill the connections, then stop the listener."""
        if self.process.poll() is None:
            self.kill_sessions()
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def start_sshd(workdir: Path, attempts: int = 3) -> SshdServer:
    """Generate keys and a config under `workdir` and start sshd on a free loopback port; wait until it answers."""
    if not os.access(SSHD, os.X_OK):
        raise RuntimeError(f"{SSHD} is not installed (openssh-server)")
    Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)  # privilege separation directory
    workdir.mkdir(parents=True, exist_ok=True)
    host_key_file = workdir / "ssh_host_ed25519_key"
    host_key = write_ed25519_pair(host_key_file, "booktransfer-test-host")
    client_key_file = workdir / "client_ed25519"
    authorized = workdir / "authorized_keys"
    authorized.write_text(write_ed25519_pair(client_key_file, "booktransfer-test-client") + "\n", encoding="ascii")
    for _ in range(attempts):
        port = free_port()
        config = workdir / "sshd_config"
        config.write_text(_CONFIG.format(port=port, host_key=host_key_file, pid_file=workdir / "sshd.pid",
                                         authorized_keys=authorized), encoding="ascii")
        log_file = workdir / f"sshd-{port}.log"
        with log_file.open("wb") as log:
            process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log,
                                       stdin=subprocess.DEVNULL, env={"PATH": os.environ.get("PATH", "")})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            if _answers_ssh(port):
                return SshdServer(process, port, " ".join(host_key.split()[:2]), client_key_file,
                                  getpass.getuser(), log_file)
            time.sleep(0.05)
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    raise RuntimeError(f"sshd did not start; see {log_file}:\n{log_file.read_text(errors='replace')[-2000:]}")
