"""Use cases of review: the supervisors' queue, decisions on results (accept, reject, order a
re-check), accepting unflagged results in bulk, blind re-check visits, findings and the
courier integrity view. Supervisors act only within their campaigns; admins everywhere."""

from __future__ import annotations

import hashlib
import itertools
import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from fieldcheck.audit.service import record_event
from fieldcheck.auth.models import User
from fieldcheck.db import utcnow
from fieldcheck.dispatch.models import Campaign, Courier, Visit
from fieldcheck.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from fieldcheck.evidence import service as evidence
from fieldcheck.evidence.models import Photo
from fieldcheck.evidence.storage import PhotoStorage
from fieldcheck.fieldwork.models import ResultPhoto, VisitResult
from fieldcheck.fieldwork.service import ResultFilter, ResultReceipt
from fieldcheck.fieldwork.sync import record_visit_change
from fieldcheck.quality import checks
from fieldcheck.quality.models import Flag
from fieldcheck.quality.rules import quality_rules
from fieldcheck.registry.models import Business
from fieldcheck.review.access import (
    authorize_campaign,
    reviewable_campaigns,
    reviewable_photo,
    reviewable_result,
)
from fieldcheck.review.models import DECISIONS, CampaignSupervisor, Finding, ReviewDecision
from fieldcheck.review.verdicts import (
    NEGATIVE,
    OPEN_VISIT_STATES,
    POSITIVE,
    AcceptedResult,
    claim,
    independent_votes,
    recompute_finding,
)

log = logging.getLogger(__name__)

# `amended`: decided, but the courier has amended the result since.
QUEUE_STATUSES = ("pending", "decided", "amended", "all", *DECISIONS)
# Flag kinds that point at photos used for more than one business (fieldwork raises the
# first at submission, the checks the other two).
PHOTO_REUSE_KINDS = ("photo_reused", checks.PHOTO_DUPLICATE, checks.PHOTO_SIMILAR)
# Review may overrule an earlier decision; the visit's life cycle has no direct edge for
# these moves, so the visit passes through the state between (phones see only the last).
_VISIT_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("accepted", "rejected"): ("recheck_ordered", "rejected"),
    ("rejected", "accepted"): ("submitted", "accepted"),
    ("rejected", "recheck_ordered"): ("submitted", "recheck_ordered"),
}
_STATE_AFTER = {"accept": "accepted", "reject": "rejected", "recheck": "recheck_ordered"}


# --- who reviews which campaign -----------------------------------------------------------


def add_campaign_supervisor(
    session: Session, *, campaign_id: int, user_id: int, actor: User
) -> CampaignSupervisor:
    """Let a supervisor review a campaign (admins only; adding twice changes nothing)."""
    if actor.role != "admin":
        raise PermissionDeniedError("only an admin assigns supervisors")
    if session.get(Campaign, campaign_id) is None:
        raise NotFoundError(f"campaign {campaign_id} not found")
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    if user.role != "supervisor":
        raise ValidationError("not a supervisor",
                              errors={"user_id": [f"User {user_id} is a {user.role}."]})
    link = session.get(CampaignSupervisor, (user_id, campaign_id))
    if link is None:
        link = CampaignSupervisor(user_id=user_id, campaign_id=campaign_id, added_by_id=actor.id)
        session.add(link)
        record_event(session, action="campaign.supervisor_added", actor_id=actor.id,
                     object_type="campaign", object_id=campaign_id,
                     details={"user_id": user_id})
    session.commit()
    return link


def remove_campaign_supervisor(
    session: Session, *, campaign_id: int, user_id: int, actor: User
) -> None:
    """Take a campaign away from a supervisor; their past decisions stay."""
    if actor.role != "admin":
        raise PermissionDeniedError("only an admin assigns supervisors")
    link = session.get(CampaignSupervisor, (user_id, campaign_id))
    if link is None:
        raise NotFoundError(f"user {user_id} does not supervise campaign {campaign_id}")
    session.delete(link)
    record_event(session, action="campaign.supervisor_removed", actor_id=actor.id,
                 object_type="campaign", object_id=campaign_id, details={"user_id": user_id})
    session.commit()


def list_campaign_supervisors(session: Session, *, campaign_id: int, actor: User
                              ) -> list[CampaignSupervisor]:
    authorize_campaign(session, actor, campaign_id)
    return list(session.scalars(
        sa.select(CampaignSupervisor).where(CampaignSupervisor.campaign_id == campaign_id)
        .order_by(CampaignSupervisor.user_id)
    ))


