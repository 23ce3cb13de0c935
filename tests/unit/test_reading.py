"""Reading bureau files: encodings, workbooks, header rows, column mapping and row shapes."""

import re
import tracemalloc
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from fieldcheck.errors import InputFileError, MissingColumnsError
from fieldcheck.registry.codes import check_uscc
from fieldcheck.registry.normalize import parse_date
from fieldcheck.registry.reading import (
    PROFILES,
    RawRow,
    Record,
    RowIssue,
    detect_encoding,
    iter_records,
    map_headers,
    match_header,
    open_table,
)

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
TAX_ROW = [
    "268",
    "92330784PJ7L3CLR73",
    "永康市古山施秀丽不锈钢制品经营部",
    "施秀丽",
    "330784198412060084",
    "浙江省金华市永康市古山镇唐先大道43号163室",
    "15625162420",
    "个体工商户",
    "C3399",
    "永康市税务局古山税务所",
    "2002-09-24",
    "正常",
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


def write_csv(path: Path, rows: list[list[str]], *, encoding="utf-8", newline="\r\n") -> Path:
    text = "".join(",".join(row) + newline for row in rows)
    path.write_bytes(text.encode(encoding))
    return path


def write_xlsx(path: Path, rows: list[list[object]], *, first_row: int = 1) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for offset, row in enumerate(rows):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=first_row + offset, column=column, value=value)
    workbook.save(path)
    return path


def set_cached_values(path: Path, cached: dict[str, tuple[str, bool]]) -> None:
    """Give formula cells the cached results Excel stores (openpyxl writes none)."""
    with zipfile.ZipFile(path) as source:
        entries = {name: source.read(name) for name in source.namelist()}
    xml = entries["xl/worksheets/sheet1.xml"].decode()
    for ref, (value, is_text) in cached.items():
        cell_type = ' t="str"' if is_text else ""
        xml, count = re.subn(
            rf'<c r="{ref}"([^>]*)>(<f>.*?</f>)<v\s*/>',
            rf'<c r="{ref}"\1{cell_type}>\2<v>{value}</v>',
            xml,
        )
        assert count == 1, ref
    entries["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            target.writestr(name, data)


def records(table, profile) -> list[Record | RowIssue]:
    header_map = map_headers(table.headers, profile, header_row_number=table.header_row_number)
    return list(iter_records(table, header_map))


# --- encodings ---------------------------------------------------------------------------


def test_detect_encoding_takes_utf8_with_bom_as_utf8_sig():
    assert detect_encoding("\ufeff纳税人识别号".encode()) == "utf-8-sig"


def test_detect_encoding_takes_valid_utf8_as_utf8():
    assert detect_encoding("纳税人识别号,名称\r\n".encode()) == "utf-8"


def test_detect_encoding_falls_back_to_gb18030():
    assert detect_encoding("纳税人识别号,名称\r\n".encode("gb18030")) == "gb18030"


def test_detect_encoding_accepts_a_head_cut_inside_a_character():
    assert detect_encoding("纳税人识别号".encode()[:-1]) == "utf-8"
    assert detect_encoding("纳税人识别号".encode("gb18030")[:-1]) == "gb18030"


def test_detect_encoding_refuses_nul_bytes_as_binary():
    with pytest.raises(InputFileError, match="binary data"):
        detect_encoding(b"PK\x00\x00\x01\x02abc")


def test_detect_encoding_refuses_bytes_valid_in_neither_encoding():
    with pytest.raises(InputFileError, match="neither UTF-8 nor GB18030"):
        detect_encoding(b"name\n\xff\xff\xff\n")


def test_open_table_reads_gb18030_csv_with_crlf(tmp_path):
    path = write_csv(tmp_path / "tax.csv", [TAX_HEADER, TAX_ROW], encoding="gb18030")
    table = open_table(path, profile="tax")
    assert (table.format, table.encoding, table.header_row_number) == ("csv", "gb18030", 1)
    [record] = records(table, "tax")
    assert record.row_number == 2
    assert record.values["name"] == "永康市古山施秀丽不锈钢制品经营部"
    assert record.values["reg_status_raw"] == "正常"  # no stray \r from CRLF


def test_open_table_reads_utf8_with_bom_without_a_bom_in_the_first_header(tmp_path):
    path = write_csv(tmp_path / "tax.csv", [TAX_HEADER, TAX_ROW], encoding="utf-8-sig")
    table = open_table(path, profile="tax")
    assert table.encoding == "utf-8-sig"
    assert table.headers[0] == "序号"
    assert records(table, "tax")[0].values["source_row_id"] == "268"


def test_open_table_reads_utf8_without_bom_and_lf_line_ends(tmp_path):
    path = write_csv(tmp_path / "tax.csv", [TAX_HEADER, TAX_ROW], newline="\n")
    [record] = records(open_table(path, profile="tax"), "tax")
    assert record.values["tin"] == "92330784PJ7L3CLR73"


def test_open_table_reads_excel_unicode_text_tab_separated_utf16(tmp_path):
    path = tmp_path / "tax.txt"
    path.write_bytes(
        ("\t".join(TAX_HEADER) + "\r\n" + "\t".join(TAX_ROW) + "\r\n").encode("utf-16")
    )
    table = open_table(path, profile="tax")
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert records(table, "tax")[0].values["phone"] == "15625162420"


def test_open_table_refuses_binary_garbage_named_csv(tmp_path):
    path = tmp_path / "tax.csv"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(InputFileError, match=r"tax\.csv: the file contains binary data"):
        open_table(path, profile="tax")


def test_open_table_refuses_an_empty_file(tmp_path):
    path = tmp_path / "tax.csv"
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"tax\.csv is empty \(0 bytes\)"):
        open_table(path, profile="tax")


