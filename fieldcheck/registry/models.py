"""Tables of imported bureau lists, their rows, the postal gazetteer and linked businesses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Point, StrEnum, Timestamp

SOURCE_BUREAUS = ("tax", "commerce")
IMPORT_KINDS = ("tax", "commerce", "gazetteer")
IMPORT_STATES = ("running", "succeeded", "failed", "duplicate")
# How a business got its point: a gazetteer address, only its township, nothing, or a visit.
LOCATION_PRECISIONS = ("address", "township", "ambiguous", "unlocated", "visit")
BUSINESS_ORIGINS = ("registry", "field")


class ImportBatch(Base):
    """One uploaded file; its SHA-256 makes a repeated upload of the same file recognisable."""

    __tablename__ = "import_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(StrEnum("import_kind", IMPORT_KINDS))
    filename: Mapped[str] = mapped_column(sa.String(255))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    state: Mapped[str] = mapped_column(StrEnum("import_state", IMPORT_STATES), default="running")
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_imported: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp())


class ImportIssue(Base):
    """A rejected or doubtful row of an import: which row, which column, what value, why."""

    __tablename__ = "import_issues"

    id: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True)
    batch_id: Mapped[int] = mapped_column(
        sa.ForeignKey("import_batches.id", ondelete="CASCADE"), index=True
    )
    row_number: Mapped[int | None] = mapped_column()
    column: Mapped[str | None] = mapped_column(sa.String(64))
    value: Mapped[str | None] = mapped_column(sa.Text)
    reason: Mapped[str] = mapped_column(sa.Text)
    severity: Mapped[str] = mapped_column(StrEnum("issue_severity", ("error", "warning")))


class Business(Base):
    """The real-world entity behind one or more source records (or found in the field)."""

    __tablename__ = "businesses"

    id: Mapped[int] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(StrEnum("business_origin", BUSINESS_ORIGINS))
    name: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str | None] = mapped_column(sa.Text)
    town: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    location: Mapped[WKBElement | None] = mapped_column(Point())
    location_precision: Mapped[str] = mapped_column(
        StrEnum("location_precision", LOCATION_PRECISIONS), default="unlocated"
    )
    location_source: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)


class SourceRecord(Base):
    """One row of a bureau list: raw cells kept for audit, normalised fields for matching."""

    __tablename__ = "source_records"
    __table_args__ = (
        sa.Index("ix_source_records_bureau_key_current", "bureau", "source_key", "is_current"),
        sa.Index("ix_source_records_road_number", "road", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("import_batches.id"), index=True)
    bureau: Mapped[str] = mapped_column(StrEnum("source_bureau", SOURCE_BUREAUS))
    row_number: Mapped[int] = mapped_column()
    source_key: Mapped[str] = mapped_column(sa.String(64))
    raw: Mapped[dict[str, Any]] = mapped_column(JSONB)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    uscc: Mapped[str | None] = mapped_column(sa.String(18), index=True)
    tin: Mapped[str | None] = mapped_column(sa.String(32))
    reg_no: Mapped[str | None] = mapped_column(sa.String(32))
    # GB 11714 organisation code: inside a credit code (positions 9-17) and inside an old
    # 15-character tax number (after the region), so it links the two across bureaus.
    org_code: Mapped[str | None] = mapped_column(sa.String(9), index=True)
    name: Mapped[str] = mapped_column(sa.Text)
    name_key: Mapped[str] = mapped_column(sa.Text)
    address: Mapped[str | None] = mapped_column(sa.Text)
    address_key: Mapped[str | None] = mapped_column(sa.Text)
    town: Mapped[str | None] = mapped_column(sa.String(32))
    road: Mapped[str | None] = mapped_column(sa.String(64))
    number: Mapped[str | None] = mapped_column(sa.String(16))
    reg_status: Mapped[str | None] = mapped_column(sa.String(32))
    is_current: Mapped[bool] = mapped_column(default=True)
    business_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("businesses.id", ondelete="SET NULL"), index=True
    )
    link_reason: Mapped[str | None] = mapped_column(sa.String(32))
    link_score: Mapped[float | None] = mapped_column()


class GazetteerAddress(Base):
    """One standard postal address with its point."""

    __tablename__ = "gazetteer_addresses"
    __table_args__ = (sa.Index("ix_gazetteer_addresses_road_number", "road", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(sa.Text)
    town: Mapped[str] = mapped_column(sa.String(32), index=True)
    road: Mapped[str] = mapped_column(sa.String(64))
    number: Mapped[str] = mapped_column(sa.String(16))
    location: Mapped[WKBElement] = mapped_column(Point())
    batch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("import_batches.id"))