# --- results and photos, as submitted -----------------------------------------------------


def list_results(
    session: Session, *, viewer: User, filters: ResultFilter, after_id: int | None = None,
    limit: int = 100,
) -> tuple[list[ResultReceipt], bool]:
    """Results of the viewer's campaigns oldest first, complete or not, filtered as asked
    (late ones, ones waiting for photos); also whether more follow."""
    query = sa.select(VisitResult).order_by(VisitResult.id).limit(limit + 1)
    scope = reviewable_campaigns(viewer)
    if scope is not None:
        query = query.join(Visit, Visit.id == VisitResult.visit_id).where(
            Visit.campaign_id.in_(scope))
    if filters.late is not None:
        query = query.where(VisitResult.late.is_(filters.late))
    if filters.evidence_pending is not None:
        query = query.where(VisitResult.evidence_pending.is_(filters.evidence_pending))
    if after_id is not None:
        query = query.where(VisitResult.id > after_id)
    results = list(session.scalars(query))
    more = len(results) > limit
    results = results[:limit]
    ids = [r.id for r in results]
    photos: dict[int, list[ResultPhoto]] = {i: [] for i in ids}
    for photo in session.scalars(sa.select(ResultPhoto).where(ResultPhoto.result_id.in_(ids))
                                 .order_by(ResultPhoto.id)):
        photos[photo.result_id].append(photo)
    flags: dict[int, list[Flag]] = {i: [] for i in ids}
    for flag in session.scalars(sa.select(Flag).where(Flag.result_id.in_(ids))
                                .order_by(Flag.id)):
        flags[flag.result_id].append(flag)
    return [ResultReceipt(r, photos[r.id], flags[r.id]) for r in results], more


def get_photo(session: Session, *, viewer: User, photo_id: int) -> Photo:
    """A photo named by a result of the viewer's campaigns (others read as missing)."""
    return reviewable_photo(session, viewer, photo_id)


def open_photo(session: Session, *, storage: PhotoStorage, viewer: User, photo_id: int,
               variant: str) -> evidence.PhotoContent:
    """The original or the thumbnail of a photo the viewer may review."""
    reviewable_photo(session, viewer, photo_id)
    return evidence.open_photo(session, storage=storage, viewer=viewer, photo_id=photo_id,
                               variant=variant)


# --- the queue ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueFilter:
    """What a supervisor asks the queue for; empty fields do not filter."""

    campaign_id: int | None = None
    status: str = "pending"
    flag_kinds: tuple[str, ...] = ()
    flagged: bool | None = None
    courier_id: int | None = None
    town: str | None = None
    outcome: str | None = None
    visit_kind: str | None = None
    min_age_h: float | None = None
    max_age_h: float | None = None


@dataclass
class ReviewItem:
    """A complete result with what a supervisor needs beside it."""

    result: VisitResult
    visit: Visit
    business: Business
    flags: list[Flag] = field(default_factory=list)
    photos: list[ResultPhoto] = field(default_factory=list)
    decision: ReviewDecision | None = None
    # For the detail view: every decision ever made on it, and the business's other results.
    history: list[ReviewDecision] = field(default_factory=list)
    related: list[RelatedResult] = field(default_factory=list)


@dataclass(frozen=True)
class RelatedResult:
    result_id: int
    visit_id: int
    visit_kind: str
    courier_id: int
    outcome: str
    captured_at: datetime
    decision: str | None


