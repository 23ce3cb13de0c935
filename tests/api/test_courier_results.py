"""POST /api/v1/courier/results and amendments: idempotent, late-aware, evidence-aware."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from geoalchemy2.shape import to_shape

from fieldcheck.dispatch.models import Campaign, Visit
from fieldcheck.fieldwork.models import VisitResult
from fieldcheck.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from fieldcheck.quality.models import Flag
from tests.builders import (
    auth,
    change_visit,
    courier_user,
    make_courier,
    make_supervisor,
    make_visit,
)
from tests.photos import jpeg, new_id, result_body, sha256

URL = "/api/v1/courier/results"


def submit(client, headers, body):
    return client.post(URL, json=body, headers=headers)


def upload(client, headers, data):
    response = client.post(
        "/api/v1/courier/photos",
        data={"file": (io.BytesIO(data), "photo.jpg", "image/jpeg")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.json
    return response.json


def stored_results(session):
    return list(session.scalars(sa.select(VisitResult).order_by(VisitResult.id)))


def visit_state(session, visit):
    return session.scalar(sa.select(Visit.state).where(Visit.id == visit.id))


def test_submit_result_with_its_photos_is_done_and_the_visit_submitted(
    client, session, headers, visit
):
    photos = [("storefront", jpeg()), ("doorplate", jpeg())]
    for _, data in photos:
        upload(client, headers, data)
    body = result_body(
        visit.id,
        photos=photos,
        phone_attempts=[
            {
                "number": "13800000000",
                "reached": True,
                "answered_by": "店主",
                "at": "2026-11-28T10:12:00+08:00",
            }
        ],
        notes="门口有招牌",
    )

    response = submit(client, headers, body)

    assert response.status_code == 201
    answer = response.json
    assert answer.pop("id") == stored_results(session)[0].id
    assert answer.pop("received_at")
    answer.pop("flags")  # the quality checks' findings, tested with them
    assert [p.pop("photo_id") is not None for p in answer["photos"]] == [True, True]
    assert answer == {
        "submission_id": body["submission_id"],
        "visit_id": visit.id,
        "status": "done",
        "outcome": "operating",
        "not_found_reason": None,
        "version": 1,
        "late": False,
        "late_reason": None,
        "evidence_pending": False,
        "position": {
            "lon": 120.0425,
            "lat": 28.8908,
            "crs": "wgs84",
            "accuracy_m": 8.0,
            "fix_time": "2026-11-28T02:14:00+00:00",
            "reported": {"lon": 120.0425, "lat": 28.8908, "crs": "wgs84"},
        },
        "started_at": "2026-11-28T02:10:00+00:00",
        "captured_at": "2026-11-28T02:16:00+00:00",
        "corrections": {},
        "phone_attempts": [
            {
                "number": "13800000000",
                "reached": True,
                "answered_by": "店主",
                "at": "2026-11-28T10:12:00+08:00",
            }
        ],
        "notes": "门口有招牌",
        "photos": [
            {"kind": "storefront", "sha256": sha256(photos[0][1]), "received": True},
            {"kind": "doorplate", "sha256": sha256(photos[1][1]), "received": True},
        ],
    }
    assert visit_state(session, visit) == "submitted"


@pytest.mark.parametrize("crs, convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_submitted_position_is_converted_to_wgs84(client, session, headers, visit, crs, convert):
    lon, lat = convert(120.0425, 28.8908)
    body = result_body(visit.id, position={"lon": lon, "lat": lat, "crs": crs, "accuracy_m": 5})

    answer = submit(client, headers, body).json

    point = to_shape(stored_results(session)[0].position)
    assert (point.x, point.y) == (
        pytest.approx(120.0425, abs=1e-7),
        pytest.approx(28.8908, abs=1e-7),
    )
    assert answer["position"]["reported"] == {"lon": lon, "lat": lat, "crs": crs}


def test_resending_a_submission_returns_the_same_answer_and_stores_nothing(
    client, session, headers, visit
):
    body = result_body(visit.id)
    first = submit(client, headers, body)

    again = submit(client, headers, body)

    assert (again.status_code, again.json) == (first.status_code, first.json)
    assert len(stored_results(session)) == 1


def test_resending_with_the_offset_spelt_otherwise_is_the_same_submission(
    client, session, headers, visit
):
    body = result_body(visit.id, captured_at="2026-11-28T10:16:00+08:00")
    submit(client, headers, body)

    again = submit(client, headers, {**body, "captured_at": "2026-11-28T02:16:00Z"})

    assert again.status_code == 201
    assert len(stored_results(session)) == 1


def test_same_submission_id_with_another_body_returns_409(client, session, headers, visit):
    body = result_body(visit.id)
    submit(client, headers, body)

    response = submit(client, headers, {**body, "outcome": "closed"})

    assert response.status_code == 409
    assert response.json["code"] == "id_reused"
    assert [r.outcome for r in stored_results(session)] == ["operating"]


def test_result_for_another_couriers_visit_returns_403(client, session, headers):
    theirs = make_visit(session, courier=make_courier(session))

    response = submit(client, headers, result_body(theirs.id))

    assert response.status_code == 403
    assert stored_results(session) == []


def test_result_for_an_unknown_visit_returns_404(client, headers):
    assert submit(client, headers, result_body(999_999)).status_code == 404


def test_result_for_a_reassigned_visit_is_stored_late_and_answered_409(
    client, session, headers, visit
):
    change_visit(session, visit, courier=make_courier(session))

    response = submit(client, headers, result_body(visit.id))

    assert response.status_code == 409
    result = stored_results(session)[0]
    assert response.json == {
        "type": "https://fieldcheck.invalid/problems/late_result",
        "title": "Conflict",
        "status": 409,
        "code": "late_result",
        "detail": "Result stored as late and shown to supervisors: the visit was reassigned "
        "to another courier before this result arrived.",
        "result_id": result.id,
        "submission_id": result.client_id,
        "visit_id": visit.id,
        "late_reason": "reassigned",
        "stored": True,
    }
    assert (result.late, result.late_reason) == (True, "reassigned")
    assert visit_state(session, visit) == "assigned"


def test_result_for_a_withdrawn_visit_is_stored_late(client, session, headers, visit):
    change_visit(session, visit, state="withdrawn")

    response = submit(client, headers, result_body(visit.id))

    assert (response.status_code, response.json["late_reason"]) == (409, "withdrawn")
    assert stored_results(session)[0].late_reason == "withdrawn"


def test_resending_a_late_result_returns_the_same_409(client, session, headers, visit):
    change_visit(session, visit, courier=make_courier(session))
    body = result_body(visit.id)
    first = submit(client, headers, body)

    again = submit(client, headers, body)

    assert (again.status_code, again.json) == (409, first.json)
    assert len(stored_results(session)) == 1


def test_result_before_its_photos_waits_as_evidence_pending(client, session, headers, visit):
    body = result_body(visit.id, photos=[("storefront", jpeg()), ("doorplate", jpeg())])

    answer = submit(client, headers, body).json

    assert (answer["status"], answer["evidence_pending"]) == ("evidence_pending", True)
    assert [p["received"] for p in answer["photos"]] == [False, False]
    assert visit_state(session, visit) == "assigned"


def test_visit_counts_done_only_when_its_last_photo_arrives(client, session, headers, visit):
    storefront, doorplate = jpeg(), jpeg()
    body = result_body(visit.id, photos=[("storefront", storefront), ("doorplate", doorplate)])
    submit(client, headers, body)

    upload(client, headers, storefront)
    halfway = visit_state(session, visit)
    upload(client, headers, doorplate)

    result = client.get(f"{URL}/{body['submission_id']}", headers=headers).json
    assert (halfway, visit_state(session, visit)) == ("assigned", "submitted")
    assert (result["status"], [p["received"] for p in result["photos"]]) == ("done", [True, True])


def test_photo_arriving_after_the_visit_was_reassigned_makes_the_result_late(
    client, session, headers, visit
):
    photo = jpeg()
    body = result_body(visit.id, photos=[("storefront", photo)])
    submit(client, headers, body)
    change_visit(session, visit, courier=make_courier(session))

    upload(client, headers, photo)

    result = client.get(f"{URL}/{body['submission_id']}", headers=headers).json
    assert (result["status"], result["late_reason"]) == ("late", "reassigned")
    assert visit_state(session, visit) == "assigned"


def test_result_naming_another_couriers_photo_returns_422(client, session, headers, visit):
    theirs = jpeg()
    upload(client, auth(courier_user(session, make_courier(session))), theirs)

    response = submit(client, headers, result_body(visit.id, photos=[("storefront", theirs)]))

    assert response.status_code == 422
    assert "uploaded by another account" in response.json["errors"]["json"]["photos"][0]
    assert stored_results(session) == []


def test_photo_reused_for_another_business_is_stored_and_flagged(
    client, session, courier, headers, visit
):
    photo = jpeg()
    upload(client, headers, photo)
    submit(client, headers, result_body(visit.id, photos=[("storefront", photo)]))
    second = make_visit(session, courier=courier)

    answer = submit(client, headers, result_body(second.id, photos=[("storefront", photo)])).json

    assert answer["status"] == "done"
    assert "photo_duplicate" in [flag["kind"] for flag in answer["flags"]]


def test_same_photo_named_twice_in_a_result_returns_422(client, headers, visit):
    photo = jpeg()

    response = submit(
        client, headers, result_body(visit.id, photos=[("storefront", photo), ("interior", photo)])
    )

    assert response.status_code == 422
    assert "photos" in response.json["errors"]["json"]


@pytest.mark.parametrize(
    "change, errors",
    [
        (
            {"outcome": "thriving"},
            {
                "outcome": [
                    "Must be one of: operating, operating_changed, relocated, closed, shell, "
                    "not_found, refused, unreachable."
                ]
            },
        ),
        (
            {"position": {"lat": 91, "lon": 120.0}},
            {
                "position": {
                    "lat": ["Must be greater than or equal to -90 and less than or equal to 90."]
                }
            },
        ),
        (
            {"position": {"lat": 28.9, "lon": 120.0, "accuracy_m": -5}},
            {"position": {"accuracy_m": ["Must be greater than or equal to 0."]}},
        ),
        (
            {"position": {"lat": 28.9, "lon": 120.0, "crs": "utm"}},
            {"position": {"crs": ["Must be one of: wgs84, gcj02, bd09."]}},
        ),
        ({"captured_at": "2026-11-28T10:16:00"}, {"captured_at": ["Not a valid aware datetime."]}),
        ({"visit_id": "12"}, {"visit_id": ["Not a valid integer."]}),
        (
            {"submission_id": "x"},
            {"submission_id": ["Must be 8 to 64 letters, digits or . _ : - (a UUID is ideal)."]},
        ),
    ],
    ids=[
        "unknown-outcome",
        "latitude-91",
        "accuracy-minus-5",
        "unknown-crs",
        "naive-time",
        "visit-id-as-text",
        "short-submission-id",
    ],
)
def test_malformed_result_returns_422_naming_the_field(
    client, session, headers, visit, change, errors
):
    response = submit(client, headers, {**result_body(visit.id), **change})

    assert response.status_code == 422
    assert response.json["errors"] == {"json": errors}
    assert stored_results(session) == []


def test_captured_time_a_week_in_the_future_returns_422(client, session, headers, visit):
    week_ahead = (datetime.now(UTC) + timedelta(days=7)).isoformat()

    response = submit(client, headers, result_body(visit.id, captured_at=week_ahead))

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["captured_at"]
    assert stored_results(session) == []


def test_not_found_without_its_reason_returns_422(client, headers, visit):
    response = submit(client, headers, result_body(visit.id, outcome="not_found"))

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["not_found_reason"]


def test_not_found_with_its_reason_is_stored(client, session, headers, visit):
    response = submit(
        client,
        headers,
        result_body(visit.id, outcome="not_found", not_found_reason="address_missing"),
    )

    assert response.status_code == 201
    assert stored_results(session)[0].not_found_reason == "address_missing"


def test_operating_changed_without_corrections_returns_422(client, headers, visit):
    response = submit(client, headers, result_body(visit.id, outcome="operating_changed"))

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["corrections"]


def test_relocated_result_keeps_the_new_address(client, session, headers, visit):
    response = submit(
        client,
        headers,
        result_body(
            visit.id,
            outcome="relocated",
            corrections={"relocated_to_address": "永康市江南街道园周村128号"},
        ),
    )

    assert response.json["corrections"] == {"relocated_to_address": "永康市江南街道园周村128号"}


# --- amendments --------------------------------------------------------------------------


def amend(client, headers, submission_id, **body):
    body.setdefault("amendment_id", new_id())
    return client.post(f"{URL}/{submission_id}/amendments", json=body, headers=headers)


def test_amendment_changes_the_result_and_its_version(client, session, headers, visit):
    body = result_body(visit.id)
    submit(client, headers, body)

    response = amend(
        client,
        headers,
        body["submission_id"],
        base_version=1,
        outcome="operating_changed",
        corrections={"phone": "13911112222"},
    )

    assert response.status_code == 200
    assert (response.json["version"], response.json["outcome"], response.json["corrections"]) == (
        2,
        "operating_changed",
        {"phone": "13911112222"},
    )


def test_amendment_made_on_an_older_version_returns_409_and_changes_nothing(
    client, session, headers, visit
):
    body = result_body(visit.id)
    submit(client, headers, body)
    amend(client, headers, body["submission_id"], base_version=1, notes="第一次修改")

    response = amend(client, headers, body["submission_id"], base_version=1, notes="离线修改")

    assert response.status_code == 409
    assert (response.json["code"], response.json["current_version"]) == ("version_conflict", 2)
    assert stored_results(session)[0].notes == "第一次修改"


def test_resending_an_amendment_returns_the_result_unchanged(client, session, headers, visit):
    body = result_body(visit.id)
    submit(client, headers, body)
    edit = {"amendment_id": new_id(), "base_version": 1, "notes": "补充"}
    first = amend(client, headers, body["submission_id"], **edit)

    again = amend(client, headers, body["submission_id"], **edit)

    assert (again.status_code, again.json) == (200, first.json)
    assert stored_results(session)[0].version == 2


def test_amendment_of_a_result_of_another_courier_returns_404(client, session, headers, visit):
    body = result_body(visit.id)
    submit(client, headers, body)
    other = auth(courier_user(session, make_courier(session)))

    assert amend(client, other, body["submission_id"], base_version=1, notes="x").status_code == 404


def test_amendment_that_changes_nothing_returns_422(client, headers, visit):
    body = result_body(visit.id)
    submit(client, headers, body)

    assert amend(client, headers, body["submission_id"], base_version=1).status_code == 422


# --- what supervisors see -------------------------------------------------------------------


@pytest.fixture
def supervisor(session, visit):
    """A supervisor who reviews the campaign of `visit`."""
    return auth(make_supervisor(session, campaigns=(session.get(Campaign, visit.campaign_id),)))


def test_supervisor_lists_late_results(client, session, courier, headers, visit, supervisor):
    submit(client, headers, result_body(make_visit(session, courier=courier).id))
    change_visit(session, visit, state="withdrawn")
    late = submit(client, headers, result_body(visit.id)).json

    page = client.get("/api/v1/supervisor/results?late=true", headers=supervisor).json

    assert [(r["id"], r["late_reason"], r["courier_id"]) for r in page["items"]] == [
        (late["result_id"], "withdrawn", courier.id)
    ]


def test_supervisor_lists_results_waiting_for_photos(
    client, session, courier, headers, visit, supervisor
):
    submit(client, headers, result_body(make_visit(session, courier=courier).id))
    waiting = submit(client, headers, result_body(visit.id, photos=[("storefront", jpeg())]))

    page = client.get("/api/v1/supervisor/results?evidence_pending=true", headers=supervisor).json

    assert [(r["id"], r["status"]) for r in page["items"]] == [
        (waiting.json["id"], "evidence_pending")
    ]


def test_couriers_cannot_list_results_for_review(client, headers):
    assert client.get("/api/v1/supervisor/results", headers=headers).status_code == 403


def flag_kinds(response):
    return sorted(flag["kind"] for flag in response.json["flags"])


def test_amendment_runs_the_checks_again_on_the_amended_result(client, session, headers, visit):
    photos = [("storefront", jpeg()), ("doorplate", jpeg())]
    for _, data in photos:
        upload(client, headers, data)
    body = result_body(visit.id, photos=photos)
    submitted = submit(client, headers, body)
    assert "photo_missing" not in flag_kinds(submitted)

    # An operating_changed result needs a photo of the licence as well.
    changed = amend(
        client,
        headers,
        body["submission_id"],
        base_version=1,
        outcome="operating_changed",
        corrections={"name": "永康市新名字五金店"},
    )
    back = amend(client, headers, body["submission_id"], base_version=2, outcome="operating")

    assert "photo_missing" in flag_kinds(changed)
    missing = next(f for f in changed.json["flags"] if f["kind"] == "photo_missing")
    assert (missing["measured"], missing["unit"]) == (1, "photos")
    assert "photo_missing" not in flag_kinds(back)
    stored = session.scalars(
        sa.select(Flag.kind).where(Flag.result_id == submitted.json["id"])
    ).all()
    assert "photo_missing" not in stored


def test_amended_result_waiting_for_photos_is_checked_as_amended_when_they_arrive(
    client, session, headers, visit
):
    photos = [("storefront", jpeg()), ("doorplate", jpeg())]
    body = result_body(visit.id, photos=photos)
    submit(client, headers, body)
    amended = amend(
        client,
        headers,
        body["submission_id"],
        base_version=1,
        outcome="operating_changed",
        corrections={"phone": "13911112222"},
    )
    assert (amended.json["status"], amended.json["flags"]) == ("evidence_pending", [])

    for _, data in photos:
        upload(client, headers, data)

    read = client.get(f"{URL}/{body['submission_id']}", headers=headers)
    assert read.json["status"] == "done"
    assert "photo_missing" in flag_kinds(read)