def test_open_table_names_the_uploaded_file_not_the_temporary_path(tmp_path):
    path = tmp_path / "upload-3f9a"
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"税务登记\.csv is empty"):
        open_table(path, filename="税务登记.csv")


def test_open_table_reports_bytes_of_another_encoding_after_the_first_megabyte(tmp_path):
    ascii_row = "91110000600037341L,Zhenfeng Cup Co,Gushan North Road 1\r\n"
    path = tmp_path / "tax.csv"
    with open(path, "wb") as fh:
        fh.write("纳税人识别号,纳税人名称,生产经营地址\r\n".encode())
        fh.write(ascii_row.encode() * (1_200_000 // len(ascii_row)))
        fh.write("91110000600037341L,振丰保温杯有限公司,古山北路1号\r\n".encode("gb18030"))
    table = open_table(path, profile="tax")
    with pytest.raises(InputFileError, match="not valid utf-8 come after row"):
        records(table, "tax")


def test_open_table_keeps_an_excel_mangled_code_as_shown(tmp_path):
    row = ["1", "9.1133E+17", "振丰保温杯有限公司", "", "", "古山北路1号"]
    path = write_csv(tmp_path / "tax.csv", [TAX_HEADER[:6], row])
    [record] = records(open_table(path, profile="tax"), "tax")
    assert record.values["tin"] == "9.1133E+17"
    assert check_uscc(record.values["tin"]).status == "invalid"


def test_open_table_numbers_rows_as_excel_does_when_a_cell_holds_a_line_break(tmp_path):
    path = tmp_path / "tax.csv"
    path.write_text(
        "纳税人识别号,纳税人名称,生产经营地址\r\n"
        'A1,"振丰\r\n保温杯",古山北路1号\r\n'
        "A2,佳安防盗门,飞凤北路7号\r\n",
        encoding="utf-8",
        newline="",
    )
    rows = records(open_table(path, profile="tax"), "tax")
    assert [(r.row_number, r.values["tin"]) for r in rows] == [(2, "A1"), (3, "A2")]
    assert rows[0].values["name"] == "振丰\r\n保温杯"


# --- header rows ---------------------------------------------------------------------------


def test_open_table_skips_title_rows_above_the_csv_header(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv",
        [["永康市税务局纳税人清册（导出日期：2018-06-30）"], [], TAX_HEADER, TAX_ROW],
        encoding="gb18030",
    )
    table = open_table(path, profile="tax")
    assert table.header_row_number == 3
    assert [r.row_number for r in records(table, "tax")] == [4]


def test_open_table_finds_the_header_without_being_told_the_profile(tmp_path):
    path = write_csv(
        tmp_path / "g.csv", [["标准地址", "乡镇街道", "道路", "门牌号", "经度", "纬度"]]
    )
    assert open_table(path).header_row_number == 1


def test_open_table_counts_explicitly_chosen_headers_when_finding_the_header(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv", [["说明"], ["税号", "商户", "实际地址"], ["A", "B", "C"]]
    )
    table = open_table(path, profile="tax", explicit={"name": "商户", "op_address": "实际地址"})
    assert table.header_row_number == 2
    header_map = map_headers(table.headers, "tax", {"name": "商户", "op_address": "实际地址"})
    assert header_map.columns == {"tin": 0, "name": 1, "op_address": 2}


def test_open_table_refuses_a_file_whose_first_20_rows_are_empty(tmp_path):
    path = write_csv(tmp_path / "tax.csv", [[",,"]] * 25)
    with pytest.raises(InputFileError, match="no header row"):
        open_table(path, profile="tax")


def test_headers_only_file_yields_no_records_and_no_error(tmp_path):
    path = write_csv(tmp_path / "tax.csv", [TAX_HEADER])
    assert records(open_table(path, profile="tax"), "tax") == []


def test_table_can_be_read_twice(tmp_path):
    path = write_csv(tmp_path / "tax.csv", [TAX_HEADER, TAX_ROW, TAX_ROW])
    with open_table(path, profile="tax") as table:
        first = list(table)
        second = list(table)
    assert first == second
    assert [row.row_number for row in first] == [2, 3]
    assert isinstance(first[0], RawRow)


# --- workbooks -----------------------------------------------------------------------------


def test_open_table_skips_the_title_row_of_an_xlsx_export(tmp_path):
    path = tmp_path / "commerce.xlsx"
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["永康市市场主体登记信息（导出日期：2018-06-30）"])
    sheet.merge_cells("A1:H1")
    sheet.append(COMMERCE_HEADER)
    sheet.append(
        [
            "91330784521PKBJW02",
            "永康市振丰保温杯有限公司",
            "有限责任公司(自然人投资或控股)",
            "俞丹军",
            "浙江省永康市古山东路15号",
            "2011-12-09",
            "永康市市场监督管理局",
            "存续（在营、开业、在册）",
        ]
    )
    workbook.save(path)
    table = open_table(path, profile="commerce")
    assert (table.format, table.header_row_number, table.headers) == ("xlsx", 2, COMMERCE_HEADER)
    [record] = records(table, "commerce")
    assert record.row_number == 3
    assert record.values["uscc_or_reg_no"] == "91330784521PKBJW02"
    assert record.values["reg_address"] == "浙江省永康市古山东路15号"


def test_open_table_gives_physical_row_numbers_below_blank_rows_of_a_sheet(tmp_path):
    path = write_xlsx(
        tmp_path / "c.xlsx",
        [["市场主体"], COMMERCE_HEADER, ["92330784PJ7L3CLR73", "店", None, None, "路1号"]],
        first_row=3,
    )
    table = open_table(path, profile="commerce")
    assert table.header_row_number == 4
    assert [r.row_number for r in records(table, "commerce")] == [5]


def test_open_table_keeps_excel_column_positions_when_column_a_is_empty(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in (
        ["统一社会信用代码", "名称", "住所"],
        ["91110000600037341L", "店", "路1号", "备注"],
    ):
        sheet.append([None, *row])
    workbook.save(tmp_path / "c.xlsx")
    table = open_table(tmp_path / "c.xlsx", profile="commerce")
    assert table.headers == ["", "统一社会信用代码", "名称", "住所"]
    [issue] = records(table, "commerce")
    assert "column E holds data" in issue.reason


def test_open_table_returns_numeric_id_cells_as_text_without_point_zero(tmp_path):
    header = ["注册号", "名称", "住所", "联系电话", "注册资本"]
    path = write_xlsx(
        tmp_path / "c.xlsx", [header, [110108000000016, "店", "路1号", 13773558108.0, 50.5]]
    )
    [record] = records(open_table(path, profile="commerce"), "commerce")
    assert record.values["reg_no"] == "110108000000016"
    assert record.values["phone"] == "13773558108"
    assert record.values["registered_capital"] == "50.5"


def test_open_table_shows_an_18_digit_number_cell_as_excel_does_so_it_is_flagged(tmp_path):
    header = ["统一社会信用代码", "名称", "住所"]
    path = write_xlsx(tmp_path / "c.xlsx", [header, [911330784521234567, "店", "路1号"]])
    [record] = records(open_table(path, profile="commerce"), "commerce")
    assert record.values["uscc"] == "9.11330784521235E+17"
    assert "spreadsheet turned the code into a number" in check_uscc(record.values["uscc"]).reason


def test_open_table_returns_date_cells_as_iso_text(tmp_path):
    header = ["统一社会信用代码", "名称", "住所", "成立日期", "核准日期"]
    row = ["91110000600037341L", "店", "路1号", date(2008, 6, 16), datetime(2018, 6, 30, 9, 15)]
    path = write_xlsx(tmp_path / "c.xlsx", [header, row])
    [record] = records(open_table(path, profile="commerce"), "commerce")
    assert record.values["established_on"] == "2008-06-16"
    assert record.values["approved_on"] == "2018-06-30 09:15:00"


def test_open_table_keeps_an_excel_serial_date_as_its_number_for_parse_date(tmp_path):
    header = ["统一社会信用代码", "名称", "住所", "成立日期"]
    path = write_xlsx(tmp_path / "c.xlsx", [header, ["91110000600037341L", "店", "路1号", 39615]])
    [record] = records(open_table(path, profile="commerce"), "commerce")
    assert record.values["established_on"] == "39615"
    assert parse_date(record.values["established_on"]) == date(2008, 6, 16)


def test_open_table_takes_the_cached_value_of_formula_cells(tmp_path):
    header = ["统一社会信用代码", "名称", "住所", "注册资本"]
    row = ["91110000600037341L", '=CONCATENATE("振丰","保温杯有限公司")', "路1号", "=100*5"]
    path = write_xlsx(tmp_path / "c.xlsx", [header, row])
    set_cached_values(path, {"B2": ("振丰保温杯有限公司", True), "D2": ("500", False)})
    [record] = records(open_table(path, profile="commerce"), "commerce")
    assert record.values["name"] == "振丰保温杯有限公司"
    assert record.values["registered_capital"] == "500"


def test_open_table_refuses_a_zero_byte_xlsx(tmp_path):
    path = tmp_path / "commerce.xlsx"
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match=r"commerce\.xlsx is empty"):
        open_table(path, profile="commerce")


def test_open_table_refuses_a_truncated_xlsx_as_corrupt(tmp_path):
    path = write_xlsx(tmp_path / "commerce.xlsx", [COMMERCE_HEADER] + [["x"] * 8] * 200)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(InputFileError, match="could not be read as an Excel workbook"):
        open_table(path, profile="commerce")


def test_open_table_refuses_a_file_named_xlsx_that_is_no_workbook(tmp_path):
    path = tmp_path / "commerce.xlsx"
    path.write_text("统一社会信用代码,名称\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="is not an Excel workbook"):
        open_table(path, profile="commerce")


def test_open_table_refuses_a_password_protected_xlsx(tmp_path):
    # Office saves an encrypted .xlsx as an OLE compound file holding an EncryptedPackage stream.
    path = tmp_path / "commerce.xlsx"
    ole_header = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    path.write_bytes(ole_header + "EncryptedPackage".encode("utf-16-le") + bytes(2048))
    with pytest.raises(InputFileError, match="password-protected"):
        open_table(path, profile="commerce")


# --- header mapping ------------------------------------------------------------------------


def test_map_headers_maps_every_column_of_a_tax_bureau_export():
    header_map = map_headers(TAX_HEADER, "tax")
    assert header_map.columns == {
        "source_row_id": 0,
        "tin": 1,
        "name": 2,
        "legal_rep_name": 3,
        "legal_rep_id_no": 4,
        "op_address": 5,
        "phone": 6,
        "reg_type": 7,
        "industry": 8,
        "tax_office": 9,
        "established_on": 10,
        "reg_status_raw": 11,
    }
    assert header_map.warnings == []


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("纳税人 识别号", "tin"),
        ("法定代表人(负责人、业主)", "legal_rep_name"),
        ("联系电话（手机）", "phone"),
        ("统一社会信用代码/注册号", "uscc_or_reg_no"),
        ("注册号/统一社会信用代码", "uscc_or_reg_no"),
        ("NAME", "name"),
        ("*纳税人名称", "name"),
    ],
)
def test_match_header_ignores_spaces_brackets_and_case(header, field):
    assert match_header(header, "tax") == field


