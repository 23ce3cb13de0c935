"""Registry intake against PostGIS: reading, validation, re-imports, linkage and location."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from fieldcheck.errors import MissingColumnsError
from fieldcheck.fieldwork.sync import pull_changes
from fieldcheck.jobs.models import Job
from fieldcheck.registry.models import Business, ImportBatch, ImportIssue, SourceRecord
from fieldcheck.registry.service import ImportRequest, request_import, run_import_job
from tests.builders import courier_user, make_courier, make_visit
from tests.files import (
    commerce_row,
    make_uscc,
    tax_row,
    write_commerce_xlsx,
    write_gazetteer,
    write_tax_csv,
)

GAZETTEER = [
    ("古山镇", "古山西路", 30, 120.083298, 28.997171),
    ("古山镇", "古山西路", 31, 120.083400, 28.997300),
    ("江南街道", "总部南路", 14, 120.050000, 28.870000),
    ("西溪镇", "总部南路", 14, 119.950000, 28.950000),
    ("西溪镇", "溪心路", 8, 119.960000, 28.960000),
]
A = make_uscc("AB12CD34")
B = make_uscc("EF56GH78")


def run_import(session_factory: Any, session: Any, kind: str, path: Path) -> Job:
    """Request and run an import in the test's transaction; the job as it ended."""
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    with session_factory() as s:
        job = request_import(
            s,
            request=ImportRequest(kind=kind, path=path, filename=path.name, sha256=sha),
            actor_id=None,
        )
        if job.state == "queued":
            job.result = run_import_job(session_factory, job, lambda *a, **k: None)
            job.state = "succeeded"
        return job


@pytest.fixture
def gazetteer(tmp_path, session_factory, session):
    return run_import(
        session_factory, session, "gazetteer", write_gazetteer(tmp_path / "gaz.csv", GAZETTEER)
    )


def records(session) -> list[SourceRecord]:
    return list(
        session.scalars(
            sa.select(SourceRecord).where(SourceRecord.is_current).order_by(SourceRecord.id)
        )
    )


def test_tax_csv_in_gb18030_is_imported_linked_and_located(
    tmp_path, session_factory, session, gazetteer
):
    path = write_tax_csv(
        tmp_path / "tax.csv",
        [
            tax_row(
                1, A, "永康市古山施秀丽不锈钢制品经营部", "浙江省金华市永康市古山镇古山西路30号"
            ),
            tax_row(2, B, "永康市江南杨建电动工具经营部", "永康市江南街道总部南路14号"),
        ],
    )
    job = run_import(session_factory, session, "tax", path)
    assert job.result["added"] == 2
    assert job.result["location"] == {"address": 2}
    rows = records(session)
    assert [(r.row_number, r.uscc, r.town, r.road, r.number) for r in rows] == [
        (2, A, "古山镇", "古山西路", "30"),
        (3, B, "江南街道", "总部南路", "14"),
    ]
    business = session.get(Business, rows[0].business_id)
    assert business.location_precision == "address"
    lon, lat = session.execute(
        sa.select(sa.func.ST_X(Business.location), sa.func.ST_Y(Business.location)).where(
            Business.id == business.id
        )
    ).one()
    assert (round(lon, 6), round(lat, 6)) == (120.083298, 28.997171)


def test_same_file_again_is_recognised_and_changes_nothing(
    tmp_path, session_factory, session, gazetteer
):
    path = write_tax_csv(tmp_path / "tax.csv", [tax_row(1, A, "甲商行", "古山镇古山西路30号")])
    first = run_import(session_factory, session, "tax", path)
    again = run_import(session_factory, session, "tax", path)
    assert again.state == "succeeded"
    assert again.result["duplicate_of"] == first.result["batch_id"]
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(ImportBatch).where(ImportBatch.kind == "tax")
        )
        == 1
    )
    assert len(records(session)) == 1


