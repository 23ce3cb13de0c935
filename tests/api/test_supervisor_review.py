"""/api/v1/supervisor/review: the queue, decisions and their history, bulk acceptance,
findings, courier integrity and campaign supervisors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fieldcheck.quality.models import Flag
from fieldcheck.review.models import CampaignSupervisor
from tests.builders import (
    auth,
    courier_user,
    make_business,
    make_campaign,
    make_courier,
    make_photo,
    make_result,
    make_supervisor,
    make_territory,
    make_user,
    make_visit,
)

BASE = "/api/v1/supervisor/review"


@pytest.fixture
def territory(session):
    return make_territory(session)


@pytest.fixture
def courier(session, territory):
    return make_courier(session, territory=territory)


@pytest.fixture
def campaign(session):
    return make_campaign(session, rules={"recheck_rate": 0.0})


@pytest.fixture
def supervisor(session, campaign):
    return make_supervisor(session, campaigns=(campaign,))


@pytest.fixture
def business(session):
    return make_business(session, name="永康市古山测试五金经营部", town="古山镇")


@pytest.fixture
def visit(session, courier, business, campaign):
    return make_visit(session, courier=courier, business=business, campaign=campaign)


def decide(client, user, result_id, **body):
    return client.post(f"{BASE}/results/{result_id}/decisions", json=body, headers=auth(user))


def test_the_queue_lists_flagged_results_of_the_supervisors_campaigns_only(
    client, session, courier, campaign, visit, supervisor
):
    result = make_result(session, visit=visit, outcome="closed")
    session.add(Flag(result_id=result.id, kind="far_from_address", measured=420.5,
                     threshold=150, unit="m", message="the device was 420 m from …"))
    elsewhere = make_visit(session, courier=courier, campaign=make_campaign(session))
    make_result(session, visit=elsewhere)
    session.flush()

    response = client.get(f"{BASE}/queue", query_string={"flag": "far_from_address"},
                          headers=auth(supervisor))

    assert response.status_code == 200
    [item] = response.json["items"]
    [flag] = item["flags"]
    flag.pop("id"), flag.pop("created_at")
    assert flag == {"kind": "far_from_address", "measured": 420.5, "threshold": 150.0,
                    "unit": "m", "message": "the device was 420 m from …", "details": {}}
    assert (item["id"], item["outcome"], item["decision"]) == (result.id, "closed", None)
    assert item["visit"] == {"id": visit.id, "campaign_id": campaign.id, "kind": "first",
                             "state": "submitted", "courier_id": courier.id,
                             "checks_visit_id": None}
    assert response.json["next_cursor"] is None


def test_posting_a_decision_returns_it_with_the_recheck_and_the_finding(
    client, session, territory, campaign, business, visit, supervisor
):
    other = make_courier(session, territory=territory)
    result = make_result(session, visit=visit, outcome="closed")

    response = decide(client, supervisor, result.id, decision="accept")

    assert response.status_code == 201, response.json
    body = response.json
    decision, recheck, finding = body["decision"], body["recheck_visit"], body["finding"]
    for volatile in ("id", "created_at"):
        decision.pop(volatile)
    recheck_id = recheck.pop("id")
    finding.pop("decided_at")
    assert decision == {"result_id": result.id, "decision": "accept", "reason": None,
                        "reviewer_id": supervisor.id, "bulk": False, "decisive": False,
                        "result_version": 1, "recheck_visit_id": recheck_id,
                        "superseded_by_id": None, "current": True}
    assert recheck == {"campaign_id": campaign.id, "kind": "recheck", "state": "assigned",
                       "courier_id": other.id, "checks_visit_id": visit.id}
    assert finding == {
        "campaign_id": campaign.id, "business_id": business.id, "verdict": "unresolved",
        "basis": "one visit found it closed; a negative finding needs an independent re-check "
                 "that agrees",
        "settled": False, "result_ids": [result.id], "photo_ids": [],
        "reviewer_ids": [supervisor.id], "corrections": {}, "verified_location": None,
        "first_visit_on": "2026-11-28", "last_visit_on": "2026-11-28",
    }
    assert body["unchanged"] is False


def test_superseded_decisions_stay_in_the_history(client, session, visit, supervisor):
    result = make_result(session, visit=visit)
    decide(client, supervisor, result.id, decision="accept")
    decide(client, supervisor, result.id, decision="reject", reason="photo of another shop")

    history = client.get(f"{BASE}/results/{result.id}/decisions", headers=auth(supervisor))
    detail = client.get(f"{BASE}/results/{result.id}", headers=auth(supervisor))

    items = history.json["items"]
    assert [(d["decision"], d["current"]) for d in items] == [("accept", False),
                                                              ("reject", True)]
    assert items[0]["superseded_by_id"] == items[1]["id"]
    assert detail.json["history"] == items
    assert detail.json["decision"] == items[1]
    assert detail.json["visit"]["state"] == "rejected"


def test_a_decision_outside_the_supervisors_campaign_returns_404(
    client, session, courier, supervisor
):
    elsewhere = make_visit(session, courier=courier, campaign=make_campaign(session))
    result = make_result(session, visit=elsewhere)

    response = decide(client, supervisor, result.id, decision="accept")
    detail = client.get(f"{BASE}/results/{result.id}", headers=auth(supervisor))

    assert (response.status_code, response.json["code"]) == (404, "not_found")
    assert response.mimetype == "application/problem+json"
    assert detail.status_code == 404


def test_rejecting_without_a_reason_returns_422(client, session, visit, supervisor):
    result = make_result(session, visit=visit)

    response = decide(client, supervisor, result.id, decision="reject")

    assert response.status_code == 422
    assert response.json["errors"] == {"json": {
        "reason": ["A rejection needs a reason for the courier."]}}


def test_couriers_cannot_review(client, session, courier, visit):
    result = make_result(session, visit=visit)

    response = decide(client, courier_user(session, courier), result.id, decision="accept")

    assert response.status_code == 403


def test_accept_unflagged_accepts_results_without_flags(
    client, session, courier, campaign, visit, supervisor
):
    clean = make_result(session, visit=visit)
    other = make_result(session, visit=make_visit(session, courier=courier, campaign=campaign))
    session.add(Flag(result_id=other.id, kind="short_visit", message="20 s"))
    session.flush()

    response = client.post(f"{BASE}/campaigns/{campaign.id}/accept-unflagged", json={},
                           headers=auth(supervisor))

    assert response.status_code == 200
    assert response.json == {"accepted": [clean.id], "rechecks_ordered": []}


def test_findings_are_listed_with_their_evidence(
    client, session, campaign, business, visit, supervisor
):
    result = make_result(session, visit=visit, outcome="operating")
    decide(client, supervisor, result.id, decision="accept")

    page = client.get(f"{BASE}/campaigns/{campaign.id}/findings", headers=auth(supervisor))
    one = client.get(f"{BASE}/campaigns/{campaign.id}/findings/{business.id}",
                     headers=auth(supervisor))

    [finding] = page.json["items"]
    assert finding == one.json
    assert (finding["verdict"], finding["settled"], finding["result_ids"]) == (
        "operating", True, [result.id])
    assert finding["verified_location"] == pytest.approx({"lon": 120.0425, "lat": 28.89083})


def test_courier_integrity_lists_each_courier_beside_the_median(
    client, session, courier, campaign, visit, supervisor
):
    make_result(session, visit=visit)

    response = client.get(f"{BASE}/campaigns/{campaign.id}/couriers", headers=auth(supervisor))

    [row] = response.json["items"]
    assert (row["courier_id"], row["results"], row["flagged_share"]) == (courier.id, 1, 0.0)
    assert row["campaign_median"]["flagged_share"] == 0.0


def test_an_admin_lets_a_supervisor_review_a_campaign(client, session, campaign):
    admin = make_user(session, role="admin", password=None)
    newcomer = make_supervisor(session)

    response = client.put(f"{BASE}/campaigns/{campaign.id}/supervisors/{newcomer.id}",
                          headers=auth(admin))
    queue = client.get(f"{BASE}/queue", query_string={"campaign_id": campaign.id},
                       headers=auth(newcomer))

    assert response.status_code == 200
    assert (response.json["user_id"], response.json["added_by_id"]) == (newcomer.id, admin.id)
    assert queue.status_code == 200
    assert session.get(CampaignSupervisor, (newcomer.id, campaign.id)) is not None


def test_a_supervisor_cannot_assign_supervisors(client, session, campaign, supervisor):
    newcomer = make_supervisor(session)

    response = client.put(f"{BASE}/campaigns/{campaign.id}/supervisors/{newcomer.id}",
                          headers=auth(supervisor))

    assert response.status_code == 403
    assert session.scalar(sa.select(sa.func.count()).select_from(CampaignSupervisor).where(
        CampaignSupervisor.user_id == newcomer.id)) == 0


# --- results, photos and campaign figures: only those of the supervisor's campaigns ----------


@pytest.fixture
def elsewhere(session, courier):
    """A result, with its photo, of a campaign the supervisor does not review."""
    other_campaign = make_campaign(session)
    photo = make_photo(session, uploader=courier_user(session, courier), data=b"\xff\xd8 shop")
    photo.thumbnail_key = photo.storage_key
    visit = make_visit(session, courier=courier, campaign=other_campaign)
    result = make_result(session, visit=visit, photos=(("storefront", photo),))
    return other_campaign, result, photo


def test_the_results_list_shows_only_the_supervisors_campaigns(
    client, session, visit, supervisor, elsewhere
):
    mine = make_result(session, visit=visit)
    admin = make_user(session, role="admin", password=None)

    listed = client.get("/api/v1/supervisor/results", headers=auth(supervisor))
    everything = client.get("/api/v1/supervisor/results", headers=auth(admin))

    assert [item["id"] for item in listed.json["items"]] == [mine.id]
    assert [item["id"] for item in everything.json["items"]] == sorted(
        [mine.id, elsewhere[1].id])


def test_a_supervisor_reads_photos_of_their_campaigns_only(
    client, session, app, courier, visit, supervisor, elsewhere
):
    storage = app.extensions["fieldcheck"].storage
    uploader = courier_user(session, courier)
    mine = make_photo(session, uploader=uploader, data=b"\xff\xd8 mine", storage=storage)
    make_result(session, visit=visit, photos=(("storefront", mine),))
    unnamed = make_photo(session, uploader=uploader, data=b"\xff\xd8 unnamed", storage=storage)
    theirs = elsewhere[2]
    storage.put(theirs.storage_key, b"\xff\xd8 shop", "image/jpeg")
    admin = make_user(session, role="admin", password=None)

    def status(user, path):
        return client.get(f"/api/v1/supervisor/photos/{path}", headers=auth(user)).status_code

    assert status(supervisor, mine.id) == 200
    assert client.get(f"/api/v1/supervisor/photos/{mine.id}/original",
                      headers=auth(supervisor)).data == b"\xff\xd8 mine"
    for path in (theirs.id, f"{theirs.id}/original", f"{theirs.id}/thumbnail", unnamed.id):
        response = client.get(f"/api/v1/supervisor/photos/{path}", headers=auth(supervisor))
        assert (response.status_code, response.json["code"]) == (404, "not_found"), path
        assert status(admin, path) == 200, path


def test_campaign_figures_are_for_the_campaigns_supervisors_only(
    client, session, campaign, visit, supervisor, elsewhere
):
    other_campaign = elsewhere[0]

    def status(path):
        return client.get(f"/api/v1/admin/campaigns/{path}", headers=auth(supervisor)).status_code

    listed = client.get("/api/v1/admin/campaigns", headers=auth(supervisor)).json["items"]

    assert [c["id"] for c in listed] == [campaign.id]
    for tail in ("", "/progress", "/map", "/report", "/report.html"):
        assert status(f"{campaign.id}{tail}") == 200, tail
        assert status(f"{other_campaign.id}{tail}") == 404, tail
