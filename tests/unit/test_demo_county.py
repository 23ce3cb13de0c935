"""The generated demo county: formats, valid identifiers, deliberate defects, determinism."""

import csv
import io
import json
from collections import Counter
from pathlib import Path

import openpyxl
import pytest
import shapely
from shapely.geometry import Point, shape
from stdnum.cn import ric, uscc
from stdnum.iso7064 import mod_11_10

from fieldcheck.demo.county import DEFECT_KINDS, CountyFiles, generate_county

TAX_HEADER = [
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
]
COMMERCE_HEADER = [
    "统一社会信用代码/注册号",
    "名称",
    "类型",
    "法定代表人/经营者",
    "住所/经营场所",
    "成立日期",
    "登记机关",
    "登记状态",
]
GAZETTEER_HEADER = ["标准地址", "乡镇街道", "道路", "门牌号", "经度", "纬度"]
COURIERS_HEADER = ["工号", "姓名", "手机号", "投递段", "网点经度", "网点纬度"]
TRUTH_HEADER = [
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
]
YONGKANG_TOWNSHIPS = {
    "东城街道", "西城街道", "江南街道", "石柱镇", "前仓镇", "古山镇", "唐先镇",
    "方岩镇", "舟山镇", "芝英镇", "花街镇", "西溪镇", "象珠镇", "龙山镇",
}  # fmt: skip
FIELD_STATES = {
    "operating",
    "operating_changed",
    "relocated",
    "closed",
    "shell",
    "not_found",
    "refused",
    "unlisted",
}
DETERMINISM_FILES = (
    "tax_registry.csv",
    "gazetteer.csv",
    "couriers.csv",
    "truth.csv",
    "territories.geojson",
)
FULLWIDTH = set("０１２３４５６７８９")


def org_code_is_valid(code: str) -> bool:
    """GB 11714-1997 organisation code (8 characters + check), written independently."""
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if len(code) != 9 or any(char not in alphabet for char in code[:8]):
        return False
    total = sum(
        alphabet.index(c) * w for c, w in zip(code[:8], (3, 7, 9, 10, 5, 8, 4, 2), strict=True)
    )
    expected = {10: "X", 11: "0"}.get(11 - total % 11, str(11 - total % 11))
    return code[8] == expected


def resident_id_is_valid(number: str) -> bool:
    # Checksum only: stdnum's full validation rejects 330784 for births before 1992.
    return (
        len(number) == 18 and number[:17].isdigit() and ric.calc_check_digit(number) == number[17]
    )


def read_csv(path: Path, encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))


def tax_rows(files: CountyFiles) -> list[dict[str, str]]:
    header, *rows = read_csv(files.tax_registry, "gb18030")
    return [dict(zip(header, row, strict=True)) for row in rows]


def commerce_rows(files: CountyFiles) -> list[dict[str, object]]:
    sheet = openpyxl.load_workbook(files.commerce_registry).active
    return [
        dict(zip(COMMERCE_HEADER, row, strict=True))
        for row in sheet.iter_rows(min_row=3, values_only=True)
    ]


def truth_rows(files: CountyFiles) -> list[dict[str, str]]:
    header, *rows = read_csv(files.truth)
    return [dict(zip(header, row, strict=True)) for row in rows]


def gazetteer_rows(files: CountyFiles) -> list[dict[str, str]]:
    header, *rows = read_csv(files.gazetteer)
    return [dict(zip(header, row, strict=True)) for row in rows]


def defect_rows(files: CountyFiles, kind: str, file: str | None = None) -> set[int]:
    return {d.row for d in files.defects if d.kind == kind and (file is None or d.file == file)}


def split_rows(value: str) -> list[int]:
    return [int(row) for row in value.split("|") if row]


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> CountyFiles:
    return generate_county(tmp_path_factory.mktemp("county"))


@pytest.fixture(scope="module")
def tax(county: CountyFiles) -> list[dict[str, str]]:
    return tax_rows(county)