def test_newer_list_reports_rows_added_changed_and_removed(
    tmp_path, session_factory, session, gazetteer
):
    C = make_uscc("JK90LM12")
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "v1.csv",
            [
                tax_row(1, A, "甲商行", "古山镇古山西路30号"),
                tax_row(2, B, "乙商行", "古山镇古山西路31号"),
            ],
        ),
    )
    job = run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "v2.csv",
            [
                tax_row(1, A, "甲商行", "古山镇古山西路30号", status="非正常"),
                tax_row(2, C, "丙商行", "江南街道总部南路14号"),
            ],
        ),
    )
    assert {k: job.result[k] for k in ("added", "changed", "removed", "unchanged")} == {
        "added": 1,
        "changed": 1,
        "removed": 1,
        "unchanged": 0,
    }
    current = {r.uscc: r.reg_status for r in records(session)}
    assert current == {A: "abnormal", C: "active"}
    gone = session.scalar(sa.select(SourceRecord).where(SourceRecord.uscc == B))
    assert gone.is_current is False


def test_added_records_take_ids_in_row_order(tmp_path, session_factory, session, gazetteer):
    codes = [make_uscc(f"RW{i:02d}KMN{i}") for i in range(6)]
    first = [tax_row(n, code, f"第{n}商行", f"古山镇古山西路{29 + n}号")
             for n, code in enumerate(codes[:3], start=1)]
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "v1.csv", first))
    # The newer list puts new rows before, between and after the ones already there.
    second = [
        tax_row(1, codes[3], "新一商行", "江南街道总部南路14号"),
        first[0],
        tax_row(3, codes[4], "新二商行", "西溪镇溪心路8号"),
        first[1],
        first[2],
        tax_row(6, codes[5], "新三商行", "古山镇古山西路31号"),
    ]
    job = run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "v2.csv", second))
    assert job.result["added"] == 3
    by_id = records(session)
    assert [r.uscc for r in by_id] == [*codes[:3], codes[3], codes[4], codes[5]]
    added = [r for r in by_id if r.batch_id == job.result["batch_id"] and r.uscc in codes[3:]]
    assert [r.row_number for r in added] == sorted(r.row_number for r in added)


def test_a_location_names_the_row_its_record_is_on_now(
    tmp_path, session_factory, session, gazetteer
):
    rows = [
        tax_row(1, A, "甲商行", "古山镇古山西路30号"),
        tax_row(2, B, "乙商行", "古山镇古山西路31号"),
    ]
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "v1.csv", rows))
    first = session.scalar(sa.select(Business).where(Business.uscc == A))
    assert first.location_source.endswith("(tax row 2)")
    # The same records, in the other order.
    job = run_import(
        session_factory, session, "tax", write_tax_csv(tmp_path / "v2.csv", rows[::-1])
    )
    assert job.result["unchanged"] == 2
    session.expire_all()
    sources = {b.uscc: b.location_source for b in session.scalars(sa.select(Business))}
    assert sources[A].endswith("(tax row 3)")
    assert sources[B].endswith("(tax row 2)")


def test_bad_rows_are_reported_and_good_rows_imported(
    tmp_path, session_factory, session, gazetteer
):
    bad_check = A[:-1] + ("0" if A[-1] != "0" else "1")
    path = write_tax_csv(
        tmp_path / "tax.csv",
        [
            tax_row(1, A, "甲商行", "古山镇古山西路30号"),
            tax_row(2, "", "", "古山镇古山西路31号", owner=""),
            tax_row(3, bad_check, "丁商行", "古山镇古山西路31号"),
            [*tax_row(4, B, "戊商行", "古山镇古山西路31号"), "extra", "cells"],
        ],
    )
    job = run_import(session_factory, session, "tax", path)
    assert job.result["rows_read"] == 4
    assert job.result["rows_imported"] == 2
    assert job.result["rows_rejected"] == 2
    issues = {(i.row_number, i.severity): i for i in session.scalars(sa.select(ImportIssue))}
    assert "name is empty" in issues[(3, "error")].reason
    assert issues[(4, "warning")].column == "纳税人识别号"
    assert issues[(4, "warning")].value == bad_check
    assert "check digit should be" in issues[(4, "warning")].reason
    assert "has 14 cells but the header has 12 columns" in issues[(5, "error")].reason
    # The row with a bad code is imported all the same, without a credit code.
    assert [r.name for r in records(session)] == ["甲商行", "丁商行"]


