"""Use cases of fieldwork: submit a visit result, amend it, read it back, report a discovery,
and list results for review. Each commits once; resending the same input changes nothing."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import WKTElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldcheck.audit.service import record_event
from fieldcheck.auth.models import User
from fieldcheck.db import utcnow
from fieldcheck.dispatch.models import Visit
from fieldcheck.errors import ConflictError, NotFoundError, ValidationError
from fieldcheck.fieldwork.access import get_courier_for_user_or_raise
from fieldcheck.fieldwork.evidence import (
    complete_discovery_if_whole,
    complete_result_if_whole,
    resolve_named_photos,
)
from fieldcheck.fieldwork.inputs import (
    Corrections,
    DevicePosition,
    DiscoveryReport,
    NamedPhoto,
    PhoneAttempt,
    ResultAmendmentRequest,
    ResultSubmission,
    fingerprint,
)
from fieldcheck.fieldwork.models import (
    NOT_FOUND_REASONS,
    OUTCOMES,
    Discovery,
    DiscoveryPhoto,
    ResultAmendment,
    ResultPhoto,
    VisitResult,
)
from fieldcheck.fieldwork.rules import CLOCK_SKEW
from fieldcheck.fieldwork.visits import LATE_EXPLANATIONS, late_reason
from fieldcheck.geo.crs import to_wgs84
from fieldcheck.quality.models import Flag
from fieldcheck.quality.service import run_checks
from fieldcheck.registry.models import Business
from fieldcheck.registry.normalize import normalize_address, normalize_text

log = logging.getLogger(__name__)


class LateResultError(ConflictError):
    """The result was stored, but its visit was no longer the courier's to do."""

    code = "late_result"

    def __init__(self, receipt: ResultReceipt) -> None:
        result = receipt.result
        reason = result.late_reason or "withdrawn"
        super().__init__(
            f"Result stored as late and shown to supervisors: {LATE_EXPLANATIONS[reason]}.",
            details={
                "result_id": result.id,
                "submission_id": result.client_id,
                "visit_id": result.visit_id,
                "late_reason": reason,
                "stored": True,
            },
        )
        self.receipt = receipt


class IdReusedError(ConflictError):
    """A client id sent again with a different body: the phone reused an id it should not."""

    code = "id_reused"


class VersionConflictError(ConflictError):
    """An amendment made against a version of the result that is no longer the latest."""

    code = "version_conflict"


@dataclass
class ResultReceipt:
    """A stored result with the photos it names and the flags raised on it."""

    result: VisitResult
    photos: list[ResultPhoto]
    flags: list[Flag] = field(default_factory=list)
    replayed: bool = False

    @property
    def missing_photos(self) -> list[ResultPhoto]:
        return [p for p in self.photos if p.photo_id is None]


@dataclass
class DiscoveryReceipt:
    discovery: Discovery
    photos: list[DiscoveryPhoto]
    replayed: bool = False

    @property
    def missing_photos(self) -> list[DiscoveryPhoto]:
        return [p for p in self.photos if p.photo_id is None]


# --- submitting a result -------------------------------------------------------------------


def submit_result(
    session: Session,
    *,
    courier_user: User,
    submission: ResultSubmission,
    now: datetime | None = None,
) -> ResultReceipt:
    """Store a visit result; the same submission sent again returns the same answer.

    A result naming photos not uploaded yet waits as evidence pending; its visit counts as
    done when the last photo arrives. A result for a visit that was reassigned, withdrawn or
    closed meanwhile is stored as late and LateResultError is raised after the commit.
    """
    now = now or utcnow()
    courier = get_courier_for_user_or_raise(session, courier_user)
    body_hash = fingerprint(submission)
    stored = _result_by_client_id(session, courier.id, submission.submission_id)
    if stored is not None:
        return _replay(session, stored, body_hash)

    _check_submission(submission, now)
    visit = session.get(Visit, submission.visit_id, with_for_update=True)
    if visit is None:
        raise NotFoundError(f"visit {submission.visit_id} not found")
    reason = late_reason(session, visit, courier.id)
    found = resolve_named_photos(session, uploader=courier_user, photos=submission.photos)

    position = submission.position
    result = VisitResult(
        visit_id=visit.id,
        courier_id=courier.id,
        client_id=submission.submission_id,
        body_hash=body_hash,
        outcome=submission.outcome,
        not_found_reason=submission.not_found_reason,
        **_position_columns(position),
        started_at=_utc(submission.started_at),
        captured_at=submission.captured_at.astimezone(UTC),
        received_at=now,
        corrections=submission.corrections.as_dict(),
        phone_attempts=[_attempt_json(a) for a in submission.phone_attempts],
        notes=submission.notes,
        late=reason is not None,
        late_reason=reason,
        evidence_pending=True,
    )
    try:
        with session.begin_nested():
            session.add(result)
    except IntegrityError:
        # The same submission, sent twice at once: the other request stored it first.
        stored = _result_by_client_id(session, courier.id, submission.submission_id)
        if stored is None:
            raise
        return _replay(session, stored, body_hash)

    photos = [
        ResultPhoto(
            result_id=result.id,
            kind=p.kind,
            photo_sha256=p.sha256,
            photo_id=found[p.sha256].id if found[p.sha256] else None,
        )
        for p in submission.photos
    ]
    session.add_all(photos)
    session.flush()
    # Quality checks run when the result is whole, now or when its last photo arrives.
    flags = complete_result_if_whole(
        session,
        result,
        now=now,
        visit=visit,
        missing=sum(1 for p in photos if p.photo_id is None),
    )
    record_event(
        session,
        action="result.submitted",
        actor_id=courier_user.id,
        object_type="visit_result",
        object_id=result.id,
        details={
            "visit_id": visit.id,
            "submission_id": result.client_id,
            "outcome": result.outcome,
            "late_reason": result.late_reason,
            "evidence_pending": result.evidence_pending,
        },
    )
    # Nothing else can have touched a result this transaction just created: the receipt is
    # what is in hand, in the order a replay reads it back.
    receipt = ResultReceipt(result, photos, sorted(flags or [], key=lambda f: f.id))
    session.commit()
    if result.late:
        raise LateResultError(receipt)
    return receipt


