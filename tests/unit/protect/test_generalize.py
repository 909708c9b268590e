"""booktransfer.protect.generalize: birth date to year or age band as of the run date, address to city."""

from __future__ import annotations

from datetime import date, datetime

import pyarrow as pa
import pytest

from booktransfer.errors import MappingError
from booktransfer.mapping.model import Generalization
from booktransfer.protect.generalize import age_band, city_of, generalize_column

AS_OF = date(2025, 12, 31)


@pytest.mark.parametrize(("address", "city"), [
    ("广东省深圳市南山区科技园路1号", "广东省深圳市"),
    ("浙江省杭州市桐庐县迎春路8号3栋", "浙江省杭州市"),
    ("上海市徐汇区漕溪北路5号", "上海市"),
    ("北京东城区东四十条", "北京市"),
    ("  重庆市渝中区解放碑", "重庆市"),
    ("香港特别行政区中西区皇后大道", "香港特别行政区"),
    ("吉林省延边朝鲜族自治州延吉市光明街", "吉林省延边朝鲜族自治州"),
    ("新疆维吾尔自治区阿克苏地区阿克苏市", "新疆维吾尔自治区阿克苏地区"),
    ("新疆乌鲁木齐市天山区", "新疆维吾尔自治区乌鲁木齐市"),
    ("内蒙古自治区锡林郭勒盟锡林浩特市", "内蒙古自治区锡林郭勒盟"),
    ("广东深圳市福田区", "广东省深圳市"),
    ("湖北省仙桃市沔阳大道", "湖北省仙桃市"),
    ("海南省琼中黎族苗族自治县营根镇城市路", "海南省"),
    ("深圳市南山区科技园", "深圳市"),
    ("吉林市船营区", "吉林市"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None)
def test_city_of_chinese_addresses(address, city):
    """The province- and prefecture-level part, written in full; municipalities and SARs are the city level."""
    assert city_of(address) == city


@pytest.mark.parametrize("address", ["南山区科技园路1号", "科技园路1号", "", "123 Main Street"])
def test_city_of_unrecognised_is_none(address):
    """An address without a province, municipality or prefecture at its start has no city (never the address)."""
    assert city_of(address) is None


@pytest.mark.parametrize(("age", "band"), [(0, "00-13"), (13, "00-13"), (14, "14-17"), (17, "14-17"),
                                           (18, "18-24"), (24, "18-24"), (25, "25-29"), (29, "25-29"),
                                           (62, "60-64"), (89, "85-89"), (90, "90+"), (117, "90+"), (-1, None)])
def test_age_bands(age, band):
    """Under 14 (PIPL's sensitive minors), other minors, 18-24, five-year bands, top-coded at 90."""
    assert age_band(age) == band


def test_age_band_as_of_the_run_date():
    """Age in completed years on the as-of date: the birthday itself counts, the day before does not."""
    births = pa.array([date(2011, 12, 31), date(2012, 1, 1), date(2007, 12, 31), date(1990, 2, 28), None,
                       date(2026, 1, 1)], pa.date32())

    out = generalize_column(births, Generalization.AGE_BAND, AS_OF, "birth_date")

    assert out.values.to_pylist() == ["14-17", "00-13", "18-24", "35-39", None, None]
    assert out.unresolved == 1


def test_age_band_moves_with_the_as_of_date():
    """The same birth date falls in another band a day later: the as-of date is an input, not today."""
    births = pa.array([date(2007, 6, 1)], pa.date32())

    before = generalize_column(births, Generalization.AGE_BAND, date(2025, 5, 31), "b").values.to_pylist()
    after = generalize_column(births, Generalization.AGE_BAND, date(2025, 6, 1), "b").values.to_pylist()

    assert (before, after) == (["14-17"], ["18-24"])


def test_leap_day_birthday():
    """Someone born on 29 February turns a year older on 1 March in a common year."""
    births = pa.array([date(2008, 2, 29)], pa.date32())

    on_28th = generalize_column(births, Generalization.AGE_BAND, date(2022, 2, 28), "b").values.to_pylist()
    on_1st = generalize_column(births, Generalization.AGE_BAND, date(2022, 3, 1), "b").values.to_pylist()

    assert (on_28th, on_1st) == (["00-13"], ["14-17"])


def test_year_of_dates_and_timestamps():
    """year gives the calendar year as an integer; nulls stay null and are not unresolved."""
    dates = generalize_column(pa.array([date(1987, 5, 14), None], pa.date32()), Generalization.YEAR, AS_OF, "b")
    stamps = generalize_column(pa.array([datetime(2001, 1, 1, 8)], pa.timestamp("s")), Generalization.YEAR,
                               AS_OF, "t")

    assert dates.values.to_pylist() == [1987, None] and dates.unresolved == 0
    assert stamps.values.to_pylist() == [2001]


def test_city_column_counts_unresolved():
    """A city column keeps nulls as nulls and counts addresses it could not place."""
    addresses = pa.chunked_array([["广东省广州市天河区", None], ["科技园路1号", "广东省广州市越秀区"]])

    out = generalize_column(addresses, Generalization.CITY, AS_OF, "address")

    assert out.values.to_pylist() == ["广东省广州市", None, None, "广东省广州市"]
    assert out.unresolved == 1


@pytest.mark.parametrize("rule", [Generalization.YEAR, Generalization.AGE_BAND])
def test_year_and_age_band_need_a_date(rule):
    """Generalizing a text column by year or age band is a mapping error naming the column."""
    with pytest.raises(MappingError, match="column remark: generalize"):
        generalize_column(pa.array(["1987"]), rule, AS_OF, "remark")