@pytest.fixture(scope="module")
def commerce(county: CountyFiles) -> list[dict[str, object]]:
    return commerce_rows(county)


@pytest.fixture(scope="module")
def truth(county: CountyFiles) -> list[dict[str, str]]:
    return truth_rows(county)


@pytest.fixture(scope="module")
def gazetteer(county: CountyFiles) -> list[dict[str, str]]:
    return gazetteer_rows(county)


def test_generate_county_writes_every_file_into_out_dir(county):
    paths = [
        county.tax_registry,
        county.commerce_registry,
        county.gazetteer,
        county.territories,
        county.couriers,
        county.truth,
    ]

    assert all(path.parent == county.out_dir and path.stat().st_size > 0 for path in paths)


def test_generate_county_creates_a_missing_out_dir(tmp_path):
    files = generate_county(tmp_path / "new" / "county", businesses=40)

    assert files.truth.exists()


def test_tax_registry_is_gb18030_not_utf8(county):
    raw = county.tax_registry.read_bytes()

    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert raw.decode("gb18030").startswith("序号,纳税人识别号")


def test_tax_registry_lines_end_with_crlf(county):
    raw = county.tax_registry.read_bytes()

    assert raw.count(b"\n") == raw.count(b"\r\n") > 1


def test_tax_registry_has_the_bureau_header(county):
    header = read_csv(county.tax_registry, "gb18030")[0]

    assert header == TAX_HEADER


def test_tax_registry_rows_parse_with_every_column(county):
    rows = read_csv(county.tax_registry, "gb18030")[1:]

    assert rows and all(len(row) == len(TAX_HEADER) for row in rows)


def test_tax_serial_numbers_are_unique(tax):
    serials = [row["序号"] for row in tax]

    assert len(set(serials)) == len(serials)


def test_commerce_registry_has_a_title_row_above_the_header(county):
    sheet = openpyxl.load_workbook(county.commerce_registry).active
    title, header = ([cell.value for cell in row] for row in sheet.iter_rows(min_row=1, max_row=2))

    assert title[0].startswith("永康市市场主体登记信息")
    assert all(value is None for value in title[1:])
    assert header == COMMERCE_HEADER


def test_commerce_identifiers_are_text_cells(county):
    sheet = openpyxl.load_workbook(county.commerce_registry).active
    code_cells = [row[0] for row in sheet.iter_rows(min_row=3)]

    assert all(cell.number_format == "@" for cell in code_cells)
    assert all(cell.data_type == "s" for cell in code_cells if cell.value is not None)


@pytest.mark.parametrize(
    "attribute, header",
    [("gazetteer", GAZETTEER_HEADER), ("couriers", COURIERS_HEADER), ("truth", TRUTH_HEADER)],
)
def test_other_csv_files_are_utf8_with_crlf_and_their_header(county, attribute, header):
    raw = getattr(county, attribute).read_bytes()

    assert raw.count(b"\n") == raw.count(b"\r\n")
    assert read_csv(getattr(county, attribute))[0] == header


def test_every_uscc_is_valid_except_the_deliberate_typos(county, tax, commerce):
    invalid = {
        ("tax", index)
        for index, row in enumerate(tax, start=1)
        if len(row["纳税人识别号"]) == 18 and not uscc.is_valid(row["纳税人识别号"])
    } | {
        ("commerce", index)
        for index, row in enumerate(commerce, start=1)
        if row["统一社会信用代码/注册号"] and len(row["统一社会信用代码/注册号"]) == 18
        if not uscc.is_valid(row["统一社会信用代码/注册号"])
    }
    typos = {("tax", row) for row in defect_rows(county, "uscc_typo", "tax_registry.csv")} | {
        ("commerce", row) for row in defect_rows(county, "uscc_typo", "commerce_registry.xlsx")
    }

    assert typos
    assert invalid == typos


