"""Who may review what: an admin every campaign, a supervisor the campaigns they are assigned
to (campaign_supervisors). Campaigns, results and photos outside the viewer's campaigns read
as missing, so their ids reveal nothing."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.auth.models import User
from fieldcheck.dispatch.models import Campaign, Visit
from fieldcheck.errors import NotFoundError, PermissionDeniedError
from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork.models import ResultPhoto, VisitResult
from fieldcheck.review.models import CampaignSupervisor

REVIEWER_ROLES = ("admin", "supervisor")


def reviewable_campaigns(viewer: User) -> sa.Select[tuple[int]] | None:
    """The campaigns `viewer` reviews, as a subquery; None for an admin (all of them)."""
    if viewer.role == "admin":
        return None
    if viewer.role != "supervisor":
        raise PermissionDeniedError(f"review is for supervisors, not {viewer.role}")
    return sa.select(CampaignSupervisor.campaign_id).where(CampaignSupervisor.user_id == viewer.id)


def _reviews(session: Session, viewer: User, campaign_id: int) -> bool:
    scope = reviewable_campaigns(viewer)
    return scope is None or session.scalar(
        scope.where(CampaignSupervisor.campaign_id == campaign_id)) is not None


def authorize_campaign(session: Session, viewer: User, campaign_id: int) -> Campaign:
    """The campaign if `viewer` reviews it; someone else's campaign reads as missing."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or not _reviews(session, viewer, campaign_id):
        raise NotFoundError(f"campaign {campaign_id} not found")
    return campaign


def reviewable_result(session: Session, viewer: User, result_id: int,
                      *, lock: bool = False) -> tuple[VisitResult, Visit]:
    """A result of one of `viewer`'s campaigns and its visit (`lock`: the result FOR UPDATE)."""
    result = session.get(VisitResult, result_id, with_for_update=lock)
    visit = session.get(Visit, result.visit_id) if result is not None else None
    if result is None or visit is None or not _reviews(session, viewer, visit.campaign_id):
        raise NotFoundError(f"result {result_id} not found")
    return result, visit


def reviewable_photo(session: Session, viewer: User, photo_id: int) -> Photo:
    """A photo named by a result of one of `viewer`'s campaigns (an admin: any photo)."""
    photo = session.get(Photo, photo_id)
    scope = reviewable_campaigns(viewer)
    if photo is not None and scope is not None:
        named = session.scalar(
            sa.select(sa.literal(True))
            .select_from(ResultPhoto)
            .join(VisitResult, VisitResult.id == ResultPhoto.result_id)
            .join(Visit, Visit.id == VisitResult.visit_id)
            .where(ResultPhoto.photo_id == photo_id, Visit.campaign_id.in_(scope))
            .limit(1)
        )
        if named is None:
            photo = None
    if photo is None:
        raise NotFoundError(f"photo {photo_id} not found")
    return photo


def visible_campaigns(viewer: User) -> sa.Select[tuple[Campaign]]:
    """The campaigns `viewer` may look at, as a query: every one for an admin."""
    query = sa.select(Campaign)
    scope = reviewable_campaigns(viewer)
    return query if scope is None else query.where(Campaign.id.in_(scope))
