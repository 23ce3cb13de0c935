"""Normalisation of names, Yongkang addresses, dates and phone cells."""

from datetime import date, datetime

import pytest

from fieldcheck.registry.normalize import (
    NormalizedAddress,
    chinese_number,
    normalize_address,
    normalize_address_text,
    normalize_name,
    normalize_text,
    parse_date,
    split_phones,
)


def test_normalize_text_folds_full_width_and_collapses_whitespace():
    assert normalize_text(" 古山北路\u3000３８号 \n\t 428室 ") == "古山北路 38号 428室"


def test_normalize_text_of_none_is_empty():
    assert normalize_text(None) == ""


@pytest.mark.parametrize(
    "variant",
    [
        "永康市振丰保温杯有限公司",
        "浙江省金华市永康市振丰保温杯有限公司",
        "浙江永康振丰保温杯有限责任公司",
        "金华 振丰保温杯 有限公司",
        "振丰保温杯有限公司。",
    ],
)
def test_normalize_name_gives_one_key_for_spellings_of_one_business(variant):
    assert normalize_name(variant) == "振丰保温杯有限公司"


def test_normalize_name_unifies_brackets_and_keeps_their_content():
    assert (
        normalize_name("永康市振丰保温杯有限公司（江南分公司）") == "振丰保温杯有限公司(江南分公司)"
    )
    assert normalize_name("振丰保温杯有限公司【江南分公司】") == "振丰保温杯有限公司(江南分公司)"


def test_normalize_name_removes_spaces_inside_an_operator_name():
    assert normalize_name("永康市东城应 磊桂电器经营部") == "东城应磊桂电器经营部"


def test_normalize_name_does_not_take_the_market_of_yongkang_for_a_prefix():
    assert normalize_name("永康市场开发服务中心") == "市场开发服务中心"


def test_normalize_name_keeps_a_name_that_is_only_a_place():
    assert normalize_name("永康市") == "永康市"


def test_normalize_address_splits_town_road_number_and_room():
    result = normalize_address("浙江省金华市永康市古山镇唐先大道43号163室")
    assert result == NormalizedAddress(
        text="浙江省金华市永康市古山镇唐先大道43号163室",
        town="古山镇",
        road="唐先大道",
        number="43",
        detail="163室",
    )
    assert result.key == "古山镇|唐先大道|43"


def test_normalize_address_reads_full_width_digits():
    result = normalize_address("永康市唐先镇南苑北路９号")
    assert (result.town, result.road, result.number) == ("唐先镇", "南苑北路", "9")


def test_normalize_address_takes_a_short_town_name_right_after_the_county():
    result = normalize_address("永康市古山唐先大道43号")
    assert (result.town, result.road, result.number) == ("古山镇", "唐先大道", "43")


@pytest.mark.parametrize(
    ("address", "road"),
    [
        ("永康古山北路1号", "古山北路"),
        ("永康市石柱东路16号", "石柱东路"),
        ("永康市古山大道7号", "古山大道"),
    ],
)
def test_normalize_address_does_not_read_a_road_named_after_a_town_as_the_town(address, road):
    result = normalize_address(address)
    assert result.town is None
    assert result.road == road


def test_normalize_address_needs_the_county_before_a_short_town_name():
    assert normalize_address("古山唐先大道43号").town is None


def test_normalize_address_finds_the_town_written_after_the_road():
    result = normalize_address("古山北路38号（东城街道）")
    assert result.key == "东城街道|古山北路|38"
    assert result.detail is None


@pytest.mark.parametrize("building", ["三号楼", "3号楼", "3栋", "3座", "3幢", "３幢"])
def test_normalize_address_writes_every_building_form_as_幢(building):
    result = normalize_address(f"永康市东城街道古山北路38号{building}")
    assert result.detail == "3幢"
    assert result.key == "东城街道|古山北路|38"


def test_normalize_address_normalises_floor_and_unit_in_the_detail():
    result = normalize_address("永康市方岩镇工业路14号三栋二单元五楼501室")
    assert result.detail == "3幢2单元5层501室"