def _check_submission(submission: ResultSubmission, now: datetime) -> None:
    errors: dict[str, list[str]] = {}
    _check_outcome(submission.outcome, submission.not_found_reason, submission.corrections, errors)
    _check_times(
        now,
        errors,
        captured_at=submission.captured_at,
        started_at=submission.started_at,
        fix_time=submission.position.fix_time if submission.position else None,
    )
    if submission.started_at and submission.started_at > submission.captured_at:
        errors.setdefault("started_at", []).append("Must not be after captured_at.")
    _check_positions(submission.position, errors)
    _check_photos(submission.photos, errors)
    if errors:
        raise ValidationError("invalid result", errors=errors)


def _check_outcome(
    outcome: str, reason: str | None, corrections: Corrections, errors: dict[str, list[str]]
) -> None:
    if outcome not in OUTCOMES:
        errors.setdefault("outcome", []).append(f"Must be one of: {', '.join(OUTCOMES)}.")
    if outcome == "not_found" and reason not in NOT_FOUND_REASONS:
        errors.setdefault("not_found_reason", []).append(
            f"A not_found result says why: one of {', '.join(NOT_FOUND_REASONS)}."
        )
    if outcome != "not_found" and reason is not None:
        errors.setdefault("not_found_reason", []).append("Only a not_found result has one.")
    if outcome == "operating_changed" and not corrections.as_dict():
        errors.setdefault("corrections", []).append(
            "An operating_changed result says what changed."
        )


def _check_times(now: datetime, errors: dict[str, list[str]], **times: datetime | None) -> None:
    latest = now + CLOCK_SKEW
    for name, value in times.items():
        if value is not None and value > latest:
            errors.setdefault(name, []).append(
                f"Is in the future ({value.isoformat()}; server time {now.isoformat()})."
            )


def _check_positions(position: DevicePosition | None, errors: dict[str, list[str]]) -> None:
    if position is None:
        return
    try:
        to_wgs84(position.lon, position.lat, position.crs)
    except ValueError as exc:
        errors.setdefault("position", []).append(str(exc))
    if not (-90 <= position.lat <= 90 and -180 <= position.lon <= 180):
        errors.setdefault("position", []).append("Latitude or longitude out of range.")
    if position.accuracy_m is not None and position.accuracy_m < 0:
        errors.setdefault("position", []).append("Accuracy must not be negative.")


def _check_photos(photos: Sequence[NamedPhoto], errors: dict[str, list[str]]) -> None:
    seen: set[str] = set()
    for i, photo in enumerate(photos):
        if photo.sha256 in seen:
            errors.setdefault("photos", []).append(
                f"photo {i} names the same file as an earlier one; name each photo once"
            )
        seen.add(photo.sha256)


def _position_columns(position: DevicePosition | None) -> dict[str, Any]:
    if position is None:
        return {}
    lon, lat = to_wgs84(position.lon, position.lat, position.crs)
    return {
        "position": WKTElement(f"POINT({lon!r} {lat!r})", srid=4326),
        "position_crs": position.crs,
        "reported_lon": position.lon,
        "reported_lat": position.lat,
        "accuracy_m": position.accuracy_m,
        "fix_time": _utc(position.fix_time),
    }


