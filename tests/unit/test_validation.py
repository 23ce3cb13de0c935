"""Row validation: identifiers, names and addresses of a row, its issues, and its COPY line."""

import json

import pytest

from fieldcheck.registry.normalize import parse_date
from fieldcheck.registry.reading import RawRow, Record, RowIssue, map_headers
from fieldcheck.registry.validation import (
    STAGE_COLUMNS,
    SourceRow,
    copy_line,
    fields_json,
    raw_json,
    validate_chunk,
    validate_records,
    validate_row,
)
from tests.files import TAX_HEADER, make_uscc, tax_row

A = make_uscc("PJ7L3CLR")
LABELS = {"tin": "纳税人识别号", "name": "纳税人名称", "op_address": "生产经营地址"}


def record(row: int, **values: str | None) -> Record:
    cells = {
        "tin": A,
        "name": "永康市古山施秀丽不锈钢制品经营部",
        "legal_rep_name": "施秀丽",
        "legal_rep_id_no": "330784198412060084",
        "op_address": "浙江省金华市永康市古山镇唐先大道43号163室",
        "phone": "15625162420",
        "tax_office": "永康市税务局古山税务所",
        "established_on": "2002-09-24",
        "reg_status_raw": "正常",
    }
    cells.update(values)
    return Record(row, cells)


MIXED = [
    record(2),
    record(3, tin=A[:-1] + ("0" if A[-1] != "0" else "1")),
    record(4, name=None),  # the operator's name stands in
    record(5, name=" ", legal_rep_name=None),  # not imported
    record(6, op_address=None, established_on="2010-02-30", phone="138，139"),
    record(7, tin=None, legal_rep_id_no="330784198413060084", op_address="东城街道"),
    record(8, tin="33078419700101001001", established_on="43567", reg_status_raw="吊销（未注销）"),
    record(9, name='甲"商\\行\t', op_address="古山镇古山西路\n30号"),
]


def test_validate_records_gives_what_validate_row_gives_for_each_record():
    together = validate_records(MIXED, LABELS)
    assert together == [validate_row(r, LABELS) for r in MIXED]


def test_validate_records_reports_issues_in_the_order_of_the_cells():
    ((row, issues),) = validate_records(
        [record(2, tin="9.1133E+17", name=None, op_address="某地", established_on="不详")], LABELS
    )
    assert row is not None
    assert [(i.column, i.severity) for i in issues] == [
        ("纳税人识别号", "warning"),
        ("纳税人名称", "warning"),
        ("生产经营地址", "warning"),
        ("established_on", "warning"),
    ]
    assert issues[0].value == "9.1133E+17"
    assert "not a date" in issues[3].reason


def test_validate_records_rejects_a_row_without_any_name():
    ((row, issues),) = validate_records([record(5, name=None, legal_rep_name=None)], LABELS)
    assert row is None
    assert issues == [
        RowIssue(
            5,
            "纳税人名称",
            None,
            "name is empty and there is no operator name; row not imported",
            "error",
        )
    ]


def test_validate_records_of_no_records_is_empty():
    assert validate_records([], LABELS) == []


def test_validate_row_normalises_the_row_for_linking():
    row, issues = validate_row(record(2), LABELS)
    assert issues == []
    assert (row.uscc, row.tin, row.org_code) == (A, A, A[8:17])
    assert (row.name_key, row.town, row.road, row.number) == (
        "古山施秀丽不锈钢制品经营部",
        "古山镇",
        "唐先大道",
        "43",
    )
    assert row.fields == {
        "tin_kind": "uscc",
        "tin_check": "valid",
        "established_on": "2002-09-24",
        "office_town": "古山镇",
        "name_town": "古山镇",
        "phones": ["15625162420"],
        "entity_kind": "individual",
    }
    assert row.raw_text == json.dumps(row.raw, ensure_ascii=False, sort_keys=True)


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"tin_kind": "uscc", "established_on": None, "phones": ["138", '1"39\\', "\x01"]},
        {"name_town": "古山镇", "phones": []},
        {"%s": "%d"},
        {"a": 1, "b": 2.5, "c": True},  # not what rows hold: left to json
        {"a": {"b": "c"}},
        {"a": ("x", "y")},
        {1: "a"},
    ],
)
def test_fields_json_is_what_json_writes(fields):
    assert fields_json(fields) == json.dumps(fields, ensure_ascii=False)