def list_review_queue(
    session: Session, *, viewer: User, filters: QueueFilter, after_id: int | None = None,
    limit: int = 100, now: datetime | None = None,
) -> tuple[list[ReviewItem], bool]:
    """Complete results, oldest first, as filtered; also whether more follow.

    By default those still waiting for a decision. Results still waiting for photos are
    not reviewable and never listed here.
    """
    if filters.status not in QUEUE_STATUSES:
        raise ValidationError("unknown status", errors={"status": [
            f"Must be one of: {', '.join(QUEUE_STATUSES)}."]})
    now = now or utcnow()
    current = aliased(ReviewDecision)
    query = (
        sa.select(VisitResult, Visit, Business, current)
        .join(Visit, Visit.id == VisitResult.visit_id)
        .join(Business, Business.id == Visit.business_id)
        .outerjoin(current, sa.and_(current.result_id == VisitResult.id,
                                    current.superseded_by_id.is_(None)))
        .where(VisitResult.evidence_pending.is_(False))
        .order_by(VisitResult.id)
        .limit(limit + 1)
    )
    scope = reviewable_campaigns(viewer)
    if scope is not None:
        query = query.where(Visit.campaign_id.in_(scope))
    if filters.campaign_id is not None:
        query = query.where(Visit.campaign_id == filters.campaign_id)
    if filters.status == "pending":
        query = query.where(current.id.is_(None))
    elif filters.status == "decided":
        query = query.where(current.id.is_not(None))
    elif filters.status == "amended":
        query = query.where(current.result_version < VisitResult.version)
    elif filters.status in DECISIONS:
        query = query.where(current.decision == filters.status)
    if filters.flag_kinds:
        query = query.where(sa.exists().where(Flag.result_id == VisitResult.id,
                                              Flag.kind.in_(filters.flag_kinds)))
    if filters.flagged is not None:
        flagged = sa.exists().where(Flag.result_id == VisitResult.id)
        query = query.where(flagged if filters.flagged else ~flagged)
    if filters.courier_id is not None:
        query = query.where(VisitResult.courier_id == filters.courier_id)
    if filters.town:
        query = query.where(Business.town == filters.town)
    if filters.outcome:
        query = query.where(VisitResult.outcome == filters.outcome)
    if filters.visit_kind:
        query = query.where(Visit.kind == filters.visit_kind)
    if filters.min_age_h is not None:
        query = query.where(VisitResult.received_at <= now - timedelta(hours=filters.min_age_h))
    if filters.max_age_h is not None:
        query = query.where(VisitResult.received_at >= now - timedelta(hours=filters.max_age_h))
    if after_id is not None:
        query = query.where(VisitResult.id > after_id)
    rows = session.execute(query).all()
    more = len(rows) > limit
    items = [ReviewItem(result, visit, business, decision=decision)
             for result, visit, business, decision in rows[:limit]]
    _attach_evidence(session, items)
    return items, more


def _attach_evidence(session: Session, items: Sequence[ReviewItem]) -> None:
    by_id = {item.result.id: item for item in items}
    if not by_id:
        return
    for flag in session.scalars(sa.select(Flag).where(Flag.result_id.in_(by_id))
                                .order_by(Flag.id)):
        by_id[flag.result_id].flags.append(flag)
    for photo in session.scalars(sa.select(ResultPhoto).where(ResultPhoto.result_id.in_(by_id))
                                 .order_by(ResultPhoto.id)):
        by_id[photo.result_id].photos.append(photo)


def get_review_item(session: Session, *, viewer: User, result_id: int) -> ReviewItem:
    """One result with its flags, photos, every decision (superseded ones too) and the other
    results for the same business in the campaign (a re-check beside the visit it checks)."""
    result, visit = reviewable_result(session, viewer, result_id)
    business = session.get(Business, visit.business_id)
    assert business is not None
    history = list(session.scalars(
        sa.select(ReviewDecision).where(ReviewDecision.result_id == result.id)
        .order_by(ReviewDecision.id)
    ))
    current = next((d for d in history if d.superseded_by_id is None), None)
    item = ReviewItem(result, visit, business, decision=current, history=history)
    _attach_evidence(session, [item])
    decision = aliased(ReviewDecision)
    item.related = [
        RelatedResult(r.id, r.visit_id, v.kind, r.courier_id, r.outcome, r.captured_at, d)
        for r, v, d in session.execute(
            sa.select(VisitResult, Visit, decision.decision)
            .join(Visit, Visit.id == VisitResult.visit_id)
            .outerjoin(decision, sa.and_(decision.result_id == VisitResult.id,
                                         decision.superseded_by_id.is_(None)))
            .where(Visit.campaign_id == visit.campaign_id,
                   Visit.business_id == visit.business_id, VisitResult.id != result.id)
            .order_by(VisitResult.captured_at, VisitResult.id)
        )
    ]
    return item


def list_decisions(session: Session, *, viewer: User, result_id: int) -> list[ReviewDecision]:
    """Every decision on a result, oldest first; superseded ones say by which."""
    reviewable_result(session, viewer, result_id)
    return list(session.scalars(
        sa.select(ReviewDecision).where(ReviewDecision.result_id == result_id)
        .order_by(ReviewDecision.id)
    ))


# --- decisions ----------------------------------------------------------------------------