def test_map_headers_reads_the_first_of_duplicate_headers_and_warns():
    headers = ["纳税人识别号", "纳税人名称", "生产经营地址", "纳税人识别号"]
    header_map = map_headers(headers, "tax", header_row_number=2)
    assert header_map.columns["tin"] == 0
    [warning] = header_map.warnings
    assert (warning.row_number, warning.severity) == (2, "warning")
    assert warning.reason == "column D repeats the header of column A; only column A is read"


def test_map_headers_warns_when_two_columns_hold_the_same_field():
    headers = ["统一社会信用代码", "社会信用代码", "名称", "住所"]
    header_map = map_headers(headers, "commerce")
    assert header_map.columns["uscc"] == 0
    assert "both hold uscc" in header_map.warnings[0].reason


def test_map_headers_lets_an_explicit_choice_override_the_aliases():
    headers = ["纳税人识别号", "纳税人名称", "生产经营地址", "实际经营地址2"]
    header_map = map_headers(headers, "tax", {"op_address": "实际经营地址2"})
    assert header_map.columns["op_address"] == 3
    assert header_map.warnings == []


def test_map_headers_refuses_an_explicit_column_the_file_does_not_have():
    with pytest.raises(InputFileError, match="'经营地' chosen for op_address is not in the file"):
        map_headers(["纳税人识别号", "纳税人名称"], "tax", {"op_address": "经营地"})


