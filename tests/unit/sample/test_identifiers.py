"""Identifier building blocks: check characters, credit codes, uniqueness, serials."""

import random
import re
from datetime import date

from stdnum.cn import ric, uscc

from booktransfer.sample.identifiers import (
    REGIONS,
    XINJIANG_REGIONS,
    ResidentIds,
    SeenSet,
    UniqueCodes,
    evidence_number,
    excel_damaged,
    fullwidth,
    mobile_number,
    organisation_check_char,
    resident_check_char,
)


def test_resident_check_char_matches_stdnum_example():
    """The documented stdnum example 360426199101010071 gets check character 1."""
    assert resident_check_char("36042619910101007") == "1"


def test_organisation_check_char_matches_published_code():
    """The GB 11714 part of the published code 91110000600037341L ends in 1."""
    assert organisation_check_char("60003734") == "1"


def test_every_region_validates_from_its_first_year():
    """For each region, stdnum accepts IDs born in its first allowed year and in 2025."""
    ids = ResidentIds(random.Random(1), 100)
    rejected = []
    for region in REGIONS + XINJIANG_REGIONS:
        for year in (max(region.since, 1925), 2025):
            if not ric.is_valid(ids.issue(region.code, date(year, 3, 1), male=True)):
                rejected.append((region.code, year))
    assert rejected == []


def test_issued_ids_are_unique_and_respect_sex_and_constraint():
    """Same region and birthday many times: all distinct, odd order digit for men, constraint honoured."""
    ids = ResidentIds(random.Random(2), 2000)
    issued = [
        ids.issue("110105", date(1990, 1, 1), male=True, accept=lambda i: i.endswith("X")) for _ in range(40)
    ]
    assert len(set(issued)) == 40
    assert all(int(i[16]) % 2 == 1 and i.endswith("X") and ric.is_valid(i) for i in issued)


def test_excel_damage_keeps_fifteen_digits():
    """A spreadsheet-damaged ID keeps its first 15 characters and ends in 000."""
    assert excel_damaged("110105199001011234") == "110105199001011000"


def test_credit_codes_are_valid_and_unique():
    """Generated credit codes pass GB 32100 and never repeat."""
    codes = UniqueCodes(random.Random(3), 500)
    drawn = [codes.credit_code() for _ in range(500)]
    assert len(set(drawn)) == 500
    assert all(uscc.is_valid(code) for code in drawn)


def test_mobiles_and_fullwidth():
    """Mobiles are 11 ASCII digits starting 13-19; full-width conversion touches digits only."""
    rng = random.Random(4)
    assert all(re.fullmatch("1[3-9][0-9]{9}", mobile_number(rng)) for _ in range(1000))
    assert fullwidth("13X9") == "\uff11\uff13X\uff19"


def test_seen_set_never_forgets():
    """A key added once is always reported as seen afterwards."""
    seen = SeenSet(1000)
    keys = random.Random(5).sample(range(10**17), 1000)
    added = [k for k in keys if seen.add(k)]
    assert len(added) >= 990
    assert not any(seen.add(k) for k in keys)


def test_evidence_numbers_are_unique():
    """EvidenceNo is EV + 12 digits and does not repeat across consecutive serials."""
    numbers = [evidence_number(n) for n in range(1, 20001)]
    assert len(set(numbers)) == len(numbers)
    assert all(re.fullmatch("EV[0-9]{12}", n) for n in numbers)
