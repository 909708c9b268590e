"""Identifiers of the sample book: resident IDs (GB 11643), credit codes (GB 32100), phones, serials."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from stdnum.cn import ric, uscc

from booktransfer.sample.layout import ymd


@dataclass(frozen=True)
class Region:
    """A county-level division: its code, the first birth year it may appear with, its place and postcode."""

    code: str
    since: int
    place: str
    zipcode: str


# Counties whose code stdnum's table (stdnum/cn/loc.dat) lists as current; ``since`` is the first year
# the table accepts for a birth date, so `stdnum.cn.ric.validate` accepts every clean ID we write.
REGIONS = (
    Region("110101", 0, "北京市东城区", "100010"),
    Region("110102", 0, "北京市西城区", "100032"),
    Region("110105", 0, "北京市朝阳区", "100020"),
    Region("110108", 0, "北京市海淀区", "100080"),
    Region("120101", 0, "天津市和平区", "300041"),
    Region("120103", 0, "天津市河西区", "300202"),
    Region("310101", 0, "上海市黄浦区", "200001"),
    Region("310104", 0, "上海市徐汇区", "200030"),
    Region("310105", 0, "上海市长宁区", "200050"),
    Region("310115", 1992, "上海市浦东新区", "200120"),
    Region("440104", 1983, "广东省广州市越秀区", "510030"),
    Region("440106", 1985, "广东省广州市天河区", "510630"),
    Region("440304", 1983, "广东省深圳市福田区", "518048"),
    Region("440305", 1983, "广东省深圳市南山区", "518052"),
    Region("330106", 1983, "浙江省杭州市西湖区", "310013"),
    Region("330122", 0, "浙江省杭州市桐庐县", "311500"),
    Region("320102", 1983, "江苏省南京市玄武区", "210018"),
    Region("320506", 2000, "江苏省苏州市吴中区", "215128"),
    Region("370102", 1983, "山东省济南市历下区", "250014"),
    Region("410105", 1983, "河南省郑州市金水区", "450008"),
    Region("420106", 1983, "湖北省武汉市武昌区", "430061"),
    Region("430121", 0, "湖南省长沙市长沙县", "410100"),
    Region("510107", 1990, "四川省成都市武侯区", "610041"),
    Region("510121", 0, "四川省成都市金堂县", "610400"),
    Region("500103", 1997, "重庆市渝中区", "400010"),
    Region("350121", 0, "福建省福州市闽侯县", "350100"),
    Region("360121", 0, "江西省南昌市南昌县", "330200"),
    Region("340121", 0, "安徽省合肥市长丰县", "231100"),
    Region("610113", 1983, "陕西省西安市雁塔区", "710061"),
    Region("210102", 1983, "辽宁省沈阳市和平区", "110001"),
    Region("222401", 0, "吉林省延边朝鲜族自治州延吉市", "133000"),
    Region("530124", 0, "云南省昆明市富民县", "650400"),
    Region("620121", 0, "甘肃省兰州市永登县", "730300"),
    Region("140121", 0, "山西省太原市清徐县", "030400"),
)

XINJIANG_REGIONS = (
    Region("650121", 0, "新疆维吾尔自治区乌鲁木齐市乌鲁木齐县", "830063"),
    Region("650102", 1983, "新疆维吾尔自治区乌鲁木齐市天山区", "830002"),
    Region("652323", 0, "新疆维吾尔自治区昌吉回族自治州呼图壁县", "831200"),
    Region("653101", 0, "新疆维吾尔自治区喀什地区喀什市", "844000"),
)

MOBILE_PREFIXES = tuple(
    str(p)
    for p in (*range(130, 140), *range(150, 154), *range(155, 160), 166, 173, 176, 177, 178)
    + (*range(180, 190), 191, 198, 199)
)

CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_FULLWIDTH = str.maketrans("0123456789", "".join(chr(0xFF10 + d) for d in range(10)))


def region_for(rng: random.Random, birth_year: int, regions: tuple[Region, ...] = REGIONS) -> Region:
    """Pick a region whose code is valid for someone born in ``birth_year``."""
    while True:
        region = rng.choice(regions)
        if region.since <= birth_year:
            return region


def resident_check_char(body: str) -> str:
    """Return the GB 11643 check character (``0``-``9`` or ``X``) for a 17-digit ID body."""
    return ric.calc_check_digit(body + "0")


def resident_body(region_code: str, birth: date, male: bool, rng: random.Random) -> str:
    """Return a 17-digit ID body: region, birth date and an order code that is odd for men."""
    order = rng.randrange(100) * 10 + rng.randrange(1 if male else 0, 10, 2)
    return f"{region_code}{ymd(birth)}{order:03d}"


def with_check(body: str) -> str:
    """Append the GB 11643 check character to a 17-digit body."""
    return body + resident_check_char(body)


def excel_damaged(resident_id: str) -> str:
    """Return the ID as a spreadsheet that stored it as a number shows it: last three digits ``000``."""
    return resident_id[:15] + "000"


def organisation_check_char(code8: str) -> str:
    """Return the GB 11714 check character of an 8-character organisation code."""
    total = sum(CREDIT_CODE_ALPHABET.index(c) * w for c, w in zip(code8, _ORGANISATION_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def credit_code(rng: random.Random) -> str:
    """Return a unified social credit code valid under GB 32100 (with a valid GB 11714 part as well)."""
    kind = rng.choice(("91", "91", "91", "92", "93"))
    region = rng.choice(REGIONS).code
    organisation = "".join(rng.choice(CREDIT_CODE_ALPHABET[:10] * 3 + CREDIT_CODE_ALPHABET) for _ in range(8))
    body = kind + region + organisation + organisation_check_char(organisation)
    return body + uscc.calc_check_digit(body)


def passport_number(rng: random.Random) -> str:
    """Return an ordinary PRC e-passport number: ``E`` and 8 digits."""
    return f"E{rng.randrange(10**8):08d}"


def mobile_number(rng: random.Random) -> str:
    """Return an 11-digit mainland mobile number (never the well-known 13800138000)."""
    while True:
        number = f"{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
        if number != "13800138000":
            return number


def fullwidth(text: str) -> str:
    """Replace ASCII digits by full-width digits U+FF10..U+FF19."""
    return text.translate(_FULLWIDTH)


class SeenSet:
    """A fixed-size bitmap that remembers integer keys: never a false 'new', rarely a false 'seen'.

    Memory stays bounded however many keys are added; a false 'seen' only makes the caller draw again.
    """

    def __init__(self, expected: int) -> None:
        """Size the bitmap at about 64 bits per expected key (at least 64 KiB, at most 128 MiB)."""
        bits = 1 << 19
        while bits < expected * 64 and bits < 1 << 30:
            bits <<= 1
        self._mask = bits - 1
        self._bits = bytearray(bits >> 3)

    def add(self, key: int) -> bool:
        """Remember ``key``; return False if it (or a key with the same hash) was added before."""
        slot = ((key * 0x9E3779B97F4A7C15) >> 17) & self._mask
        byte, bit = slot >> 3, 1 << (slot & 7)
        if self._bits[byte] & bit:
            return False
        self._bits[byte] |= bit
        return True


class ResidentIds:
    """Issues unique resident ID numbers, optionally constrained (e.g. to end in ``X``)."""

    def __init__(self, rng: random.Random, expected: int) -> None:
        """Use ``rng`` for order codes and remember issued bodies in a bitmap sized for ``expected``."""
        self._rng = rng
        self._seen = SeenSet(expected)

    def issue(
        self, region_code: str, birth: date, male: bool, accept: Callable[[str], bool] | None = None
    ) -> str:
        """Return a new valid ID for the region, birth date and sex, satisfying ``accept`` if given."""
        while True:
            resident_id = with_check(resident_body(region_code, birth, male, self._rng))
            if accept is not None and not accept(resident_id):
                continue
            if self._seen.add(int(resident_id[:17])):
                return resident_id


class UniqueCodes:
    """Issues unique credit codes and passport numbers."""

    def __init__(self, rng: random.Random, expected: int) -> None:
        """Use ``rng`` for the codes and a bitmap sized for ``expected`` codes."""
        self._rng = rng
        self._seen = SeenSet(expected)

    def credit_code(self) -> str:
        """Return a credit code not issued before."""
        while True:
            code = credit_code(self._rng)
            if self._seen.add(int(code, 36)):
                return code

    def passport(self) -> str:
        """Return a passport number not issued before."""
        while True:
            number = passport_number(self._rng)
            if self._seen.add(int(number[1:]) + (1 << 62)):
                return number


class Serial:
    """Sequential identifiers such as ``C000000001``."""

    def __init__(self, prefix: str, width: int) -> None:
        """Numbers are ``prefix`` followed by ``width`` zero-padded digits, starting at 1."""
        self._prefix = prefix
        self._width = width
        self.issued = 0

    def next(self) -> str:
        """Return the next identifier."""
        self.issued += 1
        return f"{self._prefix}{self.issued:0{self._width}d}"


def evidence_number(serial: int) -> str:
    """Return ``EV`` and 12 digits: a bijective scramble of ``serial`` (unique, not sequential-looking)."""
    return f"EV{(serial * 376_287_651_233 + 104_729_000_017) % 10**12:012d}"
