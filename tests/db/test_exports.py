"""Registry exports against the database: actions from crafted verdicts, masking, formula
injection, XLSX == CSV, GeoJSON, filters, campaigns, the audit event, the campaign report."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from shapely.geometry import shape

from fieldcheck.audit.models import AuditEvent
from fieldcheck.errors import PermissionDeniedError
from fieldcheck.exports import report
from fieldcheck.exports.actions import ACTIONS, sheet_name
from fieldcheck.exports.models import Export
from fieldcheck.exports.rows import ExportFilters
from fieldcheck.exports.service import export_registry
from fieldcheck.registry.models import SourceRecord
from tests.builders import (
    make_accepted_result,
    make_business,
    make_campaign,
    make_courier,
    make_discovery,
    make_finding,
    make_photo,
    make_source_record,
    make_user,
    make_visit,
)

INJECTION = '=HYPERLINK("http://evil.example","点我")'


@dataclass
class County:
    campaign: Any
    courier: Any
    reviewer: Any
    names: dict[str, str]  # action -> name of the tax row crafted to reach it


@pytest.fixture
def county(session) -> County:
    """One tax row per action, a commerce-only business and a discovery, all in a campaign."""
    campaign = make_campaign(session)
    courier = make_courier(session)
    reviewer = make_user(session, role="supervisor", display_name="审核员甲", password=None)
    names: dict[str, str] = {}

    def business(action: str, verdict: str | None, *, status: str = "active",
                 town: str = "古山镇", corrections: dict[str, Any] | None = None,
                 records: int = 1, name: str | None = None, lon: float = 120.05) -> Any:
        b = make_business(session, name=name or f"永康市{action}五金厂", town=town, lon=lon)
        for _ in range(records):
            make_source_record(session, b, bureau="tax", reg_status=status)
        if verdict is not None:
            visit = make_visit(session, courier=courier, business=b, campaign=campaign,
                               state="accepted")
            result = make_accepted_result(session, visit=visit,
                                          outcome="refused" if verdict == "unresolved"
                                          else verdict)
            make_finding(session, campaign=campaign, business=b, verdict=verdict,
                         results=[result], reviewers=[reviewer], corrections=corrections,
                         photos=[make_photo(session, uploader=reviewer)],
                         basis="两次独立走访结论一致" if verdict in ("shell", "not_found") else "")
        names[action] = b.name
        return b

    business("keep", "operating")
    business("update_details", "operating_changed",
             corrections={"phone": "+86 139 0000 0000", "operator": INJECTION})
    business("abnormal_candidate", "not_found", town="芝英镇")
    business("deregistration_candidate", "closed")
    business("lift_abnormal", "operating", status="abnormal")
    business("unregistered_operation", "operating", status="deregistered")
    business("merge_duplicate", "operating", records=2)
    business("unresolved", "unresolved")
    business("not visited", None, name="永康市未走访五金厂")
    # Listed with the commerce bureau only, found operating: new for the tax bureau.
    commerce_only = make_business(session, name="永康市仅工商登记店", town="芝英镇")
    make_source_record(session, commerce_only, bureau="commerce")
    visit = make_visit(session, courier=courier, business=commerce_only, campaign=campaign,
                       state="accepted")
    make_finding(session, campaign=campaign, business=commerce_only,
                 results=[make_accepted_result(session, visit=visit)], reviewers=[reviewer])
    discovery = make_discovery(session, courier=courier, name="实地发现小吃店")
    names["new_unregistered"] = discovery.name
    return County(campaign, courier, reviewer, names)


def export_bytes(session, *, bureau: str = "tax", fmt: str = "csv", actor=None,
                 filters: ExportFilters | None = None, **kwargs: Any) -> bytes:
    out = io.BytesIO()
    export_registry(session, bureau=bureau, fmt=fmt, filters=filters or ExportFilters(),
                    actor=actor, out=out, **kwargs)
    return out.getvalue()


def csv_rows(data: bytes, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode(encoding))))


def test_every_action_is_reached_from_crafted_verdicts(session, county):
    rows = csv_rows(export_bytes(session))
    by_name = {}
    for row in rows:
        by_name.setdefault(row["纳税人名称"] or row["核实名称"], set()).add(row["处理建议代码"])
    for action, name in county.names.items():
        if action != "not visited":
            assert by_name[name] == {action}, action
    assert by_name["永康市未走访五金厂"] == {"unresolved"}
    assert by_name["永康市仅工商登记店"] == {"new_unregistered"}
    assert {r["处理建议代码"] for r in rows} == set(ACTIONS)


def test_rows_carry_verdict_courier_reviewer_and_corrections(session, county):
    rows = {r["纳税人名称"]: r for r in csv_rows(export_bytes(session))}
    changed = rows[county.names["update_details"]]
    assert changed["核查结论"] == "在营，信息有变"
    assert changed["处理建议"] == "更新纳税人信息"
    assert changed["核实电话"] == "'+86 139 0000 0000"
    assert changed["快递员工号"] == county.courier.staff_no
    assert changed["审核人"] == "审核员甲"
    assert changed["首次走访日期"] == "2026-10-12"
    assert changed["结论日期"] == "2026-10-13"
    assert changed["登记日期"] == "2010-05-01"
    assert changed["经度（WGS-84）"] == "120.05"
    unvisited = rows["永康市未走访五金厂"]
    assert unvisited["核查结论"] == "未走访" and unvisited["快递员工号"] == ""


def test_commerce_registry_has_its_own_rows_and_wording(session, county):
    rows = csv_rows(export_bytes(session, bureau="commerce"))
    by_name = {r["名称"] or r["核实名称"]: r for r in rows}
    assert by_name["永康市仅工商登记店"]["处理建议代码"] == "keep"
    # Every tax-only business found operating is new to the commerce bureau.
    assert by_name[county.names["keep"]]["处理建议"] == "未登记经营主体"
    assert by_name[county.names["keep"]]["备注"] == "仅在税务部门登记"
    assert county.names["abnormal_candidate"] not in by_name


def test_resident_id_numbers_are_masked_unless_the_official_may_see_them(session, county):
    masked_official = make_user(session, role="official", bureau="tax", password=None)
    trusted = make_user(session, role="official", bureau="tax", password=None,
                        may_see_id_numbers=True)
    masked = csv_rows(export_bytes(session, actor=masked_official))
    plain = csv_rows(export_bytes(session, actor=trusted))
    listed = [r for r in masked if r["证件号码"]]
    assert listed and all(r["证件号码"] == "330784********0010" for r in listed)
    assert all(r["证件号码"] == "330784197001010010" for r in plain if r["证件号码"])


def test_a_tax_number_that_is_a_persons_id_is_masked(session):
    b = make_business(session)
    record = make_source_record(session, b, bureau="tax")
    record.raw = {**record.raw, "tin": "33078419700101001001"}
    record.fields = {**record.fields, "tin_kind": "ric_plus_seq"}
    session.flush()
    (row,) = csv_rows(export_bytes(session))
    assert row["纳税人识别号"] == "330784**********1001"


def test_another_bureaus_official_is_refused(session, county):
    official = make_user(session, role="official", bureau="commerce", password=None)
    with pytest.raises(PermissionDeniedError):
        export_bytes(session, bureau="tax", actor=official)
    courier_user = make_user(session, role="courier", password=None)
    with pytest.raises(PermissionDeniedError):
        export_bytes(session, bureau="tax", actor=courier_user)


def test_formula_injection_strings_round_trip_as_text(session, county):
    b = make_business(session, name=INJECTION)
    make_source_record(session, b, bureau="tax", phones=["+8613800000000"])
    filters = ExportFilters(actions=("unresolved", "update_details"))
    rows = csv_rows(export_bytes(session, filters=filters))
    injected = next(r for r in rows if r["纳税人名称"].endswith(INJECTION))
    assert injected["纳税人名称"] == "'" + INJECTION
    changed = next(r for r in rows if r["处理建议代码"] == "update_details")
    assert changed["核实经营者"] == "'" + INJECTION
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(session, fmt="xlsx", filters=filters)))
    cells = [c for ws in book.worksheets[1:] for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and INJECTION in c.value]
    assert len(cells) == 2
    assert all(c.data_type == "s" and c.value == "'" + INJECTION for c in cells)


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


def test_xlsx_opens_with_openpyxl_and_its_cells_equal_the_csvs(session, county):
    official = make_user(session, role="official", bureau="tax", password=None)
    options = {"actor": official, "evidence_url": "http://localhost/api/v1/official/evidence/"}
    csv_data = export_bytes(session, **options)
    lines = list(csv.reader(io.StringIO(csv_data.decode("utf-8-sig"))))
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(session, fmt="xlsx", **options)))
    assert book.sheetnames[0] == "汇总"
    xlsx_lines = []
    for ws in book.worksheets[1:]:
        rows = list(ws.iter_rows(values_only=True))
        assert [_xlsx_text(v) for v in rows[0]] == lines[0]
        xlsx_lines += [[_xlsx_text(v) for v in row] for row in rows[1:]]
    # Links differ by their token (one per file): compare them without it.
    def untokened(line: list[str]) -> list[str]:
        return [v.rsplit("/", 2)[0] + "/" + v.rsplit("/", 1)[1] if "/evidence/" in v else v
                for v in line]

    assert sorted(map(untokened, xlsx_lines)) == sorted(map(untokened, lines[1:]))
    links = [c for ws in book.worksheets[1:] for c in ws["AJ"] if c.hyperlink]
    assert len(links) == 9 and all(c.hyperlink.target == c.value for c in links)


def test_xlsx_has_a_summary_frozen_headers_text_identifiers_and_dates(session, county):
    # An all-digit 18-character number, which Excel would turn into 3.30784E+17 as a number.
    session.execute(sa.update(SourceRecord).values(
        raw=SourceRecord.raw.op("||")(sa.func.jsonb_build_object("tin", "330784197001010010"))))
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(session, fmt="xlsx")))
    summary = book["汇总"]
    texts = [c.value for row in summary.iter_rows() for c in row if c.value is not None]
    assert "合计" in texts and "古山镇" in texts and "芝英镇" in texts
    keep = book[sheet_name("tax", "keep")]
    assert keep.freeze_panes == "A2"
    assert keep.column_dimensions["C"].width > 10
    headers = [c.value for c in next(keep.iter_rows(max_row=1))]
    row = next(keep.iter_rows(min_row=2, max_row=2))
    tin = row[headers.index("纳税人识别号")]
    assert tin.data_type == "s" and tin.value == "330784197001010010"
    assert isinstance(row[headers.index("登记日期")].value, datetime)
    assert isinstance(row[headers.index("经度（WGS-84）")].value, float)
    assert book.active.title == "汇总"


def test_empty_action_sheets_are_hidden(session, county):
    filters = ExportFilters(actions=("keep", "abnormal_candidate"), towns=("古山镇",))
    book = openpyxl.load_workbook(io.BytesIO(export_bytes(session, fmt="xlsx", filters=filters)))
    visible = [ws.title for ws in book.worksheets if ws.sheet_state == "visible"]
    assert visible == ["汇总", sheet_name("tax", "keep")]


def test_a_full_sheet_continues_on_the_next(session):
    for _ in range(5):
        make_source_record(session, make_business(session), bureau="tax")
    data = export_bytes(session, fmt="xlsx", max_sheet_rows=3)
    book = openpyxl.load_workbook(io.BytesIO(data))
    name = sheet_name("tax", "unresolved")
    sheets = [book[name], book[f"{name} 续2"], book[f"{name} 续3"]]
    assert [ws.max_row for ws in sheets] == [3, 3, 2]  # header + rows
    assert all(ws.cell(1, 1).value == "原表行号" for ws in sheets)


def test_geojson_is_a_valid_feature_collection(session, county):
    collection = json.loads(export_bytes(session, fmt="geojson", gcj02=True))
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert len(features) == 12
    for feature in features:
        assert feature["type"] == "Feature"
        assert isinstance(feature["properties"], dict)
        geometry = feature["geometry"]
        if geometry is None:
            continue
        assert geometry["type"] == "Point" and shape(geometry).is_valid
        lon, lat = geometry["coordinates"]
        assert -180 <= lon <= 180 and -90 <= lat <= 90 and math.isfinite(lon)
        props = feature["properties"]
        assert (props["lon"], props["lat"]) == (lon, lat)
        assert 0.003 < props["gcj02_lon"] - lon < 0.006  # about 500 m east in Yongkang
    actions = {f["properties"]["action"] for f in features}
    assert actions == set(ACTIONS)


def test_the_audit_event_records_the_files_sha256(session, county):
    official = make_user(session, role="official", bureau="tax", password=None)
    filters = ExportFilters(towns=("古山镇",))
    data = export_bytes(session, fmt="xlsx", actor=official, filters=filters)
    event = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "registry.exported")
    ).one()
    assert event.actor_id == official.id
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["bytes"] == len(data)
    assert event.details["filters"]["towns"] == ["古山镇"]
    assert event.details["rows"] == 10
    export = session.get(Export, int(event.object_id))
    assert export.state == "succeeded" and export.sha256 == event.details["sha256"]


def test_filters_by_action_township_and_verdict_dates(session, county):
    rows = csv_rows(export_bytes(session, filters=ExportFilters(towns=("芝英镇",))))
    assert {r["处理建议代码"] for r in rows} == {"abnormal_candidate", "new_unregistered"}
    rows = csv_rows(export_bytes(session, filters=ExportFilters(actions=("keep",))))
    assert [r["纳税人名称"] for r in rows] == [county.names["keep"]]
    dated = ExportFilters(decided_from=date(2026, 10, 13), decided_to=date(2026, 10, 13))
    assert len(csv_rows(export_bytes(session, filters=dated))) == 10
    later = ExportFilters(decided_from=date(2026, 10, 14))
    assert [r["核实名称"] for r in csv_rows(export_bytes(session, filters=later))] == [
        "实地发现小吃店"
    ]


def test_the_latest_campaign_is_used_unless_another_is_chosen(session, county):
    newer = make_campaign(session)
    rows = csv_rows(export_bytes(session))
    assert {r["处理建议代码"] for r in rows if r["纳税人名称"]} <= {"unresolved",
                                                                     "merge_duplicate"}
    chosen = csv_rows(export_bytes(session, filters=ExportFilters(campaign_id=county.campaign.id)))
    assert len({r["处理建议代码"] for r in chosen}) == len(ACTIONS)
    assert newer.id != county.campaign.id


def test_gb18030_csv_has_no_bom_and_decodes(session, county):
    data = export_bytes(session, encoding="gb18030")
    assert not data.startswith(b"\xef\xbb\xbf")
    assert csv_rows(data, "gb18030")[0]["纳税人名称"]
    assert export_bytes(session).startswith(b"\xef\xbb\xbf")


def test_campaign_report_counts_and_draws_a_map(session, county):
    found = report.campaign_report(session, campaign_id=county.campaign.id, with_map=True)
    figures = found.as_dict()
    assert figures["verdicts"]["operating"] == 5
    assert figures["verdicts_by_town"]["芝英镇"] == {"not_found": 1, "operating": 1}
    assert figures["outcomes"]["refused"] == 1
    staff = county.courier.staff_no
    assert figures["verdicts_by_courier"][staff]["closed"] == 1
    assert figures["actions"]["tax"]["total"]["merge_duplicate"] == 2
    assert figures["actions"]["tax"]["by_courier"][staff]["abnormal_candidate"] == 1
    assert figures["discoveries"] == 1
    page = report.render_html(found)
    assert page.count("<svg") == 1 and "stroke-linecap" in page
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_a_relocated_business_is_shown_at_its_new_address(session):
    campaign = make_campaign(session)
    courier = make_courier(session)
    moved = make_business(session, name="永康市搬走五金厂")
    make_source_record(session, moved, bureau="tax")
    visit = make_visit(session, courier=courier, business=moved, campaign=campaign,
                       state="accepted")
    new_address = "浙江省金华市永康市江南街道新址路8号"
    make_finding(session, campaign=campaign, business=moved, verdict="relocated",
                 results=[make_accepted_result(session, visit=visit, outcome="relocated")],
                 corrections={"relocated_to_address": new_address})
    (row,) = csv_rows(export_bytes(session))
    assert (row["处理建议代码"], row["核实地址"]) == ("update_details", new_address)