def test_file_missing_required_columns_is_refused_naming_them(tmp_path, session_factory, session):
    path = tmp_path / "tax.csv"
    path.write_text("序号,纳税人名称,联系电话\n1,甲商行,138\n", encoding="utf-8")
    with pytest.raises(MissingColumnsError) as caught:
        run_import(session_factory, session, "tax", path)
    assert caught.value.found == ["序号", "纳税人名称", "联系电话"]
    assert any("纳税人识别号" in m for m in caught.value.missing)
    assert session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 0


def test_lists_link_by_code_and_by_name_and_address_when_a_code_is_wrong(
    tmp_path, session_factory, session, gazetteer
):
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "tax.csv",
            [
                tax_row(1, A, "永康市甲电器有限责任公司", "古山镇古山西路30号"),
                # The owner's ID as tax number: no credit code to link by.
                tax_row(2, "330784197001010010", "永康市乙五金经营部", "古山镇古山西路31号"),
            ],
        ),
    )
    run_import(
        session_factory,
        session,
        "commerce",
        write_commerce_xlsx(
            tmp_path / "commerce.xlsx",
            [
                commerce_row(A, "永康市甲电器有限公司", "浙江省永康市古山镇古山西路30号"),
                commerce_row(B, "永康市乙五金经营部", "永康市古山镇古山西路31号"),
            ],
        ),
    )
    rows = records(session)
    by_key = {(r.bureau, r.row_number): r for r in rows}
    assert by_key[("tax", 2)].business_id == by_key[("commerce", 3)].business_id
    assert by_key[("commerce", 3)].link_reason == "same_code"
    assert by_key[("tax", 3)].business_id == by_key[("commerce", 4)].business_id
    assert by_key[("tax", 3)].link_reason == "name_address"
    assert by_key[("tax", 3)].link_score >= 0.9
    assert session.scalar(sa.select(sa.func.count()).select_from(Business)) == 2


def test_a_new_business_that_linkage_gives_a_record_is_located_again(
    tmp_path, session_factory, session, gazetteer
):
    # The tax record has no credit code; the commerce list then brings B's, and linkage
    # joins the tax record to B's new business by name and address.
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "tax.csv",
            [tax_row(1, "330784197001010010", "永康市乙五金经营部", "古山镇古山西路31号")],
        ),
    )
    job = run_import(
        session_factory,
        session,
        "commerce",
        write_commerce_xlsx(
            tmp_path / "c.xlsx", [commerce_row(B, "永康市乙五金经营部", "永康市古山镇古山西路31号")]
        ),
    )
    business = session.scalar(sa.select(Business).where(Business.uscc == B))
    assert {r.bureau for r in records(session) if r.business_id == business.id} == {
        "tax",
        "commerce",
    }
    # Tax records are tried first: located again from the record linkage brought.
    assert business.location_source.endswith("(tax row 2)")
    assert job.result["location"] == {"address": 1}


def test_a_changed_record_locates_its_business_again(tmp_path, session_factory, session, gazetteer):
    # 总部南路14号 is in two townships; an office in neither leaves it ambiguous.
    first = [tax_row(1, A, "甲商行", "浙江省永康市总部南路14号", office="古山")]
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "t1.csv", first))
    business = session.scalar(sa.select(Business))
    assert business.location_precision == "ambiguous"
    # The same registration, now served by the 西溪 office: the record changes, not whose
    # it is.
    second = [tax_row(1, A, "甲商行", "浙江省永康市总部南路14号", office="西溪")]
    job = run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "t2.csv", second))
    assert job.result["changed"] == 1
    session.expire_all()
    business = session.scalar(sa.select(Business))
    assert (business.location_precision, business.town) == ("address", "西溪镇")


