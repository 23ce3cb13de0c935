"""GET /api/v1/courier/sync: each courier's visits, added, changed and withdrawn, paged."""

from __future__ import annotations

from api.courier.schemas import encode_sync_cursor
from fieldcheck.geo.crs import wgs84_to_gcj02
from tests.builders import (
    auth,
    change_visit,
    make_business,
    make_campaign,
    make_courier,
    make_source_record,
    make_user,
    make_visit,
)

URL = "/api/v1/courier/sync"


def pull(client, headers, cursor=None, limit=100):
    query = {"limit": limit}
    if cursor is not None:
        query["cursor"] = cursor
    response = client.get(URL, query_string=query, headers=headers)
    assert response.status_code == 200, response.json
    return response.json


def pull_all(client, headers, cursor=None, limit=100):
    items = []
    while True:
        page = pull(client, headers, cursor, limit)
        items += page["items"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return items, cursor


def test_first_sync_returns_each_visit_with_what_the_app_needs_offline(
    client, session, courier, headers
):
    campaign = make_campaign(session, rules={"required_photos": ["storefront", "licence"]})
    business = make_business(
        session,
        name="永康市古山胜利五金经营部",
        uscc="92330784MA2E0TEST1",
        lon=120.0425,
        lat=28.89083,
    )
    make_source_record(session, business, bureau="tax", operator="李四", phones=["13900000001"])
    visit = make_visit(
        session, courier=courier, business=business, campaign=campaign, planned_day=3, route_order=7
    )

    page = pull(client, headers)

    gcj_lon, gcj_lat = wgs84_to_gcj02(120.0425, 28.89083)
    assert page["has_more"] is False
    assert page["reset"] is False
    assert page["items"] == [
        {
            "visit_id": visit.id,
            "change": "upsert",
            "visit": {
                "id": visit.id,
                "campaign_id": campaign.id,
                "state": "assigned",
                "kind": "first",
                "planned_day": 3,
                "route_order": 7,
                "coarse_location": False,
                "required_photo_kinds": ["storefront", "licence"],
                "business": {
                    "id": business.id,
                    "origin": "registry",
                    "name": "永康市古山胜利五金经营部",
                    "address": "浙江省金华市永康市古山镇胜利路8号",
                    "town": "古山镇",
                    "uscc": "92330784MA2E0TEST1",
                    "location": {
                        "wgs84": {"lon": 120.0425, "lat": 28.89083},
                        "gcj02": {"lon": round(gcj_lon, 7), "lat": round(gcj_lat, 7)},
                        "precision": "address",
                    },
                    "registered": [
                        {
                            "bureau": "tax",
                            "name": "永康市古山胜利五金经营部",
                            "uscc": "92330784MA2E0TEST1",
                            "tin": None,
                            "reg_no": None,
                            "address": "浙江省金华市永康市古山镇胜利路8号",
                            "operator": "李四",
                            "phones": ["13900000001"],
                            "status": "active",
                            "status_raw": "正常",
                            "established_on": "2010-05-01",
                        }
                    ],
                },
            },
        }
    ]


def test_sync_never_sends_the_operators_id_number(client, session, courier, headers):
    business = make_business(session)
    make_source_record(session, business)
    make_visit(session, courier=courier, business=business)

    response = client.get(URL, headers=headers)

    assert "330784197001010010" not in response.get_data(as_text=True)


def test_visit_of_a_recheck_says_so_and_uses_the_campaigns_recheck_photos(
    client, session, courier, headers
):
    campaign = make_campaign(
        session, rules={"required_photos": {"first": ["storefront"], "recheck": ["interior"]}}
    )
    make_visit(session, courier=courier, campaign=campaign, kind="recheck")

    visit = pull(client, headers)["items"][0]["visit"]

    assert (visit["kind"], visit["required_photo_kinds"]) == ("recheck", ["interior"])


def test_unlocated_business_comes_without_a_location(client, session, courier, headers):
    make_visit(session, courier=courier, business=make_business(session, lon=None, lat=None))

    business = pull(client, headers)["items"][0]["visit"]["business"]

    assert business["location"] is None


def test_sync_never_returns_another_couriers_visits(client, session, courier, headers):
    mine = make_visit(session, courier=courier)
    make_visit(session, courier=make_courier(session))

    items = pull(client, headers)["items"]

    assert [item["visit_id"] for item in items] == [mine.id]


def test_visit_still_in_planning_is_not_shown(client, session, courier, headers):
    make_visit(session, courier=courier, state="planned")

    assert pull(client, headers)["items"] == []


def test_pages_follow_the_cursor_without_gaps_or_repeats(client, session, courier, headers):
    visits = [make_visit(session, courier=courier, route_order=i) for i in range(7)]

    first = pull(client, headers, limit=3)
    second = pull(client, headers, first["cursor"], limit=3)
    third = pull(client, headers, second["cursor"], limit=3)

    ids = [item["visit_id"] for page in (first, second, third) for item in page["items"]]
    assert ids == [v.id for v in visits]
    assert [first["has_more"], second["has_more"], third["has_more"]] == [True, True, False]


def test_sync_with_a_cursor_returns_only_what_changed_since(client, session, courier, headers):
    make_visit(session, courier=courier)
    changed = make_visit(session, courier=courier)
    _, cursor = pull_all(client, headers)

    change_visit(session, changed, route_order=9)
    page = pull(client, headers, cursor)

    assert [(i["visit_id"], i["visit"]["route_order"]) for i in page["items"]] == [(changed.id, 9)]


def test_sync_without_changes_returns_nothing_and_the_same_cursor(
    client, session, courier, headers
):
    make_visit(session, courier=courier)
    _, cursor = pull_all(client, headers)

    page = pull(client, headers, cursor)

    assert (page["items"], page["cursor"], page["has_more"]) == ([], cursor, False)


def test_visit_changed_between_two_pages_is_sent_again_after_them(
    client, session, courier, headers
):
    visits = [make_visit(session, courier=courier, route_order=i) for i in range(4)]
    first = pull(client, headers, limit=2)

    change_visit(session, visits[0], route_order=40)  # already sent: must come again
    change_visit(session, visits[3], route_order=30)  # not sent yet: must come once
    rest, _ = pull_all(client, headers, first["cursor"], limit=2)

    assert [(i["visit_id"], i["visit"]["route_order"]) for i in rest] == [
        (visits[2].id, 2),
        (visits[0].id, 40),
        (visits[3].id, 30),
    ]


def test_reassigned_visit_is_withdrawn_for_the_courier_who_lost_it(
    client, session, courier, headers
):
    visit = make_visit(session, courier=courier)
    _, cursor = pull_all(client, headers)

    change_visit(session, visit, courier=make_courier(session))
    page = pull(client, headers, cursor)

    assert page["items"] == [{"visit_id": visit.id, "change": "withdrawn", "visit": None}]


def test_reassigned_visit_is_added_for_its_new_courier(client, session, courier, headers):
    other = make_courier(session)
    visit = make_visit(session, courier=other)

    change_visit(session, visit, courier=courier)
    items = pull(client, headers)["items"]

    assert [(i["visit_id"], i["change"]) for i in items] == [(visit.id, "upsert")]


def test_withdrawn_visit_is_withdrawn_for_its_courier(client, session, courier, headers):
    visit = make_visit(session, courier=courier)
    _, cursor = pull_all(client, headers)

    change_visit(session, visit, state="withdrawn")
    page = pull(client, headers, cursor)

    assert [(i["visit_id"], i["change"]) for i in page["items"]] == [(visit.id, "withdrawn")]


def test_first_sync_leaves_out_withdrawn_visits(client, session, courier, headers):
    kept = make_visit(session, courier=courier)
    gone = make_visit(session, courier=courier)
    change_visit(session, gone, courier=None, state="planned")

    items = pull(client, headers)["items"]

    assert [i["visit_id"] for i in items] == [kept.id]


def test_visit_moved_without_being_recorded_is_still_not_shown(client, session, courier, headers):
    visit = make_visit(session, courier=courier)
    visit.courier_id = make_courier(session).id  # a code path that forgot the feed
    session.flush()

    items = pull(client, headers)["items"]

    assert items == [{"visit_id": visit.id, "change": "withdrawn", "visit": None}]


def test_cursor_beyond_the_feed_starts_the_feed_over(client, session, courier, headers):
    visit = make_visit(session, courier=courier)

    page = pull(client, headers, encode_sync_cursor(10_000))

    assert page["reset"] is True
    assert [i["visit_id"] for i in page["items"]] == [visit.id]


def test_bad_cursor_returns_422(client, headers):
    response = client.get(URL, query_string={"cursor": "not-a-cursor"}, headers=headers)

    assert response.status_code == 422
    assert response.json["errors"] == {
        "query": {"cursor": ["Not a sync cursor returned by this API."]}
    }


def test_courier_account_without_courier_profile_gets_403(client, session):
    user = make_user(session, role="courier", password=None)

    response = client.get(URL, headers=auth(user))

    assert response.status_code == 403


def test_other_roles_cannot_sync(client, session):
    response = client.get(URL, headers=auth(make_user(session, role="supervisor", password=None)))

    assert response.status_code == 403
