"""Tamper evidence: the signed MANIFEST catches any changed, missing or added file, and a foreign signature."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from booktransfer.cli import main
from booktransfer.reconcile.manifest import verify_folder, write_manifest
from booktransfer.reconcile.signing import create_signing_key, key_id, load_signing_key, public_path


@pytest.fixture()
def signed(tmp_path):
    """A report folder with three files, signed with a fresh key."""
    folder = tmp_path / "report"
    (folder / "gx").mkdir(parents=True)
    (folder / "reconciliation.json").write_text('{"verdict": "PASS"}\n')
    (folder / "quarantine.csv").write_text("entity,source_file,source_line\n")
    (folder / "gx" / "index.html").write_text("<html></html>")
    key = Ed25519PrivateKey.generate()
    write_manifest(folder, {"transfer_id": "t"}, key, key_id(key.public_key()))
    return folder, key


def test_untouched_report_verifies(signed):
    """A report exactly as signed is OK."""
    folder, key = signed
    assert verify_folder(folder, key.public_key()).describe() == "OK"


@pytest.mark.parametrize("name", ["reconciliation.json", "quarantine.csv", "gx/index.html"])
def test_one_changed_byte_names_the_file(signed, name):
    """Flipping one byte of any file is detected and that file is named."""
    folder, key = signed
    data = bytearray((folder / name).read_bytes())
    data[0] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    result = verify_folder(folder, key.public_key())
    assert not result.ok and result.changed == (name,)
    assert result.describe() == f"{name}: changed since the report was signed"


def test_deleted_and_added_files_are_named(signed):
    """A removed file is missing; a file slipped in later is not in the manifest."""
    folder, key = signed
    (folder / "quarantine.csv").unlink()
    (folder / "extra.csv").write_text("x")
    result = verify_folder(folder, key.public_key())
    assert result.missing == ("quarantine.csv",) and result.added == ("extra.csv",)


def test_rewritten_manifest_fails_the_signature(signed):
    """Editing MANIFEST to cover a change breaks the signature."""
    folder, key = signed
    doc = json.loads((folder / "MANIFEST").read_text())
    doc["run"]["transfer_id"] = "other"
    (folder / "MANIFEST").write_text(json.dumps(doc, sort_keys=True, indent=1) + "\n")
    assert not verify_folder(folder, key.public_key()).signature_ok


def test_another_key_does_not_verify(signed):
    """A manifest signed by someone else's key is refused."""
    folder, _ = signed
    assert not verify_folder(folder, Ed25519PrivateKey.generate().public_key()).ok


def test_report_verify_command(signed, tmp_path, monkeypatch, capsys):
    """`booktransfer report verify` prints OK (exit 0) or the changed file (exit 1), with a public key file."""
    folder, _ = signed
    key_file = create_signing_key(tmp_path / "keys" / "signing.pem")
    monkeypatch.setenv("BOOKTRANSFER_SIGNING_KEY_FILE", str(key_file))
    key = load_signing_key()
    for f in ("MANIFEST", "MANIFEST.sig"):
        (folder / f).unlink()
    write_manifest(folder, {"transfer_id": "t"}, key, key_id(key.public_key()))
    assert main(["report", "verify", str(folder), "--public-key", str(public_path(key_file))]) == 0
    (folder / "quarantine.csv").write_text("entity,source_file,source_line\nx,y,1\n")
    assert main(["report", "verify", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "OK" in out and "quarantine.csv: changed" in out


def test_signing_key_file_is_private_and_never_overwritten(tmp_path):
    """The private key is written mode 600; a second create is refused."""
    from booktransfer.errors import KeyringError

    path = create_signing_key(tmp_path / "signing.pem")
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(KeyringError):
        create_signing_key(path)