def test_a_business_whose_last_record_goes_keeps_its_last_location(
    tmp_path, session_factory, session, gazetteer
):
    rows = [
        tax_row(1, A, "甲商行", "古山镇古山西路30号"),
        tax_row(2, B, "乙商行", "古山镇古山西路31号"),
    ]
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "t1.csv", rows))
    before = session.scalar(sa.select(Business).where(Business.uscc == A))
    point, source = before.location, before.location_source
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "t2.csv", rows[1:]))
    session.expire_all()
    after = session.scalar(sa.select(Business).where(Business.uscc == A))
    assert after.location_precision == "address"
    assert (after.location, after.location_source) == (point, source)


def test_neighbours_at_one_door_are_not_linked(tmp_path, session_factory, session, gazetteer):
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "tax.csv",
            [
                tax_row(1, "330784197001010010", "永康市古山张三五金经营部", "古山镇古山西路30号"),
                tax_row(2, "330722197001010011", "永康市古山李四服装店", "古山镇古山西路30号"),
            ],
        ),
    )
    assert len({r.business_id for r in records(session)}) == 2


def test_road_in_two_townships_without_a_township_is_ambiguous_not_guessed(
    tmp_path, session_factory, session, gazetteer
):
    run_import(
        session_factory,
        session,
        "commerce",
        write_commerce_xlsx(
            tmp_path / "c.xlsx", [commerce_row(A, "甲商行", "浙江省永康市总部南路14号")]
        ),
    )
    business = session.scalar(sa.select(Business))
    assert business.location_precision == "ambiguous"
    assert business.location is None
    assert "江南街道, 西溪镇" in business.location_source


def test_tax_office_settles_a_road_found_in_two_townships(
    tmp_path, session_factory, session, gazetteer
):
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "t.csv", [tax_row(1, A, "甲商行", "浙江省永康市总部南路14号", office="西溪")]
        ),
    )
    business = session.scalar(sa.select(Business))
    assert business.location_precision == "address"
    assert business.town == "西溪镇"


def test_a_business_whose_record_goes_is_located_from_the_records_left(
    tmp_path, session_factory, session, gazetteer
):
    # The tax record's office settles which 总部南路14号 is meant; the commerce record
    # names no township.
    tax_list = [
        tax_row(1, A, "甲商行", "浙江省永康市总部南路14号", office="西溪"),
        tax_row(2, B, "乙商行", "古山镇古山西路31号"),
    ]
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "t1.csv", tax_list))
    run_import(
        session_factory,
        session,
        "commerce",
        write_commerce_xlsx(tmp_path / "c.xlsx", [commerce_row(A, "甲商行", "总部南路14号")]),
    )
    business = session.scalar(sa.select(Business).where(Business.uscc == A))
    assert (business.location_precision, business.town) == ("address", "西溪镇")
    # The newer tax list no longer has A: nothing current names its township any more.
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "t2.csv", tax_list[1:]))
    session.expire_all()
    business = session.scalar(sa.select(Business).where(Business.uscc == A))
    assert business.location_precision == "ambiguous"
    assert business.location is None
    assert "江南街道, 西溪镇" in business.location_source


def test_unknown_door_falls_back_to_the_township_centre(
    tmp_path, session_factory, session, gazetteer
):
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(tmp_path / "t.csv", [tax_row(1, A, "甲商行", "永康市古山镇古山西路999号")]),
    )
    business = session.scalar(sa.select(Business))
    assert business.location_precision == "township"
    assert "centre of 古山镇" in business.location_source


def test_duplicate_registration_in_one_list_is_kept_and_linked(
    tmp_path, session_factory, session, gazetteer
):
    tin = "33078419700101001001"
    run_import(
        session_factory,
        session,
        "tax",
        write_tax_csv(
            tmp_path / "t.csv",
            [
                tax_row(1, tin, "永康市古山张三五金经营部", "古山镇古山西路30号"),
                tax_row(2, tin, "永康市古山张三五金经营部", "古山镇古山西路30号"),
            ],
        ),
    )
    rows = records(session)
    assert len(rows) == 2
    assert rows[0].business_id == rows[1].business_id
    issue = session.scalar(sa.select(ImportIssue).where(ImportIssue.row_number == 3))
    assert "same identifier as row 2" in issue.reason


