"""Use cases of photo intake: take an upload in (through the API, or straight into the
bucket and then checked), and read photos back for those allowed to see them.

A photo is kept once per content: its storage keys derive from its SHA-256, so an upload
repeated after a crash rewrites the same bytes under the same keys and harms nothing. The
objects are written before the row is committed; a row therefore never points at nothing.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from geoalchemy2 import WKTElement
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fieldcheck.audit.service import record_event
from fieldcheck.auth.models import User
from fieldcheck.config import Settings
from fieldcheck.db import utcnow
from fieldcheck.errors import ConflictError, InvalidImageError, NotFoundError
from fieldcheck.evidence.imaging import PhotoFacts, check_photo
from fieldcheck.evidence.memory import keep_decoder_memory
from fieldcheck.evidence.models import Photo, PhotoUpload
from fieldcheck.evidence.storage import PhotoStorage, key_for
from fieldcheck.fieldwork.evidence import attach_photo

log = logging.getLogger(__name__)

THUMBNAIL_SUFFIX = ".thumb.jpg"
_SUFFIXES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/heic": ".heic",
    "image/heif": ".heif",
}
# Content types a direct upload may declare (the bytes are checked against it on completion).
DIRECT_UPLOAD_TYPES = tuple(_SUFFIXES)
# Long enough for a phone on a slow link to send 15 MB, short enough to be useless if leaked.
DIRECT_UPLOAD_TTL = timedelta(minutes=15)
# Read links are handed out per request; a few minutes is enough to open one.
READ_URL_TTL_S = 300
# Who may read any photo; a courier reads only their own uploads.
REVIEWER_ROLES = frozenset({"admin", "supervisor"})


class PhotoOfAnotherUserError(ConflictError):
    """The same bytes were already uploaded by another account."""

    code = "photo_of_another_user"


class DirectUploadUnavailableError(ConflictError):
    code = "direct_upload_unavailable"


class UploadNotReceivedError(ConflictError):
    code = "upload_not_received"


@dataclass(frozen=True)
class PhotoLimits:
    max_bytes: int
    max_pixels: int

    @classmethod
    def from_settings(cls, settings: Settings) -> PhotoLimits:
        return cls(max_bytes=settings.max_photo_bytes, max_pixels=settings.max_photo_pixels)


@dataclass(frozen=True)
class DirectUpload:
    """Where to send the bytes (`form`), or the photo itself when the server already has it."""

    id: uuid.UUID | None
    sha256: str
    expires_at: datetime | None
    form: dict[str, Any] | None
    photo: Photo | None

    @property
    def status(self) -> str:
        return "received" if self.photo is not None else "awaiting_upload"


@dataclass(frozen=True)
class PhotoContent:
    """A photo's bytes, or a short-lived link to them when the store can sign one."""

    mime_type: str
    data: bytes | None = None
    url: str | None = None


# --- intake ------------------------------------------------------------------------------


def upload_photo(
    session: Session,
    *,
    storage: PhotoStorage,
    uploader: User,
    data: bytes,
    claimed_type: str | None,
    limits: PhotoLimits,
    claimed_sha256: str | None = None,
) -> Photo:
    """Check and keep an uploaded photo; the same bytes uploaded again return the same photo.

    `claimed_sha256`, when the client sends it, catches bytes damaged or cut short on the
    way. Results and discoveries of the uploader that wait for this photo are completed.
    """
    photo = _take_in(
        session,
        storage=storage,
        uploader=uploader,
        data=data,
        claimed_type=claimed_type,
        claimed_sha256=claimed_sha256,
        limits=limits,
    )
    session.commit()
    return photo