def test_map_headers_lists_missing_required_columns_and_the_headers_found():
    with pytest.raises(MissingColumnsError) as caught:
        map_headers(["纳税人识别号", "联系电话"], "tax")
    assert caught.value.missing == [
        "name (纳税人名称)",
        "op_address (生产经营地址) or reg_address (注册地址)",
    ]
    assert caught.value.found == ["纳税人识别号", "联系电话"]


def test_profiles_cover_the_three_kinds_of_list():
    assert set(PROFILES) == {"tax", "commerce", "gazetteer"}
    header_map = map_headers(
        ["标准地址", "乡镇街道", "道路", "门牌号", "经度", "纬度"], "gazetteer"
    )
    assert list(header_map.columns) == ["address", "town", "road", "number", "lon", "lat"]


# --- row shapes ----------------------------------------------------------------------------


def test_iter_records_reads_missing_cells_of_a_short_row_as_empty_with_a_warning(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv",
        [["纳税人识别号", "纳税人名称", "生产经营地址", "联系电话"], ["A1", "振丰", "古山北路1号"]],
    )
    warning, record = records(open_table(path, profile="tax"), "tax")
    assert (warning.row_number, warning.severity) == (2, "warning")
    assert "has 3 cells but the header has 4 columns" in warning.reason
    assert record.values == {
        "tin": "A1",
        "name": "振丰",
        "op_address": "古山北路1号",
        "phone": None,
    }