def test_gazetteer_rows_with_swapped_coordinates_are_reported(tmp_path, session_factory, session):
    path = write_gazetteer(
        tmp_path / "g.csv",
        [("古山镇", "古山西路", 1, 28.99, 120.08), ("古山镇", "古山西路", 2, 120.08, 28.99)],
    )
    job = run_import(session_factory, session, "gazetteer", path)
    assert job.result["rows_imported"] == 1
    issue = session.scalar(sa.select(ImportIssue))
    assert issue.row_number == 2
    assert "swapped" in issue.reason


def test_an_explicit_column_mapping_reads_unusual_headers(tmp_path, session_factory, session):
    path = tmp_path / "tax.csv"
    path.write_text(f"编号,税务代码,企业名字,地点\n1,{A},甲商行,古山镇古山西路30号\n",
                    encoding="utf-8")
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    mapping = {"tin": "税务代码", "name": "企业名字", "op_address": "地点"}
    with session_factory() as s:
        job = request_import(s, request=ImportRequest(kind="tax", path=path, filename="tax.csv",
                                                      sha256=sha, mapping=mapping),
                             actor_id=None)
        result = run_import_job(session_factory, job, lambda *a, **k: None)
    assert result["rows_imported"] == 1
    assert [(r.uscc, r.name, r.road) for r in records(session)] == [(A, "甲商行", "古山西路")]


def _mixed_tax_rows() -> list[list[str]]:
    tin = "33078419700101001001"
    return [
        tax_row(1, A, "永康市古山施秀丽不锈钢制品经营部", "古山镇古山西路30号"),
        tax_row(2, tin, "永康市古山张三五金经营部", "古山镇古山西路31号"),
        tax_row(3, "91330784XXXXXXXXX1", "永康市西溪某某厂", "西溪镇溪心路8号"),
        # Cells that COPY's text format escapes: a tab, a backslash and a line break.
        tax_row(4, B, "永康市江南\\杨建\t电动工具经营部", "永康市江南街道总部南路14号\n3楼"),
        tax_row(5, tin, "永康市古山张三五金经营部", "古山镇古山西路31号"),
        [*tax_row(6, make_uscc("JK90LM12"), "多一格", "古山镇古山西路30号"), "", "extra"],
        tax_row(7, "", "", "古山镇古山西路30号", owner=""),
    ]


def test_validation_in_worker_processes_matches_validation_in_process(tmp_path, caplog):
    from fieldcheck.registry.reading import map_headers, open_table
    from fieldcheck.registry.validation import validate_table

    path = write_tax_csv(tmp_path / "t.csv", _mixed_tax_rows())

    def validated(workers: int) -> list[Any]:
        table = open_table(path, profile="tax")
        header_map = map_headers(table.headers, "tax")
        labels = {f: header_map.header_of(f) for f in header_map.columns}
        with table:
            return list(validate_table(table, header_map, labels, workers=workers,
                                       chunk_rows=2))

    here, workers = validated(0), validated(2)
    assert "validation workers failed" not in caplog.text  # the workers did the work
    assert len(here) == 4  # 7 rows in chunks of 2
    assert workers == here
    assert sum(c.read for c in here) == 7
    assert sum(c.rejected for c in here) == 2  # the row with extra cells and the nameless one


