"""Sellers write their drops differently: JSON control files, trailer records, no header, file patterns."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from booktransfer.errors import ControlFileError
from booktransfer.extract.control import parse_control_json, split_trailer
from booktransfer.extract.drop import extract_drop, resolve_file
from booktransfer.extract.sources import LocalFolderSource
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import MappingSetSpec
from tests.unit.mapping.builders import example_set


def _with_drop(**drop) -> MappingSet:
    base = example_set()
    spec = MappingSetSpec.model_validate({**base.spec.model_dump(), "drop": {**base.spec.drop.model_dump(), **drop}})
    return MappingSet(base.path, spec, base.entities, base.codes)


def test_json_control_file_drives_extract(mini_drop, tmp_path):
    """A JSON control file is read like the pipe format; every staged file has its declared rows."""
    drop = mini_drop.write()
    entries = [line.split("|") for line in (drop / "CONTROL.txt").read_text().split()]
    (drop / "manifest.json").write_text(json.dumps(
        {"files": [{"name": n, "rows": int(r), "sha256": h} for n, r, h in entries]}))
    (drop / "CONTROL.txt").unlink()
    mset = _with_drop(control_file={"name": "manifest.json", "format": "json"})
    staged = extract_drop(LocalFolderSource(drop), mset, tmp_path / "landing", tmp_path / "raw")
    assert {s.source_file: s.rows for s in staged} == {n: int(r) for n, r, _ in entries}


@pytest.mark.parametrize("doc", ['{"files": [{"name": "../x", "rows": 1, "sha256": "' + "a" * 64 + '"}]}',
                                 '{"files": [{"name": "x", "rows": "1", "sha256": "' + "a" * 64 + '"}]}',
                                 '{"files": [{"name": "x", "rows": 1, "sha256": "nothex"}]}', '[]'])
def test_malformed_json_control_is_refused(tmp_path, doc):
    """Path components, non-integer rows, bad digests and wrong shapes stop the run."""
    path = tmp_path / "manifest.json"
    path.write_text(doc)
    with pytest.raises(ControlFileError):
        parse_control_json(path)


def test_trailer_records_give_the_row_count_and_are_removed(mini_drop, tmp_path):
    """format: trailer reads each file's last line as its count, checks it, and stages without it."""
    drop = mini_drop.write()
    (drop / "CONTROL.txt").unlink()
    for name, (_, rows) in mini_drop.files.items():
        with (drop / name).open("a", encoding="utf-8") as fh:
            fh.write(f"TRL,{len(rows)}\n")
    mset = _with_drop(control_file={"format": "trailer"})
    staged = extract_drop(LocalFolderSource(drop), mset, tmp_path / "landing", tmp_path / "raw")
    for s in staged:
        assert pq.read_table(s.path).num_rows == s.rows == len(mini_drop.files[s.source_file][1])
        assert s.sha256 is None


def test_trailer_count_mismatch_and_missing_trailer_stop(tmp_path):
    """A wrong trailer count is a row-count mismatch; a file without a trailer is refused."""
    path = tmp_path / "F.csv"
    path.write_text("A,B\n1,2\nTRL,1\n", encoding="utf-8")
    assert split_trailer(path, "TRL", ",", "utf-8").rows == 1
    assert path.read_text(encoding="utf-8") == "A,B\n1,2\n"
    with pytest.raises(ControlFileError, match="trailer"):
        split_trailer(path, "TRL", ",", "utf-8")


def test_file_patterns_match_exactly_one_file():
    """A pattern names one file of the drop; none or several stop the run naming the entity."""
    names = ["KH_20261126.txt", "BD_20261126.txt", "BD_20261127.txt"]
    assert resolve_file("KH_*.txt", names, "manifest.json", "customers") == "KH_20261126.txt"
    with pytest.raises(ControlFileError, match="several"):
        resolve_file("BD_*.txt", names, "manifest.json", "policies")
    with pytest.raises(ControlFileError, match="no entry"):
        resolve_file("SQ_*.txt", names, "manifest.json", "consents")


def test_headerless_files_use_declared_columns(tmp_path):
    """header: false reads the mapping's declared columns; the first data row is line 1."""
    from booktransfer.extract.reader import read_text_table
    from booktransfer.mapping.model import DropSpec

    path = tmp_path / "F.csv"
    path.write_text("1,x\n2,y\n", encoding="utf-8")
    table = read_text_table(path, DropSpec(header=False), ("ID", "V"))
    assert table.column("ID").to_pylist() == ["1", "2"] and table.column("_line").to_pylist() == [1, 2]
