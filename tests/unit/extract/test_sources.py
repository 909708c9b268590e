"""booktransfer.extract.sources: the local folder source and its file-name guard."""

from __future__ import annotations

import pytest

from booktransfer.errors import SourceFormatError
from booktransfer.extract.sources import LocalFolderSource, safe_name


@pytest.mark.parametrize("name", ["../x", "a/b", "a\\b", "..", ".", "", "x\x00y"])
def test_fetch_refuses_path_components(tmp_path, name):
    """fetch refuses names with path components before touching the file system."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (tmp_path / "x").write_text("outside", encoding="utf-8")
    dest = tmp_path / "landing"

    with pytest.raises(SourceFormatError, match="path components are not allowed"):
        LocalFolderSource(drop).fetch(name, dest)
    assert not dest.exists()


def test_safe_name_accepts_plain_name():
    """A plain file name passes unchanged."""
    assert safe_name("LDPERSON.csv") == "LDPERSON.csv"


def test_fetch_copies_file_atomically(tmp_path):
    """fetch copies the bytes into dest under the same name and leaves no temporary file."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "A.csv").write_bytes(b"ID\n1\n")
    dest = tmp_path / "landing"

    landed = LocalFolderSource(drop).fetch("A.csv", dest)

    assert landed == dest / "A.csv"
    assert landed.read_bytes() == b"ID\n1\n"
    assert sorted(p.name for p in dest.iterdir()) == ["A.csv"]


def test_fetch_missing_file(tmp_path):
    """A file that is not in the drop folder is reported by name."""
    drop = tmp_path / "drop"
    drop.mkdir()

    with pytest.raises(SourceFormatError, match="A.csv: listed in the control file but not in the drop folder"):
        LocalFolderSource(drop).fetch("A.csv", tmp_path / "landing")


def test_list_files_skips_folders(tmp_path):
    """list_files names regular files only, sorted."""
    (tmp_path / "b.csv").write_text("x", encoding="utf-8")
    (tmp_path / "a.csv").write_text("x", encoding="utf-8")
    (tmp_path / "sub").mkdir()

    assert LocalFolderSource(tmp_path).list_files() == ["a.csv", "b.csv"]


def test_missing_folder_refused(tmp_path):
    """A drop folder that does not exist is refused."""
    with pytest.raises(SourceFormatError, match="does not exist"):
        LocalFolderSource(tmp_path / "nope")
