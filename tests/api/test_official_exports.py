"""Officials' registry downloads over HTTP: streamed files, bureau scoping, masking, jobs for
large registries, evidence links, and the administrators' campaign report."""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from api.app import create_app
from fieldcheck.audit.models import AuditEvent
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.exports.models import Export
from fieldcheck.jobs.service import create_job
from tests.builders import (
    auth,
    make_accepted_result,
    make_business,
    make_campaign,
    make_courier,
    make_finding,
    make_photo,
    make_source_record,
    make_user,
    make_visit,
)

REGISTRY = "/api/v1/official/registries"


@dataclasses.dataclass
class Scene:
    campaign: Any
    business: Any
    photo: Any
    courier: Any


def build_scene(session, storage=None) -> Scene:
    """A tax-listed business found shell by a courier, with a photo of the empty shop."""
    campaign = make_campaign(session)
    courier = make_courier(session)
    business = make_business(session, name="永康市空壳五金厂")
    make_source_record(session, business, bureau="tax")
    make_source_record(session, make_business(session, name="永康市工商某店"), bureau="commerce")
    visit = make_visit(session, courier=courier, business=business, campaign=campaign,
                       state="accepted")
    result = make_accepted_result(session, visit=visit, outcome="shell")
    photo = make_photo(session, uploader=make_user(session, role="courier", password=None),
                       data=b"\xff\xd8 empty shop", storage=storage)
    make_finding(session, campaign=campaign, business=business, verdict="shell",
                 results=[result], photos=[photo], basis="两次独立走访结论一致")
    return Scene(campaign, business, photo, courier)


@pytest.fixture
def scene(session, app) -> Scene:
    return build_scene(session, app.extensions["fieldcheck"].storage)


def official(session, bureau: str = "tax", **kwargs: Any) -> Any:
    return make_user(session, role="official", bureau=bureau, password=None, **kwargs)


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_official_downloads_their_registry_as_csv_and_the_download_is_audited(
    client, session, scene
):
    user = official(session)
    response = client.get(f"{REGISTRY}/tax?format=csv&town=古山镇", headers=auth(user))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    data = response.data
    assert data.startswith(b"\xef\xbb\xbf")
    (row,) = rows_of(data)
    assert row["纳税人名称"] == "永康市空壳五金厂"
    assert row["处理建议代码"] == "abnormal_candidate"
    assert row["证件号码"] == "330784********0010"
    event = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "registry.exported")
    ).one()
    assert event.actor_id == user.id
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["rows"] == 1
    assert event.details["filters"]["towns"] == ["古山镇"]
    assert event.details["via"] == "api"


def test_official_who_may_see_id_numbers_gets_them_unmasked(client, session, scene):
    user = official(session, may_see_id_numbers=True)
    response = client.get(f"{REGISTRY}/tax?format=csv", headers=auth(user))
    assert rows_of(response.data)[0]["证件号码"] == "330784197001010010"


def test_official_of_one_bureau_gets_403_for_the_others_registry(client, session, scene):
    user = official(session, bureau="commerce")
    response = client.get(f"{REGISTRY}/tax?format=csv", headers=auth(user))
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"
    assert response.json["code"] == "forbidden"
    response = client.post(f"{REGISTRY}/tax/exports", json={"format": "csv"},
                           headers=auth(user))
    assert response.status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0


def test_official_of_the_tax_bureau_gets_403_for_the_commerce_registry(client, session, scene):
    user = official(session, bureau="tax")
    download = client.get(f"{REGISTRY}/commerce?format=csv", headers=auth(user))
    export = client.post(f"{REGISTRY}/commerce/exports", json={"format": "csv"},
                         headers=auth(user))
    for response in (download, export):
        assert (response.status_code, response.json["code"]) == (403, "forbidden")
    assert session.scalar(sa.select(sa.func.count()).select_from(Export)) == 0


def test_another_officials_export_job_reads_as_missing_even_in_the_same_bureau(
    client, session, scene
):
    owner, colleague = official(session), official(session)
    job = create_job(session, kind="export", params={"bureau": "tax", "format": "csv"},
                     actor_id=owner.id)
    assert client.get(f"/api/v1/official/exports/{job.id}", headers=auth(owner)).status_code == 200
    for path in (f"/api/v1/official/exports/{job.id}", f"/api/v1/official/exports/{job.id}/file"):
        response = client.get(path, headers=auth(colleague))
        assert (response.status_code, response.json["code"]) == (404, "not_found"), path


def test_other_roles_cannot_download_registries(client, session, scene):
    courier = make_user(session, role="courier", password=None)
    assert client.get(f"{REGISTRY}/tax", headers=auth(courier)).status_code == 403
    assert client.get(f"{REGISTRY}/tax").status_code == 401


def test_xlsx_download_opens_with_openpyxl(client, session, scene):
    response = client.get(f"{REGISTRY}/tax?format=xlsx&action=abnormal_candidate",
                          headers=auth(official(session)))
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    assert book.sheetnames[0] == "汇总"
    sheet = book["非正常户候选"]
    assert sheet.cell(2, 4).value == "永康市空壳五金厂"


