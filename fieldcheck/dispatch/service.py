"""Use cases of campaigns and dispatch: create a campaign, plan it (a job), reassign visits,
and report progress. Every change to a visit goes through `record_visit_change`, so the
couriers' phones learn of it at their next sync."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from geoalchemy2.shape import to_shape
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.audit.service import record_event
from fieldcheck.dispatch import planner
from fieldcheck.dispatch.models import Campaign, Courier, Territory, Visit
from fieldcheck.dispatch.territories import neighbours_from_polygons
from fieldcheck.errors import ConflictError, NotFoundError, ValidationError
from fieldcheck.fieldwork.rules import DEFAULT_REQUIRED_PHOTOS
from fieldcheck.fieldwork.sync import record_visit_change
from fieldcheck.geo.crs import from_wgs84
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import create_job

log = logging.getLogger(__name__)

# Visits the planner may (re)assign; anything a courier has submitted stays where it is.
PLANNABLE_STATES = ("planned", "assigned")
OPEN_STATES = ("planned", "assigned", "rejected")
OUTCOME_PHOTO_DEFAULTS: dict[str, list[str]] = {
    "operating": ["storefront", "doorplate"],
    "operating_changed": ["storefront", "doorplate", "licence"],
    "relocated": ["doorplate"],
    "closed": ["storefront", "doorplate"],
    "shell": ["storefront", "doorplate"],
    "not_found": ["doorplate"],
    "refused": ["storefront"],
    "unreachable": ["storefront"],
}


@dataclass
class CampaignRules:
    """A campaign's rules; every value has a default a county office would start from."""

    gps_tolerance_m: float = 150.0
    accuracy_max_m: float = 50.0
    photo_distance_m: float = 100.0
    max_speed_kmh: float = 120.0
    min_time_on_site_s: float = 60.0
    recheck_rate: float = 0.05
    daily_capacity: int = 40
    speed_kmh: float = 15.0
    # How far couriers help other segments: 1 = touching segments only, 2 = also their
    # neighbours. On unevenly loaded counties 2 is what brings the finish day down to the
    # lower bound (yongkang-40k: day 17 instead of 22), at the cost of longer rides.
    neighbour_hops: int = 2
    # ISO weekdays worked (1 = Monday).
    working_weekdays: list[int] = field(default_factory=lambda: [1, 2, 3, 4, 5, 6])
    required_photos: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED_PHOTOS))
    required_photos_by_outcome: dict[str, list[str]] = field(
        default_factory=lambda: dict(OUTCOME_PHOTO_DEFAULTS)
    )

    def problems(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if not 0 <= self.recheck_rate <= 1:
            errors["recheck_rate"] = ["Must be between 0 and 1."]
        if self.daily_capacity < 1:
            errors["daily_capacity"] = ["Must be at least 1."]
        if self.neighbour_hops not in (0, 1, 2, 3):
            errors["neighbour_hops"] = ["Must be 0 (own segment only) to 3."]
        if not self.working_weekdays or not set(self.working_weekdays) <= set(range(1, 8)):
            errors["working_weekdays"] = ["Must be ISO weekdays 1 (Monday) to 7."]
        for name in (
            "gps_tolerance_m",
            "accuracy_max_m",
            "photo_distance_m",
            "max_speed_kmh",
            "speed_kmh",
        ):
            if getattr(self, name) <= 0:
                errors[name] = ["Must be positive."]
        return errors


@dataclass
class CampaignScope:
    """Which businesses a campaign visits; empty lists mean all."""

    bureaus: list[str] = field(default_factory=list)
    towns: list[str] = field(default_factory=list)
    reg_statuses: list[str] = field(default_factory=list)


@dataclass
class CampaignSpec:
    name: str
    scope: CampaignScope = field(default_factory=CampaignScope)
    rules: CampaignRules = field(default_factory=CampaignRules)
    starts_on: date | None = None
    ends_on: date | None = None


def campaign_rules(campaign: Campaign) -> CampaignRules:
    known = set(CampaignRules.__dataclass_fields__)
    return CampaignRules(**{k: v for k, v in (campaign.rules or {}).items() if k in known})


def create_campaign(session: Session, *, spec: CampaignSpec, actor_id: int | None) -> Campaign:
    errors = {f"rules.{k}": v for k, v in spec.rules.problems().items()}
    if spec.starts_on and spec.ends_on and spec.ends_on < spec.starts_on:
        errors["ends_on"] = ["Must not be before starts_on."]
    if errors:
        raise ValidationError("invalid campaign", errors=errors)
    if session.scalar(sa.select(Campaign.id).where(Campaign.name == spec.name)):
        raise ConflictError(f"a campaign named {spec.name!r} exists")
    campaign = Campaign(
        name=spec.name,
        scope=asdict(spec.scope),
        rules=asdict(spec.rules),
        starts_on=spec.starts_on,
        ends_on=spec.ends_on,
        state="draft",
    )
    session.add(campaign)
    session.flush()
    record_event(
        session,
        action="campaign.created",
        actor_id=actor_id,
        object_type="campaign",
        object_id=campaign.id,
        details={"name": spec.name},
    )
    session.commit()
    return campaign


def get_campaign_or_raise(session: Session, campaign_id: int) -> Campaign:
    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    return campaign


def find_campaign(session: Session, key: str) -> Campaign:
    """A campaign by id or by name (for the command line)."""
    query = sa.select(Campaign).where(Campaign.name == key)
    if key.isdigit():
        query = sa.select(Campaign).where(sa.or_(Campaign.id == int(key), Campaign.name == key))
    campaign = session.scalar(query)
    if campaign is None:
        raise NotFoundError(f"campaign {key!r} not found")
    return campaign


def request_plan(session: Session, *, campaign_id: int, actor_id: int | None) -> Job:
    """Queue the planning job of a campaign (committed)."""
    campaign = get_campaign_or_raise(session, campaign_id)
    if campaign.state == "closed":
        raise ConflictError("the campaign is closed")
    job = create_job(session, kind="plan", params={"campaign_id": campaign.id}, actor_id=actor_id)
    record_event(
        session,
        action="plan.requested",
        actor_id=actor_id,
        object_type="campaign",
        object_id=campaign.id,
        details={"job": job.id},
    )
    session.commit()
    return job


def _create_missing_visits(session: Session, campaign: Campaign) -> int:
    """A first visit for every business in scope that has none in this campaign."""
    scope = CampaignScope(**(campaign.scope or {}))
    conditions = [
        "NOT EXISTS (SELECT 1 FROM visits v WHERE v.campaign_id = :campaign "
        "AND v.business_id = b.id AND v.kind = 'first')"
    ]
    params: dict[str, Any] = {"campaign": campaign.id}
    if scope.towns:
        conditions.append("b.town = ANY(:towns)")
        params["towns"] = scope.towns
    record_filters = ["r.business_id = b.id", "r.is_current"]
    if scope.bureaus:
        record_filters.append("r.bureau = ANY(:bureaus)")
        params["bureaus"] = scope.bureaus
    if scope.reg_statuses:
        record_filters.append("r.reg_status = ANY(:statuses)")
        params["statuses"] = scope.reg_statuses
    registry = (
        f"(b.origin = 'field' OR EXISTS (SELECT 1 FROM source_records r "
        f"WHERE {' AND '.join(record_filters)}))"
    )
    if scope.bureaus or scope.reg_statuses:
        registry = f"EXISTS (SELECT 1 FROM source_records r WHERE {' AND '.join(record_filters)})"
    conditions.append(registry)
    return session.execute(
        sa.text(f"""
        INSERT INTO visits (campaign_id, business_id, kind, state, coarse_location,
                            created_at, updated_at)
        SELECT :campaign, b.id, 'first', 'planned', b.location_precision <> 'address',
               now(), now()
        FROM businesses b WHERE {" AND ".join(conditions)}
    """),
        params,
    ).rowcount


def run_plan_job(sessions: sessionmaker[Session], job: Job, progress: Any) -> dict[str, Any]:
    """The planning job: visits for the scope, then couriers, days and routes (one commit)."""
    with sessions() as session:
        campaign = get_campaign_or_raise(session, job.params["campaign_id"])
        rules = campaign_rules(campaign)
        progress("creating visits", 0, None, force=True)
        created = _create_missing_visits(session, campaign)
        visits = {
            v.id: v
            for v in session.scalars(
                sa.select(Visit).where(
                    Visit.campaign_id == campaign.id, Visit.state.in_(PLANNABLE_STATES)
                )
            )
        }
        rows = session.execute(
            sa.text("""
            SELECT v.id, ST_X(b.location) AS lon, ST_Y(b.location) AS lat,
                   b.location_precision, t.code, checked.courier_id AS exclude
            FROM visits v
            JOIN businesses b ON b.id = v.business_id
            LEFT JOIN LATERAL (SELECT code FROM territories t
                               WHERE ST_Contains(t.area, b.location) ORDER BY t.id LIMIT 1) t
                   ON true
            LEFT JOIN visits checked ON checked.id = v.checks_visit_id
            WHERE v.campaign_id = :campaign AND v.state = ANY(:states)
        """),
            {"campaign": campaign.id, "states": list(PLANNABLE_STATES)},
        ).all()
        territories = list(session.scalars(sa.select(Territory)))
        codes = {t.id: t.code for t in territories}
        couriers = [
            planner.Courier(c.id, codes[c.territory_id], *_lon_lat(c.station))
            for c in session.scalars(
                sa.select(Courier)
                .where(Courier.territory_id.is_not(None), Courier.station.is_not(None))
                .order_by(Courier.id)
            )
        ]
        stops, no_location = [], []
        for row in rows:
            if row.lon is None:
                no_location.append(row.id)
                continue
            stops.append(
                planner.Stop(
                    row.id,
                    row.lon,
                    row.lat,
                    row.code,
                    exclude_courier=row.exclude,
                    coarse=row.location_precision != "address",
                )
            )
        neighbours = (
            neighbours_from_polygons(
                {t.code: to_shape(t.area) for t in territories}, hops=rules.neighbour_hops
            )
            if rules.neighbour_hops
            else {}
        )
        progress("planning", 0, len(stops), force=True)
        result = planner.plan(
            planner.PlanInput(
                stops=stops,
                couriers=couriers,
                neighbours=neighbours,
                daily_capacity=rules.daily_capacity,
                speed_kmh=rules.speed_kmh,
            ),
            progress=lambda phase, done, total: progress(phase, done, total),
        )
        progress("saving the plan", 0, len(visits), force=True)
        for visit_id, visit in visits.items():
            previous = visit.courier_id
            assignment = result.assignments.get(visit_id)
            if assignment is None:
                changed = visit.courier_id is not None or visit.state != "planned"
                visit.courier_id, visit.planned_day, visit.route_order = None, None, None
                visit.state = "planned"
            else:
                new = (assignment.courier_id, assignment.day, assignment.order)
                changed = new != (visit.courier_id, visit.planned_day, visit.route_order) or (
                    visit.state != "assigned"
                )
                visit.courier_id, visit.planned_day, visit.route_order = new
                visit.coarse_location = assignment.coarse
                visit.state = "assigned"
            if changed:
                record_visit_change(session, visit, previous_courier_id=previous)
        campaign.state = "planned" if campaign.state == "draft" else campaign.state
        summary = _plan_summary(session, result, created, no_location)
        record_event(
            session,
            action="plan.finished",
            actor_id=job.created_by_id,
            object_type="campaign",
            object_id=campaign.id,
            details={k: v for k, v in summary.items() if k != "couriers"},
        )
        progress("committing", len(visits), len(visits), force=True)
        session.commit()
        return summary


def _lon_lat(point: Any) -> tuple[float, float]:
    shape = to_shape(point)
    return shape.x, shape.y


def _plan_summary(
    session: Session, result: planner.Plan, created: int, no_location: list[int]
) -> dict[str, Any]:
    staff = dict(session.execute(sa.select(Courier.id, Courier.staff_no)).all())
    unassigned = Counter(str(reason) for reason in result.unassigned.values())
    if no_location:
        unassigned["no_location"] += len(no_location)
    return {
        "visits_created": created,
        "visits_planned": len(result.assignments),
        "unassigned": dict(unassigned),
        "finish_day": result.finish_day,
        "lower_bound_days": result.lower_bound_days,
        "total_km": round(result.total_km, 1),
        "couriers": [
            {
                "courier_id": c.courier_id,
                "staff_no": staff.get(c.courier_id),
                "visits": c.visits,
                "days": c.days,
                "km": round(c.km, 1),
                "finish_day": c.finish_day,
                "borrowed_visits": c.borrowed_visits,
                "coarse_visits": c.coarse_visits,
            }
            for c in result.couriers
        ],
    }


@dataclass(frozen=True)
class Reassignment:
    campaign_id: int
    visit_ids: list[int] = field(default_factory=list)
    from_courier_id: int | None = None  # all open visits of this courier
    to_courier_id: int | None = None  # None: back to the planner


def reassign_visits(
    session: Session, *, change: Reassignment, actor_id: int | None
) -> dict[str, int]:
    """Move open visits to another courier (or back to planning) in one transaction."""
    query = sa.select(Visit).where(Visit.campaign_id == change.campaign_id)
    if change.visit_ids:
        query = query.where(Visit.id.in_(change.visit_ids))
    elif change.from_courier_id is not None:
        query = query.where(
            Visit.courier_id == change.from_courier_id, Visit.state.in_(OPEN_STATES)
        )
    else:
        raise ValidationError(
            "name visits or a courier", errors={"visit_ids": ["Give visit_ids or from_courier_id."]}
        )
    visits = list(session.scalars(query.with_for_update()))
    if change.visit_ids:
        missing = set(change.visit_ids) - {v.id for v in visits}
        if missing:
            raise NotFoundError(f"visits not in this campaign: {sorted(missing)}")
        closed = [v.id for v in visits if v.state not in OPEN_STATES]
        if closed:
            raise ConflictError(f"visits already submitted cannot move: {sorted(closed)}")
    if change.to_courier_id is not None:
        if session.get(Courier, change.to_courier_id) is None:
            raise NotFoundError(f"courier {change.to_courier_id} not found")
        checked = dict(
            session.execute(
                sa.select(Visit.id, Visit.courier_id).where(
                    Visit.id.in_([v.checks_visit_id for v in visits if v.checks_visit_id])
                )
            ).all()
        )
        own = [
            v.id
            for v in visits
            if v.checks_visit_id and checked.get(v.checks_visit_id) == change.to_courier_id
        ]
        if own:
            raise ConflictError(
                f"re-check visits {own} check this courier's own visits; "
                "a re-check must go to someone else"
            )
    for visit in visits:
        previous = visit.courier_id
        visit.courier_id = change.to_courier_id
        if change.to_courier_id is None:
            visit.state, visit.planned_day, visit.route_order = "planned", None, None
        elif visit.state == "planned":
            visit.state = "assigned"
        record_visit_change(session, visit, previous_courier_id=previous)
    record_event(
        session,
        action="visits.reassigned",
        actor_id=actor_id,
        object_type="campaign",
        object_id=change.campaign_id,
        details={
            "visits": [v.id for v in visits],
            "to": change.to_courier_id,
            "from": change.from_courier_id,
        },
    )
    session.commit()
    return {"moved": len(visits)}


def campaign_progress(session: Session, *, campaign_id: int) -> dict[str, Any]:
    """Counts by state for the campaign, by township, segment and courier; daily completions."""
    get_campaign_or_raise(session, campaign_id)
    params = {"campaign": campaign_id}

    def grouped(key_sql: str, join_sql: str = "") -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for key, state, count in session.execute(
            sa.text(f"""
            SELECT {key_sql} AS key, v.state, count(*) FROM visits v
            JOIN businesses b ON b.id = v.business_id {join_sql}
            WHERE v.campaign_id = :campaign GROUP BY 1, 2 ORDER BY 1, 2
        """),
            params,
        ):
            out.setdefault(str(key) if key is not None else "(none)", {})[state] = count
        return out

    by_state = Counter()
    for states in grouped("'all'").values():
        by_state.update(states)
    daily = session.execute(
        sa.text("""
        SELECT (r.captured_at AT TIME ZONE 'Asia/Shanghai')::date AS day, count(*)
        FROM visit_results r JOIN visits v ON v.id = r.visit_id
        WHERE v.campaign_id = :campaign GROUP BY 1 ORDER BY 1
    """),
        params,
    ).all()
    return {
        "by_state": dict(by_state),
        "by_town": grouped("b.town"),
        "by_segment": grouped(
            "t.code",
            "LEFT JOIN couriers c ON c.id = v.courier_id "
            "LEFT JOIN territories t ON t.id = c.territory_id",
        ),
        "by_courier": grouped("c.staff_no", "LEFT JOIN couriers c ON c.id = v.courier_id"),
        "completed_per_day": [{"day": d.isoformat(), "results": n} for d, n in daily],
    }


def visits_geojson(session: Session, *, campaign_id: int, crs: str = "wgs84") -> dict[str, Any]:
    """The campaign's visits as a GeoJSON FeatureCollection for a map."""
    get_campaign_or_raise(session, campaign_id)
    rows = session.execute(
        sa.text("""
        SELECT v.id, v.state, v.kind, v.planned_day, v.route_order, v.coarse_location,
               c.staff_no, b.id AS business_id, b.name, ST_X(b.location) AS lon,
               ST_Y(b.location) AS lat
        FROM visits v JOIN businesses b ON b.id = v.business_id
        LEFT JOIN couriers c ON c.id = v.courier_id
        WHERE v.campaign_id = :campaign AND b.location IS NOT NULL
        ORDER BY c.staff_no NULLS LAST, v.planned_day, v.route_order, v.id
    """),
        {"campaign": campaign_id},
    )
    features = []
    for row in rows:
        lon, lat = from_wgs84(row.lon, row.lat, crs)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]},
                "properties": {
                    "visit_id": row.id,
                    "state": row.state,
                    "kind": row.kind,
                    "courier": row.staff_no,
                    "planned_day": row.planned_day,
                    "route_order": row.route_order,
                    "coarse_location": row.coarse_location,
                    "business_id": row.business_id,
                    "name": row.name,
                },
            }
        )
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if crs != "wgs84":
        # Not a GeoJSON CRS: a hint for Chinese map SDKs that want GCJ-02 or BD-09.
        collection["coordinate_system"] = crs
    return collection