def test_a_list_validated_in_worker_processes_lands_whole(
    tmp_path, session_factory, session, gazetteer, monkeypatch
):
    from fieldcheck.registry import service

    monkeypatch.setattr(service, "PARALLEL_MIN_ROWS", 0)
    monkeypatch.setattr(service, "CHUNK_ROWS", 2)
    monkeypatch.setattr(service, "_idle_cores", lambda: 2.0)
    path = write_tax_csv(tmp_path / "t.csv", _mixed_tax_rows())
    job = run_import(session_factory, session, "tax", path)
    assert (job.result["rows_read"], job.result["rows_imported"]) == (7, 5)
    rows = records(session)
    assert [r.row_number for r in rows] == [2, 3, 4, 5, 6]
    by_row = {r.row_number: r for r in rows}
    assert by_row[5].name == "永康市江南\\杨建 电动工具经营部"
    assert by_row[5].raw["name"] == "永康市江南\\杨建\t电动工具经营部"
    assert by_row[5].address == "永康市江南街道总部南路14号 3楼"
    # The duplicate registration across two chunks is kept and linked to the same business.
    assert by_row[6].source_key == f"{by_row[3].source_key}#6"
    assert by_row[6].business_id == by_row[3].business_id
    reasons = {
        (i.row_number, i.severity): i.reason
        for i in session.scalars(sa.select(ImportIssue).where(
            ImportIssue.batch_id == job.result["batch_id"]))
    }
    assert "same identifier as row 3" in reasons[(6, "warning")]
    assert "header has 12 columns" in reasons[(7, "error")]
    assert "row not imported" in reasons[(8, "error")]


@pytest.mark.parametrize(
    ("rows", "idle", "workers"),
    [
        (1_000_000, 1.9, 2),  # two idle cores
        (1_000_000, 1.2, 0),  # one: this process needs it to read the file
        (1_000_000, 7.6, 4),  # at most MAX_VALIDATION_WORKERS
        (40_000, 2.0, 0),  # a county's list: starting workers costs more than they save
    ],
)
def test_validation_workers_follow_the_idle_cores(monkeypatch, rows, idle, workers):
    from fieldcheck.registry import service

    monkeypatch.setattr(service, "_idle_cores", lambda: idle)
    assert service._validation_workers(rows) == workers


def test_idle_cores_are_none_while_every_core_is_busy():
    from fieldcheck.registry import service

    spin = "import time\nend = time.time() + 5\nwhile time.time() < end:\n    pass\n"
    cores = len(os.sched_getaffinity(0))
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(cores)]
    try:
        time.sleep(0.3)  # the spinners have started
        assert service._idle_cores() < 1.0
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def test_indexes_dropped_for_a_first_list_are_rebuilt_as_they_were(
    tmp_path, session_factory, session, gazetteer
):
    def indexes() -> list[tuple[str, str]]:
        return session.execute(sa.text(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename IN ('source_records', 'businesses') ORDER BY indexname")).all()

    before = indexes()
    assert len(before) >= 11
    path = write_tax_csv(tmp_path / "t.csv", [
        tax_row(1, A, "永康市古山施秀丽不锈钢制品经营部", "古山镇古山西路30号"),
        tax_row(2, B, "永康市江南杨建电动工具经营部", "永康市江南街道总部南路14号"),
    ])
    job = run_import(session_factory, session, "tax", path)
    assert job.result["added"] == 2
    assert indexes() == before
    # Looked up through the rebuilt index, the records are there.
    session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    assert session.scalar(sa.text(
        "SELECT count(*) FROM source_records WHERE uscc = :a"), {"a": A}) == 1
    assert session.scalar(sa.text(
        "SELECT count(*) FROM businesses WHERE uscc = :a"), {"a": A}) == 1


def test_foreign_keys_dropped_for_a_first_list_are_restored_and_enforced(
    tmp_path, session_factory, session, gazetteer
):
    def foreign_keys() -> list[tuple[str, str, bool]]:
        return session.execute(sa.text(
            "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
            "WHERE conrelid = 'source_records'::regclass AND contype = 'f' "
            "ORDER BY conname")).all()

    before = foreign_keys()
    assert any("REFERENCES businesses(id) ON DELETE SET NULL" in d for _, d, _ in before)
    path = write_tax_csv(tmp_path / "t.csv", [
        tax_row(1, A, "永康市古山施秀丽不锈钢制品经营部", "古山镇古山西路30号"),
        tax_row(2, B, "永康市江南杨建电动工具经营部", "永康市江南街道总部南路14号"),
    ])
    job = run_import(session_factory, session, "tax", path)
    assert job.result["added"] == 2
    assert foreign_keys() == before
    record = records(session)[0]
    assert record.business_id is not None
    # The restored constraint acts: a business removed leaves its records unlinked ...
    session.execute(sa.text("DELETE FROM businesses WHERE id = :b"), {"b": record.business_id})
    assert session.scalar(sa.text(
        "SELECT business_id FROM source_records WHERE id = :r"), {"r": record.id}) is None
    # ... and a record cannot point at a business that does not exist.
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.execute(sa.text("UPDATE source_records SET business_id = -1 WHERE id = :r"),
                        {"r": record.id})


# --- what phones already synced learn of a re-import ---------------------------------------


@pytest.fixture
def synced_visit(tmp_path, session_factory, session, gazetteer):
    """A tax list imported, a courier's visit of its first business, synced by the phone:
    (courier user, visit, the feed cursor after the first sync)."""
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "tax1.csv", [
        tax_row(1, A, "永康市古山胜利五金经营部", "浙江省金华市永康市古山镇古山西路30号"),
    ]))
    business = session.scalar(sa.select(Business).where(Business.uscc == A))
    courier = make_courier(session)
    visit = make_visit(session, courier=courier, business=business)
    user = courier_user(session, courier)
    session.commit()
    page = pull_changes(session, courier_user=user, after=None, limit=500)
    assert [item.visit_id for item in page.items] == [visit.id]
    return user, visit, page.last_seq