def test_iter_records_rejects_a_row_with_data_past_the_last_header(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv",
        [["纳税人识别号", "纳税人名称", "生产经营地址"], ["A1", "振丰", "古山北路1号", "3幢"]],
    )
    [issue] = records(open_table(path, profile="tax"), "tax")
    assert (issue.row_number, issue.severity, issue.value) == (2, "error", "3幢")
    assert "row 2 has 4 cells but the header has 3 columns" in issue.reason


def test_iter_records_accepts_trailing_empty_cells_and_skips_empty_rows(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv",
        [
            ["纳税人识别号", "纳税人名称", "生产经营地址"],
            ["A1", "振丰", "古山北路1号", "", ""],
            [",,"],
            [" ", ""],
            ["A2", "佳安", "飞凤北路7号"],
        ],
    )
    rows = records(open_table(path, profile="tax"), "tax")
    assert [(r.row_number, r.values["tin"]) for r in rows] == [(2, "A1"), (5, "A2")]


def test_iter_records_rejects_an_xlsx_row_with_a_cell_beyond_the_header(tmp_path):
    header = ["统一社会信用代码", "名称", "住所"]
    rows = [
        header,
        ["91110000600037341L", "店", "路1号", None, "备注"],
        ["91110000600037341L", "店", "路2号"],
    ]
    path = write_xlsx(tmp_path / "c.xlsx", rows)
    issue, record = records(open_table(path, profile="commerce"), "commerce")
    assert (issue.row_number, issue.severity) == (2, "error")
    assert "columns D to E hold data" in issue.reason
    assert (record.row_number, record.values["reg_address"]) == (3, "路2号")


