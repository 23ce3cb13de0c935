"""Results and discoveries waiting for their photos: naming photos, linking them as they
arrive, and completing what has become whole."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.auth.models import User
from fieldcheck.db import utcnow
from fieldcheck.dispatch.models import Courier, Visit
from fieldcheck.errors import ValidationError
from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork.inputs import NamedPhoto
from fieldcheck.fieldwork.models import (
    Discovery,
    DiscoveryPhoto,
    ResultPhoto,
    VisitResult,
)
from fieldcheck.fieldwork.visits import count_visit_done, late_reason
from fieldcheck.quality.models import Flag
from fieldcheck.quality.service import run_checks

log = logging.getLogger(__name__)


def resolve_named_photos(
    session: Session, *, uploader: User, photos: Sequence[NamedPhoto]
) -> dict[str, Photo | None]:
    """SHA-256 -> the photo already uploaded by `uploader`, or None while it has not arrived.

    Naming a photo that another account uploaded is refused: a courier's evidence must be
    their own photos.
    """
    shas = [p.sha256 for p in photos]
    found = {
        photo.sha256: photo
        for photo in session.scalars(sa.select(Photo).where(Photo.sha256.in_(shas)))
    }
    foreign = [
        f"photo {i} ({p.kind}, {p.sha256[:12]}…) was uploaded by another account; "
        "evidence must be your own photos"
        for i, p in enumerate(photos)
        if p.sha256 in found and found[p.sha256].uploaded_by_id != uploader.id
    ]
    if foreign:
        raise ValidationError("photos of another account", errors={"photos": foreign})
    return {sha: found.get(sha) for sha in shas}


def attach_photo(session: Session, photo: Photo, *, now: datetime | None = None) -> None:
    """Link a photo that just arrived to its uploader's results and discoveries naming it,
    and complete those that now have every photo they name."""
    now = now or utcnow()
    # Photos usually come before their result: then nothing waits, and one probe says so.
    waiting = session.scalar(
        sa.select(
            sa.or_(
                sa.exists().where(
                    ResultPhoto.photo_sha256 == photo.sha256, ResultPhoto.photo_id.is_(None)
                ),
                sa.exists().where(
                    DiscoveryPhoto.photo_sha256 == photo.sha256, DiscoveryPhoto.photo_id.is_(None)
                ),
            )
        )
    )
    if not waiting:
        return
    courier = session.scalar(sa.select(Courier).where(Courier.user_id == photo.uploaded_by_id))
    if courier is None:
        return
    result_ids = session.scalars(
        sa.update(ResultPhoto)
        .where(
            ResultPhoto.photo_sha256 == photo.sha256,
            ResultPhoto.photo_id.is_(None),
            ResultPhoto.result_id.in_(
                sa.select(VisitResult.id).where(VisitResult.courier_id == courier.id)
            ),
        )
        .values(photo_id=photo.id)
        .returning(ResultPhoto.result_id)
    ).all()
    for result in session.scalars(
        sa.select(VisitResult)
        .where(VisitResult.id.in_(set(result_ids)))
        .order_by(VisitResult.id)
        .with_for_update()
    ):
        complete_result_if_whole(session, result, now=now)

    discovery_ids = session.scalars(
        sa.update(DiscoveryPhoto)
        .where(
            DiscoveryPhoto.photo_sha256 == photo.sha256,
            DiscoveryPhoto.photo_id.is_(None),
            DiscoveryPhoto.discovery_id.in_(
                sa.select(Discovery.id).where(Discovery.courier_id == courier.id)
            ),
        )
        .values(photo_id=photo.id)
        .returning(DiscoveryPhoto.discovery_id)
    ).all()
    for discovery in session.scalars(
        sa.select(Discovery).where(Discovery.id.in_(set(discovery_ids))).with_for_update()
    ):
        complete_discovery_if_whole(session, discovery, now=now)


def complete_result_if_whole(
    session: Session,
    result: VisitResult,
    *,
    now: datetime,
    visit: Visit | None = None,
    missing: int | None = None,
) -> list[Flag] | None:
    """Once every photo a result names has arrived, it is done, and so is its visit.

    Returns the flags the quality checks raised, or None while photos are missing. A
    caller that holds the visit locked already passes it (`visit`), and one that knows how
    many named photos are still missing says so (`missing`): each saves a query.
    """
    if missing is None:
        missing = session.scalar(
            sa.select(sa.func.count())
            .select_from(ResultPhoto)
            .where(ResultPhoto.result_id == result.id, ResultPhoto.photo_id.is_(None))
        )
    if missing:
        result.evidence_pending = True
        return None
    result.evidence_pending = False
    result.evidence_complete_at = now
    flags = run_checks(session, result=result)
    if result.late:
        return flags
    if visit is None:
        visit = session.get(Visit, result.visit_id, with_for_update=True, populate_existing=True)
    assert visit is not None and visit.id == result.visit_id
    # The visit may have been reassigned while the photos were on their way: the result
    # is then late after all, and the visit stays open for its new courier.
    reason = late_reason(session, visit, result.courier_id)
    if reason is not None:
        result.late, result.late_reason = True, reason
        log.info("result %s of visit %s completed late (%s)", result.id, visit.id, reason)
        return flags
    count_visit_done(session, visit)
    return flags


def complete_discovery_if_whole(session: Session, discovery: Discovery, *, now: datetime) -> None:
    missing = session.scalar(
        sa.select(sa.func.count())
        .select_from(DiscoveryPhoto)
        .where(DiscoveryPhoto.discovery_id == discovery.id, DiscoveryPhoto.photo_id.is_(None))
    )
    discovery.evidence_pending = bool(missing)
    if not missing:
        discovery.evidence_complete_at = now