def test_bad_arguments_are_422(client, session, scene):
    response = client.get(f"{REGISTRY}/tax?format=pdf&action=shoot",
                          headers=auth(official(session)))
    assert response.status_code == 422
    assert set(response.json["errors"]["query"]) == {"format", "action"}


def test_evidence_link_opens_the_photos_until_it_expires(client, session, scene):
    user = official(session)
    data = client.get(f"{REGISTRY}/tax?format=csv", headers=auth(user)).data
    link = next(r["证据照片链接"] for r in rows_of(data) if r["证据照片链接"])
    assert link.startswith("http://localhost/api/v1/official/evidence/")
    path = link.removeprefix("http://localhost")
    page = client.get(path)  # no Authorization header: the link is the credential
    assert page.status_code == 200
    assert "永康市空壳五金厂" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer"
    photo = client.get(f"{path}/photos/{scene.photo.id}")
    assert photo.status_code == 200 and photo.data == b"\xff\xd8 empty shop"
    assert client.get(f"{path}/photos/999999").status_code == 404
    viewed = session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "evidence.viewed")
    ).one()
    assert viewed.actor_id == user.id
    session.execute(sa.update(Export).values(
        links_expire_at=datetime.now(UTC) - timedelta(minutes=1)))
    assert client.get(path).status_code == 403
    assert client.get(path.replace("/evidence/", "/evidence/x")).status_code == 404


def test_evidence_link_stops_working_when_the_account_is_disabled(client, session, scene):
    user = official(session)
    data = client.get(f"{REGISTRY}/tax?format=csv", headers=auth(user)).data
    link = next(r["证据照片链接"] for r in rows_of(data) if r["证据照片链接"])
    user.active = False
    session.flush()
    assert client.get(link.removeprefix("http://localhost")).status_code == 403


def test_admin_campaign_report_as_figures_and_as_a_page(client, session, scene):
    admin = make_user(session, role="admin", password=None)
    url = f"/api/v1/admin/campaigns/{scene.campaign.id}/report"
    figures = client.get(url, headers=auth(admin))
    assert figures.status_code == 200
    assert figures.json["verdicts"] == {"shell": 1}
    assert figures.json["actions"]["tax"]["total"] == {"abnormal_candidate": 1}
    assert figures.json["actions"]["commerce"]["total"] == {"unresolved": 1}
    page = client.get(url + ".html", headers=auth(admin))
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "<svg" in page.text and "古山镇" in page.text
    assert client.get(url, headers=auth(official(session))).status_code == 403
    assert client.get("/api/v1/admin/campaigns/999999/report",
                      headers=auth(admin)).status_code == 404


# --- large registries: jobs on a committed database ----------------------------------------


@pytest.fixture
def live(committed_database_url, settings):
    """An app on a committed database, running jobs in a thread."""
    engine = make_engine(committed_database_url)
    app_settings = dataclasses.replace(
        settings, database_url=committed_database_url, redis_url=None
    )
    app = create_app({"SETTINGS": app_settings, "ENGINE": engine,
                      "EXPORT_DIRECT_MAX_ROWS": {"csv": 1, "xlsx": 1, "geojson": 1}})
    sessions = make_session_factory(engine)
    yield app.test_client(), sessions
    engine.dispose()


def wait(client: Any, headers: dict[str, str], job_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/official/exports/{job_id}", headers=headers).json
        if job["state"] in ("succeeded", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError("the export job did not finish")


def test_a_large_registry_is_exported_as_a_job_with_progress_and_a_download(live):
    client, sessions = live
    with sessions() as session:
        build_scene(session)
        make_source_record(session, make_business(session), bureau="tax")
        user, other = official(session), official(session)
        session.commit()
        headers = auth(user)
    refused = client.get(f"{REGISTRY}/tax?format=xlsx", headers=headers)
    assert refused.status_code == 409 and refused.json["code"] == "export_too_large"

    created = client.post(f"{REGISTRY}/tax/exports",
                          json={"format": "xlsx", "actions": ["abnormal_candidate"]},
                          headers=headers)
    assert created.status_code == 202
    job = wait(client, headers, created.json["id"])
    assert job["state"] == "succeeded", job
    assert job["rows"] == 1 and job["by_action"] == {"abnormal_candidate": 1}
    assert client.get(job["download_url"], headers=auth(other)).status_code == 404

    download = client.get(job["download_url"], headers=headers)
    assert download.status_code == 200
    assert hashlib.sha256(download.data).hexdigest() == job["sha256"]
    digest = base64.b64encode(bytes.fromhex(job["sha256"])).decode()
    assert download.headers["Repr-Digest"] == f"sha-256=:{digest}:"
    openpyxl.load_workbook(io.BytesIO(download.data))
    with sessions() as session:
        actions = session.scalars(
            sa.select(AuditEvent.action).where(AuditEvent.object_type == "export")
            .order_by(AuditEvent.id)
        ).all()
        assert actions == ["registry.exported", "registry.export_downloaded"]
