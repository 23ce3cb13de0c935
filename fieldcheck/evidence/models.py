"""The photo table: the original's hash and storage key, EXIF facts and thumbnail."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Point, Timestamp


class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One photo per content: the same bytes uploaded twice are the same evidence.
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    phash: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(255))
    mime_type: Mapped[str] = mapped_column(sa.String(32))
    size_bytes: Mapped[int] = mapped_column()
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    exif_location: Mapped[WKBElement | None] = mapped_column(Point())
    exif_altitude: Mapped[float | None] = mapped_column()
    exif_taken_at: Mapped[datetime | None] = mapped_column(Timestamp())
    exif_time_offset: Mapped[str | None] = mapped_column(sa.String(8))
    orientation: Mapped[int | None] = mapped_column()
    make: Mapped[str | None] = mapped_column(sa.String(64))
    model: Mapped[str | None] = mapped_column(sa.String(64))
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
