"""The mapping language's richer sources: concat, split, joined files, date format lists, Excel serials."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from booktransfer.mapping.apply import map_entity
from booktransfer.mapping.loader import MappingSet
from booktransfer.mapping.model import CodeTable, EntityMapping, FieldSpec, MappingSetSpec
from tests.unit.mapping.builders import raw_table


def _set(entity: dict, codes: dict[str, dict[str, str]] | None = None) -> MappingSet:
    spec = MappingSetSpec(name="t", version="1.0.0", buyer_schema="example_buyer", entities=(entity["entity"],))
    tables = {n: CodeTable(name=n, values=v) for n, v in (codes or {}).items()}
    return MappingSet(path=None, spec=spec, entities={entity["entity"]: EntityMapping.model_validate(entity)},
                      codes=tables)


def _field(target: str, **kw) -> dict:
    return {"target": target, "classification": "public", "protection": "keep", **kw}


def test_concat_joins_columns_with_a_separator_and_blank_parts_count_empty():
    """concat: [A, B] with a separator; a blank part leaves the others; all blank gives null."""
    mset = _set({"entity": "e", "source": {"file": "f"}, "key": ["k"],
                 "fields": [_field("k", source="K"), _field("v", concat=["A", "B"], separator="-")]})
    raw = raw_table(("K", "A", "B"), [{"K": "1", "A": "x", "B": "y"}, {"K": "2", "A": "", "B": "y"},
                                      {"K": "3", "A": "", "B": ""}])
    out = map_entity(mset, "e", raw).table
    assert out.column("v").to_pylist() == ["x-y", "-y", None]


def test_split_takes_one_part_and_quarantines_a_row_without_it():
    """split: {separator, index}; a value with too few parts is quarantined as SPLIT_PART_MISSING."""
    mset = _set({"entity": "e", "source": {"file": "f"}, "key": ["k"],
                 "fields": [_field("k", source="K"),
                            _field("given", split={"source": "FULL", "separator": " ", "index": 1})]})
    raw = raw_table(("K", "FULL"), [{"K": "1", "FULL": "LI Lei"}, {"K": "2", "FULL": "Madonna"},
                                    {"K": "3", "FULL": ""}])
    result = map_entity(mset, "e", raw)
    assert result.table.column("given").to_pylist() == ["Lei", None]
    assert result.rejects.column("reason").to_pylist() == ["SPLIT_PART_MISSING"]
    assert result.rejects.column("source_line").to_pylist() == [3]


def test_date_formats_are_tried_in_order_and_excel_serials_only_when_declared():
    """A list of formats parses either shape; 32874 is 1990-01-01 only with excel_serial: true."""
    fields = [_field("k", source="K"), _field("d", source="D", type="date", format=["%Y%m%d", "%Y-%m-%d"])]
    raw = raw_table(("K", "D"), [{"K": "1", "D": "20240229"}, {"K": "2", "D": "2024-03-01"},
                                 {"K": "3", "D": "32874"}])
    refused = map_entity(_set({"entity": "e", "source": {"file": "f"}, "key": ["k"], "fields": fields}), "e", raw)
    assert refused.table.column("d").to_pylist() == [dt.date(2024, 2, 29), dt.date(2024, 3, 1)]
    assert refused.rejects.column("reason").to_pylist() == ["EXCEL_SERIAL_DATE"]
    fields[1]["excel_serial"] = True
    accepted = map_entity(_set({"entity": "e", "source": {"file": "f"}, "key": ["k"], "fields": fields}), "e", raw)
    assert accepted.table.column("d").to_pylist()[2] == dt.date(1990, 1, 1)
    assert accepted.rejects.num_rows == 0


def _joined_set(how: str = "left") -> MappingSet:
    return _set({"entity": "customers", "source": {"file": "MAIN", "joins": [
        {"alias": "addr", "file": "ADDR", "left_on": "ID", "right_on": "REF", "how": how}]},
        "key": ["id"], "fields": [_field("id", source="ID"), _field("city", source="addr.CITY")],
        "ignored": [{"column": "addr.FAX", "reason": "not collected by the buyer"}]})


def test_join_merges_rows_and_quarantines_unmatched_and_duplicate_joined_rows():
    """Each joined row belongs to one main row; strays and duplicated keys leave from their own file."""
    main = raw_table(("ID",), [{"ID": "1"}, {"ID": "2"}, {"ID": "3"}])
    addr = raw_table(("REF", "CITY", "FAX"), [{"REF": "3", "CITY": "杭州"}, {"REF": "1", "CITY": "北京"},
                                              {"REF": "9", "CITY": "上海"}, {"REF": "2", "CITY": "广州"},
                                              {"REF": "2", "CITY": "深圳"}])
    result = map_entity(_joined_set(), "customers", main, {"addr": addr})
    assert result.table.column("id").to_pylist() == ["1", "2", "3"]
    assert result.table.column("city").to_pylist() == ["北京", None, "杭州"]
    rejects = {(r["source_file"], r["source_line"], r["reason"]) for r in result.rejects.to_pylist()}
    assert rejects == {("ADDR", 4, "UNMATCHED_JOIN_ROW"), ("ADDR", 5, "DUPLICATE_JOIN_KEY"),
                       ("ADDR", 6, "DUPLICATE_JOIN_KEY")}
    assert result.joins["addr"] == {"file": "ADDR", "rows": 5, "matched": 2, "quarantined": 3}


def test_inner_join_quarantines_main_rows_without_a_match():
    """how: inner sends a main row with no joined row to quarantine (NO_JOIN_MATCH) from the main file."""
    main = raw_table(("ID",), [{"ID": "1"}, {"ID": "2"}])
    addr = raw_table(("REF", "CITY", "FAX"), [{"REF": "1", "CITY": "北京"}])
    result = map_entity(_joined_set("inner"), "customers", main, {"addr": addr})
    assert result.table.column("id").to_pylist() == ["1"]
    assert [(r["source_file"], r["source_line"], r["reason"]) for r in result.rejects.to_pylist()] == [
        ("MAIN", 3, "NO_JOIN_MATCH")]


def test_join_columns_are_accounted_for_by_file():
    """Join keys count as used; alias columns belong to the joined file; unknown aliases are refused."""
    mapping = _joined_set().entities["customers"]
    assert mapping.columns_of("") == {"ID"}
    assert mapping.columns_of("addr") == {"REF", "CITY", "FAX"}
    with pytest.raises(ValidationError, match="join alias"):
        EntityMapping.model_validate({"entity": "e", "source": {"file": "f"}, "key": ["k"],
                                      "fields": [_field("k", source="K"), _field("c", source="geo.CITY")]})


def test_a_field_needs_exactly_one_origin():
    """source, const, concat and split are exclusive."""
    with pytest.raises(ValidationError, match="exactly one"):
        FieldSpec.model_validate(_field("x", source="A", concat=["A", "B"]))
    with pytest.raises(ValidationError, match="exactly one"):
        FieldSpec.model_validate(_field("x"))
