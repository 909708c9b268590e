"""Read one delimited source file into an Arrow table of text columns, with each row's physical line."""

from __future__ import annotations

import csv
import mmap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from booktransfer.errors import SourceFormatError
from booktransfer.mapping.model import DropSpec

LINE_COLUMN = "_line"


def read_header(path: Path, drop: DropSpec) -> list[str]:
    """The header row, decoded as declared; a BOM on a UTF-8 file is tolerated and removed."""
    with path.open(encoding=drop.encoding, newline="") as fh:
        row = next(csv.reader(fh, delimiter=drop.delimiter, quotechar=drop.quotechar), None)
    if not row:
        raise SourceFormatError(f"{path.name}: empty file, expected a header line")
    header = [c.lstrip("\ufeff").strip() for c in row]
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise SourceFormatError(f"{path.name}: duplicate header columns {', '.join(dupes)}")
    return header


def read_text_table(path: Path, drop: DropSpec, columns: tuple[str, ...] = ()) -> pa.Table:
    """Every column as text (identifiers never become numbers), blanks as empty strings, plus `_line`.

    A drop without header lines names its columns in the mapping (`columns`).
    """
    header = read_header(path, drop) if drop.header else list(columns)
    encoding = "utf-8" if drop.encoding == "utf-8-sig" else drop.encoding
    read = pacsv.ReadOptions(encoding=encoding, column_names=header, skip_rows=1 if drop.header else 0,
                             block_size=1 << 24)
    parse = pacsv.ParseOptions(delimiter=drop.delimiter, quote_char=drop.quotechar, newlines_in_values=True)
    convert = pacsv.ConvertOptions(
        column_types={c: pa.string() for c in header},
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )
    try:
        table = pacsv.read_csv(path, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, UnicodeDecodeError) as e:
        raise SourceFormatError(f"{path.name}: cannot be parsed as declared in the mapping set: "
                                f"{_reason_without_values(e)}") from None
    return table.append_column(LINE_COLUMN, _line_numbers(path, drop, table, encoding))


def _reason_without_values(error: Exception) -> str:
    """Why a file did not parse, without the row Arrow quotes after the reason (it holds personal data)."""
    if isinstance(error, UnicodeDecodeError):
        return f"{error.encoding} cannot decode the byte at offset {error.start} ({error.reason})"
    text = str(error)
    if text.startswith("CSV parse error: "):
        return ": ".join(text.split(": ", 2)[:2]) + " (the row's values are not shown)"
    return type(error).__name__


def _has_blank_line(path: Path) -> bool:
    """Whether the file holds an empty line (Arrow skips those, shifting every later row's line)."""
    with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return data.find(b"\n\n") >= 0 or data.find(b"\n\r\n") >= 0


def _line_numbers(path: Path, drop: DropSpec, table: pa.Table, encoding: str) -> pa.Array:
    """Physical line of each row: row i is line i + 2 unless a quoted value spans lines or a line is blank."""
    spans_lines = any(
        pc.any(pc.match_substring(table.column(c), "\n")).as_py() for c in table.column_names
    )
    first = 2 if drop.header else 1
    if table.num_rows == 0 or not (spans_lines or _has_blank_line(path)):
        return pa.array(range(first, table.num_rows + first), type=pa.int64())
    lines: list[int] = []
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=drop.delimiter, quotechar=drop.quotechar)
        start, seen_header = 1, not drop.header
        for row in reader:
            if row and seen_header:
                lines.append(start)
            seen_header = seen_header or bool(row)
            start = reader.line_num + 1
    if len(lines) != table.num_rows:
        raise SourceFormatError(f"{path.name}: cannot tell the source line of every row; check its quoting")
    return pa.array(lines, type=pa.int64())