def _utc(value: datetime | None) -> datetime | None:
    # Stored and answered in UTC, so a resent submission gets a byte-identical answer.
    return value.astimezone(UTC) if value is not None else None


def _attempt_json(attempt: PhoneAttempt) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "reached": attempt.reached,
        "answered_by": attempt.answered_by,
        "at": attempt.at.isoformat() if attempt.at else None,
    }


def _result_by_client_id(session: Session, courier_id: int, client_id: str) -> VisitResult | None:
    return session.scalar(
        sa.select(VisitResult).where(
            VisitResult.courier_id == courier_id, VisitResult.client_id == client_id
        )
    )


def _replay(session: Session, result: VisitResult, body_hash: str) -> ResultReceipt:
    if result.body_hash != body_hash:
        raise IdReusedError(
            f"submission {result.client_id} was already stored with a different content; "
            "a new result needs a new submission id",
            details={"result_id": result.id},
        )
    receipt = _receipt(session, result, replayed=True)
    if result.late:
        raise LateResultError(receipt)
    return receipt


def _receipt(session: Session, result: VisitResult, *, replayed: bool = False) -> ResultReceipt:
    photos = list(
        session.scalars(
            sa.select(ResultPhoto)
            .where(ResultPhoto.result_id == result.id)
            .order_by(ResultPhoto.id)
        )
    )
    flags = list(
        session.scalars(sa.select(Flag).where(Flag.result_id == result.id).order_by(Flag.id))
    )
    return ResultReceipt(result, photos, flags, replayed)


# --- reading and amending a result --------------------------------------------------------


def get_result_or_raise(
    session: Session, *, courier_user: User, submission_id: str
) -> ResultReceipt:
    """The courier's own result by its submission id, with what it still waits for."""
    courier = get_courier_for_user_or_raise(session, courier_user)
    result = _result_by_client_id(session, courier.id, submission_id)
    if result is None:
        raise NotFoundError(f"no result with submission id {submission_id}")
    return _receipt(session, result)


def amend_result(
    session: Session,
    *,
    courier_user: User,
    submission_id: str,
    amendment: ResultAmendmentRequest,
    now: datetime | None = None,
) -> ResultReceipt:
    """Apply an edit made against `amendment.base_version` of a result.

    An edit based on an older version (made offline while another edit landed) is refused
    with VersionConflictError, naming the current version, rather than silently overwriting
    it. The same amendment sent again returns the result as it stands.
    """
    now = now or utcnow()
    courier = get_courier_for_user_or_raise(session, courier_user)
    result = session.scalar(
        sa.select(VisitResult)
        .where(VisitResult.courier_id == courier.id, VisitResult.client_id == submission_id)
        .with_for_update()
    )
    if result is None:
        raise NotFoundError(f"no result with submission id {submission_id}")
    body_hash = fingerprint(amendment)
    done = session.scalar(
        sa.select(ResultAmendment).where(
            ResultAmendment.result_id == result.id,
            ResultAmendment.client_id == amendment.amendment_id,
        )
    )
    if done is not None:
        if done.body_hash != body_hash:
            raise IdReusedError(
                f"amendment {amendment.amendment_id} was already applied with a different "
                "content; a new edit needs a new amendment id"
            )
        return _receipt(session, result, replayed=True)
    if amendment.base_version != result.version:
        raise VersionConflictError(
            f"this edit was made on version {amendment.base_version} of the result, but it "
            f"is now at version {result.version}; fetch it and edit again",
            details={"current_version": result.version, "base_version": amendment.base_version},
        )

    changes = _amended_values(amendment)
    outcome = changes.get("outcome", result.outcome)
    reason = changes.get("not_found_reason", result.not_found_reason)
    if "outcome" in changes and outcome != "not_found" and "not_found_reason" not in changes:
        reason = None
    corrections = Corrections(**changes.get("corrections", result.corrections))
    errors: dict[str, list[str]] = {}
    _check_outcome(outcome, reason, corrections, errors)
    if errors:
        raise ValidationError("invalid amendment", errors=errors)
    changes["outcome"], changes["not_found_reason"] = outcome, reason
    previous = {name: getattr(result, name) for name in changes}
    for name, value in changes.items():
        setattr(result, name, value)
    result.version += 1
    result.updated_at = now
    session.add(
        ResultAmendment(
            result_id=result.id,
            client_id=amendment.amendment_id,
            body_hash=body_hash,
            base_version=amendment.base_version,
            version=result.version,
            changes=changes,
            previous=previous,
            created_at=now,
        )
    )
    # The flags must describe the result as amended (a required photo depends on the
    # outcome, for one); a result still waiting for photos is checked when they arrive.
    if not result.evidence_pending:
        run_checks(session, result=result)
    record_event(
        session,
        action="result.amended",
        actor_id=courier_user.id,
        object_type="visit_result",
        object_id=result.id,
        details={"version": result.version, "fields": sorted(amendment.changes)},
    )
    receipt = _receipt(session, result)
    session.commit()
    return receipt


