"""Same arguments, same bytes; the control file describes the data files."""

import hashlib

from booktransfer.sample.generator import generate_book
from tests.unit.sample.book_checks import digest, file_digests


def test_same_seed_gives_identical_bytes(tmp_path):
    """Two runs with the same arguments write byte-identical data, control and truth files."""
    first = generate_book(tmp_path / "a" / "drop", 300, 11, defect_rate=0.1)
    second = generate_book(tmp_path / "b" / "drop", 300, 11, defect_rate=0.1)
    assert file_digests(first.out_dir) == file_digests(second.out_dir)
    assert digest(first.truth_path) == digest(second.truth_path)
    assert first.rows == second.rows


def test_different_seed_gives_different_files(tmp_path):
    """Another seed changes every data file."""
    first = file_digests(generate_book(tmp_path / "a" / "drop", 300, 11).out_dir)
    second = file_digests(generate_book(tmp_path / "b" / "drop", 300, 12).out_dir)
    differing = [name for name in first if first[name] != second[name]]
    assert sorted(differing) == sorted(first)


def test_control_file_matches_rows_and_hashes(clean_book):
    """CONTROL.txt lists every data file with its data row count and SHA-256, in drop order."""
    lines = (clean_book.out_dir / "CONTROL.txt").read_text(encoding="ascii").splitlines()
    listed = [line.split("|") for line in lines]
    assert [name for name, _, _ in listed] == [
        "LDPERSON.csv",
        "LCCONT.csv",
        "LCPARTY.csv",
        "CUST_AUTH_LOG.csv",
    ]
    for name, rows, sha256 in listed:
        content = (clean_book.out_dir / name).read_bytes()
        assert int(rows) == content.count(b"\n") - 1 == clean_book.rows[name]
        assert sha256 == hashlib.sha256(content).hexdigest()


def test_customer_count_is_exact(clean_book, defective_book):
    """LDPERSON holds exactly the requested number of rows, with or without defects."""
    assert clean_book.rows["LDPERSON.csv"] == 2000
    assert defective_book.rows["LDPERSON.csv"] == 2000


def test_clean_book_has_no_truth_file(clean_book):
    """Without defects there is no ground truth, and nothing but data and control in the folder."""
    assert clean_book.truth_path is None
    assert not (clean_book.out_dir.parent / "drop.truth.csv").exists()
    assert sorted(p.name for p in clean_book.out_dir.iterdir()) == sorted([*clean_book.rows, "CONTROL.txt"])
