"""A deterministic demo county: a small Yongkang with its bureau lists and field truth.

`generate_county(out_dir, businesses=300, seed=7)` writes the files a campaign office
receives, in the formats the bureaus send them:

- ``tax_registry.csv``: the tax bureau's taxpayer list (GB18030, CRLF, Chinese headers).
- ``commerce_registry.xlsx``: the market-regulation list, a title row above the header and
  identifiers stored as text cells.
- ``gazetteer.csv``: the postal gazetteer, one standard address per door with a WGS-84 point.
- ``territories.geojson``: delivery segments tiling the county's bounding box, each with
  its delivery station.
- ``couriers.csv``: the courier roster, each courier on one delivery segment.
- ``truth.csv``: what the field would find: which list rows are one business, its real
  state (operating, operating_changed, relocated, closed, shell, not_found, refused, or
  unlisted for an operating business no list has) and where it really is. List rows are
  counted from 1 below the header (and, in the XLSX, below the title row).

Businesses are individual businesses (``92…`` codes) and companies (``91…``) on the roads
of several of Yongkang's fourteen townships; a bigger county spreads over more townships.
Identifiers are valid: GB 32100 check characters over an embedded GB 11714 organisation
code, owners' resident IDs (``330784…``) with GB 11643 check characters, legacy GS15
registration numbers with their ISO 7064 check digit, and the tax bureau's other TIN shapes
(owner ID + ``01``, area code + organisation code). Most businesses are in both lists, some
in one only. A few percent of rows carry the defects real lists have (`DEFECT_KINDS`); each
is reported in `CountyFiles.defects` with its file and row, so that a test can tell a
deliberate error from a bug.

One seeded `random.Random` drives everything: the same seed gives the same CSV and GeoJSON
bytes (the XLSX differs only in the timestamps openpyxl writes into the zip).
"""

from __future__ import annotations

import csv
import json
import math
import random
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from openpyxl import Workbook

# --- Places ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Township:
    """A township-level division: its name, the short form used in shop names, a centre."""

    name: str
    short: str
    lon: float
    lat: float
    roads: tuple[str, ...]


PROVINCE_CITY = "浙江省金华市永康市"
COUNTY_AREA_CODE = "330784"  # GB/T 2260 code of 永康市

# Ordered so that a small county takes the central townships first. Some road names
# recur in two townships, as they do in real gazetteers; the first two townships share
# 飞凤北路, so every generated county has an ambiguous road.
TOWNSHIPS: tuple[Township, ...] = (
    Township("东城街道", "东城", 120.055, 28.900, ("飞凤北路", "古山北路", "龙川北路", "石柱东路")),
    Township("江南街道", "江南", 120.040, 28.865, ("飞凤北路", "总部南路", "环城东路", "商城大道")),
    Township("西城街道", "西城", 120.010, 28.892, ("金城北路", "西津路", "南苑西路", "古山南路")),
    Township("石柱镇", "石柱", 120.098, 28.978, ("丽州南路", "溪心南路", "飞凤街", "古山西路")),
    Township("芝英镇", "芝英", 120.130, 28.885, ("华丽南路", "环城西路", "胜利南路", "长城大道")),
    Township("古山镇", "古山", 120.143, 29.040, ("唐先大道", "商城街", "园周大道", "黄棠北路")),
    Township("前仓镇", "前仓", 120.125, 28.952, ("九铃路", "古山大道", "永拖街", "金城北路")),
    Township("唐先镇", "唐先", 120.022, 29.018, ("东山南路", "丽州西路", "南苑北路", "古山东路")),
    Township("方岩镇", "方岩", 120.172, 28.970, ("工业路", "新兴大道", "胜利街", "黄棠东路")),
    Township("舟山镇", "舟山", 120.185, 28.922, ("明珠北路", "永拖大道", "科技北路", "花川街")),
    Township("花街镇", "花街", 119.925, 28.838, ("南苑路", "望春大道", "胜利南路", "唐先大道")),
    Township("西溪镇", "西溪", 119.965, 28.770, ("华丽北路", "象珠路", "总部南路", "黄棠北路")),
    Township("象珠镇", "象珠", 120.120, 29.012, ("大司路", "石柱北路", "西津北路", "石柱东路")),
    Township("龙山镇", "龙山", 120.083, 28.812, ("华丽西路", "城西路", "望春东路", "长城南路")),
)

COUNTY_BBOX = (119.89, 28.745, 120.23, 29.08)  # min lon, min lat, max lon, max lat
SEGMENT_COLUMNS, SEGMENT_ROWS = 2, 3

MIN_BUSINESSES = 30
BUSINESSES_PER_TOWNSHIP = 50
MIN_TOWNSHIPS = 4
ADDRESSES_PER_BUSINESS = 1.2  # spare doors, so that not every door has a business
MIN_DOORS_PER_ROAD, MAX_DOORS_PER_ROAD = 20, 60
DOOR_SPACING_M = 12.0  # between consecutive odd (or even) numbers
STREET_HALF_WIDTH_M = 6.0  # odd numbers on one side, even on the other
ROAD_OFFSET_M = (150.0, 350.0)  # how far a road starts from the township centre
FIELD_JITTER_DEG = 0.00008  # a storefront is a few metres from the gazetteer point
METRES_PER_DEGREE = 111_320.0

# --- People, trades and names ---------------------------------------------------------