@dataclass
class DecisionReceipt:
    """A decision made, the re-check visit it led to (if any) and the business's finding."""

    decision: ReviewDecision
    recheck_visit: Visit | None = None
    finding: Finding | None = None
    unchanged: bool = False


def decide(
    session: Session, *, result_id: int, decision: str, reason: str | None, actor: User,
    decisive: bool = False, now: datetime | None = None,
) -> DecisionReceipt:
    """Record a supervisor's decision on a result and do what it implies, in one commit.

    accept: the visit is accepted; a negative outcome (and a reproducible sample of positive
    ones) gets a blind re-check by another courier; a re-check that disagrees with the
    visit it checks gets a third visit. reject (a reason is required): the visit goes back
    to its courier. recheck: a re-check visit by another courier is ordered instead of
    accepting. The decision supersedes the result's current one, which stays visible;
    the same decision sent again changes nothing. The business's finding is recomputed.
    """
    now = now or utcnow()
    if decision not in DECISIONS:
        raise ValidationError("unknown decision", errors={"decision": [
            f"Must be one of: {', '.join(DECISIONS)}."]})
    reason = (reason or "").strip() or None
    if decision == "reject" and reason is None:
        raise ValidationError("a rejection says why",
                              errors={"reason": ["A rejection needs a reason for the courier."]})
    if decisive and decision != "accept":
        raise ValidationError("only an accept settles a disagreement",
                              errors={"decisive": ["Only with decision accept."]})
    result, visit = reviewable_result(session, actor, result_id, lock=True)
    if result.evidence_pending:
        raise ConflictError(f"result {result.id} still waits for its photos")
    current = _current_decision(session, result.id)
    if current is not None and (current.decision, current.reason, current.decisive,
                                current.result_version) == (decision, reason, decisive,
                                                            result.version):
        return DecisionReceipt(current, unchanged=True)
    if decisive:
        _check_decisive(session, result, visit)
    receipt = _record_decision(session, result=result, visit=visit, decision=decision,
                               reason=reason, actor=actor, decisive=decisive, bulk=False,
                               current=current, now=now)
    session.commit()
    return receipt


@dataclass
class BulkAcceptReport:
    accepted: list[int] = field(default_factory=list)
    rechecks_ordered: list[int] = field(default_factory=list)


