"""Argument checking, truth placement and quiet operation."""

import pytest

from booktransfer.sample.generator import generate_book


@pytest.mark.parametrize(
    ("customers", "defect_rate", "encoding"),
    [(0, 0.0, "utf-8"), (-5, 0.0, "utf-8"), (10, -0.1, "utf-8"), (10, 1.0, "utf-8"), (10, 0.0, "latin-1")],
)
def test_invalid_arguments_raise(tmp_path, customers, defect_rate, encoding):
    """No customers, a rate outside [0, 1) or an unsupported encoding is a ValueError, before any file."""
    with pytest.raises(ValueError):
        generate_book(tmp_path / "drop", customers, 1, defect_rate=defect_rate, encoding=encoding)
    assert not (tmp_path / "drop").exists()


def test_truth_inside_drop_folder_is_refused(tmp_path):
    """The ground truth must never land in the folder handed to the pipeline."""
    with pytest.raises(ValueError):
        generate_book(tmp_path / "drop", 10, 1, defect_rate=0.1, truth_path=tmp_path / "drop" / "truth.csv")


def test_explicit_truth_path(tmp_path):
    """An explicit truth path is used and returned; with no defects there is no truth file at all."""
    target = tmp_path / "elsewhere" / "t.csv"
    summary = generate_book(tmp_path / "drop", 50, 1, defect_rate=0.5, truth_path=target)
    assert summary.truth_path == target
    assert target.read_text(encoding="utf-8").startswith("file,line,key,column,defect\n")
    clean = generate_book(tmp_path / "drop2", 50, 1, truth_path=tmp_path / "t2.csv")
    assert clean.truth_path is None
    assert not (tmp_path / "t2.csv").exists()


def test_single_customer_book(tmp_path):
    """The smallest book has one customer, and still a policy for them."""
    summary = generate_book(tmp_path / "drop", 1, 3)
    assert summary.rows["LDPERSON.csv"] == 1
    assert summary.rows["LCCONT.csv"] >= 1
    assert summary.seconds > 0


def test_progress_is_silent_without_a_terminal(tmp_path, capfd):
    """With progress=True but stderr not a TTY, nothing is printed."""
    generate_book(tmp_path / "drop", 200, 1, progress=True)
    out, err = capfd.readouterr()
    assert out == err == ""