SURNAMES = (
    "应", "胡", "陈", "吕", "徐", "李", "楼", "程", "周", "朱", "黄",
    "金", "杨", "吴", "俞", "施", "潘", "郑", "卢", "何", "叶",
)  # fmt: skip
GIVEN_NAME_CHARS = (
    "军", "伟", "建", "国", "华", "平", "勇", "杰", "强", "磊", "波", "超", "鹏", "涛",
    "敏", "静", "丽", "芳", "娟", "燕", "萍", "英", "霞", "桂", "秀", "丹", "玲", "艳",
    "晓", "洋", "海", "鑫", "志", "斌", "刚", "飞",
)  # fmt: skip
BRAND_CHARS = (
    "振", "丰", "源", "顺", "佳", "安", "鑫", "宏", "利", "达", "隆", "兴", "康", "豪",
    "盛", "诚", "尔", "瑞", "亚", "中", "益", "凯", "恒", "升", "美", "群", "天", "德",
)  # fmt: skip
# Yongkang's hardware trades with their GB/T 4754 industry code.
PRODUCTS = (
    ("炊具", "C3381"),
    ("保温杯", "C3381"),
    ("电动工具", "C3424"),
    ("防盗门", "C3312"),
    ("电器", "C3859"),
    ("塑料制品", "C2929"),
    ("不锈钢制品", "C3399"),
    ("五金制品", "C3389"),
    ("机械", "C3490"),
    ("汽摩配件", "C3670"),
    ("电动车", "C3770"),
    ("日用品", "F5231"),
)
INDIVIDUAL_SUFFIXES = ("经营部", "商行", "店", "门市部", "加工厂", "厂")
COMPANY_PREFIXES = ("永康市", "金华", "浙江")
COMPANY_PREFIX_WEIGHTS = (5, 1, 1)
COMPANY_SUFFIX = "有限公司"
COMPANY_SUFFIX_VARIANT = "有限责任公司"
MOBILE_PREFIXES = (
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "157", "158", "159", "177", "180", "181", "187", "188", "189", "191", "199",
)  # fmt: skip
LANDLINE_PREFIX = "0579-8"  # Yongkang's area code; local numbers start with 8
LANDLINE_SHARE = 0.14

FIRST_REGISTRATION, LAST_REGISTRATION = date(1998, 1, 1), date(2017, 12, 31)
OLDEST_BIRTH = date(1955, 1, 1)
ADULT_YEARS = 18

# --- Identifiers ----------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
ORG_CODE_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
RIC_CHECK_CHARS = "10X98765432"
USCC_PREFIX = {"company": "91", "individual": "92"}  # 9 = market regulation; 1/2 = type

INDIVIDUAL_SHARE = 0.68
OWNER_ID_TIN_SHARE = 0.13  # individual businesses filed under the owner's ID + "01"
AREA_ORG_CODE_TIN_SHARE = 0.15  # older companies filed under area code + org code
LEGACY_REGNO_SHARE = 0.02  # commerce rows still carrying a GS15 registration number

# --- Field states and list membership -------------------------------------------------

OPERATING = "operating"
UNLISTED = "unlisted"
FIELD_STATE_SHARES = {
    "operating_changed": 0.09,
    "closed": 0.07,
    "relocated": 0.055,
    "shell": 0.045,
    "not_found": 0.03,
    "refused": 0.01,
}
NO_PREMISES_STATES = ("shell", "not_found")
BOTH_LISTS, TAX_ONLY, COMMERCE_ONLY, NO_LIST = "both", "tax", "commerce", "none"
LIST_SHARES = {COMMERCE_ONLY: 0.085, TAX_ONLY: 0.03}
UNLISTED_SHARE = 0.02

TAX_STATUS_NORMAL = "正常"
# Some of the dead businesses already carry a bureau status: (share, status).
TAX_STATUS_BY_STATE = {
    "closed": (0.3, "停业"),
    "shell": (0.2, "非正常"),
    "not_found": (0.15, "非正常"),
}
COMMERCE_STATUS_NORMAL = "存续（在营、开业、在册）"
COMMERCE_STATUS_REVOKED = "吊销，未注销"
COMMERCE_REVOKED_SHARE = 0.12  # of closed, shell and not_found businesses

# --- Defects --------------------------------------------------------------------------

DEFECT_SHARES = {
    "duplicate_registration": 0.008,  # a second tax row for the same business
    "uscc_typo": 0.01,  # one mistyped character: the check character no longer fits
    "missing_code": 0.01,  # a commerce row with name and address only
    "id_typo": 0.006,  # one mistyped digit in the owner's resident ID
    "company_suffix_variant": 0.03,  # 有限责任公司 in one list, 有限公司 in the other
    "name_prefix_dropped": 0.03,  # 永康市 left out of the name
    "name_whitespace": 0.01,  # a stray space inside the name
    "address_without_township": 0.04,
    "fullwidth_digits": 0.04,  # １２号 instead of 12号
}
# Reported without a business: a road name two townships share, a courier without a mobile.
DEFECT_KINDS = (*DEFECT_SHARES, "shared_road_name", "courier_landline")

# --- File formats ---------------------------------------------------------------------

TAX_FILE = "tax_registry.csv"
COMMERCE_FILE = "commerce_registry.xlsx"
GAZETTEER_FILE = "gazetteer.csv"
TERRITORIES_FILE = "territories.geojson"
COURIERS_FILE = "couriers.csv"
TRUTH_FILE = "truth.csv"