def test_every_true_uscc_embeds_a_valid_organisation_code(truth):
    codes = [row["uscc"] for row in truth if row["uscc"]]

    assert codes and all(uscc.is_valid(code) and org_code_is_valid(code[8:17]) for code in codes)


def test_true_usccs_mark_companies_91_and_individual_businesses_92(truth):
    prefixes = Counter(row["uscc"][:8] for row in truth if row["uscc"])

    assert set(prefixes) == {"91330784", "92330784"}


def test_uscc_typos_differ_from_the_true_code_in_one_character(county, truth):
    truth_by_entity = {row["entity"]: row["uscc"] for row in truth}
    for defect in (d for d in county.defects if d.kind == "uscc_typo"):
        true_code, listed = defect.detail.split(" -> ")
        differences = sum(a != b for a, b in zip(true_code, listed, strict=True))

        assert true_code == truth_by_entity[defect.entity]
        assert differences == 1


def test_every_owner_id_is_valid_except_the_deliberate_typos(county, tax):
    invalid = {
        index for index, row in enumerate(tax, start=1) if not resident_id_is_valid(row["证件号码"])
    }

    assert invalid
    assert invalid == defect_rows(county, "id_typo")


def test_owner_ids_carry_the_yongkang_area_code(tax):
    assert all(row["证件号码"].startswith("330784") for row in tax)


def test_tax_ids_of_other_shapes_are_valid(tax):
    shapes = Counter()
    for row in tax:
        tin = row["纳税人识别号"]
        if len(tin) == 20:
            shapes["owner id + sequence"] += 1
            assert resident_id_is_valid(tin[:18]) and tin[18:] == "01"
        elif len(tin) == 15:
            shapes["area + organisation code"] += 1
            assert tin.startswith("330784") and org_code_is_valid(tin[6:])
        else:
            assert len(tin) == 18

    assert shapes["owner id + sequence"] and shapes["area + organisation code"]


def test_legacy_registration_numbers_have_a_valid_gs15_check_digit(commerce):
    numbers = [
        row["统一社会信用代码/注册号"]
        for row in commerce
        if row["统一社会信用代码/注册号"] and len(row["统一社会信用代码/注册号"]) == 15
    ]

    assert numbers
    assert all(number.isdigit() and mod_11_10.is_valid(number) for number in numbers)


def test_missing_codes_are_exactly_the_commerce_rows_without_a_code(county, commerce):
    empty = {
        index for index, row in enumerate(commerce, start=1) if not row["统一社会信用代码/注册号"]
    }

    assert empty
    assert empty == defect_rows(county, "missing_code")


def test_every_defect_kind_appears_in_the_manifest(county):
    assert {defect.kind for defect in county.defects} == set(DEFECT_KINDS)


def test_defects_are_a_few_percent_of_rows_for_each_kind(county, tax, commerce):
    rows = len(tax) + len(commerce)
    per_kind = Counter(defect.kind for defect in county.defects)

    assert all(count <= 0.05 * rows for count in per_kind.values())


def test_manifest_rows_point_at_rows_of_the_named_business(county, tax, commerce, truth):
    by_entity = {row["entity"]: row for row in truth}
    for defect in county.defects:
        if defect.file == "tax_registry.csv":
            assert defect.row in split_rows(by_entity[defect.entity]["tax_rows"])
            assert defect.row <= len(tax)
        elif defect.file == "commerce_registry.xlsx":
            assert defect.row in split_rows(by_entity[defect.entity]["commerce_rows"])
            assert defect.row <= len(commerce)


def test_duplicate_registration_gives_a_business_two_tax_rows(county, truth):
    multiple = [row for row in truth if len(split_rows(row["tax_rows"])) == 2]

    assert len(multiple) == len(defect_rows(county, "duplicate_registration"))


