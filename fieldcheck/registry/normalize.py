"""Normalisation of registry text (names, Yongkang addresses, dates, phone lists) for matching."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

# Yongkang's 14 township-level units; each short form is the first two characters.
TOWNS = (
    "东城街道",
    "西城街道",
    "江南街道",
    "石柱镇",
    "前仓镇",
    "古山镇",
    "唐先镇",
    "方岩镇",
    "舟山镇",
    "芝英镇",
    "花街镇",
    "西溪镇",
    "象珠镇",
    "龙山镇",
)
_TOWN_BY_SHORT = {town[:2]: town for town in TOWNS}

_ZERO_WIDTH = re.compile(r"[\u200b-\u200d\u2060\ufeff]")
_OPEN_BRACKETS = "([{【〔〖〘「『《〈"
_CLOSE_BRACKETS = ")]}】〕〗〙」』》〉"
_BRACKETS = str.maketrans(
    {**dict.fromkeys(_OPEN_BRACKETS, "("), **dict.fromkeys(_CLOSE_BRACKETS, ")")}
)
# The brackets _BRACKETS changes: text without them skips the (per character, slow) translate.
_OTHER_BRACKETS = re.compile(
    "[" + re.escape("".join(c for c in _OPEN_BRACKETS + _CLOSE_BRACKETS if c not in "()")) + "]"
)
# Text made only of these is kept whole by normalize_name (ASCII letters and digits, the CJK
# Unified Ideographs block, all letters, and the brackets), without a category lookup per
# character.
_PLAIN_NAME = re.compile(r"[0-9A-Za-z\u4e00-\u9fff()]*")

# A place word followed by one of these is part of a road, village or building name
# (古山北路 is a road in 东城街道, 古山大道 one in 前仓镇), not the township or county itself.
_NAME_CONTINUATION = (
    r"[东南西北中]?(?:路|街|大道|大街|道|巷|弄|村|社区|小区|新村|大厦|广场|市场|工业区|园区|花园"
    r"|公寓)"
)
_ADMIN_PREFIX = re.compile(
    rf"(?:中国|中华人民共和国)?(?:浙江省|浙江(?!{_NAME_CONTINUATION}))?"
    rf"(?:金华市(?!场)|金华(?!{_NAME_CONTINUATION}))?"
    rf"(?P<county>永康市(?!场)|永康(?!{_NAME_CONTINUATION}))?"
)
_NAME_PREFIX = re.compile(r"(?:浙江省|浙江|金华市(?!场)|金华|永康市(?!场)|永康)")
# The first characters of _ADMIN_PREFIX and _NAME_PREFIX: other text skips those regexes.
_PREFIX_STARTS = frozenset("中浙金永")
_TOWN_FULL = re.compile("|".join(TOWNS))
_SHORT_TOWN = re.compile(rf"({'|'.join(_TOWN_BY_SHORT)})(?!{_NAME_CONTINUATION})")
_ZONE = re.compile(r"(?:永康)?(?:经济技术|经济)?开发区")
_CN_DIGITS = "零〇一二两三四五六七八九十百千"
_ROAD = re.compile(
    rf"(?P<road>(?:(?![号幢栋座室楼层])[\u4e00-\u9fff])+?(?:大道|大街|路|街|巷|弄|村))"
    rf"(?=[\d{_CN_DIGITS}]|号|$)"
)
_ROAD_CUT = re.compile(r"街道|[区园镇乡村]")
_DOOR_NUMBER = re.compile(
    rf"(?:(?P<digits>\d+(?:-\d+)?)(?:号|(?![\d幢栋座单元楼层室]))|(?P<cn>[{_CN_DIGITS}]+)号)"
)
_ANY_DOOR_NUMBER = re.compile(r"(?P<digits>\d+(?:-\d+)?)号(?!楼)")
_DETAIL_CN_NUMBER = re.compile(rf"([{_CN_DIGITS}]+)(?=号楼|幢|栋|座|单元|楼|层|室)")
_BUILDING = re.compile(r"(\d+)(?:号楼|栋|座)")
_FLOOR = re.compile(r"(\d+)楼")
# Every rewrite of _normalize_detail needs one of these characters.
_DETAIL_MARK = re.compile("[幢栋座单楼层室]")
_CN_DIGIT_VALUES = {
    "零": 0,
    "〇": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}

_DATE_TEXT = re.compile(
    r"(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
    r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_EXCEL_EPOCH = date(1899, 12, 30)
_NUMBER_TEXT = re.compile(r"(\d+)(?:\.\d+)?")
_PHONE_SEPARATORS = re.compile(r"[,，、/;；|\s]+")


def _normal(text: object, space: str) -> str:
    # NFKC without zero-width characters, whitespace runs replaced by `space`, stripped.
    # ASCII is NFKC already. Zero-width characters and all whitespace but the space are not
    # printable, so printable text needs at most its spaces handled. str.split() splits on
    # what the regex \s matches.
    value = text if type(text) is str else str(text)
    if not value.isascii():
        value = unicodedata.normalize("NFKC", value)
        if not value.isprintable():
            return space.join(_ZERO_WIDTH.sub("", value).split())
    elif not value.isprintable():
        return space.join(value.split())
    return space.join(value.split()) if " " in value else value


def normalize_text(text: object) -> str:
    """NFKC, whitespace collapsed to single spaces, stripped; None becomes ''."""
    if text is None:
        return ""
    return _normal(text, " ")


def _compact(text: object) -> str:
    # normalize_text without any space, brackets unified.
    if text is None:
        return ""
    return _unified_brackets(_normal(text, ""))


def _unified_brackets(value: str) -> str:
    return value.translate(_BRACKETS) if _OTHER_BRACKETS.search(value) else value


def normalize_name(name: object) -> str:
    """Matching key of a business name: no place prefix, no spaces or punctuation, one spelling."""
    text = _compact(name).replace("有限责任公司", "有限公司")
    # 浙江省金华市永康市X, 浙江永康X and X are the same business; keep at least two characters.
    while (
        text[:1] in _PREFIX_STARTS
        and (match := _NAME_PREFIX.match(text))
        and len(text) - match.end() >= 2
    ):
        text = text[match.end() :]
    if not _PLAIN_NAME.fullmatch(text):
        text = "".join(
            ch
            for ch in text
            if ch in "()" or not unicodedata.category(ch).startswith(("P", "S", "Z", "C"))
        )
    return text.replace("()", "").casefold()


def chinese_number(text: str) -> int | None:
    """Value of a simple Chinese numeral (十二, 一百零五) or digit string (一二三), else None."""
    if not text or any(ch not in _CN_DIGIT_VALUES and ch not in _CN_UNITS for ch in text):
        return None
    if not any(ch in _CN_UNITS for ch in text):
        return int("".join(str(_CN_DIGIT_VALUES[ch]) for ch in text))
    total = current = 0
    for ch in text:
        if ch in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[ch]
            current = 0
        else:
            current = _CN_DIGIT_VALUES[ch]
    return total + current


@dataclass(frozen=True)
class NormalizedAddress:
    """An address split into township, road, door number and the rest (building, room)."""

    text: str
    town: str | None = None
    zone: str | None = None
    road: str | None = None
    number: str | None = None
    detail: str | None = None
    key: str = field(init=False)

    def __init__(
        self,
        text: str,
        town: str | None = None,
        zone: str | None = None,
        road: str | None = None,
        number: str | None = None,
        detail: str | None = None,
    ) -> None:
        # Fields go straight into the instance dict: the generated frozen __init__ sets each
        # through object.__setattr__, a cost paid for every address of a list.
        fields = self.__dict__
        fields["text"] = text
        fields["town"] = town
        fields["zone"] = zone
        fields["road"] = road
        fields["number"] = number
        fields["detail"] = detail
        # Buildings are written many ways (3幢, 3栋, 三号楼): matching uses town, road and door.
        fields["key"] = f"{town or ''}|{road or ''}|{number or ''}"


def _take_town(rest: str, after_county: bool) -> tuple[str | None, str]:
    # Every township name ends in 镇 or 街道.
    match = _TOWN_FULL.search(rest) if "镇" in rest or "街道" in rest else None
    if match:
        return match.group(0), rest[: match.start()] + rest[match.end() :]
    # A bare short form (古山) counts only right after the county and not as part of a name.
    if after_county:
        short = _SHORT_TOWN.match(rest)
        if short:
            return _TOWN_BY_SHORT[short.group(1)], rest[short.end() :]
    return None, rest


def _cut_road(road: str) -> str:
    # 经济开发区花川南路 / 园周村胜利路: keep what follows the last area word, if it is a name.
    if not _ROAD_CUT.search(road):
        return road
    for match in reversed(list(_ROAD_CUT.finditer(road))):
        if match.start() >= 1 and len(road) - match.end() >= 3:
            return road[match.end() :]
    return road


def _door_number(match: re.Match[str]) -> str | None:
    digits = match.group("digits")
    if digits:
        if digits.isascii() and digits.isdigit() and digits[0] != "0":
            return digits  # already what str(int(digits)) gives
        first, _, second = digits.partition("-")
        number = str(int(first))
        return f"{number}-{int(second)}" if second else number
    value = chinese_number(match.group("cn"))
    return None if value is None else str(value)


def _arabic_number(match: re.Match[str]) -> str:
    return str(chinese_number(match.group(1)))


def _building(match: re.Match[str]) -> str:
    return match.group(1) + "幢"


def _floor(match: re.Match[str]) -> str:
    return match.group(1) + "层"


def _normalize_detail(text: str) -> str | None:
    if not text:
        return None
    if _DETAIL_MARK.search(text):
        # Functions, not r"\1幢" templates: re expands a template in Python at every call.
        text = _DETAIL_CN_NUMBER.sub(_arabic_number, text)
        text = _BUILDING.sub(_building, text)
        text = _FLOOR.sub(_floor, text)
    text = text.replace("()", "").strip("-,，、 ")
    return text or None


def normalize_address(text: object) -> NormalizedAddress:
    """Split a Yongkang address into town, road, door number and detail, with a matching key."""
    return _split_address(_compact(text))


def normalize_address_text(text: object) -> tuple[str, NormalizedAddress]:
    """normalize_text(text) and normalize_address(text), with one Unicode normalisation."""
    line = normalize_text(text)
    # _compact(text): normalize_text joins the same words with a space where it joins them
    # with nothing.
    compact = line.replace(" ", "") if " " in line else line
    return line, _split_address(_unified_brackets(compact))


def _split_address(compact: str) -> NormalizedAddress:
    # normalize_address of the text _compact made.
    if compact[:1] in _PREFIX_STARTS:
        prefix = _ADMIN_PREFIX.match(compact)
        assert prefix is not None  # every group is optional
        rest = compact[prefix.end() :]
        after_county = prefix.group("county") is not None
    else:
        rest = compact
        after_county = False
    town, rest = _take_town(rest, after_county)
    zone = None
    zone_match = _ZONE.search(rest) if "开发区" in rest else None
    if zone_match:
        zone = "经济开发区"
        rest = rest[: zone_match.start()] + rest[zone_match.end() :]

    road = number = None
    tail = rest
    road_match = _ROAD.search(rest)
    if road_match:
        road = road_match.group("road")
        if _ROAD_CUT.search(road):  # rarely: spares a call for the others
            road = _cut_road(road)
        tail = rest[road_match.end() :]
        door = _DOOR_NUMBER.match(tail)
        if door:
            number = door.group("digits")
            # Plain digits not starting with 0 (nearly all) are the number as they are.
            if not (number and number.isascii() and number.isdigit() and number[0] != "0"):
                number = _door_number(door)
            tail = tail[door.end() :]
    else:
        door = _ANY_DOOR_NUMBER.search(rest)
        if door:
            number = _door_number(door)
            tail = rest[door.end() :]
    # text, town, zone, road, number, detail: keywords would cost a tenth of the whole split.
    detail = _normalize_detail(tail) if tail else None
    return NormalizedAddress(compact, town, zone, road, number, detail)


def _from_excel_serial(serial: float) -> date:
    if serial < 1 or serial >= 2958466:
        raise ValueError(f"{serial:g} is not an Excel date serial number")
    if 60 <= serial < 61:
        raise ValueError("Excel serial 60 is 1900-02-29, a date that does not exist")
    # Excel counts 1900 as a leap year: serials from 61 on are one day ahead of a plain count.
    epoch = _EXCEL_EPOCH if serial >= 61 else _EXCEL_EPOCH + timedelta(days=1)
    return epoch + timedelta(days=int(serial))


def _make_date(year: int, month: int, day: int, shown: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise ValueError(f"{shown!r} is not a real date") from None


def parse_date(value: object) -> date | None:
    """A date from a cell; empty values give None, anything else that is no date raises ValueError.

    Accepts date objects, Excel serials (43567, "43567"), 2008-6-16, 2008/06/16, 20080616
    and 2008年6月16日.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        return _from_excel_serial(value)
    if type(value) is str:
        return _parse_date_text(value)
    return _parse_text_date(normalize_text(value))


# A list holds a few thousand distinct dates over a million rows. Errors are not cached.
@lru_cache(maxsize=1 << 16)
def _parse_date_text(value: str) -> date | None:
    return _parse_text_date(normalize_text(value))


def _parse_text_date(text: str) -> date | None:
    if not text:
        return None
    number = _NUMBER_TEXT.fullmatch(text)
    if number:
        digits = number.group(1)
        if len(digits) == 8 and "." not in text:
            return _make_date(int(digits[:4]), int(digits[4:6]), int(digits[6:]), text)
        if len(digits) <= 5:
            return _from_excel_serial(float(text))
    match = _DATE_TEXT.fullmatch(text)
    if match:
        return _make_date(int(match["y"]), int(match["m"]), int(match["d"]), text)
    raise ValueError(f"{text!r} is not a date; write dates like 2008-06-16")


def split_phones(text: object) -> list[str]:
    """The phone numbers in one cell, split on ， 、 / ; and spaces, without repeats."""
    if type(text) is str and text.isascii() and text.isdigit():
        # One number, the usual cell.
        return [text]
    phones: list[str] = []
    for part in _PHONE_SEPARATORS.split(normalize_text(text)):
        if part and part not in phones:
            phones.append(part)
    return phones
