"""booktransfer.extract.drop.extract_drop: land, verify against CONTROL.txt and the mapping, stage as Parquet."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from stdnum.cn import ric

from booktransfer.errors import ControlFileError, MappingError, SourceFormatError
from booktransfer.extract.drop import extract_drop
from booktransfer.extract.reader import LINE_COLUMN
from booktransfer.extract.sources import LocalFolderSource
from tests.unit.mapping.builders import example_set


def _extract(mini_drop, tmp_path):
    return extract_drop(LocalFolderSource(mini_drop.folder), example_set(), tmp_path / "landing", tmp_path / "out")


def test_success_writes_one_parquet_per_entity(mini_drop, tmp_path):
    """A valid drop stages one Parquet file per entity with the control file's rows and digest."""
    mini_drop.write()
    control = {line.split("|")[0]: line.split("|")[2]
               for line in (mini_drop.folder / "CONTROL.txt").read_text(encoding="utf-8").splitlines()}

    staged = _extract(mini_drop, tmp_path)

    assert [s.entity for s in staged] == ["customers", "policies", "policy_parties", "consents"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{s.entity}.parquet" for s in staged)
    for s in staged:
        header, rows = mini_drop.files[s.source_file]
        table = pq.read_table(s.path)
        assert s.rows == len(rows) == table.num_rows
        assert s.sha256 == control[s.source_file]
        assert table.column_names == [*header, LINE_COLUMN]
        assert table.column(header[0]).to_pylist() == [r[0] for r in rows]


def test_success_removes_landed_copies(mini_drop, tmp_path):
    """Once staged, nothing is left in the landing folder (no clear copy stays on the worker)."""
    mini_drop.write()

    _extract(mini_drop, tmp_path)

    assert list((tmp_path / "landing").iterdir()) == []
    assert (mini_drop.folder / "LDPERSON.csv").exists()


def test_row_count_mismatch_stops(mini_drop, tmp_path):
    """A data row count differing from the control file stops the run naming file and counts."""
    mini_drop.write(control_rows={"LCCONT.csv": 3})

    with pytest.raises(ControlFileError, match=r"LCCONT\.csv: 2 data rows, control file declares 3"):
        _extract(mini_drop, tmp_path)
    assert not (tmp_path / "landing" / "LCCONT.csv").exists()


def test_sha_mismatch_stops(mini_drop, tmp_path):
    """A file altered after the control file was written stops the run."""
    mini_drop.write()
    path = mini_drop.folder / "LCPARTY.csv"
    path.write_bytes(path.read_bytes().replace(b",100\n", b",90\n"))

    with pytest.raises(ControlFileError, match=r"LCPARTY\.csv: SHA-256 does not match"):
        _extract(mini_drop, tmp_path)
    assert not (tmp_path / "landing" / "LCPARTY.csv").exists()


def test_file_missing_from_control_stops(mini_drop, tmp_path):
    """A mapped file with no control entry stops the run naming file and entity."""
    mini_drop.write(omit_from_control=("CUST_AUTH_LOG.csv",))

    with pytest.raises(ControlFileError, match=r"no entry for CUST_AUTH_LOG\.csv \(entity consents\)"):
        _extract(mini_drop, tmp_path)


def test_file_missing_from_folder_stops(mini_drop, tmp_path):
    """A file the control file lists but the drop lacks stops the run."""
    mini_drop.write()
    (mini_drop.folder / "LCCONT.csv").unlink()

    with pytest.raises(SourceFormatError, match=r"LCCONT\.csv: listed in the control file"):
        _extract(mini_drop, tmp_path)


def test_unclassified_extra_column_stops(mini_drop, tmp_path):
    """A column neither mapped nor ignored stops the run with UNCLASSIFIED_COLUMN, the file and the column."""
    header, rows = mini_drop.files["LDPERSON.csv"]
    mini_drop.files["LDPERSON.csv"] = ([*header, "Email"], [[*r, ""] for r in rows])
    mini_drop.write()

    with pytest.raises(MappingError, match="UNCLASSIFIED_COLUMN") as err:
        _extract(mini_drop, tmp_path)
    assert "LDPERSON.csv" in str(err.value)
    assert "Email" in str(err.value)
    assert not (tmp_path / "landing" / "LDPERSON.csv").exists()


def test_missing_mapped_column_stops(mini_drop, tmp_path):
    """A mapped source column absent from the file stops the run naming file and column."""
    header, rows = mini_drop.files["LCCONT.csv"]
    keep = [i for i, c in enumerate(header) if c != "Amnt"]
    mini_drop.files["LCCONT.csv"] = ([header[i] for i in keep], [[r[i] for i in keep] for r in rows])
    mini_drop.write()

    with pytest.raises(MappingError, match=r"LCCONT\.csv: mapped column\(s\) Amnt missing"):
        _extract(mini_drop, tmp_path)


def test_ignored_column_may_be_absent(mini_drop, tmp_path):
    """An ignored column (MakeDate) may be missing: only mapped columns are required."""
    header, rows = mini_drop.files["LDPERSON.csv"]
    mini_drop.files["LDPERSON.csv"] = (header[:-1], [r[:-1] for r in rows])
    mini_drop.write()

    staged = _extract(mini_drop, tmp_path)

    assert "MakeDate" not in pq.read_table(staged[0].path).column_names


def test_mini_drop_ids_are_valid(mini_drop):
    """The fixture's resident IDs pass python-stdnum's GB 11643 check (so the mini drop is a clean book)."""
    header, rows = mini_drop.files["LDPERSON.csv"]
    ids = [r[header.index("IDNo")] for r in rows]

    assert ids and all(ric.is_valid(i) for i in ids)
