"""Tables of what couriers submit: visit results and the photos they name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Point, StrEnum, Timestamp

OUTCOMES = ("operating", "operating_changed", "relocated", "closed", "shell", "not_found",
            "refused", "unreachable")
NOT_FOUND_REASONS = ("address_missing", "unknown_at_address")
INPUT_CRS = ("wgs84", "gcj02", "bd09")
PHOTO_KINDS = ("storefront", "licence", "doorplate", "interior", "other")


class VisitResult(Base):
    __tablename__ = "visit_results"
    __table_args__ = (sa.UniqueConstraint("courier_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(sa.ForeignKey("visits.id"), index=True)
    courier_id: Mapped[int] = mapped_column(sa.ForeignKey("couriers.id"), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(StrEnum("outcome", OUTCOMES))
    not_found_reason: Mapped[str | None] = mapped_column(
        StrEnum("not_found_reason", NOT_FOUND_REASONS)
    )
    position: Mapped[WKBElement | None] = mapped_column(Point())
    position_crs: Mapped[str | None] = mapped_column(StrEnum("input_crs", INPUT_CRS))
    accuracy_m: Mapped[float | None] = mapped_column()
    fix_time: Mapped[datetime | None] = mapped_column(Timestamp())
    started_at: Mapped[datetime | None] = mapped_column(Timestamp())
    captured_at: Mapped[datetime] = mapped_column(Timestamp())
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    corrections: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    phone_attempts: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    # Stored even when the visit moved away meanwhile: nothing a courier sends is dropped.
    late: Mapped[bool] = mapped_column(default=False)
    evidence_pending: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)


class ResultPhoto(Base):
    """A photo named by a result, by kind; `photo_id` stays empty until the upload arrives."""

    __tablename__ = "result_photos"
    __table_args__ = (sa.UniqueConstraint("result_id", "photo_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visit_results.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(StrEnum("photo_kind", PHOTO_KINDS))
    photo_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("photos.id"), index=True)
