"""The exports table: every registry file produced, its fingerprint, and its evidence links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import StrEnum, Timestamp

EXPORT_FORMATS = ("csv", "xlsx", "geojson")
EXPORT_STATES = ("running", "succeeded", "failed")


class Export(Base):
    """One registry file: who asked, which rows, and the SHA-256 of the bytes delivered.

    The evidence links inside the file carry a random token whose hash is kept here; the
    links work until `links_expire_at`, and only while the official's account does. A file
    built by a job is kept at `path` until downloaded (and cleaned up later).
    """

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau: Mapped[str] = mapped_column(sa.String(16))
    format: Mapped[str] = mapped_column(StrEnum("export_format", EXPORT_FORMATS))
    encoding: Mapped[str | None] = mapped_column(sa.String(16))
    filters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id"))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    job_id: Mapped[int | None] = mapped_column(sa.ForeignKey("jobs.id"), index=True)
    state: Mapped[str] = mapped_column(
        StrEnum("export_state", EXPORT_STATES), default="running"
    )
    filename: Mapped[str] = mapped_column(sa.String(255))
    path: Mapped[str | None] = mapped_column(sa.Text)
    rows: Mapped[int | None] = mapped_column()
    size_bytes: Mapped[int | None] = mapped_column(sa.BigInteger)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    link_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    links_expire_at: Mapped[datetime | None] = mapped_column(Timestamp())
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp())