def _take_in(
    session: Session,
    *,
    storage: PhotoStorage,
    uploader: User,
    data: bytes,
    claimed_type: str | None,
    claimed_sha256: str | None,
    limits: PhotoLimits,
) -> Photo:
    if len(data) > limits.max_bytes:
        raise InvalidImageError(
            f"The photo is {len(data)} bytes; the limit is {limits.max_bytes} bytes.",
            details={"reason": "too_large", "size": len(data), "max_bytes": limits.max_bytes},
        )
    sha256 = hashlib.sha256(data).hexdigest()
    if claimed_sha256 is not None and claimed_sha256.lower() != sha256:
        raise InvalidImageError(
            "The bytes received do not have the SHA-256 the client announced: the upload was "
            "damaged or cut short on the way; send it again.",
            details={"reason": "sha256_mismatch", "claimed": claimed_sha256, "actual": sha256},
        )
    # A retry of an upload that already landed costs a lookup, not another decode.
    existing = _photo_by_sha256(session, sha256)
    if existing is not None:
        return _own(existing, uploader)
    keep_decoder_memory()

    # One decode gives the checks, the facts and the thumbnail.
    checked = check_photo(
        data,
        claimed_type=claimed_type,
        max_bytes=limits.max_bytes,
        max_pixels=limits.max_pixels,
        sha256=sha256,
    )
    facts, thumbnail = checked.facts, checked.thumbnail
    key = key_for(sha256, _SUFFIXES[facts.mime_type])
    thumbnail_key = key_for(sha256, THUMBNAIL_SUFFIX)
    storage.put(key, data, facts.mime_type)
    storage.put(thumbnail_key, thumbnail, "image/jpeg")

    photo = _photo_row(
        facts, size=len(data), key=key, thumbnail_key=thumbnail_key, uploader=uploader
    )
    try:
        with session.begin_nested():
            session.add(photo)
    except IntegrityError:
        # The same bytes arrived twice at once; the other request's row won.
        existing = _photo_by_sha256(session, sha256)
        if existing is None:
            raise
        return _own(existing, uploader)
    attach_photo(session, photo)
    record_event(
        session,
        action="photo.uploaded",
        actor_id=uploader.id,
        object_type="photo",
        object_id=photo.id,
        details={"sha256": sha256, "size": len(data), "mime_type": facts.mime_type},
    )
    log.info(
        "photo %s stored (%s, %d bytes) for user %s",
        photo.id,
        facts.mime_type,
        len(data),
        uploader.id,
    )
    return photo


def _photo_row(
    facts: PhotoFacts, *, size: int, key: str, thumbnail_key: str, uploader: User
) -> Photo:
    location = None
    if facts.exif_lat is not None and facts.exif_lon is not None:
        location = WKTElement(f"POINT({facts.exif_lon!r} {facts.exif_lat!r})", srid=4326)
    taken_at = facts.exif_taken_at
    return Photo(
        sha256=facts.sha256,
        phash=facts.phash,
        storage_key=key,
        thumbnail_key=thumbnail_key,
        mime_type=facts.mime_type,
        size_bytes=size,
        width=facts.width,
        height=facts.height,
        exif_location=location,
        exif_altitude=facts.exif_alt,
        exif_local_time=taken_at.replace(tzinfo=None) if taken_at else None,
        exif_taken_at=taken_at.astimezone(UTC) if taken_at and taken_at.tzinfo else None,
        exif_time_offset=facts.exif_time_offset,
        orientation=facts.orientation,
        make=facts.make,
        model=facts.model,
        metadata_warnings=list(facts.warnings),
        uploaded_by_id=uploader.id,
    )


def _photo_by_sha256(session: Session, sha256: str) -> Photo | None:
    return session.scalar(sa.select(Photo).where(Photo.sha256 == sha256))


def _own(photo: Photo, uploader: User) -> Photo:
    if photo.uploaded_by_id != uploader.id:
        raise PhotoOfAnotherUserError(
            "This photo was already uploaded by another account; evidence must be your own photos.",
            details={"sha256": photo.sha256},
        )
    return photo


# --- direct uploads to the bucket ---------------------------------------------------------


def start_direct_upload(
    session: Session,
    *,
    storage: PhotoStorage,
    uploader: User,
    sha256: str,
    content_type: str,
    size_bytes: int,
    limits: PhotoLimits,
    now: datetime | None = None,
) -> DirectUpload:
    """A presigned form to send a photo straight to the bucket, then `complete_direct_upload`.

    The form writes a staging object of this upload only; the evidence key is written by
    the server once the bytes are checked, so nobody can overwrite evidence by uploading.
    """
    now = now or utcnow()
    sha256 = sha256.lower()
    if size_bytes > limits.max_bytes:
        raise InvalidImageError(
            f"The photo is {size_bytes} bytes; the limit is {limits.max_bytes} bytes.",
            details={"reason": "too_large", "size": size_bytes, "max_bytes": limits.max_bytes},
        )
    existing = _photo_by_sha256(session, sha256)
    if existing is not None:
        return DirectUpload(None, sha256, None, None, _own(existing, uploader))
    upload = session.scalar(
        sa.select(PhotoUpload).where(
            PhotoUpload.uploaded_by_id == uploader.id,
            PhotoUpload.sha256 == sha256,
            PhotoUpload.content_type == content_type,
            PhotoUpload.size_bytes == size_bytes,
            PhotoUpload.completed_at.is_(None),
            PhotoUpload.expires_at > now + DIRECT_UPLOAD_TTL / 2,
        )
    )
    if upload is None:
        upload_id = uuid.uuid4()
        upload = PhotoUpload(
            id=upload_id,
            uploaded_by_id=uploader.id,
            sha256=sha256,
            content_type=content_type,
            size_bytes=size_bytes,
            staging_key=f"incoming/{upload_id.hex}",
            created_at=now,
            expires_at=now + DIRECT_UPLOAD_TTL,
        )
        session.add(upload)
    ttl_s = max(1, int((upload.expires_at - now).total_seconds()))
    # The policy caps the object at the announced size; a shorter one fails the SHA-256.
    form = storage.presigned_put(upload.staging_key, content_type, ttl_s, size_bytes)
    if form is None:
        raise DirectUploadUnavailableError(
            "This server keeps photos in a local folder: upload them with a multipart POST "
            "to /api/v1/courier/photos instead."
        )
    session.commit()
    return DirectUpload(upload.id, sha256, upload.expires_at, form, None)