def test_normalize_address_reads_a_door_number_without_号_at_the_end():
    result = normalize_address("永康望春西路9")
    assert (result.road, result.number) == ("望春西路", "9")


def test_normalize_address_reads_a_door_number_in_chinese_numerals():
    assert normalize_address("永康市解放路十二号").number == "12"


def test_normalize_address_keeps_the_development_zone_out_of_town_and_road():
    result = normalize_address("永康市经济开发区花川南路19号")
    assert (result.town, result.zone, result.road, result.number) == (
        None,
        "经济开发区",
        "花川南路",
        "19",
    )


def test_normalize_address_uses_a_village_as_the_street_of_a_rural_address():
    result = normalize_address("永康市江南街道园周村１２８号")
    assert result.key == "江南街道|园周村|128"


def test_normalize_address_without_road_keeps_the_text_as_detail():
    result = normalize_address("永康市五金城A区3幢")
    assert (result.road, result.number, result.detail) == (None, None, "五金城A区3幢")
    assert result.key == "||"


@pytest.mark.parametrize(
    ("numeral", "value"),
    [("三", 3), ("十", 10), ("十二", 12), ("二十", 20), ("一百零五", 105), ("一二三", 123)],
)
def test_chinese_number_reads_simple_numerals(numeral, value):
    assert chinese_number(numeral) == value


@pytest.mark.parametrize(
    "value",
    [
        "2008-6-16",
        "2008/06/16",
        "2008.06.16",
        "20080616",
        "2008年6月16日",
        "2008-06-16 00:00:00",
        "2008-06-16T08:30:00",
        39615,
        39615.75,
        "39615",
        date(2008, 6, 16),
        datetime(2008, 6, 16, 8, 30),
    ],
)
def test_parse_date_accepts_the_forms_bureau_exports_use(value):
    assert parse_date(value) == date(2008, 6, 16)


def test_parse_date_reads_excel_serials_before_march_1900_without_the_leap_day_bug():
    assert parse_date(1) == date(1900, 1, 1)
    assert parse_date(61) == date(1900, 3, 1)


@pytest.mark.parametrize("value", [None, "", "  "])
def test_parse_date_of_an_empty_cell_is_none(value):
    assert parse_date(value) is None


@pytest.mark.parametrize("value", ["abc", "123456", "2008-6", "16/06/2008"])
def test_parse_date_rejects_text_that_is_no_date_with_an_example(value):
    with pytest.raises(ValueError, match="is not a date; write dates like 2008-06-16"):
        parse_date(value)


@pytest.mark.parametrize("value", ["2008-02-30", "20081316"])
def test_parse_date_rejects_a_day_that_does_not_exist(value):
    with pytest.raises(ValueError, match="is not a real date"):
        parse_date(value)


def test_split_phones_splits_on_chinese_and_ascii_separators_without_repeats():
    cell = (
        "13773558108，0579-81134789、13773558108/18686570312;19822647024；13500000000 15600000000"
    )
    assert split_phones(cell) == [
        "13773558108",
        "0579-81134789",
        "18686570312",
        "19822647024",
        "13500000000",
        "15600000000",
    ]


def test_split_phones_of_an_empty_cell_is_an_empty_list():
    assert split_phones(None) == []
    assert split_phones(" ") == []


@pytest.mark.parametrize(
    "text",
    [
        "浙江省金华市永康市古山镇唐先大道43号163室",
        " 永康市 江南街道\u3000飞凤北路１号 ",
        "东城街道（龙川北路）30号\u200b",
        "西溪镇溪心路二十三号三号楼五楼",
        "经济开发区花川南路\t8号【东厂】",
        "",
        None,
    ],
)
def test_normalize_address_text_gives_the_normal_text_and_the_address_of_it(text):
    assert normalize_address_text(text) == (normalize_text(text), normalize_address(text))


def test_normalize_address_writes_buildings_and_floors_one_way():
    address = normalize_address("古山镇古山西路30号三号楼5楼502室")
    assert (address.number, address.detail) == ("30", "3幢5层502室")
