"""Quality checks: each on a crafted result that trips it and on one that does not."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldcheck.fieldwork.inputs import DevicePosition, ResultSubmission
from fieldcheck.fieldwork.service import submit_result
from fieldcheck.quality.models import Flag
from fieldcheck.quality.service import run_checks
from fieldcheck.registry.models import Business
from tests.builders import (
    YONGKANG_LAT,
    YONGKANG_LON,
    courier_user,
    make_business,
    make_campaign,
    make_courier,
    make_evidence_photo,
    make_result,
    make_territory,
    make_visit,
)
from tests.photos import new_id

AT = datetime.fromisoformat("2026-11-28T10:16:00+08:00")


def moved(east_m: float, north_m: float = 0.0, *, lon: float = YONGKANG_LON,
          lat: float = YONGKANG_LAT) -> tuple[float, float]:
    """The point `east_m` east and `north_m` north of (lon, lat)."""
    k = 6371008.8 * math.pi / 180
    return lon + east_m / (k * math.cos(math.radians(lat))), lat + north_m / k


@pytest.fixture
def territory(session):
    return make_territory(session)


@pytest.fixture
def courier(session, territory):
    return make_courier(session, territory=territory)


@pytest.fixture
def user(session, courier):
    return courier_user(session, courier)


@pytest.fixture
def campaign(session):
    return make_campaign(session)


@pytest.fixture
def visit(session, courier, campaign):
    return make_visit(session, courier=courier, campaign=campaign)


def photos_for(session, user, kinds=("storefront", "doorplate"), **facts):
    return tuple((kind, make_evidence_photo(session, uploader=user, **facts)) for kind in kinds)


def checked(session, result):
    return {f.kind: f for f in run_checks(session, result=result)}


def test_an_honest_result_raises_no_flag(session, visit, user):
    result = make_result(session, visit=visit, photos=photos_for(
        session, user, exif_at=moved(10), taken_at=AT - timedelta(minutes=3)))

    assert checked(session, result) == {}


# --- position -----------------------------------------------------------------------------


def test_device_far_from_the_registered_address_is_flagged_with_distance_and_tolerance(
    session, visit, user
):
    result = make_result(session, visit=visit, at=moved(300), photos=photos_for(session, user))

    flag = checked(session, result)["far_from_address"]

    assert (round(flag.measured), flag.threshold, flag.unit) == (300, 150.0, "m")
    assert "300 m from the business's registered address" in flag.message


def test_device_within_the_tolerance_is_not_flagged(session, visit, user):
    result = make_result(session, visit=visit, at=moved(120), photos=photos_for(session, user))

    assert "far_from_address" not in checked(session, result)


def test_campaign_tolerance_replaces_the_default(session, courier, user):
    campaign = make_campaign(session, rules={"gps_tolerance_m": 500})
    visit = make_visit(session, courier=courier, campaign=campaign)
    result = make_result(session, visit=visit, at=moved(300), photos=photos_for(session, user))

    assert "far_from_address" not in checked(session, result)


def test_business_located_only_to_its_township_says_so_instead_of_judging(
    session, courier, campaign, user
):
    business = make_business(session, precision="township", town="古山镇")
    visit = make_visit(session, courier=courier, business=business, campaign=campaign)
    result = make_result(session, visit=visit, at=moved(2500), photos=photos_for(session, user))

    flags = checked(session, result)

    assert "far_from_address" not in flags
    coarse = flags["location_coarse"]
    assert (round(coarse.measured, -2), coarse.threshold) == (2500, None)
    assert "only to the centre of 古山镇" in coarse.message
    assert coarse.details == {"precision": "township"}


def test_result_without_a_position_is_flagged(session, visit, user):
    result = make_result(session, visit=visit, no_position=True, photos=photos_for(session, user))

    assert set(checked(session, result)) == {"no_position"}


def test_poor_gps_accuracy_is_flagged(session, visit, user):
    result = make_result(session, visit=visit, accuracy_m=80, photos=photos_for(session, user))

    flag = checked(session, result)["poor_accuracy"]

    assert (flag.measured, flag.threshold, flag.unit) == (80, 50, "m")


def test_good_gps_accuracy_is_not_flagged(session, visit, user):
    result = make_result(session, visit=visit, accuracy_m=30, photos=photos_for(session, user))

    assert "poor_accuracy" not in checked(session, result)


def test_position_outside_the_couriers_and_the_businesss_segment_is_flagged(
    session, visit, user
):
    # The segment is a square of about 10 km around the business; 8 km east is 3 km out.
    result = make_result(session, visit=visit, at=moved(8000), photos=photos_for(session, user))

    flag = checked(session, result)["outside_territory"]

    assert round(flag.measured, -2) == 3100 and flag.threshold == 150


def test_visit_lent_to_a_neighbouring_segment_is_inside(session, courier, campaign, user):
    east = make_territory(session, lon=YONGKANG_LON + 0.1)
    lon, lat = YONGKANG_LON + 0.1, YONGKANG_LAT
    business = make_business(session, lon=lon, lat=lat)
    visit = make_visit(session, courier=courier, business=business, campaign=campaign)
    result = make_result(session, visit=visit, photos=photos_for(session, user))

    assert east.id != courier.territory_id
    assert "outside_territory" not in checked(session, result)


# --- time ---------------------------------------------------------------------------------


def test_implausibly_short_visit_is_flagged(session, visit, user):
    result = make_result(session, visit=visit, started_at=AT - timedelta(seconds=20),
                         captured_at=AT, photos=photos_for(session, user))

    flag = checked(session, result)["short_visit"]

    assert (flag.measured, flag.threshold, flag.unit) == (20, 60, "s")


def test_a_few_minutes_on_site_is_not_flagged(session, visit, user):
    result = make_result(session, visit=visit, started_at=AT - timedelta(minutes=3),
                         captured_at=AT, photos=photos_for(session, user))

    assert "short_visit" not in checked(session, result)


def test_impossible_speed_between_two_consecutive_results_is_flagged(
    session, courier, campaign, user
):
    far = make_business(session, lon=moved(10_000)[0])
    first = make_visit(session, courier=courier, business=far, campaign=campaign)
    make_result(session, visit=first, captured_at=AT - timedelta(minutes=4),
                photos=photos_for(session, user))
    visit = make_visit(session, courier=courier, campaign=campaign)
    result = make_result(session, visit=visit, captured_at=AT, photos=photos_for(session, user))

    flag = checked(session, result)["impossible_speed"]

    # 10 km less both fixes' 8 m accuracy, in four minutes.
    assert flag.measured == pytest.approx(9984 / 240 * 3.6, abs=0.5)
    assert flag.threshold == 120 and flag.unit == "km/h"
    assert flag.details["distance_m"] == pytest.approx(10_000, rel=0.01)


def test_the_same_trip_in_two_hours_is_not_flagged(session, courier, campaign, user):
    far = make_business(session, lon=moved(10_000)[0])
    first = make_visit(session, courier=courier, business=far, campaign=campaign)
    make_result(session, visit=first, captured_at=AT - timedelta(hours=2),
                photos=photos_for(session, user))
    visit = make_visit(session, courier=courier, campaign=campaign)
    result = make_result(session, visit=visit, captured_at=AT, photos=photos_for(session, user))

    assert "impossible_speed" not in checked(session, result)


# --- photos -------------------------------------------------------------------------------


def test_required_photo_kinds_missing_for_the_outcome_are_flagged(session, visit, user):
    result = make_result(session, visit=visit, photos=photos_for(session, user, ("storefront",)))

    flag = checked(session, result)["photo_missing"]

    assert flag.details == {"missing": ["doorplate"]} and flag.measured == 1


def test_photos_required_by_the_campaign_for_the_outcome_suffice(session, courier, user):
    campaign = make_campaign(session, rules={"required_photos_by_outcome": {"closed": ["other"]}})
    visit = make_visit(session, courier=courier, campaign=campaign)
    result = make_result(session, visit=visit, outcome="closed",
                         photos=photos_for(session, user, ("other",)))

    assert "photo_missing" not in checked(session, result)


def test_photo_taken_far_from_the_device_is_flagged(session, visit, user):
    result = make_result(session, visit=visit,
                         photos=photos_for(session, user, exif_at=moved(0, 400)))

    flag = checked(session, result)["photo_far"]

    assert round(flag.measured, -1) == 400 and flag.threshold == 100


def test_photo_taken_beside_the_device_is_not_flagged(session, visit, user):
    result = make_result(session, visit=visit,
                         photos=photos_for(session, user, exif_at=moved(0, 40)))

    assert "photo_far" not in checked(session, result)


def test_photo_taken_the_day_before_the_visit_is_flagged(session, visit, user):
    result = make_result(session, visit=visit,
                         photos=photos_for(session, user, taken_at=AT - timedelta(days=1)))

    flag = checked(session, result)["photo_old"]

    assert flag.measured == pytest.approx(24 * 60 - 6) and flag.unit == "min"


def test_photo_taken_after_the_result_is_flagged(session, visit, user):
    result = make_result(session, visit=visit,
                         photos=photos_for(session, user, taken_at=AT + timedelta(hours=1)))

    flag = checked(session, result)["photo_after_result"]

    assert flag.measured == 60 and flag.threshold == 10


def test_photo_with_camera_time_only_is_read_in_the_countys_clock(session, visit, user):
    # 10:13 on the camera's clock is 10:13 in Yongkang: during the visit.
    local = datetime(2026, 11, 28, 10, 13)
    result = make_result(session, visit=visit,
                         photos=photos_for(session, user, local_time=local))

    flags = checked(session, result)

    assert "photo_old" not in flags and "photo_after_result" not in flags


def test_same_photo_already_used_for_another_business_is_flagged(
    session, courier, campaign, visit, user
):
    other = make_visit(session, courier=courier, campaign=campaign,
                       business=make_business(session, address="永康市古山镇胜利路99号"))
    photo = make_evidence_photo(session, uploader=user)
    make_result(session, visit=other, photos=(("storefront", photo),))
    result = make_result(session, visit=visit, photos=(
        ("storefront", photo), ("doorplate", make_evidence_photo(session, uploader=user))))

    flag = checked(session, result)["photo_duplicate"]

    assert flag.details["businesses"] == [other.business_id]


def test_same_photo_of_the_same_business_on_a_second_visit_is_not_flagged(
    session, courier, campaign, visit, user
):
    again = make_visit(session, courier=courier, campaign=campaign, kind="recheck",
                       business=session.get(Business, visit.business_id))
    photo = make_evidence_photo(session, uploader=user)
    make_result(session, visit=again, photos=(("storefront", photo),))
    result = make_result(session, visit=visit, photos=(
        ("storefront", photo), ("doorplate", make_evidence_photo(session, uploader=user))))

    assert "photo_duplicate" not in checked(session, result)


def test_one_door_plate_for_two_businesses_at_the_same_address_is_not_flagged(
    session, courier, campaign, visit, user
):
    neighbour = make_visit(session, courier=courier, campaign=campaign,
                           business=make_business(session))
    plate = make_evidence_photo(session, uploader=user)
    make_result(session, visit=neighbour, photos=(("doorplate", plate),))
    result = make_result(session, visit=visit, photos=(
        ("storefront", make_evidence_photo(session, uploader=user)), ("doorplate", plate)))

    assert "photo_duplicate" not in checked(session, result)


def test_the_front_of_a_building_where_no_business_was_found_serves_its_neighbours(
    session, courier, campaign, visit, user
):
    neighbour = make_visit(session, courier=courier, campaign=campaign,
                           business=make_business(session))
    front = make_evidence_photo(session, uploader=user)
    make_result(session, visit=neighbour, outcome="shell", photos=(("storefront", front),))
    result = make_result(session, visit=visit, outcome="shell", photos=(
        ("storefront", front), ("doorplate", make_evidence_photo(session, uploader=user))))

    assert "photo_duplicate" not in checked(session, result)


def test_an_operating_shops_front_used_for_its_neighbour_is_flagged(
    session, courier, campaign, visit, user
):
    neighbour = make_visit(session, courier=courier, campaign=campaign,
                           business=make_business(session))
    front = make_evidence_photo(session, uploader=user)
    make_result(session, visit=neighbour, photos=(("storefront", front),))
    result = make_result(session, visit=visit, photos=(
        ("storefront", front), ("doorplate", make_evidence_photo(session, uploader=user))))

    assert "photo_duplicate" in checked(session, result)


def test_near_identical_photo_of_another_business_is_flagged(
    session, courier, campaign, visit, user
):
    other = make_visit(session, courier=courier, campaign=campaign,
                       business=make_business(session, address="永康市古山镇胜利路99号"))
    make_result(session, visit=other, photos=(
        ("storefront", make_evidence_photo(session, uploader=user, phash="f0f0f0f0f0f0f0f0")),))
    # Three bits differ: the same picture re-saved.
    resaved = make_evidence_photo(session, uploader=user, phash="f0f0f0f0f0f0f0f7")
    result = make_result(session, visit=visit, photos=(
        ("storefront", resaved), ("doorplate", make_evidence_photo(session, uploader=user))))

    flag = checked(session, result)["photo_similar"]

    assert (flag.measured, flag.threshold, flag.unit) == (3, 10, "bits")
    assert flag.details["uses"][0]["business_id"] == other.business_id


def test_a_different_picture_of_another_business_is_not_flagged(
    session, courier, campaign, visit, user
):
    other = make_visit(session, courier=courier, campaign=campaign,
                       business=make_business(session, address="永康市古山镇胜利路99号"))
    make_result(session, visit=other, photos=(
        ("storefront", make_evidence_photo(session, uploader=user, phash="f0f0f0f0f0f0f0f0")),))
    different = make_evidence_photo(session, uploader=user, phash="0f0ff0f0f0f00f0f")
    result = make_result(session, visit=visit, photos=(
        ("storefront", different), ("doorplate", make_evidence_photo(session, uploader=user))))

    assert "photo_similar" not in checked(session, result)


# --- many results from one spot -----------------------------------------------------------


def _results_from_one_spot(session, courier, campaign, user, business_points):
    results = []
    for i, (lon, lat) in enumerate(business_points):
        visit = make_visit(session, courier=courier, campaign=campaign,
                           business=make_business(session, lon=lon, lat=lat,
                                                  address=f"永康市古山镇胜利路{i + 1}号"))
        results.append(make_result(session, visit=visit, at=moved(i * 3),
                                   captured_at=AT + timedelta(minutes=10 * i),
                                   photos=photos_for(session, user)))
    return results


def test_many_results_from_one_spot_for_businesses_far_apart_are_flagged(
    session, courier, campaign, user
):
    points = [moved(1000 * math.cos(a), 1000 * math.sin(a)) for a in range(5)]
    results = _results_from_one_spot(session, courier, campaign, user, points)
    for result in results[:-1]:
        run_checks(session, result=result)

    flag = checked(session, results[-1])["position_cluster"]

    assert (flag.measured, flag.threshold) == (5, 4)
    earlier = session.scalars(sa.select(Flag.result_id).where(
        Flag.kind == "position_cluster", Flag.result_id != results[-1].id)).all()
    assert sorted(earlier) == [r.id for r in results[:-1]]


def test_many_results_from_one_building_of_many_businesses_are_not_flagged(
    session, courier, campaign, user
):
    points = [moved(5 * i) for i in range(6)]
    results = _results_from_one_spot(session, courier, campaign, user, points)

    assert "position_cluster" not in checked(session, results[-1])


# --- how checks run -----------------------------------------------------------------------


def test_running_the_checks_again_replaces_their_flags(session, visit, user):
    result = make_result(session, visit=visit, at=moved(300), photos=photos_for(session, user))
    run_checks(session, result=result)

    run_checks(session, result=result)

    kinds = session.scalars(sa.select(Flag.kind).where(Flag.result_id == result.id)).all()
    assert kinds == ["far_from_address"]


def test_checks_run_when_a_submitted_result_is_complete(session, courier, visit, user):
    receipt = submit_result(
        session, courier_user=user, now=AT + timedelta(minutes=1),
        submission=ResultSubmission(
            submission_id=new_id(), visit_id=visit.id, outcome="operating", captured_at=AT,
            started_at=AT - timedelta(seconds=30),
            position=DevicePosition(*moved(400), accuracy_m=10)),
    )

    stored = session.scalars(sa.select(Flag.kind).where(Flag.result_id == receipt.result.id)
                             .order_by(Flag.kind)).all()
    assert stored == ["far_from_address", "photo_missing", "short_visit"]