TAX_ENCODING = "gb18030"
CRLF = "\r\n"
TAX_HEADER = (
    "序号",
    "纳税人识别号",
    "纳税人名称",
    "法定代表人（负责人、业主）",
    "证件号码",
    "生产经营地址",
    "联系电话",
    "登记注册类型",
    "行业",
    "主管税务所（科、分局）",
    "登记日期",
    "纳税人状态",
)
TAX_REGISTRATION_TYPES = {"company": "有限责任公司", "individual": "个体工商户"}
COMMERCE_SHEET = "市场主体"
COMMERCE_EXPORT_DATE = date(2018, 6, 30)
COMMERCE_TITLE = f"永康市市场主体登记信息（导出日期：{COMMERCE_EXPORT_DATE.isoformat()}）"
COMMERCE_HEADER = (
    "统一社会信用代码/注册号",
    "名称",
    "类型",
    "法定代表人/经营者",
    "住所/经营场所",
    "成立日期",
    "登记机关",
    "登记状态",
)
COMMERCE_TYPES = {"company": "有限责任公司(自然人投资或控股)", "individual": "个体工商户"}
COMMERCE_AUTHORITY = "永康市市场监督管理局"
GAZETTEER_HEADER = ("标准地址", "乡镇街道", "道路", "门牌号", "经度", "纬度")
COURIERS_HEADER = ("工号", "姓名", "手机号", "投递段", "网点经度", "网点纬度")
TRUTH_HEADER = (
    "entity",
    "tax_rows",
    "commerce_rows",
    "uscc",
    "field_state",
    "registered_address",
    "registered_lon",
    "registered_lat",
    "real_address",
    "real_lon",
    "real_lat",
    "real_phone",
    "name",
    "owner",
)
# How the lists write an address: (prefix before the township, weight).
ADDRESS_PREFIXES = (("浙江省金华市永康市", 3), ("永康市", 5), ("", 2))
ADDRESS_PREFIXES_WITHOUT_TOWNSHIP = ("永康市", "浙江省永康市")
UNIT_SUFFIX_SHARE = 0.12
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")


# --- Model ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    """One door of the postal gazetteer."""

    township: Township
    road: str
    number: int
    lon: float
    lat: float

    @property
    def standard(self) -> str:
        return f"{PROVINCE_CITY}{self.township.name}{self.road}{self.number}号"


@dataclass(eq=False)
class Business:
    """A real-world business: what truth.csv says about it."""

    entity: str
    kind: str  # "company" or "individual"
    name: str
    owner: str
    owner_id: str
    uscc: str  # empty for an unlisted business
    industry: str
    address: Address  # where it is registered (for an unlisted one: where it operates)
    phone: str
    registered_on: date
    field_state: str
    lists: str
    real_address: Address | None = None
    real_point: tuple[float, float] | None = None
    real_phone: str = ""


@dataclass(eq=False)
class Listing:
    """One row of a bureau list, as the bureau holds it (defects included)."""

    source: str  # TAX_FILE or COMMERCE_FILE
    business: Business
    code: str
    name: str
    owner_id: str
    address: str
    registered_on: date
    status: str
    serial: int = 0  # 序号 in the tax list
    row: int = 0  # 1-based data row in its file, set once the list is shuffled


@dataclass(frozen=True)
class Segment:
    """A delivery segment: a cell of the grid over the county, with its station."""

    code: str
    name: str
    bbox: tuple[float, float, float, float]
    station: tuple[float, float]


@dataclass(frozen=True)
class Courier:
    staff_no: str
    name: str
    phone: str
    segment: Segment


@dataclass(frozen=True)
class Defect:
    """A deliberate defect: which file and 1-based data row (0 for the whole file)."""

    kind: str
    file: str
    row: int
    entity: str
    detail: str


@dataclass(frozen=True)
class CountyFiles:
    """Where the generated files are, and the manifest of their deliberate defects."""

    out_dir: Path
    tax_registry: Path
    commerce_registry: Path
    gazetteer: Path
    territories: Path
    couriers: Path
    truth: Path
    defects: tuple[Defect, ...] = ()


@dataclass
class _PendingDefect:
    """A defect found before the lists are shuffled; its row is known only afterwards."""

    kind: str
    listing: Listing
    detail: str


# --- Entry point ----------------------------------------------------------------------


def generate_county(out_dir: Path, *, businesses: int = 300, seed: int = 7) -> CountyFiles:
    """Write a demo county with `businesses` registered businesses into `out_dir`."""
    if businesses < MIN_BUSINESSES:
        raise ValueError(f"businesses must be at least {MIN_BUSINESSES}, got {businesses}")
    rng = random.Random(seed)
    townships = TOWNSHIPS[: _township_count(businesses)]
    gazetteer = _build_gazetteer(rng, townships, _doors_per_road(businesses, len(townships)))
    registered = _build_businesses(rng, gazetteer, _shared_roads(townships), businesses)
    unlisted = _build_unlisted(
        rng,
        gazetteer,
        max(1, round(UNLISTED_SHARE * businesses)),
        taken_names={business.name for business in registered},
    )
    tax, commerce = _build_listings(rng, registered)
    pending = _apply_defects(rng, townships, registered, tax, commerce)
    _number_tax_rows(tax)
    _shuffle_rows(rng, tax)
    _shuffle_rows(rng, commerce)
    segments = _build_segments(rng)
    couriers, landline_courier = _build_couriers(rng, segments, businesses)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = CountyFiles(
        out_dir=out_dir,
        tax_registry=out_dir / TAX_FILE,
        commerce_registry=out_dir / COMMERCE_FILE,
        gazetteer=out_dir / GAZETTEER_FILE,
        territories=out_dir / TERRITORIES_FILE,
        couriers=out_dir / COURIERS_FILE,
        truth=out_dir / TRUTH_FILE,
        defects=tuple(
            [_resolve(defect) for defect in pending]
            + _shared_road_defects(townships)
            + _courier_defects(couriers, landline_courier)
        ),
    )
    _write_tax_csv(files.tax_registry, tax)
    _write_commerce_xlsx(files.commerce_registry, commerce)
    _write_gazetteer_csv(files.gazetteer, gazetteer)
    _write_territories(files.territories, segments)
    _write_couriers_csv(files.couriers, couriers)
    _write_truth_csv(files.truth, registered + unlisted, tax + commerce)
    return files


