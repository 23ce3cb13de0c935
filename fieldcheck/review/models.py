"""Tables of review decisions on visit results, of the supervisors of each campaign, and of
findings (one verdict per business per campaign)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Point, StrEnum, Timestamp

DECISIONS = ("accept", "reject", "recheck")
# A finding's verdict: an outcome confirmed by accepted results, or unresolved.
VERDICTS = ("operating", "operating_changed", "relocated", "closed", "shell", "not_found",
            "unresolved")


class CampaignSupervisor(Base):
    """A supervisor's assignment to a campaign: they see and decide only its results."""

    __tablename__ = "campaign_supervisors"

    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(
        sa.ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class ReviewDecision(Base):
    """A supervisor's decision on a result. Never edited: a new decision supersedes the old,
    which stays visible with `superseded_by_id` set."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        # At most one current decision per result.
        sa.Index("uq_review_decisions_current", "result_id", unique=True,
                 postgresql_where=sa.text("superseded_by_id IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(sa.ForeignKey("visit_results.id"), index=True)
    decision: Mapped[str] = mapped_column(StrEnum("review_decision", DECISIONS))
    reason: Mapped[str | None] = mapped_column(sa.Text)
    reviewer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    # Decisions made in bulk (results without flags) say so.
    bulk: Mapped[bool] = mapped_column(default=False)
    # An accept that settles a disagreement between independent visits in this result's favour.
    decisive: Mapped[bool] = mapped_column(default=False)
    # The version of the result decided on: an amendment made afterwards is visibly newer.
    result_version: Mapped[int] = mapped_column(default=1)
    # The re-check visit this decision ordered, if any.
    recheck_visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    # Deferred: the old decision is pointed at its successor just before the successor is
    # inserted, since the index above allows only one current decision at any moment.
    superseded_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("review_decisions.id", deferrable=True, initially="DEFERRED")
    )


class Finding(Base):
    """The campaign's verdict on one business, derived from accepted results; never edited by
    hand (it is recomputed when a decision changes)."""

    __tablename__ = "findings"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "business_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    business_id: Mapped[int] = mapped_column(sa.ForeignKey("businesses.id"), index=True)
    verdict: Mapped[str] = mapped_column(StrEnum("verdict", VERDICTS))
    # Why, in a sentence: "two independent visits found no such business".
    basis: Mapped[str] = mapped_column(sa.Text, default="")
    # False while work under way may still change the verdict (a re-check, another attempt).
    settled: Mapped[bool] = mapped_column(default=False)
    # Accepted results, photos and reviewers behind the verdict.
    result_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    photo_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    reviewer_ids: Mapped[list[int]] = mapped_column(JSONB, default=list)
    # Corrections confirmed in the field: name, address, phone, operator, relocated_to.
    corrections: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    verified_location: Mapped[WKBElement | None] = mapped_column(Point())
    first_visit_on: Mapped[date | None] = mapped_column(sa.Date)
    last_visit_on: Mapped[date | None] = mapped_column(sa.Date)
    decided_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)
