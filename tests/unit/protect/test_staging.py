"""booktransfer.protect.staging: staged Parquet encrypted at rest; reading needs the keyring and an intact file."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from booktransfer.errors import AuthenticationFailed, UnknownKeyId
from booktransfer.protect.keyring import KeyPurpose, parse_keyring, rotate_document
from booktransfer.protect.staging import is_encrypted, read_staged, write_staged
from tests.unit.protect.fixed_keys import STAGING_KEY, fixed_document, fixed_ring

NAMES = ["张䶮", "阿依古丽·买买提", "李四"]


def _table() -> pa.Table:
    return pa.table({"name": NAMES, "mobile": ["13900000001", None, "13900000003"], "_line": [2, 3, 4]})


def test_round_trip(tmp_path):
    """What is written reads back equal, also column by column."""
    path = tmp_path / "valid" / "customers.parquet"

    write_staged(_table(), path, fixed_ring())

    assert read_staged(path, fixed_ring()).equals(_table())
    assert read_staged(path, fixed_ring(), columns=["_line"]).column(0).to_pylist() == [2, 3, 4]
    assert [p.name for p in path.parent.iterdir()] == ["customers.parquet"]


def test_file_holds_no_clear_values_and_pyarrow_alone_cannot_read_it(tmp_path):
    """The bytes hold no name or mobile; reading without the keyring fails, schema included."""
    path = tmp_path / "s.parquet"
    write_staged(_table(), path, fixed_ring())
    data = path.read_bytes()

    assert is_encrypted(path)
    assert not [v for v in [*NAMES, "13900000001", "mobile"] if v.encode() in data]
    with pytest.raises(OSError, match="no decryption"):
        pq.read_table(path)
    with pytest.raises(OSError):
        pq.read_schema(path)


def test_plain_parquet_is_refused(tmp_path):
    """A plain Parquet file put in place of a staged one is refused (pyarrow alone would read it)."""
    path = tmp_path / "plain.parquet"
    pq.write_table(_table(), path)

    with pytest.raises(AuthenticationFailed, match="plain.parquet: not encrypted"):
        read_staged(path, fixed_ring())


def test_another_keyring_cannot_read(tmp_path):
    """A keyring without this file's staging key id fails closed, naming the missing key id."""
    path = tmp_path / "s.parquet"
    write_staged(_table(), path, fixed_ring())
    other = fixed_ring(staging={"stg-other": b"\x45" * 32})

    with pytest.raises(UnknownKeyId, match="unknown staging key id 'stg-kat'"):
        read_staged(path, other)


def test_wrong_key_under_same_id_cannot_read(tmp_path):
    """The same key id with other key material does not unwrap the file's data key."""
    path = tmp_path / "s.parquet"
    write_staged(_table(), path, fixed_ring())

    with pytest.raises(AuthenticationFailed, match="does not unwrap"):
        read_staged(path, fixed_ring(staging={"stg-kat": b"\x45" * 32}))


@pytest.mark.parametrize("where", [8, 0.5, -40])
def test_tampered_file_fails_closed(tmp_path, where):
    """One flipped byte at the start, in the middle or in the footer makes the file unreadable."""
    path = tmp_path / "s.parquet"
    write_staged(_table(), path, fixed_ring())
    data = bytearray(path.read_bytes())
    at = int(len(data) * where) if isinstance(where, float) else where
    data[at] ^= 0x01
    path.write_bytes(bytes(data))

    with pytest.raises(AuthenticationFailed, match="s.parquet"):
        read_staged(path, fixed_ring())


def test_truncated_file_fails_closed(tmp_path):
    """A file cut short is refused."""
    path = tmp_path / "s.parquet"
    write_staged(_table(), path, fixed_ring())
    path.write_bytes(path.read_bytes()[:-100])

    with pytest.raises(AuthenticationFailed, match="s.parquet"):
        read_staged(path, fixed_ring())