@pytest.mark.parametrize(
    "values",
    [
        {"name": "甲商行", "tin": None, "phone": "138"},
        {"name": '甲"商', "tin": "a\\b"},
        {"name": "甲\t商\n行", "phone": "\x7f\u2028\u200b"},
        {"name": "%s%%"},
        {"name": 5, "tin": "x"},
        {"name": "甲"},
    ],
)
def test_raw_json_is_what_json_writes_with_sorted_keys(values):
    assert raw_json(values) == json.dumps(values, ensure_ascii=False, sort_keys=True)


def source_row(**changes: object) -> SourceRow:
    row = SourceRow(
        row_number=2,
        source_key=A,
        raw={"name": "甲"},
        fields={"phones": ["138"]},
        content_hash="h" * 64,
        uscc=A,
        tin=A,
        reg_no=None,
        org_code=A[8:17],
        name="甲商行",
        name_key="甲商行",
        address="古山镇古山西路30号",
        address_key="古山镇|古山西路|30",
        town="古山镇",
        road="古山西路",
        number="30",
        reg_status="active",
    )
    for name, value in changes.items():
        setattr(row, name, value)
    return row


def expected_line(row: SourceRow) -> str:
    # COPY text format as PostgreSQL documents it.
    def text(value: object) -> str:
        if value is None:
            return "\\N"
        value = str(value)
        for special, escaped in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            value = value.replace(special, escaped)
        return value

    cells = [
        row.row_number,
        row.source_key,
        json.dumps(row.raw, ensure_ascii=False, sort_keys=True),
        json.dumps(row.fields, ensure_ascii=False),
        row.content_hash,
        row.uscc,
        row.tin,
        row.reg_no,
        row.org_code,
        row.name,
        row.name_key,
        row.address,
        row.address_key,
        row.town,
        row.road,
        row.number,
        row.reg_status,
    ]
    assert len(cells) == len(STAGE_COLUMNS)
    return "\t".join(map(text, cells)) + "\n"


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"name": "甲\t商行"},
        {"name": "甲\\商行", "address": None},
        {"address": "古山镇\r\n古山西路", "road": None},
        {"name_key": "", "tin": ""},
        {"raw": {"name": "甲\t\\"}},
        {"fields": {"phones": ["1\\38"]}},
        {"uscc": None, "org_code": None, "reg_status": None, "town": "\\N"},
    ],
)
def test_copy_line_escapes_what_copy_text_format_escapes(changes):
    row = source_row(**changes)
    assert copy_line(row) == expected_line(row)


def test_validate_chunk_puts_reading_issues_before_the_row_issues():
    header_map = map_headers(TAX_HEADER, "tax")
    labels = {f: header_map.header_of(f) for f in header_map.columns}
    rows = [
        RawRow(2, tax_row(1, A, "甲商行", "古山镇古山西路30号")),
        RawRow(3, tax_row(2, "9.1133E+17", "乙商行", "古山镇古山西路31号")[:10]),
        RawRow(4, [*tax_row(3, A, "丙商行", "古山镇古山西路32号"), "", "extra"]),
        RawRow(5, tax_row(4, A, "", "古山镇古山西路33号", owner="")),
    ]
    chunk = validate_chunk(rows, header_map, labels)
    assert [(i.row_number, i.column, i.severity) for i in chunk.issues] == [
        (3, None, "warning"),  # short row
        (3, "纳税人识别号", "warning"),
        (4, None, "error"),  # cells past the header
        (5, "纳税人名称", "error"),
    ]
    assert (chunk.read, chunk.imported, chunk.rejected, chunk.last_row) == (4, 2, 2, 5)
    assert [line.split("\t")[0] for line in chunk.copy_text.splitlines()] == ["2", "3"]


@pytest.mark.parametrize(
    "cell",
    ["2008-06-16", "2008-6-16", "2008/06/16", "20080616", "2008年6月16日", "39615", "0001-01-01"],
)
def test_validate_row_keeps_a_date_as_iso_text(cell):
    row, issues = validate_row(record(2, established_on=cell), LABELS)
    assert issues == []
    assert row.fields["established_on"] == parse_date(cell).isoformat()


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("2010-02-30", "'2010-02-30' is not a real date; imported without it"),
        ("0000-01-01", "'0000-01-01' is not a real date; imported without it"),
        ("不详", "'不详' is not a date; write dates like 2008-06-16; imported without it"),
    ],
)
def test_validate_row_imports_a_row_without_a_date_that_is_no_date(cell, reason):
    row, issues = validate_row(record(2, established_on=cell), {})
    assert "established_on" not in row.fields
    assert issues == [RowIssue(2, "established_on", cell, reason, "warning")]
