"""GB18030 output: strict round trip, including characters that GBK cannot encode."""

import pytest

from tests.unit.sample.book_checks import file_digests, person_problems, read_book

RARE = ("\u4dae", "\U0002a6a5", "\U0002b5af")  # 䶮, 𪚥, 𫖯: in GB18030, not in GBK


def test_gb18030_files_decode_strictly(gb18030_book):
    """Every data file decodes as strict GB18030 and is not valid UTF-8."""
    for name in gb18030_book.rows:
        content = (gb18030_book.out_dir / name).read_bytes()
        content.decode("gb18030")
        if name == "LDPERSON.csv":
            with pytest.raises(UnicodeDecodeError):
                content.decode("utf-8")


def test_rare_and_minority_names_survive(gb18030_book, clean_book):
    """Names with 䶮/𪚥/𫖯 and names with the U+00B7 separator come back unchanged, same as in UTF-8."""
    gb_names = [r["Name"] for r in read_book(gb18030_book.out_dir, "gb18030").rows["LDPERSON.csv"].values()]
    utf_names = [r["Name"] for r in read_book(clean_book.out_dir).rows["LDPERSON.csv"].values()]
    assert gb_names == utf_names
    assert any(ch in name for name in gb_names for ch in RARE)
    assert any("\U0002a6a5" in name or "\U0002b5af" in name for name in gb_names)
    assert any("\u00b7" in name for name in gb_names)


def test_customers_file_is_not_gbk(gb18030_book):
    """Strict GBK cannot decode LDPERSON: it really holds GB18030-only characters."""
    content = (gb18030_book.out_dir / "LDPERSON.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        content.decode("gbk")


def test_gb18030_rows_are_as_valid_as_utf8(gb18030_book):
    """The encoding changes bytes only: every customer row is still clean."""
    rows = read_book(gb18030_book.out_dir, "gb18030").rows["LDPERSON.csv"]
    assert [line for line, row in rows.items() if person_problems(row)] == []


def test_encodings_differ_only_in_bytes(gb18030_book, clean_book):
    """Same seed, other encoding: same row counts, different bytes for files with Chinese text."""
    assert gb18030_book.rows == clean_book.rows
    gb, utf = file_digests(gb18030_book.out_dir), file_digests(clean_book.out_dir)
    assert gb["LDPERSON.csv"] != utf["LDPERSON.csv"]
    assert gb["LCCONT.csv"] == utf["LCCONT.csv"]