def test_rotation_writes_with_new_key_old_files_still_read(tmp_path):
    """After rotating, new files use the new staging key; a file written before still reads."""
    old_path, new_path = tmp_path / "old.parquet", tmp_path / "new.parquet"
    write_staged(_table(), old_path, fixed_ring())
    rotated_doc, ids = rotate_document(fixed_document(), [KeyPurpose.STAGING])
    rotated = parse_keyring(rotated_doc)

    write_staged(_table(), new_path, rotated)

    assert read_staged(old_path, rotated).equals(_table())
    assert read_staged(new_path, rotated).equals(_table())
    with pytest.raises(UnknownKeyId, match=ids["staging"]):
        read_staged(new_path, fixed_ring(staging={"stg-kat": STAGING_KEY}))


def test_each_file_gets_its_own_data_key(tmp_path):
    """The same table written twice gives different bytes (fresh data key and nonces per file)."""
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    write_staged(_table(), a, fixed_ring())
    write_staged(_table(), b, fixed_ring())

    assert a.read_bytes() != b.read_bytes()


def test_missing_file_is_not_found(tmp_path):
    """A staged file that is not there is FileNotFoundError (a missing stage, not tampering)."""
    with pytest.raises(FileNotFoundError):
        read_staged(tmp_path / "none.parquet", fixed_ring())


def test_no_single_byte_change_yields_other_data(tmp_path):
    """Flipping any one byte of a staged file either fails closed or (in the unused KMS hints) reads the same."""
    path, probe = tmp_path / "s.parquet", tmp_path / "probe.parquet"
    write_staged(_table(), path, fixed_ring())
    data = path.read_bytes()
    outcomes = set()
    for at in range(len(data)):
        changed = bytearray(data)
        changed[at] ^= 0x01
        probe.write_bytes(bytes(changed))
        try:
            outcomes.add("same" if read_staged(probe, fixed_ring()).equals(_table()) else "CHANGED")
        except (AuthenticationFailed, UnknownKeyId):
            outcomes.add("refused")
    assert "CHANGED" not in outcomes and "refused" in outcomes


def test_read_many_reads_each_file_as_read_staged_in_the_order_given(tmp_path):
    """A book-level step's reads in threads: same tables, same order, columns honoured; a bad file still fails."""
    from booktransfer.pipeline import RunContext

    ctx = RunContext(transfer_id="t", run_id="r", mapping_set="m", target_url="", keys=fixed_ring(),
                     staging_root=tmp_path)
    paths = [tmp_path / f"p{i}.parquet" for i in range(5)]
    for i, path in enumerate(paths):
        write_staged(_table().slice(0, i % 3 + 1), path, fixed_ring())
    got = ctx.read_many([(path, ["_line"] if i % 2 else None) for i, path in enumerate(paths)])
    assert [t.num_rows for t in got] == [1, 2, 3, 1, 2]
    assert [t.column_names for t in got] == [["name", "mobile", "_line"], ["_line"]] * 2 + [["name", "mobile", "_line"]]
    assert got[4].equals(read_staged(paths[4], fixed_ring()))
    pq.write_table(_table(), paths[2])  # plain: refused
    with pytest.raises(AuthenticationFailed, match="not encrypted"):
        ctx.read_many([(path, None) for path in paths])


def _compressions(path, ring) -> set[str]:
    from booktransfer.protect.staging import decryption_properties

    with path.open("rb") as fh:
        meta = pq.ParquetFile(fh, decryption_properties=decryption_properties(ring)).metadata
        return {meta.row_group(g).column(c).compression for g in range(meta.num_row_groups)
                for c in range(meta.num_columns)}


def test_local_staged_files_are_uncompressed_remote_ones_snappy(tmp_path):
    """On a local disk no column is compressed (CPU over disk for files that live one run); under a remote URL
    every column is Snappy-compressed; both read back equal and stay encrypted."""
    from fsspec import filesystem
    from upath import UPath

    local = tmp_path / "p.parquet"
    remote = UPath(f"memory://bt-compression-{tmp_path.name}/p.parquet")
    try:
        for path in (local, remote):
            write_staged(_table(), path, fixed_ring())
            assert is_encrypted(path) and read_staged(path, fixed_ring()).equals(_table())

        assert _compressions(local, fixed_ring()) == {"UNCOMPRESSED"}
        assert _compressions(remote, fixed_ring()) == {"SNAPPY"}
    finally:
        filesystem("memory").rm(f"/bt-compression-{tmp_path.name}", recursive=True)