def test_iter_records_strips_cells_and_turns_blank_cells_into_none(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv",
        [
            ["纳税人识别号", "纳税人名称", "生产经营地址", "联系电话"],
            [" A1 ", "振丰", "古山北路1号", "  "],
        ],
    )
    [record] = records(open_table(path, profile="tax"), "tax")
    assert record.values["tin"] == "A1"
    assert record.values["phone"] is None


def test_open_table_reads_blank_csv_cells_as_none_and_keeps_spaces_of_filled_ones(tmp_path):
    path = write_csv(
        tmp_path / "tax.csv",
        [
            ["纳税人识别号", "纳税人名称", "生产经营地址", "联系电话"],
            ["A1", " 振丰 ", "", "\u3000"],
        ],
    )
    with open_table(path, profile="tax") as table:
        [row] = list(table)
    assert row.values == ["A1", " 振丰 ", None, None]


def test_open_table_reads_blank_and_typed_xlsx_cells_of_one_row(tmp_path):
    header = ["统一社会信用代码", "名称", "住所", "注册资本", "成立日期"]
    rows = [header, ["91110000600037341L", " ", "路1号", 50, datetime(2008, 6, 16)]]
    with open_table(write_xlsx(tmp_path / "c.xlsx", rows), profile="commerce") as table:
        [row] = list(table)
    assert row.values == ["91110000600037341L", None, "路1号", "50", "2008-06-16"]


@pytest.mark.parametrize(
    ("cell", "read"),
    [
        ("振丰", "振丰"),
        (" 振丰", "振丰"),
        ("振丰\u3000", "振丰"),
        ("振 丰", "振 丰"),  # a space inside a cell is kept
        ("振\t丰", "振\t丰"),
        ("\xa0", None),
        ("", None),
    ],
)
def test_iter_records_strips_only_the_edges_of_each_cell(cell, read):
    header_map = map_headers(["纳税人识别号", "纳税人名称", "生产经营地址"], "tax")
    [record] = iter_records([RawRow(2, ["A1", cell, "古山北路1号"])], header_map)
    assert record.values == {"tin": "A1", "name": read, "op_address": "古山北路1号"}


# --- streaming -----------------------------------------------------------------------------


def test_open_table_streams_a_50_mb_csv_in_little_memory(tmp_path):
    path = tmp_path / "big.csv"
    row = "91330784521PKBJW02,永康市振丰保温杯有限公司,浙江省金华市永康市古山镇唐先大道43号163室,"
    row += "13773558108," + "五金制品销售" * 150 + "\r\n"
    with open(path, "wb") as fh:
        fh.write("纳税人识别号,纳税人名称,生产经营地址,联系电话,经营范围\r\n".encode("gb18030"))
        block = (row * 1000).encode("gb18030")
        while fh.tell() < 50_000_000:
            fh.write(block)

    tracemalloc.start()
    try:
        table = open_table(path, profile="tax")
        header_map = map_headers(table.headers, "tax")
        count = sum(1 for item in iter_records(table, header_map) if isinstance(item, Record))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 27_000
    assert peak < 20_000_000
