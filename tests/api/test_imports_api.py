"""Imports over HTTP: upload, job progress, row issues, businesses, merge and split.

These run jobs on their own connections, so they use a committed database of their own."""

from __future__ import annotations

import dataclasses
import io
import time
from typing import Any

import pytest
import sqlalchemy as sa

from api.app import create_app
from fieldcheck.audit.models import AuditEvent
from fieldcheck.db import make_engine, make_session_factory
from tests.builders import auth, make_user
from tests.files import (
    commerce_row,
    make_uscc,
    tax_row,
    write_commerce_xlsx,
    write_gazetteer,
    write_tax_csv,
)

A = make_uscc("AB12CD34")
B = make_uscc("EF56GH78")


@pytest.fixture
def live(committed_database_url, settings, tmp_path):
    """An app on a committed database, running jobs in a thread, and an admin account."""
    engine = make_engine(committed_database_url)
    app_settings = dataclasses.replace(
        settings, database_url=committed_database_url, redis_url=None
    )
    app = create_app({"SETTINGS": app_settings, "ENGINE": engine})
    with make_session_factory(engine)() as session:
        admin = make_user(session)
        session.commit()
    yield app.test_client(), auth(admin), engine
    engine.dispose()


def upload(client: Any, headers: dict[str, str], kind: str, path: Any, **form: str) -> Any:
    return client.post(
        "/api/v1/admin/imports",
        headers=headers,
        data={"kind": kind, "file": (io.BytesIO(path.read_bytes()), path.name), **form},
        content_type="multipart/form-data",
    )


def wait(client: Any, headers: dict[str, str], job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/admin/jobs/{job_id}", headers=headers).json
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_upload_runs_an_import_job_and_lists_businesses(live, tmp_path):
    client, headers, _ = live
    gaz = write_gazetteer(tmp_path / "g.csv", [("古山镇", "古山西路", 30, 120.08, 28.99)])
    assert (
        wait(client, headers, upload(client, headers, "gazetteer", gaz).json["id"])["state"]
        == "succeeded"
    )
    tax = write_tax_csv(tmp_path / "tax.csv", [tax_row(1, A, "甲商行", "古山镇古山西路30号")])
    response = upload(client, headers, "tax", tax)
    assert response.status_code == 202
    job = wait(client, headers, response.json["id"])
    assert job["state"] == "succeeded"
    assert job["result"]["added"] == 1
    page = client.get("/api/v1/admin/businesses?location_precision=address", headers=headers).json
    assert len(page["items"]) == 1
    business = page["items"][0]
    assert business["location"]["precision"] == "address"
    assert business["location"]["lon"] == pytest.approx(120.08)
    record = business["records"][0]
    assert (record["bureau"], record["row_number"], record["source_key"]) == ("tax", 2, A)
    assert record["import_id"] == job["result"]["batch_id"]


def test_reupload_of_the_same_file_returns_a_finished_duplicate_job(live, tmp_path):
    client, headers, _ = live
    tax = write_tax_csv(tmp_path / "tax.csv", [tax_row(1, A, "甲商行", "古山镇古山西路30号")])
    first = wait(client, headers, upload(client, headers, "tax", tax).json["id"])
    second = upload(client, headers, "tax", tax).json
    assert second["state"] == "succeeded"
    assert second["result"]["duplicate_of"] == first["result"]["batch_id"]


def test_missing_columns_are_refused_at_upload(live, tmp_path):
    client, headers, _ = live
    path = tmp_path / "tax.csv"
    path.write_text("序号,纳税人名称\n1,甲\n", encoding="utf-8")
    response = upload(client, headers, "tax", path)
    assert response.status_code == 422
    assert response.json["code"] == "missing_columns"
    assert response.json["found"] == ["序号", "纳税人名称"]


def test_binary_garbage_named_csv_is_refused(live, tmp_path):
    client, headers, _ = live
    path = tmp_path / "tax.csv"
    path.write_bytes(bytes(range(256)) * 40)
    response = upload(client, headers, "tax", path)
    assert response.status_code == 422
    assert response.json["code"] == "bad_file"


def test_row_issues_download_as_csv_with_bom(live, tmp_path):
    client, headers, _ = live
    tax = write_tax_csv(
        tmp_path / "tax.csv",
        [
            tax_row(1, A, "甲商行", "古山镇古山西路30号"),
            tax_row(2, "", "", "=cmd|' /C calc'!A0", owner=""),
        ],
    )
    job = wait(client, headers, upload(client, headers, "tax", tax).json["id"])
    batch = job["result"]["batch_id"]
    listed = client.get(f"/api/v1/admin/imports/{batch}/issues", headers=headers).json
    assert [(i["row_number"], i["severity"]) for i in listed["items"]] == [(3, "error")]
    response = client.get(f"/api/v1/admin/imports/{batch}/issues.csv", headers=headers)
    assert response.status_code == 200
    text = response.data.decode("utf-8")
    assert text.startswith("\ufeff")
    assert "name is empty" in text


def test_merge_and_split_are_audited(live, tmp_path):
    client, headers, engine = live
    tax = write_tax_csv(
        tmp_path / "tax.csv",
        [
            tax_row(1, A, "甲商行", "古山镇古山西路30号"),
            tax_row(2, "330784197001010010", "乙商行", "古山镇古山西路31号"),
        ],
    )
    wait(client, headers, upload(client, headers, "tax", tax).json["id"])
    ids = [b["id"] for b in client.get("/api/v1/admin/businesses", headers=headers).json["items"]]
    merged = client.post(
        "/api/v1/admin/businesses/merge",
        headers=headers,
        json={"business_ids": ids, "reason": "one shop"},
    )
    assert merged.status_code == 200
    assert len(merged.json["records"]) == 2
    assert {r["link_reason"] for r in merged.json["records"]} >= {"manual_merge"}
    record_id = merged.json["records"][-1]["id"]
    split = client.post(
        f"/api/v1/admin/businesses/{merged.json['id']}/split",
        headers=headers,
        json={"record_ids": [record_id]},
    )
    assert split.status_code == 201
    assert [r["id"] for r in split.json["records"]] == [record_id]
    with engine.connect() as conn:
        actions = conn.scalars(
            sa.select(AuditEvent.action)
            .where(AuditEvent.action.like("business.%"))
            .order_by(AuditEvent.id)
        ).all()
    assert actions == ["business.merged", "business.split"]


def test_merging_businesses_with_different_codes_is_refused(live, tmp_path):
    client, headers, _ = live
    tax = write_tax_csv(
        tmp_path / "tax.csv",
        [
            tax_row(1, A, "甲商行", "古山镇古山西路30号"),
            tax_row(2, B, "乙商行", "古山镇古山西路31号"),
        ],
    )
    wait(client, headers, upload(client, headers, "tax", tax).json["id"])
    ids = [b["id"] for b in client.get("/api/v1/admin/businesses", headers=headers).json["items"]]
    response = client.post(
        "/api/v1/admin/businesses/merge", headers=headers, json={"business_ids": ids}
    )
    assert response.status_code == 409


def test_commerce_workbook_with_a_title_row_is_read(live, tmp_path):
    client, headers, _ = live
    path = write_commerce_xlsx(
        tmp_path / "c.xlsx", [commerce_row(A, "甲商行", "古山镇古山西路30号")]
    )
    job = wait(client, headers, upload(client, headers, "commerce", path).json["id"])
    assert job["state"] == "succeeded"
    assert job["result"]["header_row"] == 2
    record = client.get("/api/v1/admin/businesses", headers=headers).json["items"][0]["records"][0]
    assert record["row_number"] == 3
