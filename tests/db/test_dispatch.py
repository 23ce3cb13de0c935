"""Territories, couriers, planning, reassignment and progress against PostGIS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from fieldcheck.config import Settings
from fieldcheck.dispatch import intake
from fieldcheck.dispatch import service as dispatch
from fieldcheck.dispatch.models import Courier, Visit
from fieldcheck.errors import ConflictError
from fieldcheck.fieldwork.models import SyncEntry
from tests.builders import make_business, make_source_record

# Two neighbouring square segments: WEST (two couriers) and EAST (one courier).
WEST = [[120.00, 28.90], [120.05, 28.90], [120.05, 28.95], [120.00, 28.95], [120.00, 28.90]]
EAST = [[120.05, 28.90], [120.10, 28.90], [120.10, 28.95], [120.05, 28.95], [120.05, 28.90]]


def feature(code, ring, station=(120.025, 28.925), geometry_type="Polygon", coords=None):
    return {"type": "Feature",
            "properties": {"code": code, "name": code, "station_lon": station[0],
                           "station_lat": station[1]},
            "geometry": {"type": geometry_type,
                         "coordinates": coords if coords is not None else [ring]}}


def write_geojson(path: Path, features) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


ROSTER = ("工号,姓名,手机号,投递段,网点经度,网点纬度\n"
          "YK1,王一,13800000001,WEST,120.025,28.925\n"
          "YK2,王二,13800000002,WEST,120.025,28.925\n"
          "YK3,王三,13800000003,EAST,120.075,28.925\n")


@pytest.fixture
def county(session, tmp_path):
    """Segments and couriers imported through the intake functions."""
    intake.import_territories(session, path=write_geojson(tmp_path / "t.geojson", [
        feature("WEST", WEST), feature("EAST", EAST, station=(120.075, 28.925))]),
        actor_id=None)
    roster = tmp_path / "couriers.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    report = intake.import_couriers(session, path=roster, settings=Settings.from_env(
        {}, mode="test"), actor_id=None)
    assert report.created == 3
    return {c.staff_no: c for c in session.scalars(sa.select(Courier))}


def business_at(session, lon, lat, **kwargs):
    business = make_business(session, lon=lon, lat=lat, **kwargs)
    make_source_record(session, business)
    return business


def plan(session_factory, session, campaign_id, capacity=40):
    from fieldcheck.jobs.service import create_job

    job = create_job(session, kind="plan", params={"campaign_id": campaign_id}, actor_id=None)
    session.commit()
    return dispatch.run_plan_job(session_factory, job, lambda *a, **k: None)


def campaign(session, capacity=40, **scope):
    return dispatch.create_campaign(session, spec=dispatch.CampaignSpec(
        name=f"c{id(scope)}{capacity}", scope=dispatch.CampaignScope(**scope),
        rules=dispatch.CampaignRules(daily_capacity=capacity)), actor_id=None)


def test_visits_go_to_couriers_of_the_segment_containing_the_business(
        session_factory, session, county):
    west = [business_at(session, 120.01 + i * 0.003, 28.91) for i in range(6)]
    east = [business_at(session, 120.06 + i * 0.003, 28.91) for i in range(3)]
    c = campaign(session)
    summary = plan(session_factory, session, c.id)
    assert summary["visits_created"] == 9
    courier_of = {v.business_id: v.courier_id for v in session.scalars(sa.select(Visit))}
    assert {courier_of[b.id] for b in west} <= {county["YK1"].id, county["YK2"].id}
    assert {courier_of[b.id] for b in east} == {county["YK3"].id}


def test_work_is_balanced_between_couriers_of_a_segment(session_factory, session, county):
    for i in range(10):
        business_at(session, 120.005 + i * 0.004, 28.91 + (i % 3) * 0.01)
    c = campaign(session, capacity=6)
    summary = plan(session_factory, session, c.id)
    loads = dict(session.execute(sa.select(Visit.courier_id, sa.func.count())
                                 .group_by(Visit.courier_id)).all())
    # 10 visits, 2 couriers of 6 a day: one day each, 5 and 5, nothing borrowed.
    assert loads == {county["YK1"].id: 5, county["YK2"].id: 5}
    assert summary["finish_day"] == 1


def test_an_overloaded_segment_borrows_its_idle_neighbours_courier(session_factory, session,
                                                                   county):
    for i in range(12):
        business_at(session, 120.005 + i * 0.003, 28.91)
    c = campaign(session, capacity=4)
    summary = plan(session_factory, session, c.id)
    # 12 west visits, 2 west couriers of 4 a day: 2 days alone, 1 day with the east courier.
    assert summary["finish_day"] == summary["lower_bound_days"] == 1
    east = session.scalar(sa.select(sa.func.count()).select_from(Visit)
                          .where(Visit.courier_id == county["YK3"].id))
    assert east == 4


def test_daily_capacity_is_never_exceeded_and_routes_are_numbered(session_factory, session,
                                                                 county):
    for i in range(9):
        business_at(session, 120.06 + i * 0.004, 28.92)
    c = campaign(session, capacity=4)
    summary = plan(session_factory, session, c.id)
    days = session.execute(sa.select(Visit.planned_day, sa.func.array_agg(Visit.route_order))
                           .where(Visit.courier_id == county["YK3"].id)
                           .group_by(Visit.planned_day)).all()
    for _day, orders in days:
        assert len(orders) <= 4
        assert sorted(orders) == list(range(1, len(orders) + 1))
    assert summary["lower_bound_days"] == 1
    assert summary["finish_day"] >= 1


def test_replanning_never_moves_submitted_visits(session_factory, session, county):
    for i in range(4):
        business_at(session, 120.01 + i * 0.01, 28.91)
    c = campaign(session)
    plan(session_factory, session, c.id)
    done = session.scalars(sa.select(Visit).order_by(Visit.id)).first()
    done.state = "submitted"
    before = (done.courier_id, done.planned_day, done.route_order)
    session.commit()
    dispatch.reassign_visits(session, change=dispatch.Reassignment(
        campaign_id=c.id, from_courier_id=done.courier_id, to_courier_id=None), actor_id=None)
    plan(session_factory, session, c.id)
    session.refresh(done)
    assert (done.courier_id, done.planned_day, done.route_order) == before
    assert done.state == "submitted"


def test_reassigning_all_open_visits_of_a_courier_reaches_both_phones(session_factory, session,
                                                                      county):
    for i in range(4):
        business_at(session, 120.01 + i * 0.01, 28.91)
    c = campaign(session)
    plan(session_factory, session, c.id)
    yk1, yk2 = county["YK1"].id, county["YK2"].id
    moved_ids = set(session.scalars(sa.select(Visit.id).where(Visit.courier_id == yk1)))
    result = dispatch.reassign_visits(session, change=dispatch.Reassignment(
        campaign_id=c.id, from_courier_id=yk1, to_courier_id=yk2), actor_id=None)
    assert result["moved"] == len(moved_ids)
    feed = {(e.courier_id, e.visit_id): e.withdrawn for e in session.scalars(
        sa.select(SyncEntry).where(SyncEntry.visit_id.in_(moved_ids)))}
    assert all(feed[(yk1, v)] for v in moved_ids)
    assert not any(feed[(yk2, v)] for v in moved_ids)


def test_a_recheck_never_goes_to_the_courier_it_checks(session_factory, session, county):
    business = business_at(session, 120.01, 28.91)
    c = campaign(session)
    plan(session_factory, session, c.id)
    first = session.scalar(sa.select(Visit))
    recheck = Visit(campaign_id=c.id, business_id=business.id, kind="recheck",
                    checks_visit_id=first.id, state="planned")
    session.add(recheck)
    session.commit()
    plan(session_factory, session, c.id)
    session.refresh(recheck)
    assert recheck.courier_id is not None
    assert recheck.courier_id != first.courier_id
    with pytest.raises(ConflictError, match="re-check"):
        dispatch.reassign_visits(session, change=dispatch.Reassignment(
            campaign_id=c.id, visit_ids=[recheck.id], to_courier_id=first.courier_id),
            actor_id=None)


def test_unlocated_businesses_are_reported_unassigned(session_factory, session, county):
    business_at(session, None, None)
    c = campaign(session)
    summary = plan(session_factory, session, c.id)
    assert summary["unassigned"] == {"no_location": 1}


def test_bad_segments_are_reported_feature_by_feature(session, tmp_path):
    bowtie = [[120.0, 28.9], [120.1, 29.0], [120.1, 28.9], [120.0, 29.0], [120.0, 28.9]]
    swapped = [[lat, lon] for lon, lat in WEST]
    projected = [[x * 1e5, y * 1e5] for x, y in WEST]
    report = intake.import_territories(session, path=write_geojson(tmp_path / "t.geojson", [
        feature("OK", WEST),
        feature("BOW", bowtie),
        feature("PT", None, geometry_type="Point", coords=[120.0, 28.9]),
        feature("SWAP", swapped),
        feature("PROJ", projected),
    ]), actor_id=None)
    assert report.created == 1
    reasons = {issue.value: issue.reason for issue in report.issues}
    assert "Self-intersection" in reasons["BOW"]
    assert "not a Polygon" in reasons["PT"]
    assert "longitude first" in reasons["SWAP"]
    assert "not degrees" in reasons["PROJ"]
    assert [i.row_number for i in report.issues] == [2, 3, 4, 5]


def test_roster_rows_naming_unknown_segments_are_reported(session, county, tmp_path):
    roster = tmp_path / "more.csv"
    roster.write_text(ROSTER + "YK9,赵九,13800000009,NOWHERE,,\n", encoding="utf-8")
    report = intake.import_couriers(session, path=roster,
                                    settings=Settings.from_env({}, mode="test"), actor_id=None)
    assert (report.created, report.updated, report.rejected) == (0, 3, 1)
    assert report.issues[0].row_number == 5
    assert "unknown delivery segment 'NOWHERE'" in report.issues[0].reason


def test_progress_and_map_report_the_plan(session_factory, session, county):
    for i in range(3):
        business_at(session, 120.06 + i * 0.004, 28.92, town="古山镇")
    c = campaign(session)
    plan(session_factory, session, c.id)
    progress = dispatch.campaign_progress(session, campaign_id=c.id)
    assert progress["by_state"] == {"assigned": 3}
    assert progress["by_town"] == {"古山镇": {"assigned": 3}}
    assert progress["by_courier"] == {"YK3": {"assigned": 3}}
    wgs = dispatch.visits_geojson(session, campaign_id=c.id)
    gcj = dispatch.visits_geojson(session, campaign_id=c.id, crs="gcj02")
    assert len(wgs["features"]) == 3
    first_wgs = wgs["features"][0]["geometry"]["coordinates"]
    first_gcj = gcj["features"][0]["geometry"]["coordinates"]
    assert 0.003 < first_gcj[0] - first_wgs[0] < 0.006  # GCJ-02 lies ~500 m east here
    assert {f["properties"]["route_order"] for f in wgs["features"]} == {1, 2, 3}