def _amended_values(amendment: ResultAmendmentRequest) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in amendment.changes.items():
        if name == "corrections":
            value = value.as_dict() if isinstance(value, Corrections) else dict(value or {})
        elif name == "phone_attempts":
            value = [_attempt_json(a) for a in value or ()]
        values[name] = value
    return values


# --- discoveries ---------------------------------------------------------------------------


def report_discovery(
    session: Session,
    *,
    courier_user: User,
    report: DiscoveryReport,
    now: datetime | None = None,
) -> DiscoveryReceipt:
    """Record an operating business no list has, as a new business of origin `field`.

    Registry linkage may later find it in a bureau list and merge the two. The same report
    sent again returns the same answer.
    """
    now = now or utcnow()
    courier = get_courier_for_user_or_raise(session, courier_user)
    body_hash = fingerprint(report)
    stored = _discovery_by_client_id(session, courier.id, report.discovery_id)
    if stored is not None:
        return _replay_discovery(session, stored, body_hash)

    errors: dict[str, list[str]] = {}
    if not normalize_text(report.name):
        errors.setdefault("name", []).append("Must not be blank.")
    _check_times(
        now,
        errors,
        captured_at=report.captured_at,
        fix_time=report.position.fix_time if report.position else None,
    )
    _check_positions(report.position, errors)
    _check_photos(report.photos, errors)
    if errors:
        raise ValidationError("invalid discovery", errors=errors)
    found = resolve_named_photos(session, uploader=courier_user, photos=report.photos)

    columns = _position_columns(report.position)
    business = Business(
        origin="field",
        name=normalize_text(report.name),
        address=normalize_text(report.address) if report.address else None,
        town=_town_of(report.address),
        location=columns.get("position"),
        location_precision="visit" if report.position else "unlocated",
        location_source=f"discovery by courier {courier.staff_no}",
    )
    session.add(business)
    session.flush()
    discovery = Discovery(
        courier_id=courier.id,
        client_id=report.discovery_id,
        body_hash=body_hash,
        business_id=business.id,
        name=report.name,
        address=report.address,
        operator=report.operator,
        phone=report.phone,
        **columns,
        captured_at=report.captured_at.astimezone(UTC),
        received_at=now,
        notes=report.notes,
        evidence_pending=True,
    )
    try:
        with session.begin_nested():
            session.add(discovery)
    except IntegrityError:
        session.rollback()
        stored = _discovery_by_client_id(session, courier.id, report.discovery_id)
        if stored is None:
            raise
        return _replay_discovery(session, stored, body_hash)
    photos = [
        DiscoveryPhoto(
            discovery_id=discovery.id,
            kind=p.kind,
            photo_sha256=p.sha256,
            photo_id=found[p.sha256].id if found[p.sha256] else None,
        )
        for p in report.photos
    ]
    session.add_all(photos)
    session.flush()
    complete_discovery_if_whole(session, discovery, now=now)
    record_event(
        session,
        action="discovery.reported",
        actor_id=courier_user.id,
        object_type="discovery",
        object_id=discovery.id,
        details={"business_id": business.id, "discovery_id": report.discovery_id},
    )
    session.commit()
    return DiscoveryReceipt(discovery, photos)


def _town_of(address: str | None) -> str | None:
    if not address:
        return None
    parsed = normalize_address(address)
    return (parsed.town or parsed.zone) if parsed else None


def _discovery_by_client_id(session: Session, courier_id: int, client_id: str) -> Discovery | None:
    return session.scalar(
        sa.select(Discovery).where(
            Discovery.courier_id == courier_id, Discovery.client_id == client_id
        )
    )


def _replay_discovery(session: Session, discovery: Discovery, body_hash: str) -> DiscoveryReceipt:
    if discovery.body_hash != body_hash:
        raise IdReusedError(
            f"discovery {discovery.client_id} was already stored with a different content; "
            "a new report needs a new discovery id",
            details={"discovery_pk": discovery.id},
        )
    photos = list(
        session.scalars(
            sa.select(DiscoveryPhoto)
            .where(DiscoveryPhoto.discovery_id == discovery.id)
            .order_by(DiscoveryPhoto.id)
        )
    )
    return DiscoveryReceipt(discovery, photos, replayed=True)


# --- review --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultFilter:
    """What a supervisor's result list keeps: late results, results waiting for photos."""

    late: bool | None = None
    evidence_pending: bool | None = None