def _township_count(businesses: int) -> int:
    return max(MIN_TOWNSHIPS, min(len(TOWNSHIPS), businesses // BUSINESSES_PER_TOWNSHIP))


def _doors_per_road(businesses: int, township_count: int) -> int:
    roads = sum(len(township.roads) for township in TOWNSHIPS[:township_count])
    doors = math.ceil(ADDRESSES_PER_BUSINESS * businesses / roads)
    return max(MIN_DOORS_PER_ROAD, min(MAX_DOORS_PER_ROAD, doors))


# --- Check characters -----------------------------------------------------------------


def _uscc_check_char(first17: str) -> str:
    """GB 32100 check character: weights 3^i mod 31 over the 31-symbol alphabet."""
    total = sum(USCC_ALPHABET.index(char) * pow(3, i, 31) for i, char in enumerate(first17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _org_code_check_char(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(ORG_CODE_ALPHABET.index(c) * w for c, w in zip(body, ORG_CODE_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def _ric_check_char(first17: str) -> str:
    """GB 11643 check character of a resident ID: weights 2^(17-i) mod 11."""
    total = sum(int(digit) * pow(2, 17 - i, 11) for i, digit in enumerate(first17))
    return RIC_CHECK_CHARS[total % 11]


def _gs15_check_digit(first14: str) -> str:
    """ISO 7064 MOD 11,10 check digit of a 15-digit GS15 registration number."""
    product = 10
    for digit in first14:
        product = ((product + int(digit)) % 10 or 10) * 2 % 11
    return str((11 - product) % 10)


def _new_uscc(rng: random.Random, kind: str) -> str:
    # The organisation code sits inside the USCC, so its body uses the USCC alphabet.
    body = "".join(rng.choice(USCC_ALPHABET) for _ in range(8))
    first17 = USCC_PREFIX[kind] + COUNTY_AREA_CODE + body + _org_code_check_char(body)
    return first17 + _uscc_check_char(first17)


def _new_resident_id(rng: random.Random, born: date) -> str:
    first17 = f"{COUNTY_AREA_CODE}{born:%Y%m%d}{rng.randint(1, 999):03d}"
    return first17 + _ric_check_char(first17)


def _new_gs15(rng: random.Random, kind: str) -> str:
    # The first digit of the sequence tells domestic companies (0-3) from individuals (6-9).
    first = rng.randint(0, 3) if kind == "company" else rng.randint(6, 9)
    first14 = f"{COUNTY_AREA_CODE}{first}{rng.randint(0, 9_999_999):07d}"
    return first14 + _gs15_check_digit(first14)


# --- Gazetteer ------------------------------------------------------------------------


def _build_gazetteer(
    rng: random.Random, townships: Sequence[Township], doors: int
) -> list[Address]:
    addresses = []
    for township in townships:
        for index, road in enumerate(township.roads):
            addresses.extend(_road_doors(rng, township, index, road, doors))
    return addresses


def _road_doors(
    rng: random.Random, township: Township, index: int, road: str, doors: int
) -> list[Address]:
    # Each road starts in its own quarter around the centre and runs in a random direction.
    bearing = index * math.pi / 2 + rng.uniform(0, math.pi / 2)
    start_lon, start_lat = _offset(township.lon, township.lat, rng.uniform(*ROAD_OFFSET_M), bearing)
    heading = rng.uniform(0, 2 * math.pi)
    addresses = []
    for number in range(1, doors + 1):
        along = (number - 1) // 2 * DOOR_SPACING_M
        side = STREET_HALF_WIDTH_M if number % 2 else -STREET_HALF_WIDTH_M
        lon, lat = _offset(start_lon, start_lat, along, heading)
        lon, lat = _offset(lon, lat, side, heading + math.pi / 2)
        addresses.append(Address(township, road, number, round(lon, 6), round(lat, 6)))
    return addresses


def _offset(lon: float, lat: float, metres: float, bearing: float) -> tuple[float, float]:
    """Move a point by `metres` towards `bearing` (radians from east); fine at this scale."""
    dlat = metres * math.sin(bearing) / METRES_PER_DEGREE
    dlon = metres * math.cos(bearing) / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return lon + dlon, lat + dlat


def _jitter(rng: random.Random, address: Address) -> tuple[float, float]:
    return (
        round(address.lon + rng.uniform(-FIELD_JITTER_DEG, FIELD_JITTER_DEG), 6),
        round(address.lat + rng.uniform(-FIELD_JITTER_DEG, FIELD_JITTER_DEG), 6),
    )


# --- Businesses -----------------------------------------------------------------------


def _quota(rng: random.Random, count: int, shares: dict[str, float], rest: str) -> list[str]:
    """`count` labels in the given shares (each at least once), the rest `rest`, shuffled."""
    labels = []
    for label, share in shares.items():
        labels += [label] * max(1, round(share * count))
    labels += [rest] * (count - len(labels))
    rng.shuffle(labels)
    return labels


def _build_businesses(
    rng: random.Random, gazetteer: Sequence[Address], shared_roads: Container[str], count: int
) -> list[Business]:
    states = _quota(rng, count, FIELD_STATE_SHARES, OPERATING)
    lists = _quota(rng, count, LIST_SHARES, BOTH_LISTS)
    kinds = _quota(rng, count, {"company": 1 - INDIVIDUAL_SHARE}, "individual")
    addresses = [rng.choice(gazetteer) for _ in range(count)]
    # Someone must be on a road two townships share, or that trap never shows in the lists.
    if shared_roads and not any(address.road in shared_roads for address in addresses):
        addresses[0] = rng.choice([a for a in gazetteer if a.road in shared_roads])
    taken_names: set[str] = set()
    businesses = []
    for index in range(count):
        business = _new_business(
            rng,
            entity=f"E{index + 1:07d}",
            kind=kinds[index],
            address=addresses[index],
            field_state=states[index],
            lists=lists[index],
            taken_names=taken_names,
        )
        _set_field_outcome(rng, business, gazetteer)
        businesses.append(business)
    return businesses


def _new_business(
    rng: random.Random,
    *,
    entity: str,
    kind: str,
    address: Address,
    field_state: str,
    lists: str,
    taken_names: set[str],
) -> Business:
    registered_on = _random_date(rng, FIRST_REGISTRATION, LAST_REGISTRATION)
    latest_birth = registered_on.replace(year=registered_on.year - ADULT_YEARS, day=1)
    # Names are unique, so that a name in truth.csv means one business; retry on a clash.
    while True:
        owner = _person_name(rng)
        product, industry = rng.choice(PRODUCTS)
        name = _business_name(rng, kind, owner, product, address.township)
        if name not in taken_names:
            taken_names.add(name)
            break
    return Business(
        entity=entity,
        kind=kind,
        name=name,
        owner=owner,
        owner_id=_new_resident_id(rng, _random_date(rng, OLDEST_BIRTH, latest_birth)),
        uscc="" if lists == NO_LIST else _new_uscc(rng, kind),
        industry=industry,
        address=address,
        phone=_phone(rng),
        registered_on=registered_on,
        field_state=field_state,
        lists=lists,
    )


def _business_name(
    rng: random.Random, kind: str, owner: str, product: str, township: Township
) -> str:
    """永康市古山胡霞电器店 for an individual business, 永康市振丰保温杯有限公司 for a company."""
    if kind == "individual":
        return f"永康市{township.short}{owner}{product}{rng.choice(INDIVIDUAL_SUFFIXES)}"
    prefix = rng.choices(COMPANY_PREFIXES, COMPANY_PREFIX_WEIGHTS)[0]
    brand = "".join(rng.sample(BRAND_CHARS, 2))
    return f"{prefix}{brand}{product}{COMPANY_SUFFIX}"


def _set_field_outcome(
    rng: random.Random, business: Business, gazetteer: Sequence[Address]
) -> None:
    """Where the courier would find the business, and the phone that answers."""
    business.real_phone = business.phone
    if business.field_state in NO_PREMISES_STATES:
        return
    if business.field_state == "relocated":
        business.real_address = _other_address(rng, gazetteer, business.address)
    else:
        business.real_address = business.address
    if business.field_state == "operating_changed":
        business.real_phone = _phone(rng)
    business.real_point = _jitter(rng, business.real_address)


def _other_address(rng: random.Random, gazetteer: Sequence[Address], current: Address) -> Address:
    while (other := rng.choice(gazetteer)) is current:
        pass
    return other


def _build_unlisted(
    rng: random.Random, gazetteer: Sequence[Address], count: int, taken_names: set[str]
) -> list[Business]:
    """Operating businesses no list has: discoveries waiting for the couriers."""
    unlisted = []
    for index in range(count):
        business = _new_business(
            rng,
            entity=f"U{index + 1:07d}",
            kind="individual",
            address=rng.choice(gazetteer),
            field_state=UNLISTED,
            lists=NO_LIST,
            taken_names=taken_names,
        )
        business.real_address = business.address
        business.real_point = _jitter(rng, business.address)
        business.real_phone = business.phone
        unlisted.append(business)
    return unlisted


def _person_name(rng: random.Random) -> str:
    given_length = 2 if rng.random() < 0.6 else 1
    return rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_NAME_CHARS, k=given_length))


def _phone(rng: random.Random) -> str:
    return _landline(rng) if rng.random() < LANDLINE_SHARE else _mobile(rng)


def _mobile(rng: random.Random) -> str:
    return f"{rng.choice(MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"


def _landline(rng: random.Random) -> str:
    return f"{LANDLINE_PREFIX}{rng.randint(0, 9_999_999):07d}"


def _random_date(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randint(0, (last - first).days))


# --- Bureau lists ---------------------------------------------------------------------


def _build_listings(
    rng: random.Random, businesses: Sequence[Business]
) -> tuple[list[Listing], list[Listing]]:
    tax, commerce = [], []
    for business in businesses:
        if business.lists in (BOTH_LISTS, TAX_ONLY):
            tax.append(_tax_listing(rng, business))
        if business.lists in (BOTH_LISTS, COMMERCE_ONLY):
            commerce.append(_commerce_listing(rng, business))
    return tax, commerce


def _tax_listing(rng: random.Random, business: Business) -> Listing:
    return Listing(
        source=TAX_FILE,
        business=business,
        code=_tax_identifier(rng, business),
        name=business.name,
        owner_id=business.owner_id,
        address=_listed_address(rng, business.address),
        registered_on=business.registered_on,
        status=_tax_status(rng, business.field_state),
    )


def _tax_identifier(rng: random.Random, business: Business) -> str:
    """The TIN shapes a tax export mixes: USCC, owner ID + sequence, area + org code."""
    if business.kind == "individual" and rng.random() < OWNER_ID_TIN_SHARE:
        return business.owner_id + "01"
    if business.kind == "company" and rng.random() < AREA_ORG_CODE_TIN_SHARE:
        return COUNTY_AREA_CODE + business.uscc[8:17]
    return business.uscc


def _tax_status(rng: random.Random, field_state: str) -> str:
    share, status = TAX_STATUS_BY_STATE.get(field_state, (0.0, TAX_STATUS_NORMAL))
    return status if rng.random() < share else TAX_STATUS_NORMAL


def _commerce_listing(rng: random.Random, business: Business) -> Listing:
    legacy = rng.random() < LEGACY_REGNO_SHARE
    revoked = (
        business.field_state in ("closed", *NO_PREMISES_STATES)
        and rng.random() < COMMERCE_REVOKED_SHARE
    )
    return Listing(
        source=COMMERCE_FILE,
        business=business,
        code=_new_gs15(rng, business.kind) if legacy else business.uscc,
        name=business.name,
        owner_id=business.owner_id,
        address=_listed_address(rng, business.address),
        registered_on=business.registered_on,
        status=COMMERCE_STATUS_REVOKED if revoked else COMMERCE_STATUS_NORMAL,
    )


def _listed_address(rng: random.Random, address: Address, *, with_township: bool = True) -> str:
    """An address as a clerk typed it: some prefix, sometimes a building or room."""
    if with_township:
        prefixes, weights = zip(*ADDRESS_PREFIXES, strict=True)
        prefix = rng.choices(prefixes, weights)[0] + address.township.name
    else:
        prefix = rng.choice(ADDRESS_PREFIXES_WITHOUT_TOWNSHIP)
    text = f"{prefix}{address.road}{address.number}号"
    if rng.random() < UNIT_SUFFIX_SHARE:
        text += rng.choice((f"{rng.randint(1, 5)}幢", f"{rng.randint(101, 599)}室"))
    return text


def _number_tax_rows(tax: list[Listing]) -> None:
    """序号 is the bureau's own running number, kept from before the export was sorted."""
    for serial, listing in enumerate(tax, start=1):
        listing.serial = serial


def _shuffle_rows(rng: random.Random, listings: list[Listing]) -> None:
    rng.shuffle(listings)
    for row, listing in enumerate(listings, start=1):
        listing.row = row


# --- Defects --------------------------------------------------------------------------


def _apply_defects(
    rng: random.Random,
    townships: Sequence[Township],
    businesses: Sequence[Business],
    tax: list[Listing],
    commerce: list[Listing],
) -> list[_PendingDefect]:
    """Spoil a few percent of the rows the way real lists are spoiled."""
    count = len(businesses)
    pending = _duplicate_registrations(rng, tax, count)
    listings = tax + commerce
    pending += _uscc_typos(rng, listings, count)
    pending += _missing_codes(rng, commerce, count)
    pending += _id_typos(rng, tax, count)
    pending += _company_suffix_variants(rng, listings, count)
    pending += _dropped_name_prefixes(rng, listings, count)
    pending += _name_whitespace(rng, listings, count)
    pending += _addresses_without_township(rng, townships, listings, count)
    pending += _fullwidth_digits(rng, listings, count)
    return pending


def _wanted(kind: str, count: int) -> int:
    return max(1, round(DEFECT_SHARES[kind] * count))


def _pick(rng: random.Random, candidates: Sequence[Listing], wanted: int) -> list[Listing]:
    return rng.sample(list(candidates), min(wanted, len(candidates)))


def _duplicate_registrations(
    rng: random.Random, tax: list[Listing], count: int
) -> list[_PendingDefect]:
    kind = "duplicate_registration"
    pending = []
    for original in _pick(rng, tax, _wanted(kind, count)):
        # Registered again later, by another clerk: same identifiers, new date and wording.
        duplicate = Listing(
            source=TAX_FILE,
            business=original.business,
            code=original.code,
            name=original.name,
            owner_id=original.owner_id,
            address=_listed_address(rng, original.business.address),
            registered_on=original.registered_on + timedelta(days=rng.randint(30, 900)),
            status=original.status,
        )
        tax.append(duplicate)
        pending.append(_PendingDefect(kind, duplicate, f"second row for {original.code}"))
    return pending


def _uscc_typos(
    rng: random.Random, listings: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "uscc_typo"
    candidates = [listing for listing in listings if listing.code == listing.business.uscc]
    pending = []
    for listing in _pick(rng, candidates, _wanted(kind, count)):
        # One substituted character always breaks the mod-31 check (31 is prime).
        position = rng.randrange(2, 17)
        wrong = rng.choice(USCC_ALPHABET.replace(listing.code[position], ""))
        listing.code = listing.code[:position] + wrong + listing.code[position + 1 :]
        pending.append(_PendingDefect(kind, listing, f"{listing.business.uscc} -> {listing.code}"))
    return pending


def _missing_codes(
    rng: random.Random, commerce: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "missing_code"
    # Rows whose code is still the business's own: not a legacy number, not a typo.
    candidates = [listing for listing in commerce if listing.code == listing.business.uscc]
    pending = []
    for listing in _pick(rng, candidates, _wanted(kind, count)):
        listing.code = ""
        pending.append(_PendingDefect(kind, listing, "no code; name and address only"))
    return pending


def _id_typos(rng: random.Random, tax: Sequence[Listing], count: int) -> list[_PendingDefect]:
    kind = "id_typo"
    candidates = [listing for listing in tax if not listing.code.startswith(listing.owner_id)]
    pending = []
    for listing in _pick(rng, candidates, _wanted(kind, count)):
        # Mistype the sequence digits, so that the birth date stays a real date; a single
        # wrong digit always breaks the mod-11 check.
        position = rng.randrange(14, 17)
        wrong = rng.choice("0123456789".replace(listing.owner_id[position], ""))
        listing.owner_id = listing.owner_id[:position] + wrong + listing.owner_id[position + 1 :]
        pending.append(
            _PendingDefect(kind, listing, f"{listing.business.owner_id} -> {listing.owner_id}")
        )
    return pending


def _company_suffix_variants(
    rng: random.Random, listings: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "company_suffix_variant"
    # A company in both lists, spelled differently in one of them: a cross-list mismatch.
    rows_by_company: dict[str, list[Listing]] = {}
    for listing in listings:
        if listing.business.kind == "company" and listing.business.lists == BOTH_LISTS:
            rows_by_company.setdefault(listing.business.entity, []).append(listing)
    companies = list(rows_by_company.values())
    pending = []
    for rows in rng.sample(companies, min(_wanted(kind, count), len(companies))):
        listing = rng.choice(rows)
        listing.name = listing.name.replace(COMPANY_SUFFIX, COMPANY_SUFFIX_VARIANT)
        pending.append(_PendingDefect(kind, listing, listing.name))
    return pending


def _dropped_name_prefixes(
    rng: random.Random, listings: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "name_prefix_dropped"
    candidates = [listing for listing in listings if listing.name.startswith("永康市")]
    pending = []
    for listing in _pick(rng, candidates, _wanted(kind, count)):
        listing.name = listing.name.removeprefix("永康市")
        pending.append(_PendingDefect(kind, listing, listing.name))
    return pending


def _name_whitespace(
    rng: random.Random, listings: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "name_whitespace"
    pending = []
    for listing in _pick(rng, listings, _wanted(kind, count)):
        cut = rng.randrange(3, len(listing.name) - 2)
        listing.name = f"{listing.name[:cut]} {listing.name[cut:]}"
        pending.append(_PendingDefect(kind, listing, listing.name))
    return pending


def _addresses_without_township(
    rng: random.Random, townships: Sequence[Township], listings: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "address_without_township"
    shared = _shared_roads(townships)
    # The first one lands on a road two townships share: that address is truly ambiguous.
    on_shared = [listing for listing in listings if listing.business.address.road in shared]
    chosen = _pick(rng, on_shared, 1)
    others = [listing for listing in listings if listing not in chosen]
    chosen += _pick(rng, others, _wanted(kind, count) - len(chosen))
    pending = []
    for listing in chosen:
        listing.address = _listed_address(rng, listing.business.address, with_township=False)
        road = listing.business.address.road
        note = f" ({road} is in {'、'.join(shared[road])})" if road in shared else ""
        pending.append(_PendingDefect(kind, listing, listing.address + note))
    return pending


def _fullwidth_digits(
    rng: random.Random, listings: Sequence[Listing], count: int
) -> list[_PendingDefect]:
    kind = "fullwidth_digits"
    pending = []
    for listing in _pick(rng, listings, _wanted(kind, count)):
        listing.address = listing.address.translate(FULLWIDTH_DIGITS)
        pending.append(_PendingDefect(kind, listing, listing.address))
    return pending


def _shared_roads(townships: Sequence[Township]) -> dict[str, list[str]]:
    """Road name -> the townships that have a road of that name, for names used twice."""
    by_road: dict[str, list[str]] = {}
    for township in townships:
        for road in township.roads:
            by_road.setdefault(road, []).append(township.name)
    return {road: names for road, names in by_road.items() if len(names) > 1}


def _shared_road_defects(townships: Sequence[Township]) -> list[Defect]:
    return [
        Defect("shared_road_name", GAZETTEER_FILE, 0, "", f"{road}: {'、'.join(names)}")
        for road, names in _shared_roads(townships).items()
    ]


def _resolve(pending: _PendingDefect) -> Defect:
    listing = pending.listing
    return Defect(
        pending.kind, listing.source, listing.row, listing.business.entity, pending.detail
    )


# --- Territories and couriers ---------------------------------------------------------


def _build_segments(rng: random.Random) -> list[Segment]:
    min_lon, min_lat, max_lon, max_lat = COUNTY_BBOX
    # Grid lines are computed once, so that neighbouring cells share exact edges.
    lons = [
        round(min_lon + (max_lon - min_lon) * i / SEGMENT_COLUMNS, 6)
        for i in range(SEGMENT_COLUMNS + 1)
    ]
    lats = [
        round(min_lat + (max_lat - min_lat) * j / SEGMENT_ROWS, 6) for j in range(SEGMENT_ROWS + 1)
    ]
    segments = []
    for column in range(SEGMENT_COLUMNS):
        for row in range(SEGMENT_ROWS):
            bbox = (lons[column], lats[row], lons[column + 1], lats[row + 1])
            number = len(segments) + 1
            segments.append(
                Segment(
                    code=f"YK-{number:03d}",
                    name=f"永康投递段{number:03d}",
                    bbox=bbox,
                    station=_station_in(rng, bbox),
                )
            )
    return segments


def _station_in(rng: random.Random, bbox: tuple[float, float, float, float]) -> tuple[float, float]:
    """A delivery station somewhere in the middle half of its segment."""
    min_lon, min_lat, max_lon, max_lat = bbox
    lon = min_lon + (max_lon - min_lon) * rng.uniform(0.25, 0.75)
    lat = min_lat + (max_lat - min_lat) * rng.uniform(0.25, 0.75)
    return round(lon, 6), round(lat, 6)


def _build_couriers(
    rng: random.Random, segments: Sequence[Segment], businesses: int
) -> tuple[list[Courier], int]:
    """One courier per segment, a second one on the first few; one gave a landline."""
    extra = min(len(segments), businesses // 150)
    assigned = list(segments) + list(segments[:extra])
    landline = rng.randrange(len(assigned))
    couriers = []
    for index, segment in enumerate(assigned):
        phone = _landline(rng) if index == landline else _mobile(rng)
        couriers.append(Courier(f"YKEMS{index + 1:04d}", _person_name(rng), phone, segment))
    return couriers, landline


def _courier_defects(couriers: Sequence[Courier], landline: int) -> list[Defect]:
    courier = couriers[landline]
    return [
        Defect(
            "courier_landline",
            COURIERS_FILE,
            landline + 1,
            "",
            f"{courier.staff_no} {courier.phone}",
        )
    ]


# --- Writers --------------------------------------------------------------------------


def _write_csv(
    path: Path, header: Sequence[str], rows: list[list[str]], encoding: str = "utf-8"
) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator=CRLF)
        writer.writerow(header)
        writer.writerows(rows)


def _write_tax_csv(path: Path, tax: Sequence[Listing]) -> None:
    rows = [
        [
            str(listing.serial),
            listing.code,
            listing.name,
            listing.business.owner,
            listing.owner_id,
            listing.address,
            listing.business.phone,
            TAX_REGISTRATION_TYPES[listing.business.kind],
            listing.business.industry,
            f"永康市税务局{listing.business.address.township.short}税务所",
            listing.registered_on.isoformat(),
            listing.status,
        ]
        for listing in tax
    ]
    _write_csv(path, TAX_HEADER, rows, encoding=TAX_ENCODING)


def _write_commerce_xlsx(path: Path, commerce: Sequence[Listing]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = COMMERCE_SHEET
    sheet.append([COMMERCE_TITLE])
    sheet.append(list(COMMERCE_HEADER))
    for row, listing in enumerate(commerce, start=3):
        sheet.append(
            [
                listing.code or None,
                listing.name,
                COMMERCE_TYPES[listing.business.kind],
                listing.business.owner,
                listing.address,
                listing.registered_on.isoformat(),
                COMMERCE_AUTHORITY,
                listing.status,
            ]
        )
        # A text cell: Excel must not read a 15-digit registration number as a number.
        sheet.cell(row=row, column=1).number_format = "@"
    export_time = datetime.combine(COMMERCE_EXPORT_DATE, datetime.min.time())
    workbook.properties.created = export_time
    workbook.save(path)


def _write_gazetteer_csv(path: Path, gazetteer: Sequence[Address]) -> None:
    rows = [
        [a.standard, a.township.name, a.road, str(a.number), str(a.lon), str(a.lat)]
        for a in gazetteer
    ]
    _write_csv(path, GAZETTEER_HEADER, rows)


def _write_territories(path: Path, segments: Sequence[Segment]) -> None:
    features = []
    for segment in segments:
        min_lon, min_lat, max_lon, max_lat = segment.bbox
        # Counter-clockwise exterior ring, as RFC 7946 asks.
        ring = [
            [min_lon, min_lat],
            [max_lon, min_lat],
            [max_lon, max_lat],
            [min_lon, max_lat],
            [min_lon, min_lat],
        ]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": segment.code,
                    "name": segment.name,
                    "station_lon": segment.station[0],
                    "station_lat": segment.station[1],
                },
                "geometry": {"type": "Polygon", "coordinates": [ring]},
            }
        )
    collection = {"type": "FeatureCollection", "features": features}
    path.write_text(json.dumps(collection, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_couriers_csv(path: Path, couriers: Sequence[Courier]) -> None:
    rows = [
        [
            c.staff_no,
            c.name,
            c.phone,
            c.segment.code,
            str(c.segment.station[0]),
            str(c.segment.station[1]),
        ]
        for c in couriers
    ]
    _write_csv(path, COURIERS_HEADER, rows)


def _write_truth_csv(
    path: Path, businesses: Sequence[Business], listings: Sequence[Listing]
) -> None:
    rows_of: dict[tuple[str, str], list[int]] = {}
    for listing in listings:
        rows_of.setdefault((listing.business.entity, listing.source), []).append(listing.row)
    _write_csv(path, TRUTH_HEADER, [_truth_row(business, rows_of) for business in businesses])


def _truth_row(business: Business, rows_of: dict[tuple[str, str], list[int]]) -> list[str]:
    def rows(source: str) -> str:
        return "|".join(str(row) for row in sorted(rows_of.get((business.entity, source), [])))

    registered = None if business.lists == NO_LIST else business.address
    real, point = business.real_address, business.real_point
    return [
        business.entity,
        rows(TAX_FILE),
        rows(COMMERCE_FILE),
        business.uscc,
        business.field_state,
        registered.standard if registered else "",
        str(registered.lon) if registered else "",
        str(registered.lat) if registered else "",
        real.standard if real else "",
        str(point[0]) if point else "",
        str(point[1]) if point else "",
        business.real_phone,
        business.name,
        business.owner,
    ]
