"""The rows a table sends to the buyer, in one canonical form: what COPY streams and what the digest covers.

Outgoing rows carry the transfer id first and the seller's source line as `source_line`, sorted by the
table's key, so the same rows give the same bytes (and the same digest) whatever order the stage wrote
them in. The encoding is CSV as pyarrow writes it: every string quoted, a null as an empty unquoted field
(PostgreSQL's CSV COPY reads it back as NULL, and `""` as an empty string), dates ISO 8601, decimals at
their scale.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pacsv

from booktransfer.extract.reader import LINE_COLUMN

CHUNK_ROWS = 65_536
SOURCE_LINE = "source_line"


def outgoing(table: pa.Table, transfer_id: str, key: Sequence[str]) -> pa.Table:
    """The rows as the target receives them: `transfer_id` first, `_line` renamed, sorted by `key`."""
    renamed = table.rename_columns([SOURCE_LINE if c == LINE_COLUMN else c for c in table.column_names])
    if "transfer_id" in renamed.column_names:
        renamed = renamed.drop_columns(["transfer_id"])
    rows = renamed.add_column(0, "transfer_id", pa.repeat(pa.scalar(transfer_id, pa.string()), renamed.num_rows))
    return sorted_by_key(rows, key) if key and rows.num_rows else rows


def sorted_by_key(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """The rows sorted by `key` (stable, as `Table.sort_by`), without copying a table already in that order: staged
    rows mostly are (the seller's files come sorted), and a share read back from the target comes in the order
    the load wrote it."""
    import numpy as np
    import pyarrow.compute as pc

    order = pc.sort_indices(table, sort_keys=[(k, "ascending") for k in key])
    return table if np.array_equal(order.to_numpy(), np.arange(len(order), dtype=np.uint64)) else table.take(order)


def csv_chunks(rows: pa.Table, chunk_rows: int = CHUNK_ROWS) -> Iterator[tuple[int, pa.Buffer]]:
    """The rows as CSV without a header, a few ten thousand rows per chunk: (rows in it, bytes)."""
    options = pacsv.WriteOptions(include_header=False)
    for batch in rows.to_batches(max_chunksize=chunk_rows):
        sink = pa.BufferOutputStream()
        pacsv.write_csv(pa.Table.from_batches([batch], rows.schema), sink, options)
        yield batch.num_rows, sink.getvalue()


def rows_digest(rows: pa.Table, chunks: Sequence[tuple[int, pa.Buffer]] | None = None) -> str:
    """SHA-256 (hex) of the canonical CSV of outgoing rows: equal digests, equal rows. `chunks`: the rows already
    encoded by `csv_chunks` (the loader encodes once for the digest and the COPY)."""
    h = hashlib.sha256()
    for _, chunk in chunks if chunks is not None else csv_chunks(rows):
        h.update(chunk)
    return h.hexdigest()
