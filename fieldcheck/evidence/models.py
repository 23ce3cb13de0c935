"""The photo tables: the original's hash and storage key, EXIF facts and thumbnail, and the
direct uploads to the bucket that are still to be checked."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from geoalchemy2 import WKBElement
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from fieldcheck.db import Base, utcnow
from fieldcheck.types import Point, Timestamp

# The perceptual hash as numbers the database computes from `phash` (written as PostgreSQL
# prints it back, so that the models and the migrations compare equal); NULL unless `phash`
# is 16 hex digits. `phash_bits` is the 64-bit hash as a signed bigint; `phash_band0..3` are
# its four 16-bit bands (hex digits 1-4, 5-8, 9-12, 13-16), each under a btree index, so that
# the near-duplicate search reads only the photos sharing a band value it asks for.
PHASH_IS_HEX = "phash::text ~ '^[0-9a-fA-F]{16}$'::text"
PHASH_BITS_SQL = (
    f"CASE WHEN {PHASH_IS_HEX} THEN ('x'::text || phash::text)::bit(64)::bigint "
    "ELSE NULL::bigint END"
)


def phash_band_sql(band: int) -> str:
    """The generated column expression of band `band` (0-3) of the hash."""
    return (f"CASE WHEN {PHASH_IS_HEX} THEN "
            f"('x'::text || substr(phash::text, {4 * band + 1}, 4))::bit(16)::integer "
            "ELSE NULL::integer END")


class Photo(Base):
    """An accepted photo: the original is kept unmodified under `storage_key` as evidence.

    `exif_location` is WGS-84 with the EXIF hemisphere references applied. The camera's clock
    is kept as written (`exif_local_time`, wall-clock time); `exif_taken_at` is the instant
    only when the photo recorded its UTC offset (`exif_time_offset`), never guessed.
    `metadata_warnings` says which EXIF facts were present but unusable.
    """

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    # One photo per content: the same bytes uploaded twice are the same evidence.
    sha256: Mapped[str] = mapped_column(sa.String(64), unique=True)
    phash: Mapped[str | None] = mapped_column(sa.String(16), index=True)
    phash_bits: Mapped[int | None] = mapped_column(
        sa.BigInteger, sa.Computed(PHASH_BITS_SQL, persisted=True)
    )
    phash_band0: Mapped[int | None] = mapped_column(
        sa.Computed(phash_band_sql(0), persisted=True), index=True
    )
    phash_band1: Mapped[int | None] = mapped_column(
        sa.Computed(phash_band_sql(1), persisted=True), index=True
    )
    phash_band2: Mapped[int | None] = mapped_column(
        sa.Computed(phash_band_sql(2), persisted=True), index=True
    )
    phash_band3: Mapped[int | None] = mapped_column(
        sa.Computed(phash_band_sql(3), persisted=True), index=True
    )
    storage_key: Mapped[str] = mapped_column(sa.String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(sa.String(255))
    mime_type: Mapped[str] = mapped_column(sa.String(32))
    size_bytes: Mapped[int] = mapped_column()
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    exif_location: Mapped[WKBElement | None] = mapped_column(Point())
    exif_altitude: Mapped[float | None] = mapped_column()
    exif_local_time: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=False))
    exif_taken_at: Mapped[datetime | None] = mapped_column(Timestamp())
    exif_time_offset: Mapped[str | None] = mapped_column(sa.String(8))
    orientation: Mapped[int | None] = mapped_column()
    make: Mapped[str | None] = mapped_column(sa.String(64))
    model: Mapped[str | None] = mapped_column(sa.String(64))
    metadata_warnings: Mapped[list[str]] = mapped_column(JSONB, default=list)
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    uploaded_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class PhotoUpload(Base):
    """A direct upload to the bucket: presigned to a staging key, checked on completion.

    The client never writes the evidence key itself: the server reads the staging object,
    checks it like any upload, and writes the original under its SHA-256.
    """

    __tablename__ = "photo_uploads"

    id: Mapped[uuid.UUID] = mapped_column(sa.Uuid, primary_key=True, default=uuid.uuid4)
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size_bytes: Mapped[int] = mapped_column()
    staging_key: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(Timestamp())
    completed_at: Mapped[datetime | None] = mapped_column(Timestamp())
    photo_id: Mapped[int | None] = mapped_column(sa.ForeignKey("photos.id"))