def test_a_reimport_that_renames_a_business_sends_its_visit_again(
    tmp_path, session_factory, session, synced_visit
):
    user, visit, cursor = synced_visit
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "tax2.csv", [
        tax_row(1, A, "永康市古山胜利五金商行", "浙江省金华市永康市古山镇古山西路30号"),
    ]))

    page = pull_changes(session, courier_user=user, after=cursor, limit=500)
    assert [item.visit_id for item in page.items] == [visit.id]
    assert [r.name for r in page.items[0].visit.business.registered] == ["永康市古山胜利五金商行"]


def test_a_reimport_that_moves_a_business_sends_its_visit_with_the_new_point(
    tmp_path, session_factory, session, synced_visit
):
    user, visit, cursor = synced_visit
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "tax2.csv", [
        tax_row(1, A, "永康市古山胜利五金经营部", "浙江省金华市永康市古山镇古山西路31号"),
    ]))

    page = pull_changes(session, courier_user=user, after=cursor, limit=500)
    assert [item.visit_id for item in page.items] == [visit.id]
    point = page.items[0].visit.business.location.wgs84
    assert (round(point.lon, 6), round(point.lat, 6)) == (120.0834, 28.9973)


def test_a_new_gazetteer_that_moves_a_business_sends_its_visit_again(
    tmp_path, session_factory, session, synced_visit
):
    user, visit, cursor = synced_visit
    moved = [("古山镇", "古山西路", 30, 120.083500, 28.997500), *GAZETTEER[1:]]
    run_import(session_factory, session, "gazetteer", write_gazetteer(tmp_path / "g2.csv", moved))

    page = pull_changes(session, courier_user=user, after=cursor, limit=500)
    assert [item.visit_id for item in page.items] == [visit.id]
    point = page.items[0].visit.business.location.wgs84
    assert (round(point.lon, 6), round(point.lat, 6)) == (120.0835, 28.9975)


def test_a_reimport_that_leaves_a_visited_business_as_it_was_sends_nothing(
    tmp_path, session_factory, session, synced_visit
):
    user, _visit, cursor = synced_visit
    run_import(session_factory, session, "tax", write_tax_csv(tmp_path / "tax2.csv", [
        tax_row(1, A, "永康市古山胜利五金经营部", "浙江省金华市永康市古山镇古山西路30号"),
        tax_row(2, B, "永康市江南杨建电动工具经营部", "永康市江南街道总部南路14号"),
    ]))

    assert pull_changes(session, courier_user=user, after=cursor, limit=500).items == []

