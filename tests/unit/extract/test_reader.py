"""booktransfer.extract.reader: every column as text, with each row's physical source line."""

from __future__ import annotations

import pyarrow as pa
import pytest

from booktransfer.errors import SourceFormatError
from booktransfer.extract.reader import LINE_COLUMN, read_header, read_text_table
from booktransfer.mapping.model import DropSpec


def _write(tmp_path, text, encoding="utf-8"):
    path = tmp_path / "F.csv"
    path.write_bytes(text.encode(encoding))
    return path


def test_id_column_stays_text(tmp_path):
    """An 18-digit ID and a blank in the same column stay text: no float, no exponent, no lost digits."""
    path = _write(tmp_path, "ID,Zip\n110105194912310021,010000\n,100000\n")

    table = read_text_table(path, DropSpec())

    assert table.schema.field("ID").type == pa.string()
    assert table.column("ID").to_pylist() == ["110105194912310021", ""]
    assert table.column("Zip").to_pylist() == ["010000", "100000"]


def test_line_numbers_simple(tmp_path):
    """Without multi-line values, data row i is physical line i + 2, as int64."""
    path = _write(tmp_path, "A,B\n1,x\n2,y\n3,z\n")

    table = read_text_table(path, DropSpec())

    assert table.schema.field(LINE_COLUMN).type == pa.int64()
    assert table.column(LINE_COLUMN).to_pylist() == [2, 3, 4]


def test_line_numbers_after_embedded_newline(tmp_path):
    """A quoted value spanning two lines shifts the physical line of every later row."""
    path = _write(tmp_path, 'A,B\n1,x\n2,"测试\n续行"\n3,z\n4,w\n')

    table = read_text_table(path, DropSpec())

    assert table.column("B").to_pylist()[1] == "测试\n续行"
    assert table.column(LINE_COLUMN).to_pylist() == [2, 3, 5, 6]


def test_utf8_bom_header(tmp_path):
    """A UTF-8 BOM does not leak into the first column name, whether declared utf-8 or utf-8-sig."""
    path = _write(tmp_path, "\ufeffCustomerNo,Name\nC1,测试\n")

    for encoding in ("utf-8", "utf-8-sig"):
        table = read_text_table(path, DropSpec(encoding=encoding))

        assert table.column_names == ["CustomerNo", "Name", LINE_COLUMN]
        assert table.column("CustomerNo").to_pylist() == ["C1"]


def test_gb18030_file(tmp_path):
    """A GB18030 file decodes, including a character outside GBK."""
    path = _write(tmp_path, "编号,名称\n1,测䶮\n", encoding="gb18030")

    table = read_text_table(path, DropSpec(encoding="gb18030"))

    assert table.column("名称").to_pylist() == ["测䶮"]


def test_custom_delimiter_and_quote(tmp_path):
    """The declared delimiter and quote character are honoured."""
    path = _write(tmp_path, "A|B\n1|'x|y'\n")

    table = read_text_table(path, DropSpec(delimiter="|", quotechar="'"))

    assert table.column("B").to_pylist() == ["x|y"]


def test_duplicate_header_refused(tmp_path):
    """A header naming a column twice is refused, naming the column."""
    path = _write(tmp_path, "A,B,A\n1,2,3\n")

    with pytest.raises(SourceFormatError, match="duplicate header columns A"):
        read_header(path, DropSpec())


def test_empty_file_refused(tmp_path):
    """An empty file has no header and is refused."""
    path = _write(tmp_path, "")

    with pytest.raises(SourceFormatError, match="empty file"):
        read_header(path, DropSpec())


def test_ragged_row_is_source_format_error(tmp_path):
    """A row with too many fields is a SourceFormatError naming the file."""
    path = _write(tmp_path, "A,B\n1,2,3\n")

    with pytest.raises(SourceFormatError, match=r"F\.csv: cannot be parsed"):
        read_text_table(path, DropSpec())


def test_line_numbers_after_blank_line(tmp_path):
    """A blank line does not shift the recorded physical line of later rows (refusing the file is also fine)."""
    path = _write(tmp_path, "A,B\n1,x\n\n2,y\n")

    try:
        table = read_text_table(path, DropSpec())
    except SourceFormatError:
        return
    assert table.column(LINE_COLUMN).to_pylist() == [2, 4]


def test_blank_line_with_multiline_value(tmp_path):
    """A blank line plus a multi-line value gives correct lines or a SourceFormatError, never a raw crash."""
    path = _write(tmp_path, 'A,B\n1,"x\ny"\n\n2,z\n')

    try:
        table = read_text_table(path, DropSpec())
    except SourceFormatError:
        return
    assert table.column(LINE_COLUMN).to_pylist() == [2, 5]