def test_company_suffix_variant_differs_between_the_two_lists(county, tax, commerce, truth):
    by_entity = {row["entity"]: row for row in truth}
    for defect in (d for d in county.defects if d.kind == "company_suffix_variant"):
        entity = by_entity[defect.entity]
        tax_names = [tax[row - 1]["纳税人名称"] for row in split_rows(entity["tax_rows"])]
        commerce_names = [commerce[row - 1]["名称"] for row in split_rows(entity["commerce_rows"])]
        variant, other = (
            (tax_names, commerce_names)
            if defect.file == "tax_registry.csv"
            else (commerce_names, tax_names)
        )

        assert entity["name"].endswith("有限公司")
        # Another defect may have put a stray space into the same name.
        assert any("有限责任公司" in name.replace(" ", "") for name in variant)
        assert not any("有限责任公司" in name.replace(" ", "") for name in other)


def test_fullwidth_digit_addresses_are_the_manifest_rows(county, tax):
    fullwidth = {
        index for index, row in enumerate(tax, start=1) if FULLWIDTH & set(row["生产经营地址"])
    }

    assert fullwidth == defect_rows(county, "fullwidth_digits", "tax_registry.csv")


def test_an_address_without_township_names_a_road_two_townships_share(county):
    shared_roads = {d.detail.split(":")[0] for d in county.defects if d.kind == "shared_road_name"}
    without_township = [d.detail for d in county.defects if d.kind == "address_without_township"]

    assert any(any(road in detail for road in shared_roads) for detail in without_township)
    assert all(
        not any(t in detail.split(" (")[0] for t in YONGKANG_TOWNSHIPS)
        for detail in without_township
    )


def test_gazetteer_has_a_road_name_in_two_townships(gazetteer):
    townships_by_road: dict[str, set[str]] = {}
    for row in gazetteer:
        townships_by_road.setdefault(row["道路"], set()).add(row["乡镇街道"])

    assert any(len(townships) == 2 for townships in townships_by_road.values())


def test_gazetteer_spans_several_yongkang_townships(gazetteer):
    townships = {row["乡镇街道"] for row in gazetteer}

    assert len(townships) >= 4
    assert townships <= YONGKANG_TOWNSHIPS


def test_gazetteer_points_lie_in_yongkang(gazetteer):
    rows = gazetteer

    assert all(119.9 <= float(row["经度"]) <= 120.3 for row in rows)
    assert all(28.75 <= float(row["纬度"]) <= 29.1 for row in rows)


def test_gazetteer_standard_address_is_built_from_its_parts(gazetteer):
    for row in gazetteer:
        expected = f"浙江省金华市永康市{row['乡镇街道']}{row['道路']}{row['门牌号']}号"

        assert row["标准地址"] == expected


def test_registered_addresses_in_truth_come_from_the_gazetteer(truth, gazetteer):
    standard = {row["标准地址"] for row in gazetteer}
    addresses = [row["registered_address"] for row in truth if row["uscc"]]

    assert all(address in standard for address in addresses)


def test_truth_accounts_for_every_list_row_exactly_once(tax, commerce, truth):
    tax_refs = sorted(row for t in truth for row in split_rows(t["tax_rows"]))
    commerce_refs = sorted(row for t in truth for row in split_rows(t["commerce_rows"]))

    assert tax_refs == list(range(1, len(tax) + 1))
    assert commerce_refs == list(range(1, len(commerce) + 1))


def test_businesses_argument_sets_the_number_of_listed_businesses(truth):
    listed = [row for row in truth if row["tax_rows"] or row["commerce_rows"]]

    assert len(listed) == 300


def test_some_businesses_are_in_both_lists_and_some_in_one_only(truth):
    membership = Counter((bool(row["tax_rows"]), bool(row["commerce_rows"])) for row in truth)

    assert membership[(True, True)] > membership[(False, True)] > 0
    assert membership[(True, False)] > 0
    assert membership[(False, False)] > 0  # unlisted discoveries


def test_truth_has_every_field_state(truth):
    assert {row["field_state"] for row in truth} == FIELD_STATES


