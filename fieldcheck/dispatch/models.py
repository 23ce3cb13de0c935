"""Tables of campaigns, territories (delivery segments), couriers and visits."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.errors import ConflictError
from fieldcheck.types import Point, Polygon, StrEnum, Timestamp

VISIT_STATES = (
    "planned",
    "assigned",
    "submitted",
    "accepted",
    "rejected",
    "recheck_ordered",
    "withdrawn",
)
VISIT_KINDS = ("first", "recheck")
CAMPAIGN_STATES = ("draft", "planned", "active", "closed")


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(128), unique=True)
    state: Mapped[str] = mapped_column(StrEnum("campaign_state", CAMPAIGN_STATES), default="draft")
    scope: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    rules: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    starts_on: Mapped[date | None] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class Territory(Base):
    """A delivery segment: its polygon, its station, its couriers."""

    __tablename__ = "territories"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128), default="")
    area: Mapped[WKBElement] = mapped_column(Polygon())
    station: Mapped[WKBElement | None] = mapped_column(Point())


class Courier(Base):
    """The courier side of a user account: staff number and home territory."""

    __tablename__ = "couriers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    staff_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    territory_id: Mapped[int | None] = mapped_column(sa.ForeignKey("territories.id"), index=True)
    station: Mapped[WKBElement | None] = mapped_column(Point())


class Visit(Base):
    """One task to go to one business.

    Every change of its courier or state must be recorded for the phones' sync with
    `fieldcheck.fieldwork.sync.record_visit_change`, in the same transaction.
    """

    __tablename__ = "visits"

    TRANSITIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "planned": ("assigned", "withdrawn"),
        "assigned": ("assigned", "planned", "submitted", "withdrawn"),
        "submitted": ("accepted", "rejected", "recheck_ordered"),
        "rejected": ("assigned", "submitted", "withdrawn"),
        "recheck_ordered": ("accepted", "rejected"),
        "accepted": ("recheck_ordered",),
        "withdrawn": ("planned", "assigned"),
    }

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(sa.ForeignKey("campaigns.id"), index=True)
    business_id: Mapped[int] = mapped_column(sa.ForeignKey("businesses.id"), index=True)
    courier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("couriers.id"), index=True)
    kind: Mapped[str] = mapped_column(StrEnum("visit_kind", VISIT_KINDS), default="first")
    checks_visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visits.id"))
    state: Mapped[str] = mapped_column(StrEnum("visit_state", VISIT_STATES), default="planned")
    planned_day: Mapped[int | None] = mapped_column()
    route_order: Mapped[int | None] = mapped_column()
    coarse_location: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)

    def move_to(self, state: str) -> None:
        """Change state, refusing a move the visit's life cycle does not allow."""
        if state not in self.TRANSITIONS.get(self.state, ()):
            raise ConflictError(f"visit {self.id} cannot go from {self.state} to {state}")
        self.state = state