def complete_direct_upload(
    session: Session,
    *,
    storage: PhotoStorage,
    uploader: User,
    upload_id: uuid.UUID,
    limits: PhotoLimits,
    now: datetime | None = None,
) -> Photo:
    """Check the bytes sent to the bucket and keep them as evidence, like a multipart upload.

    Calling it again after success returns the same photo.
    """
    now = now or utcnow()
    upload = session.get(PhotoUpload, upload_id, with_for_update=True)
    if upload is None or upload.uploaded_by_id != uploader.id:
        raise NotFoundError(f"upload {upload_id} not found")
    if upload.photo_id is not None:
        photo = session.get(Photo, upload.photo_id)
        assert photo is not None
        return photo
    try:
        data = storage.get(upload.staging_key)
    except NotFoundError:
        expired = upload.expires_at <= now
        raise UploadNotReceivedError(
            "The bucket has nothing for this upload"
            + (
                "; its form has expired, start a new upload."
                if expired
                else "; send the file with the form first, then complete the upload."
            ),
            details={"upload_id": str(upload.id), "expired": expired},
        ) from None
    try:
        photo = _take_in(
            session,
            storage=storage,
            uploader=uploader,
            data=data,
            claimed_type=upload.content_type,
            claimed_sha256=upload.sha256,
            limits=limits,
        )
    except InvalidImageError:
        # Nothing to keep: the phone sends the file again with the same form, or starts over.
        _discard(storage, upload.staging_key)
        raise
    upload.completed_at = now
    upload.photo_id = photo.id
    session.commit()
    _discard(storage, upload.staging_key)
    return photo


def _discard(storage: PhotoStorage, key: str) -> None:
    # Best effort: a staging object left behind is garbage, not evidence (a bucket lifecycle
    # rule on incoming/ sweeps what a crash leaves).
    try:
        storage.delete(key)
    except Exception:  # the upload itself has succeeded or failed already
        log.warning("could not delete staging object %s", key, exc_info=True)


# --- reading back -------------------------------------------------------------------------


def get_photo_or_raise(session: Session, *, viewer: User, photo_id: int) -> Photo:
    """A photo `viewer` may see: any for admins and supervisors, their own for a courier.

    Others' photos are reported as missing, so ids reveal nothing.
    """
    photo = session.get(Photo, photo_id)
    if photo is None or not (viewer.role in REVIEWER_ROLES or photo.uploaded_by_id == viewer.id):
        raise NotFoundError(f"photo {photo_id} not found")
    return photo


def open_photo(
    session: Session, *, storage: PhotoStorage, viewer: User, photo_id: int, variant: str
) -> PhotoContent:
    """The original (`variant="original"`, unmodified) or the upright thumbnail."""
    photo = get_photo_or_raise(session, viewer=viewer, photo_id=photo_id)
    if variant == "original":
        key, mime_type = photo.storage_key, photo.mime_type
    elif variant == "thumbnail" and photo.thumbnail_key:
        key, mime_type = photo.thumbnail_key, "image/jpeg"
    else:
        raise NotFoundError(f"photo {photo_id} has no {variant}")
    url = storage.presigned_get_url(key, READ_URL_TTL_S)
    if url is not None:
        return PhotoContent(mime_type, url=url)
    return PhotoContent(mime_type, data=storage.get(key))