def test_shell_and_not_found_businesses_have_no_real_location(truth):
    gone = [row for row in truth if row["field_state"] in ("shell", "not_found")]

    assert gone and all(not row["real_address"] and not row["real_lon"] for row in gone)


def test_relocated_businesses_operate_at_another_address(truth):
    moved = [row for row in truth if row["field_state"] == "relocated"]

    assert moved and all(row["real_address"] != row["registered_address"] for row in moved)


def test_operating_businesses_are_found_within_20_m_of_their_door(truth):
    operating = [row for row in truth if row["field_state"] == "operating"]
    for row in operating:
        dlon = (float(row["real_lon"]) - float(row["registered_lon"])) * 97_500
        dlat = (float(row["real_lat"]) - float(row["registered_lat"])) * 111_320

        assert (dlon**2 + dlat**2) ** 0.5 < 20


def test_territories_are_valid_polygons_with_station_properties(county):
    features = json.loads(county.territories.read_text(encoding="utf-8"))["features"]

    assert features
    for feature in features:
        polygon = shape(feature["geometry"])
        properties = feature["properties"]

        assert polygon.geom_type == "Polygon" and polygon.is_valid
        assert set(properties) == {"code", "name", "station_lon", "station_lat"}
        assert polygon.contains(Point(properties["station_lon"], properties["station_lat"]))


def test_territories_cover_every_gazetteer_point(county, gazetteer):
    features = json.loads(county.territories.read_text(encoding="utf-8"))["features"]
    coverage = shapely.union_all([shape(feature["geometry"]) for feature in features])
    points = [Point(float(row["经度"]), float(row["纬度"])) for row in gazetteer]

    assert all(coverage.covers(point) for point in points)


def test_territories_do_not_overlap(county):
    features = json.loads(county.territories.read_text(encoding="utf-8"))["features"]
    polygons = [shape(feature["geometry"]) for feature in features]

    assert shapely.union_all(polygons).area == pytest.approx(sum(p.area for p in polygons))


def test_couriers_work_on_existing_segments_from_their_station(county):
    features = json.loads(county.territories.read_text(encoding="utf-8"))["features"]
    stations = {
        f["properties"]["code"]: (f["properties"]["station_lon"], f["properties"]["station_lat"])
        for f in features
    }
    couriers = read_csv(county.couriers)[1:]

    assert len(couriers) >= len(stations)
    for staff_no, _name, _phone, segment, lon, lat in couriers:
        assert staff_no.startswith("YKEMS")
        assert stations[segment] == (float(lon), float(lat))


def test_same_seed_gives_identical_csv_bytes(tmp_path):
    first = generate_county(tmp_path / "a", businesses=80, seed=3)
    second = generate_county(tmp_path / "b", businesses=80, seed=3)

    for name in DETERMINISM_FILES:
        assert (first.out_dir / name).read_bytes() == (second.out_dir / name).read_bytes(), name


def test_same_seed_gives_identical_commerce_cells(tmp_path):
    first = generate_county(tmp_path / "a", businesses=80, seed=3)
    second = generate_county(tmp_path / "b", businesses=80, seed=3)

    assert commerce_rows(first) == commerce_rows(second)
    assert first.defects == second.defects


def test_different_seeds_give_different_registries(tmp_path):
    first = generate_county(tmp_path / "a", businesses=80, seed=3)
    second = generate_county(tmp_path / "b", businesses=80, seed=4)

    assert first.tax_registry.read_bytes() != second.tax_registry.read_bytes()


def test_a_large_county_spreads_over_every_township(tmp_path):
    files = generate_county(tmp_path, businesses=800, seed=1)

    assert {row["乡镇街道"] for row in gazetteer_rows(files)} == YONGKANG_TOWNSHIPS


def test_generate_county_rejects_too_few_businesses(tmp_path):
    with pytest.raises(ValueError, match="at least"):
        generate_county(tmp_path, businesses=5)
