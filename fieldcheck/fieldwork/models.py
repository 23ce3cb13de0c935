"""Tables of fieldwork: visit results and the photos they name, amendments, discoveries, and
the per-courier change feed the phones sync from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Point, StrEnum, Timestamp

OUTCOMES = (
    "operating",
    "operating_changed",
    "relocated",
    "closed",
    "shell",
    "not_found",
    "refused",
    "unreachable",
)
NOT_FOUND_REASONS = ("address_missing", "unknown_at_address")
INPUT_CRS = ("wgs84", "gcj02", "bd09")
PHOTO_KINDS = ("storefront", "licence", "doorplate", "interior", "other")
# Why a result arrived for a visit that was no longer the courier's to do.
LATE_REASONS = ("reassigned", "withdrawn", "closed")


class VisitResult(Base):
    """What a courier submitted for a visit, kept as sent (position converted to WGS-84).

    `client_id` is the phone's submission id: with `body_hash` it makes a resent submission
    harmless. `version` counts amendments. A result is done when `evidence_pending` is false.
    """

    __tablename__ = "visit_results"
    __table_args__ = (
        sa.UniqueConstraint("courier_id", "client_id"),
        sa.CheckConstraint(
            "(outcome = 'not_found') = (not_found_reason IS NOT NULL)", name="not_found_has_reason"
        ),
        sa.CheckConstraint("late = (late_reason IS NOT NULL)", name="late_has_reason"),
        sa.CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="accuracy_m"),
        # The review queues read these two small subsets.
        sa.Index("ix_visit_results_late", "id", postgresql_where=sa.text("late")),
        sa.Index(
            "ix_visit_results_evidence_pending", "id", postgresql_where=sa.text("evidence_pending")
        ),
        # The quality checks read the courier's results nearest in time and in space: without
        # these, each submission would read all of the courier's earlier results.
        sa.Index("ix_visit_results_courier_captured", "courier_id", "captured_at", "id"),
        sa.Index(
            "ix_visit_results_position_geography",
            sa.text("(position::geography)"),
            postgresql_using="gist",
        ),
    )

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
    # The position as the phone reported it, before conversion: evidence is kept as sent.
    position_crs: Mapped[str | None] = mapped_column(StrEnum("input_crs", INPUT_CRS))
    reported_lon: Mapped[float | None] = mapped_column()
    reported_lat: Mapped[float | None] = mapped_column()
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
    late_reason: Mapped[str | None] = mapped_column(StrEnum("late_reason", LATE_REASONS))
    evidence_pending: Mapped[bool] = mapped_column(default=False)
    evidence_complete_at: Mapped[datetime | None] = mapped_column(Timestamp())
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)


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


class ResultAmendment(Base):
    """One accepted edit of a result: what changed, what it replaced, which version it built on.

    `client_id` makes a resent amendment harmless, as `VisitResult.client_id` does.
    """

    __tablename__ = "result_amendments"
    __table_args__ = (sa.UniqueConstraint("result_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    result_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visit_results.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(sa.String(64))
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    base_version: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column()
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB)
    previous: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class Discovery(Base):
    """An operating business found in the field that no list has; it became `business_id`."""

    __tablename__ = "discoveries"
    __table_args__ = (
        sa.UniqueConstraint("courier_id", "client_id"),
        sa.CheckConstraint("accuracy_m IS NULL OR accuracy_m >= 0", name="accuracy_m"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    courier_id: Mapped[int] = mapped_column(sa.ForeignKey("couriers.id"), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    body_hash: Mapped[str] = mapped_column(sa.String(64))
    business_id: Mapped[int] = mapped_column(sa.ForeignKey("businesses.id"), index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str | None] = mapped_column(sa.Text)
    operator: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.String(32))
    position: Mapped[WKBElement | None] = mapped_column(Point())
    position_crs: Mapped[str | None] = mapped_column(StrEnum("input_crs", INPUT_CRS))
    reported_lon: Mapped[float | None] = mapped_column()
    reported_lat: Mapped[float | None] = mapped_column()
    accuracy_m: Mapped[float | None] = mapped_column()
    fix_time: Mapped[datetime | None] = mapped_column(Timestamp())
    captured_at: Mapped[datetime] = mapped_column(Timestamp())
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    evidence_pending: Mapped[bool] = mapped_column(default=False)
    evidence_complete_at: Mapped[datetime | None] = mapped_column(Timestamp())


class DiscoveryPhoto(Base):
    """A photo named by a discovery; `photo_id` stays empty until the upload arrives."""

    __tablename__ = "discovery_photos"
    __table_args__ = (sa.UniqueConstraint("discovery_id", "photo_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    discovery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("discoveries.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(StrEnum("photo_kind", PHOTO_KINDS))
    photo_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("photos.id"), index=True)


class SyncHead(Base):
    """The last change number handed out in a courier's feed.

    Its row is locked while a transaction numbers its changes (at commit), so the numbers of
    one courier's feed are handed out in commit order; see `fieldcheck.fieldwork.sync`.
    """

    __tablename__ = "sync_heads"

    courier_id: Mapped[int] = mapped_column(
        sa.ForeignKey("couriers.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class SyncEntry(Base):
    """A visit in a courier's feed, at the number of its latest change.

    One row per courier and visit the courier was ever shown; `withdrawn` rows tell the phone
    to drop a visit that was reassigned away or taken back.

    `payload` is the visit as the phone gets it (JSON text), stored when the entry is
    numbered; `payload_stamp` names the row versions it was rendered from, and a page serves
    the payload only while they are current (see `fieldcheck.fieldwork.sync`).
    """

    __tablename__ = "sync_entries"
    __table_args__ = (sa.UniqueConstraint("courier_id", "seq"),)

    courier_id: Mapped[int] = mapped_column(
        sa.ForeignKey("couriers.id", ondelete="CASCADE"), primary_key=True
    )
    visit_id: Mapped[int] = mapped_column(
        sa.ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    withdrawn: Mapped[bool] = mapped_column(default=False)
    changed_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    payload: Mapped[str | None] = mapped_column(sa.Text)
    payload_stamp: Mapped[str | None] = mapped_column(sa.Text)
