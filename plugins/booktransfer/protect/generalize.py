"""Generalization: coarsen a quasi-identifier so the buyer gets what it needs and no more (REQUIREMENTS R26).

The rules, as a mapping declares them with `protection: generalize` and `generalize: <rule>`:

- `year`: a date becomes its calendar year (an integer), e.g. 1987-05-14 -> 1987.
- `age_band`: a birth date becomes the band of the person's age in completed years on the run's as-of
  date (`RunContext.as_of`, the Airflow run's date; recorded in `protect.json`). Bands: `00-13` (under 14,
  whose data PIPL Art. 28/31 treats as sensitive), `14-17` (other minors), `18-24`, then five-year bands
  `25-29` … `85-89`, and `90+` (top-coded). A birth date after the as-of date has no age: null, counted
  as unresolved.
- `city`: a Chinese address becomes its province-level and prefecture-level part, e.g.
  `广东省深圳市南山区科技园路1号` -> `广东省深圳市`. The rule, applied to the trimmed address:
  1. a municipality (北京, 天津, 上海, 重庆, with or without 市) or a SAR (香港/澳门特别行政区) is itself the
     city level: `上海市徐汇区…` -> `上海市`;
  2. otherwise a leading province or autonomous region (full name, or its short form such as `广东` or
     `新疆`, written back in full) is followed by the shortest run of at most 10 characters, containing no
     `区`, `县` or `省`, that ends in `市`, `地区`, `自治州` or `盟`: the prefecture level
     (`吉林省延边朝鲜族自治州延吉市…` -> `吉林省延边朝鲜族自治州`). With no such run, the province alone;
  3. without a province, a leading prefecture run as in 2 (`深圳市南山区…` -> `深圳市`);
  4. anything else has no recognisable city: null, counted as unresolved (never the clear address).
  Pitfall: an address that starts with a prefecture named like a province's short form (青海省's
  海南藏族自治州 written without its province) is read as that province; seller addresses that start
  with the province in full are read right.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from booktransfer.errors import MappingError
from booktransfer.mapping.model import Generalization

MUNICIPALITIES = ("北京", "天津", "上海", "重庆")
SARS = ("香港特别行政区", "澳门特别行政区")
PROVINCES = (
    "河北省", "山西省", "辽宁省", "吉林省", "黑龙江省", "江苏省", "浙江省", "安徽省", "福建省", "江西省", "山东省",
    "河南省", "湖北省", "湖南省", "广东省", "海南省", "四川省", "贵州省", "云南省", "陕西省", "甘肃省", "青海省",
    "台湾省", "内蒙古自治区", "广西壮族自治区", "西藏自治区", "宁夏回族自治区", "新疆维吾尔自治区",
)
_SHORT = {"内蒙古自治区": "内蒙古", "广西壮族自治区": "广西", "西藏自治区": "西藏", "宁夏回族自治区": "宁夏",
          "新疆维吾尔自治区": "新疆"}
# Longest spelling first, so a full name wins over its short form.
_PROVINCE_SPELLINGS = sorted(
    [(p, p) for p in PROVINCES] + [(_SHORT.get(p, p.removesuffix("省")), p) for p in PROVINCES],
    key=lambda pair: -len(pair[0]),
)
_PREFECTURE = re.compile(r"[^区县省]{1,10}?(?:自治州|地区|盟|市)")
_BAND_EDGES = ((0, 13), (14, 17), (18, 24), *((a, a + 4) for a in range(25, 90, 5)))
TOP_BAND = "90+"


@dataclass(frozen=True)
class Generalized:
    """A generalized column and how many non-null inputs had no generalization (now null)."""

    values: pa.Array
    unresolved: int


def age_band(age: int) -> str | None:
    """The band of an age in completed years (None for a negative age)."""
    if age < 0:
        return None
    for low, high in _BAND_EDGES:
        if low <= age <= high:
            return f"{low:02d}-{high:02d}"
    return TOP_BAND


def _municipality(text: str) -> str | None:
    for name in MUNICIPALITIES:
        if text.startswith(name):
            return f"{name}市"
    return next((sar for sar in SARS if text.startswith(sar)), None)


def city_of(address: str) -> str | None:
    """The province- and prefecture-level part of a Chinese address (module docstring), or None."""
    text = address.strip()
    found = _municipality(text)
    if found:
        return found
    for spelling, province in _PROVINCE_SPELLINGS:
        # 吉林市 is a prefecture of 吉林省, not the province written short.
        if text.startswith(spelling) and not text.startswith("市", len(spelling)):
            prefecture = _PREFECTURE.match(text, len(spelling))
            return province + (prefecture.group(0) if prefecture else "")
    prefecture = _PREFECTURE.match(text)
    return prefecture.group(0) if prefecture else None


def _ages(values: pa.Array, as_of: date) -> pa.Array:
    """Completed years between each date and `as_of` (one less before this year's birthday)."""
    before_birthday = pc.or_(
        pc.less(pa.scalar(as_of.month), pc.month(values)),
        pc.and_(pc.equal(pc.month(values), as_of.month), pc.less(pa.scalar(as_of.day), pc.day(values))),
    )
    return pc.subtract(pc.subtract(pa.scalar(as_of.year), pc.year(values)), before_birthday.cast(pa.int64()))


def _map_unique(values: pa.Array, fn: Callable[[Any], str | None]) -> pa.Array:
    """Apply a Python function once per distinct value and spread the results (nulls stay null)."""
    distinct = pc.unique(values)
    results = pa.array([None if v is None else fn(v) for v in distinct.to_pylist()], pa.string())
    return pc.take(results, pc.index_in(values, value_set=distinct))


def _require_temporal(values: pa.Array, rule: Generalization, column: str) -> None:
    if not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
        raise MappingError(f"column {column}: generalize: {rule} needs a date field, not {values.type}")


def generalize_column(values: pa.Array, rule: Generalization, as_of: date, column: str) -> Generalized:
    """Generalize one column by its declared rule; inputs that have no generalization become null (counted)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if rule is Generalization.CITY:
        out = _map_unique(values.cast(pa.string()), city_of)
    elif rule is Generalization.YEAR:
        _require_temporal(values, rule, column)
        out = pc.year(values).cast(pa.int32())
    else:
        _require_temporal(values, rule, column)
        out = _map_unique(_ages(values, as_of), age_band)
    unresolved = (len(values) - values.null_count) - (len(out) - out.null_count)
    return Generalized(out, unresolved)