def accept_unflagged(
    session: Session, *, campaign_id: int, actor: User, result_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> BulkAcceptReport:
    """Accept every undecided complete result of the campaign that has no flag at all (or
    those of `result_ids` that qualify), as one unit of work. Late results are left for a
    person to look at."""
    now = now or utcnow()
    authorize_campaign(session, actor, campaign_id)
    query = (
        sa.select(VisitResult)
        .join(Visit, Visit.id == VisitResult.visit_id)
        .where(
            Visit.campaign_id == campaign_id,
            VisitResult.evidence_pending.is_(False),
            VisitResult.late.is_(False),
            ~sa.exists().where(Flag.result_id == VisitResult.id),
            ~sa.exists().where(ReviewDecision.result_id == VisitResult.id,
                               ReviewDecision.superseded_by_id.is_(None)),
        )
        .order_by(VisitResult.id)
        .with_for_update(of=VisitResult)
    )
    if result_ids:
        query = query.where(VisitResult.id.in_(result_ids))
    report = BulkAcceptReport()
    for result in list(session.scalars(query)):
        visit = session.get(Visit, result.visit_id)
        assert visit is not None
        receipt = _record_decision(session, result=result, visit=visit, decision="accept",
                                   reason=None, actor=actor, decisive=False, bulk=True,
                                   current=None, now=now)
        report.accepted.append(result.id)
        if receipt.recheck_visit is not None:
            report.rechecks_ordered.append(receipt.recheck_visit.id)
    record_event(session, action="review.bulk_accepted", actor_id=actor.id,
                 object_type="campaign", object_id=campaign_id,
                 details={"results": len(report.accepted),
                          "rechecks": len(report.rechecks_ordered)})
    session.commit()
    return report


def _current_decision(session: Session, result_id: int) -> ReviewDecision | None:
    return session.scalar(sa.select(ReviewDecision).where(
        ReviewDecision.result_id == result_id, ReviewDecision.superseded_by_id.is_(None)))


def _record_decision(
    session: Session, *, result: VisitResult, visit: Visit, decision: str, reason: str | None,
    actor: User, decisive: bool, bulk: bool, current: ReviewDecision | None, now: datetime,
) -> DecisionReceipt:
    new_id = session.scalar(
        sa.text("SELECT nextval(pg_get_serial_sequence('review_decisions', 'id'))"))
    if current is not None:
        # Point the old decision at its successor first: only one may be current at a time.
        current.superseded_by_id = new_id
        session.flush()
    row = ReviewDecision(
        id=new_id, result_id=result.id, decision=decision, reason=reason, reviewer_id=actor.id,
        bulk=bulk, decisive=decisive, result_version=result.version, created_at=now,
    )
    session.add(row)
    session.flush()
    receipt = DecisionReceipt(row)
    if _is_visits_latest(session, result, visit):
        _move_visit(session, visit, _STATE_AFTER[decision])
    campaign = session.get(Campaign, visit.campaign_id)
    assert campaign is not None
    if decision == "recheck":
        receipt.recheck_visit = order_recheck(session, visit=visit, actor_id=actor.id,
                                              reason=reason or "ordered by review")
    elif (decision == "accept" and visit.kind == "first"
          and _needs_recheck(campaign, visit, result.outcome)
          and not _has_recheck(session, visit)):
        why = ("negative outcome" if result.outcome in NEGATIVE
               else "random sample of positive results")
        receipt.recheck_visit = order_recheck(session, visit=visit, actor_id=actor.id,
                                              reason=why)
    row.recheck_visit_id = receipt.recheck_visit.id if receipt.recheck_visit else None
    record_event(
        session, action="review.decided", actor_id=actor.id, object_type="visit_result",
        object_id=result.id,
        details={"decision": decision, "reason": reason, "decision_id": row.id, "bulk": bulk,
                 "decisive": decisive, "supersedes": current.id if current else None,
                 "result_version": result.version, "recheck_visit_id": row.recheck_visit_id},
    )
    finding = recompute_finding(session, campaign_id=visit.campaign_id,
                                business_id=visit.business_id, actor_id=actor.id)
    if (decision == "accept" and finding is not None and finding.verdict == "unresolved"
            and receipt.recheck_visit is None):
        receipt.recheck_visit = _order_third_visit_if_due(session, visit, actor.id)
        if receipt.recheck_visit is not None:
            row.recheck_visit_id = receipt.recheck_visit.id
            finding = recompute_finding(session, campaign_id=visit.campaign_id,
                                        business_id=visit.business_id, actor_id=actor.id)
    receipt.finding = finding
    log.info("result %s: %s by %s (decision %s)", result.id, decision, actor.id, row.id)
    return receipt


def _is_visits_latest(session: Session, result: VisitResult, visit: Visit) -> bool:
    # Only the visit's latest on-time result, while its courier still holds the visit,
    # drives it: a decision on an older or a late result leaves the visit to its holder.
    if result.late or visit.courier_id != result.courier_id:
        return False
    latest = session.scalar(sa.select(sa.func.max(VisitResult.id)).where(
        VisitResult.visit_id == visit.id, VisitResult.late.is_(False)))
    return latest == result.id


def _move_visit(session: Session, visit: Visit, target: str) -> None:
    if visit.state == target:
        return
    for state in _VISIT_PATHS.get((visit.state, target), (target,)):
        visit.move_to(state)
    record_visit_change(session, visit, previous_courier_id=visit.courier_id)


def _check_decisive(session: Session, result: VisitResult, visit: Visit) -> None:
    accepted = _accepted_results(session, visit.campaign_id, visit.business_id)
    mine = AcceptedResult(result.id, result.visit_id, result.courier_id, result.outcome,
                          result.captured_at)
    votes = independent_votes([r for r in accepted if r.result_id != result.id] + [mine])
    claims = {claim(v.outcome) for v in votes}
    if len(claims) < 2:
        raise ConflictError("the accepted visits of this business do not disagree; "
                            "there is nothing to settle")
    if result.outcome in NEGATIVE:
        agreeing = [v for v in votes if claim(v.outcome) == result.outcome]
        if len(agreeing) < 2:
            raise ConflictError(
                f"a {result.outcome} finding needs two independent visits that agree; "
                "order a third visit (decision recheck) instead",
                details={"agreeing_visits": len(agreeing)},
            )


def _accepted_results(session: Session, campaign_id: int, business_id: int
                      ) -> list[AcceptedResult]:
    rows = session.execute(
        sa.select(VisitResult.id, VisitResult.visit_id, VisitResult.courier_id,
                  VisitResult.outcome, VisitResult.captured_at, ReviewDecision.decisive)
        .join(Visit, Visit.id == VisitResult.visit_id)
        .join(ReviewDecision, sa.and_(ReviewDecision.result_id == VisitResult.id,
                                      ReviewDecision.superseded_by_id.is_(None)))
        .where(Visit.campaign_id == campaign_id, Visit.business_id == business_id,
               ReviewDecision.decision == "accept")
    ).all()
    return [AcceptedResult(*row) for row in rows]


# --- re-checks ----------------------------------------------------------------------------


def sampled_for_recheck(campaign_id: int, business_id: int, rate: float) -> bool:
    """Whether a positive result of this business is in the campaign's re-check sample.

    A hash of the two ids against the rate: the same answer on every run and machine, and
    no courier can tell from the business which ones will be checked.
    """
    digest = hashlib.sha256(f"recheck:{campaign_id}:{business_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _needs_recheck(campaign: Campaign, visit: Visit, outcome: str) -> bool:
    if outcome in NEGATIVE:
        return True
    rate = quality_rules(campaign).recheck_rate
    return outcome in POSITIVE and sampled_for_recheck(campaign.id, visit.business_id, rate)


def _has_recheck(session: Session, visit: Visit) -> bool:
    return session.scalar(sa.select(sa.func.count()).select_from(Visit).where(
        Visit.checks_visit_id == visit.id, Visit.state != "withdrawn")) > 0


def _couriers_of_business(session: Session, campaign_id: int, business_id: int) -> set[int]:
    """Every courier who was given or reported on the business in the campaign."""
    visits = session.scalars(sa.select(Visit.courier_id).where(
        Visit.campaign_id == campaign_id, Visit.business_id == business_id,
        Visit.courier_id.is_not(None)))
    reporters = session.scalars(
        sa.select(VisitResult.courier_id).join(Visit, Visit.id == VisitResult.visit_id)
        .where(Visit.campaign_id == campaign_id, Visit.business_id == business_id))
    return {c for c in (*visits, *reporters) if c is not None}


def pick_recheck_courier(session: Session, *, business_id: int, exclude: Iterable[int],
                         fallback_territory_id: int | None) -> int | None:
    """The active courier nearest to the business (by station) among those of its segment
    and the neighbouring segments, other than `exclude`; None when there is none."""
    return session.scalar(
        sa.text("""
        WITH home AS (
            SELECT t.id, t.area, 0 AS rank FROM territories t JOIN businesses b
                 ON b.id = :business AND ST_Contains(t.area, b.location)
            UNION ALL
            SELECT t.id, t.area, 1 FROM territories t WHERE t.id = :fallback
            ORDER BY rank, id LIMIT 1
        ), near AS (
            SELECT t.id FROM territories t, home
            WHERE t.id = home.id OR ST_Intersects(t.area, home.area)
        )
        SELECT c.id
        FROM couriers c
        JOIN users u ON u.id = c.user_id AND u.active
        JOIN territories t ON t.id = c.territory_id
        JOIN near ON near.id = t.id
        LEFT JOIN businesses b ON b.id = :business
        WHERE NOT (c.id = ANY(:exclude))
        ORDER BY ST_Distance(COALESCE(c.station, t.station, ST_PointOnSurface(t.area))::geography,
                             COALESCE(b.location, ST_PointOnSurface(t.area))::geography), c.id
        LIMIT 1
    """),
        {"business": business_id, "fallback": fallback_territory_id,
         "exclude": sorted(set(exclude))},
    )


def order_recheck(session: Session, *, visit: Visit, actor_id: int | None, reason: str
                  ) -> Visit:
    """A blind re-check of `visit`: a new visit of kind recheck for the same business, given
    to the nearest courier of the same or a neighbouring segment who has not worked on the
    business in this campaign. An open re-check of the visit is reused. Without any such
    courier the visit waits unassigned (state planned) for the campaign office."""
    open_recheck = session.scalar(
        sa.select(Visit).where(Visit.checks_visit_id == visit.id,
                               Visit.state.in_(("planned", "assigned", "rejected")))
        .order_by(Visit.id))
    if open_recheck is not None:
        return open_recheck
    exclude = _couriers_of_business(session, visit.campaign_id, visit.business_id)
    first_courier = session.get(Courier, visit.courier_id) if visit.courier_id else None
    courier_id = pick_recheck_courier(
        session, business_id=visit.business_id, exclude=exclude,
        fallback_territory_id=first_courier.territory_id if first_courier else None)
    recheck = Visit(
        campaign_id=visit.campaign_id, business_id=visit.business_id, courier_id=courier_id,
        kind="recheck", checks_visit_id=visit.id,
        state="assigned" if courier_id is not None else "planned",
        coarse_location=visit.coarse_location,
    )
    session.add(recheck)
    session.flush()
    record_visit_change(session, recheck)
    record_event(session, action="recheck.ordered", actor_id=actor_id, object_type="visit",
                 object_id=recheck.id,
                 details={"checks_visit_id": visit.id, "business_id": visit.business_id,
                          "courier_id": courier_id, "reason": reason})
    if courier_id is None:
        log.warning("re-check %s of visit %s: no other courier nearby; left unassigned",
                    recheck.id, visit.id)
    return recheck


def _order_third_visit_if_due(session: Session, visit: Visit, actor_id: int | None
                              ) -> Visit | None:
    """When exactly two independent accepted visits disagree and nothing is under way, a
    third visit (by a courier who worked on neither) decides."""
    accepted = _accepted_results(session, visit.campaign_id, visit.business_id)
    votes = independent_votes(accepted)
    if len(votes) != 2 or claim(votes[0].outcome) == claim(votes[1].outcome):
        return None
    pending = session.scalar(sa.select(sa.func.count()).select_from(Visit).where(
        Visit.campaign_id == visit.campaign_id, Visit.business_id == visit.business_id,
        Visit.state.in_(OPEN_VISIT_STATES)))
    if pending:
        return None
    first = session.scalar(
        sa.select(Visit).where(Visit.campaign_id == visit.campaign_id,
                               Visit.business_id == visit.business_id, Visit.kind == "first")
        .order_by(Visit.id)) or visit
    return order_recheck(session, visit=first, actor_id=actor_id,
                         reason="the re-check disagrees with the first visit")


@dataclass(frozen=True)
class RecheckRow:
    visit: Visit
    checked_visit: Visit | None
    business: Business


def list_rechecks(
    session: Session, *, viewer: User, campaign_id: int, state: str | None = None,
    after_id: int | None = None, limit: int = 100,
) -> tuple[list[RecheckRow], bool]:
    """The campaign's re-check visits, oldest first, with the visit each checks."""
    authorize_campaign(session, viewer, campaign_id)
    checked = aliased(Visit)
    query = (
        sa.select(Visit, checked, Business)
        .outerjoin(checked, checked.id == Visit.checks_visit_id)
        .join(Business, Business.id == Visit.business_id)
        .where(Visit.campaign_id == campaign_id, Visit.kind == "recheck")
        .order_by(Visit.id).limit(limit + 1)
    )
    if state:
        query = query.where(Visit.state == state)
    if after_id is not None:
        query = query.where(Visit.id > after_id)
    rows = session.execute(query).all()
    return [RecheckRow(*row) for row in rows[:limit]], len(rows) > limit


# --- findings -----------------------------------------------------------------------------


def list_findings(
    session: Session, *, viewer: User, campaign_id: int, verdict: str | None = None,
    settled: bool | None = None, after_id: int | None = None, limit: int = 100,
) -> tuple[list[Finding], bool]:
    authorize_campaign(session, viewer, campaign_id)
    query = (sa.select(Finding).where(Finding.campaign_id == campaign_id)
             .order_by(Finding.id).limit(limit + 1))
    if verdict:
        query = query.where(Finding.verdict == verdict)
    if settled is not None:
        query = query.where(Finding.settled.is_(settled))
    if after_id is not None:
        query = query.where(Finding.id > after_id)
    rows = list(session.scalars(query))
    return rows[:limit], len(rows) > limit


def get_finding_or_raise(session: Session, *, viewer: User, campaign_id: int,
                         business_id: int) -> Finding:
    authorize_campaign(session, viewer, campaign_id)
    finding = session.scalar(sa.select(Finding).where(Finding.campaign_id == campaign_id,
                                                      Finding.business_id == business_id))
    if finding is None:
        raise NotFoundError(f"no finding for business {business_id} in this campaign yet")
    return finding


# --- courier integrity --------------------------------------------------------------------


@dataclass
class CourierIntegrity:
    """One courier's figures in a campaign, beside the campaign median of each."""

    courier_id: int
    staff_no: str
    name: str
    results: int
    flagged_share: float
    flag_rates: dict[str, float]
    photo_reuse_share: float
    far_share: float
    median_interval_s: float | None
    campaign_median: dict[str, float | None]
    outlier_score: float
    outlier_in: list[str]


# How far from the campaign median a figure must be, in robust standard deviations, to be
# named as an outlier; and the smallest spread assumed, so a campaign where nearly every
# courier scores zero does not make one flag an outlier.
OUTLIER_Z = 3.0
_MIN_SPREAD = {"flagged_share": 0.02, "photo_reuse_share": 0.01, "far_share": 0.02,
               "median_interval_s": 60.0}


def courier_integrity(session: Session, *, viewer: User, campaign_id: int
                      ) -> list[CourierIntegrity]:
    """Per courier of the campaign: flag rates by kind, photo reuse, median time between
    consecutive results of a day and share of results far from the address, each compared
    with the campaign median; outliers first."""
    campaign = authorize_campaign(session, viewer, campaign_id)
    zone = ZoneInfo(quality_rules(campaign).timezone)
    results = session.execute(
        sa.select(VisitResult.id, VisitResult.courier_id, VisitResult.captured_at)
        .join(Visit, Visit.id == VisitResult.visit_id)
        .where(Visit.campaign_id == campaign_id, VisitResult.evidence_pending.is_(False))
        .order_by(VisitResult.courier_id, VisitResult.captured_at)
    ).all()
    kinds: dict[int, set[str]] = defaultdict(set)
    for result_id, kind in session.execute(
        sa.select(Flag.result_id, Flag.kind).join(VisitResult, VisitResult.id == Flag.result_id)
        .join(Visit, Visit.id == VisitResult.visit_id).where(Visit.campaign_id == campaign_id)
    ):
        kinds[result_id].add(kind)
    by_courier: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for result_id, courier_id, captured_at in results:
        by_courier[courier_id].append((result_id, captured_at))
    couriers = {c.id: c for c in session.scalars(
        sa.select(Courier).where(Courier.id.in_(by_courier)))}

    rows = []
    for courier_id, own in by_courier.items():
        n = len(own)
        counts: dict[str, int] = defaultdict(int)
        for result_id, _ in own:
            for kind in kinds.get(result_id, ()):
                counts[kind] += 1
        rows.append(CourierIntegrity(
            courier_id=courier_id,
            staff_no=couriers[courier_id].staff_no,
            name=couriers[courier_id].name,
            results=n,
            flagged_share=sum(1 for r, _ in own if kinds.get(r)) / n,
            flag_rates={k: counts[k] / n for k in sorted(counts)},
            photo_reuse_share=sum(1 for r, _ in own
                                  if kinds.get(r, set()) & set(PHOTO_REUSE_KINDS)) / n,
            far_share=counts.get(checks.FAR_FROM_ADDRESS, 0) / n,
            median_interval_s=_median_interval([t for _, t in own], zone),
            campaign_median={}, outlier_score=0.0, outlier_in=[],
        ))
    _compare_with_median(rows)
    rows.sort(key=lambda r: (-r.outlier_score, -r.flagged_share, r.staff_no))
    return rows


def _median_interval(times: Sequence[datetime], zone: ZoneInfo) -> float | None:
    gaps = [
        (b - a).total_seconds()
        for a, b in itertools.pairwise(times)
        if a.astimezone(zone).date() == b.astimezone(zone).date()
    ]
    return statistics.median(gaps) if gaps else None


def _compare_with_median(rows: list[CourierIntegrity]) -> None:
    for metric in ("flagged_share", "photo_reuse_share", "far_share", "median_interval_s"):
        values = [getattr(r, metric) for r in rows if getattr(r, metric) is not None]
        median = statistics.median(values) if values else None
        spread = (statistics.median(abs(v - median) for v in values) * 1.4826
                  if values and median is not None else 0.0)
        spread = max(spread, _MIN_SPREAD[metric])
        for row in rows:
            row.campaign_median[metric] = median
            value = getattr(row, metric)
            if value is None or median is None:
                continue
            # Short gaps between results are the suspicious side of the interval.
            z = ((median - value) if metric == "median_interval_s" else (value - median)) / spread
            row.outlier_score = max(row.outlier_score, round(z, 2))
            if z >= OUTLIER_Z:
                row.outlier_in.append(metric)

