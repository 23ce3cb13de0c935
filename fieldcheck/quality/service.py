"""Running the quality checks on a result that has become complete (its photos arrived)."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.dispatch.models import Campaign
from fieldcheck.errors import NotFoundError
from fieldcheck.fieldwork.models import VisitResult
from fieldcheck.quality import checks
from fieldcheck.quality.checks import FlagSpec, PhotoFacts, ResultFacts
from fieldcheck.quality.models import Flag
from fieldcheck.quality.rules import QualityRules, quality_rules

log = logging.getLogger(__name__)


def run_checks(session: Session, *, result: VisitResult) -> list[Flag]:
    """Check `result` against its campaign's thresholds and store a flag per failed check.

    Runs inside the caller's unit of work (add + flush only). Running it again on the same
    result replaces the flags it raised before, so it may follow an amendment. A position
    cluster that this result completes is also flagged on the cluster's earlier results.
    """
    session.flush()
    facts = load_facts(session, result.id)
    campaign = session.get(Campaign, facts.campaign_id)
    assert campaign is not None
    rules = quality_rules(campaign)
    session.execute(
        sa.delete(Flag).where(Flag.result_id == result.id, Flag.kind.in_(checks.KINDS))
    )
    specs = evaluate(session, facts, rules)
    flags = [_flag(result.id, spec) for spec in specs]
    session.add_all(flags)
    for spec in specs:
        if spec.kind == checks.POSITION_CLUSTER:
            _flag_cluster_members(session, result.id, spec)
    session.flush()
    if flags:
        log.info("result %s flagged: %s", result.id, ", ".join(f.kind for f in flags))
    return flags


def evaluate(session: Session, facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """Every check on one result, in a fixed order."""
    specs: list[FlagSpec] = []
    for pure in checks.PURE_CHECKS:
        specs.extend(pure(facts, rules))
    for with_database in checks.DATABASE_CHECKS:
        specs.extend(with_database(session, facts, rules))
    return specs


def load_facts(session: Session, result_id: int) -> ResultFacts:
    """What the checks read about a result, its visit, business, courier and photos."""
    row = session.execute(
        sa.text("""
        SELECT r.id, r.visit_id, v.campaign_id, v.business_id, r.courier_id,
               c.territory_id, r.outcome, ST_X(r.position) AS lon, ST_Y(r.position) AS lat,
               r.accuracy_m, r.started_at, r.captured_at,
               ST_X(b.location) AS blon, ST_Y(b.location) AS blat, b.location_precision,
               b.town, b.address
        FROM visit_results r
        JOIN visits v ON v.id = r.visit_id
        JOIN businesses b ON b.id = v.business_id
        JOIN couriers c ON c.id = r.courier_id
        WHERE r.id = :result
    """),
        {"result": result_id},
    ).first()
    if row is None:
        raise NotFoundError(f"result {result_id} not found")
    photos = session.execute(
        sa.text("""
        SELECT p.id, rp.kind, p.sha256, p.phash, ST_X(p.exif_location) AS lon,
               ST_Y(p.exif_location) AS lat, p.exif_taken_at, p.exif_local_time
        FROM result_photos rp JOIN photos p ON p.id = rp.photo_id
        WHERE rp.result_id = :result
        ORDER BY rp.id
    """),
        {"result": result_id},
    ).all()
    return ResultFacts(
        result_id=row.id,
        visit_id=row.visit_id,
        campaign_id=row.campaign_id,
        business_id=row.business_id,
        courier_id=row.courier_id,
        courier_territory_id=row.territory_id,
        outcome=row.outcome,
        lon=row.lon,
        lat=row.lat,
        accuracy_m=row.accuracy_m,
        started_at=row.started_at,
        captured_at=row.captured_at,
        business_lon=row.blon,
        business_lat=row.blat,
        business_precision=row.location_precision,
        business_town=row.town,
        business_address=row.address,
        photos=tuple(
            PhotoFacts(p.id, p.kind, p.sha256, p.phash, p.lon, p.lat, p.exif_taken_at,
                       p.exif_local_time)
            for p in photos
        ),
    )


def _flag(result_id: int, spec: FlagSpec) -> Flag:
    return Flag(result_id=result_id, kind=spec.kind, measured=spec.measured,
                threshold=spec.threshold, unit=spec.unit, message=spec.message,
                details=spec.details)


def _flag_cluster_members(session: Session, result_id: int, spec: FlagSpec) -> None:
    # The cluster only became visible with this result: its earlier members get the flag too.
    members = [i for i in spec.details.get("result_ids", []) if i != result_id]
    if not members:
        return
    flagged = set(session.scalars(
        sa.select(Flag.result_id).where(Flag.result_id.in_(members),
                                        Flag.kind == checks.POSITION_CLUSTER)
    ))
    session.add_all(
        _flag(member, FlagSpec(
            spec.kind,
            f"{spec.message}; raised when result {result_id} completed the cluster",
            spec.measured, spec.threshold, spec.unit,
            {**spec.details, "raised_by_result_id": result_id},
        ))
        for member in members if member not in flagged
    )
