"""Bodies of the phone app's endpoints: sync pages, photos, results, amendments, discoveries."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import marshmallow as ma
from flask import url_for
from flask_smorest.fields import Upload
from geoalchemy2.shape import to_shape

from api.extensions import MAX_ID, Id, Schema
from fieldcheck.evidence.service import DIRECT_UPLOAD_TYPES
from fieldcheck.fieldwork.inputs import (
    AMENDABLE,
    Corrections,
    DevicePosition,
    DiscoveryReport,
    NamedPhoto,
    PhoneAttempt,
    ResultAmendmentRequest,
    ResultSubmission,
)
from fieldcheck.fieldwork.models import INPUT_CRS, NOT_FOUND_REASONS, OUTCOMES, PHOTO_KINDS
from fieldcheck.fieldwork.sync import MAX_PAGE, SyncPage

SHA256_HEX = ma.validate.Regexp(r"^[0-9a-fA-F]{64}$", error="Must be a hex SHA-256 digest.")
CLIENT_ID = ma.validate.Regexp(
    r"^[A-Za-z0-9._:-]{8,64}$",
    error="Must be 8 to 64 letters, digits or . _ : - (a UUID is ideal).",
)


# --- sync ----------------------------------------------------------------------------------


class SyncCursorField(ma.fields.String):
    """An opaque sync cursor: the position in the courier's feed after the last page."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = json.loads(base64.urlsafe_b64decode(text.encode() + b"==="))
            seq = decoded["seq"]
            if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 2**63:
                raise ValueError
            return seq
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ma.ValidationError("Not a sync cursor returned by this API.") from exc


def encode_sync_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"seq": seq}).encode()).decode().rstrip("=")


class SyncQueryArgsSchema(Schema):
    cursor = SyncCursorField(
        load_default=None,
        metadata={"description": "`cursor` of the previous page; none for a first sync"},
    )
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_PAGE))


class PointSchema(Schema):
    lon = ma.fields.Float(dump_only=True)
    lat = ma.fields.Float(dump_only=True)


class RegisteredRecordSchema(Schema):
    bureau = ma.fields.String(dump_only=True, metadata={"description": "tax or commerce"})
    name = ma.fields.String(dump_only=True)
    uscc = ma.fields.String(dump_only=True, allow_none=True)
    tin = ma.fields.String(dump_only=True, allow_none=True)
    reg_no = ma.fields.String(dump_only=True, allow_none=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    operator = ma.fields.String(dump_only=True, allow_none=True)
    phones = ma.fields.List(ma.fields.String(), dump_only=True)
    status = ma.fields.String(dump_only=True, allow_none=True)
    status_raw = ma.fields.String(dump_only=True, allow_none=True)
    established_on = ma.fields.String(dump_only=True, allow_none=True)


class SyncLocationSchema(Schema):
    wgs84 = ma.fields.Nested(PointSchema, dump_only=True)
    gcj02 = ma.fields.Nested(
        PointSchema, dump_only=True, metadata={"description": "For AMap, Tencent and WeChat maps"}
    )
    precision = ma.fields.String(
        dump_only=True, metadata={"description": "address, township, ambiguous or visit"}
    )


class SyncBusinessSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    origin = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    town = ma.fields.String(dump_only=True, allow_none=True)
    uscc = ma.fields.String(dump_only=True, allow_none=True)
    location = ma.fields.Method("dump_location", dump_only=True, allow_none=True)
    registered = ma.fields.List(ma.fields.Nested(RegisteredRecordSchema), dump_only=True)

    def dump_location(self, business: Any) -> dict[str, Any] | None:
        if business.lon is None:
            return None
        return {
            "wgs84": {"lon": business.lon, "lat": business.lat},
            "gcj02": {"lon": business.gcj02_lon, "lat": business.gcj02_lat},
            "precision": business.location_precision,
        }


class SyncVisitSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    campaign_id = ma.fields.Integer(dump_only=True)
    state = ma.fields.String(dump_only=True)
    kind = ma.fields.String(dump_only=True, metadata={"description": "first or recheck"})
    planned_day = ma.fields.Integer(dump_only=True, allow_none=True)
    route_order = ma.fields.Integer(dump_only=True, allow_none=True)
    coarse_location = ma.fields.Boolean(
        dump_only=True, metadata={"description": "Located to its township only: search there"}
    )
    required_photo_kinds = ma.fields.List(ma.fields.String(), dump_only=True)
    business = ma.fields.Nested(SyncBusinessSchema, dump_only=True)


class SyncItemSchema(Schema):
    visit_id = ma.fields.Integer(dump_only=True)
    change = ma.fields.Function(
        lambda item: "withdrawn" if item.withdrawn else "upsert",
        dump_only=True,
        metadata={"description": "upsert: store this visit; withdrawn: drop it"},
    )
    visit = ma.fields.Nested(SyncVisitSchema, dump_only=True, allow_none=True)


class SyncPageSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(SyncItemSchema), dump_only=True)
    cursor = ma.fields.Function(
        lambda page: encode_sync_cursor(page.last_seq),
        dump_only=True,
        metadata={"description": "Send it with the next sync, even when nothing came"},
    )
    has_more = ma.fields.Boolean(dump_only=True)
    reset = ma.fields.Boolean(
        dump_only=True,
        metadata={"description": "The cursor was unknown: replace the local visits"},
    )


def sync_page_body(page: SyncPage) -> str:
    """The page as the JSON body `SyncPageSchema` documents, in compact UTF-8.

    Each visit's payload is JSON already, stored with its feed entry (see
    `fieldcheck.fieldwork.sync`), and goes into the body as it is: a page costs no work per
    visit here. A test keeps the body identical to what the schema dumps.
    """
    items = ",".join(
        f'{{"visit_id":{item.visit_id:d},"change":"withdrawn","visit":null}}'
        if item.payload is None
        else f'{{"visit_id":{item.visit_id:d},"change":"upsert","visit":{item.payload}}}'
        for item in page.items
    )
    rest = json.dumps(
        {
            "cursor": encode_sync_cursor(page.last_seq),
            "has_more": page.has_more,
            "reset": page.reset,
        },
        separators=(",", ":"),
    )
    return f'{{"items":[{items}],{rest[1:]}'


# --- photos ----------------------------------------------------------------------------------


class PhotoUploadFormSchema(Schema):
    sha256 = ma.fields.String(
        load_default=None,
        validate=SHA256_HEX,
        metadata={"description": "SHA-256 of the file, to catch an upload damaged on the way"},
    )


class PhotoFileSchema(Schema):
    file = Upload(required=True, metadata={"description": "JPEG, PNG or HEIC, as shot"})


class ExifSchema(Schema):
    lat = ma.fields.Float(dump_only=True, allow_none=True)
    lon = ma.fields.Float(dump_only=True, allow_none=True)
    altitude = ma.fields.Float(dump_only=True, allow_none=True, attribute="exif_altitude")
    local_time = ma.fields.NaiveDateTime(
        dump_only=True,
        allow_none=True,
        attribute="exif_local_time",
        metadata={"description": "The camera clock as written"},
    )
    taken_at = ma.fields.DateTime(
        dump_only=True,
        allow_none=True,
        attribute="exif_taken_at",
        metadata={"description": "Only when the photo records its UTC offset"},
    )
    time_offset = ma.fields.String(dump_only=True, allow_none=True, attribute="exif_time_offset")
    orientation = ma.fields.Integer(dump_only=True, allow_none=True)
    make = ma.fields.String(dump_only=True, allow_none=True)
    model = ma.fields.String(dump_only=True, allow_none=True)


class PhotoSchema(Schema):
    # The endpoint that serves the bytes to this schema's audience.
    content_endpoint = "courier.read_photo_content"

    id = ma.fields.Integer(dump_only=True)
    sha256 = ma.fields.String(dump_only=True)
    phash = ma.fields.String(dump_only=True, allow_none=True)
    mime_type = ma.fields.String(dump_only=True)
    size_bytes = ma.fields.Integer(dump_only=True)
    width = ma.fields.Integer(dump_only=True, metadata={"description": "Upright"})
    height = ma.fields.Integer(dump_only=True, metadata={"description": "Upright"})
    exif = ma.fields.Method("dump_exif", dump_only=True)
    warnings = ma.fields.List(ma.fields.String(), dump_only=True, attribute="metadata_warnings")
    uploaded_at = ma.fields.DateTime(dump_only=True)
    original_url = ma.fields.Method("dump_original_url", dump_only=True)
    thumbnail_url = ma.fields.Method("dump_thumbnail_url", dump_only=True)

    def dump_exif(self, photo: Any) -> dict[str, Any]:
        lon = lat = None
        if photo.exif_location is not None:
            point = to_shape(photo.exif_location)
            lon, lat = point.x, point.y
        values = ExifSchema().dump(photo)
        values.update(lon=lon, lat=lat)
        return values

    def dump_original_url(self, photo: Any) -> str:
        return url_for(self.content_endpoint, photo_id=photo.id, variant="original")

    def dump_thumbnail_url(self, photo: Any) -> str:
        return url_for(self.content_endpoint, photo_id=photo.id, variant="thumbnail")


class DirectUploadCreateSchema(Schema):
    sha256 = ma.fields.String(required=True, validate=SHA256_HEX)
    content_type = ma.fields.String(required=True, validate=ma.validate.OneOf(DIRECT_UPLOAD_TYPES))
    size_bytes = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(min=1))


class UploadFormSchema(Schema):
    method = ma.fields.String(dump_only=True, metadata={"description": "POST"})
    url = ma.fields.String(dump_only=True)
    fields = ma.fields.Dict(
        dump_only=True,
        metadata={"description": "Form fields to send before the `file` field, as given"},
    )


class DirectUploadSchema(Schema):
    id = ma.fields.UUID(dump_only=True, allow_none=True)
    sha256 = ma.fields.String(dump_only=True)
    status = ma.fields.String(
        dump_only=True, metadata={"description": "awaiting_upload, or received (nothing to send)"}
    )
    expires_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    upload = ma.fields.Nested(UploadFormSchema, dump_only=True, allow_none=True, attribute="form")
    photo = ma.fields.Nested(PhotoSchema, dump_only=True, allow_none=True)


# --- results -----------------------------------------------------------------------------


class PositionSchema(Schema):
    lat = ma.fields.Float(required=True, validate=ma.validate.Range(-90, 90))
    lon = ma.fields.Float(required=True, validate=ma.validate.Range(-180, 180))
    accuracy_m = ma.fields.Float(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Range(min=0),
        metadata={"description": "Radius in metres, as the phone reports it"},
    )
    crs = ma.fields.String(load_default="wgs84", validate=ma.validate.OneOf(INPUT_CRS))
    fix_time = ma.fields.AwareDateTime(load_default=None, allow_none=True)

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> DevicePosition:
        return DevicePosition(**data)


class NamedPhotoSchema(Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(PHOTO_KINDS))
    sha256 = ma.fields.String(
        required=True,
        validate=SHA256_HEX,
        metadata={"description": "SHA-256 of the photo file; it may be uploaded later"},
    )

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> NamedPhoto:
        return NamedPhoto(kind=data["kind"], sha256=data["sha256"].lower())


def _text(max_length: int) -> ma.fields.String:
    return ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(1, max_length)
    )


class CorrectionsSchema(Schema):
    name = _text(200)
    address = _text(500)
    phone = _text(32)
    operator = _text(64)
    relocated_to_address = _text(500)

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> Corrections:
        return Corrections(**data)


class PhoneAttemptSchema(Schema):
    number = ma.fields.String(required=True, validate=ma.validate.Length(1, 32))
    reached = ma.fields.Boolean(required=True)
    answered_by = _text(64)
    at = ma.fields.AwareDateTime(load_default=None, allow_none=True)

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> PhoneAttempt:
        return PhoneAttempt(**data)


CLIENT_ID_OR_HEADER = "; may be left out when the `Idempotency-Key` header carries it"


class IdempotencyKeyHeaderSchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=CLIENT_ID,
        metadata={
            "description": "The client id of this POST when its body has none; the same key "
            "with the same body returns the same answer, with another body 409 `id_reused`"
        },
    )


class ResultCreateSchema(Schema):
    submission_id = ma.fields.String(
        load_default=None,
        validate=CLIENT_ID,
        metadata={
            "description": "Made by the phone once per result; resending it is harmless"
            + CLIENT_ID_OR_HEADER
        },
    )
    visit_id = Id(required=True, strict=True)
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))
    not_found_reason = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.OneOf(NOT_FOUND_REASONS),
        metadata={"description": "Required for not_found, and only then"},
    )
    position = ma.fields.Nested(PositionSchema, load_default=None, allow_none=True)
    started_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    captured_at = ma.fields.AwareDateTime(required=True)
    photos = ma.fields.List(
        ma.fields.Nested(NamedPhotoSchema),
        load_default=list,
        validate=ma.validate.Length(max=20),
    )
    corrections = ma.fields.Nested(CorrectionsSchema, load_default=None, allow_none=True)
    phone_attempts = ma.fields.List(
        ma.fields.Nested(PhoneAttemptSchema),
        load_default=list,
        validate=ma.validate.Length(max=20),
    )
    notes = _text(4000)

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> ResultSubmission:
        return ResultSubmission(
            **{
                **data,
                "photos": tuple(data["photos"]),
                "phone_attempts": tuple(data["phone_attempts"]),
                "corrections": data["corrections"] or Corrections(),
            }
        )


class ResultAmendmentCreateSchema(Schema):
    amendment_id = ma.fields.String(
        load_default=None,
        validate=CLIENT_ID,
        metadata={"description": "Made by the phone once per edit" + CLIENT_ID_OR_HEADER},
    )
    base_version = ma.fields.Integer(
        required=True,
        strict=True,
        validate=ma.validate.Range(1, MAX_ID),
        metadata={"description": "`version` of the result the edit was made on"},
    )
    outcome = ma.fields.String(validate=ma.validate.OneOf(OUTCOMES))
    not_found_reason = ma.fields.String(
        allow_none=True, validate=ma.validate.OneOf(NOT_FOUND_REASONS)
    )
    corrections = ma.fields.Nested(CorrectionsSchema)
    phone_attempts = ma.fields.List(
        ma.fields.Nested(PhoneAttemptSchema), validate=ma.validate.Length(max=20)
    )
    notes = ma.fields.String(allow_none=True, validate=ma.validate.Length(1, 4000))

    @ma.validates_schema
    def changes_something(self, data: dict[str, Any], **_: Any) -> None:
        if not any(name in data for name in AMENDABLE):
            raise ma.ValidationError(
                f"An amendment changes at least one of: {', '.join(AMENDABLE)}."
            )

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> ResultAmendmentRequest:
        changes = {k: v for k, v in data.items() if k in AMENDABLE}
        if "phone_attempts" in changes:
            changes["phone_attempts"] = tuple(changes["phone_attempts"])
        return ResultAmendmentRequest(
            amendment_id=data["amendment_id"], base_version=data["base_version"], changes=changes
        )


class NamedPhotoStateSchema(Schema):
    kind = ma.fields.String(dump_only=True)
    sha256 = ma.fields.String(dump_only=True, attribute="photo_sha256")
    photo_id = ma.fields.Integer(dump_only=True, allow_none=True)
    received = ma.fields.Function(lambda p: p.photo_id is not None, dump_only=True)


class FlagSchema(Schema):
    kind = ma.fields.String(dump_only=True)
    message = ma.fields.String(dump_only=True)
    measured = ma.fields.Float(dump_only=True, allow_none=True)
    threshold = ma.fields.Float(dump_only=True, allow_none=True)
    unit = ma.fields.String(dump_only=True, allow_none=True)


def _position(record: Any) -> dict[str, Any] | None:
    if record.position is None:
        return None
    point = to_shape(record.position)
    return {
        "lon": point.x,
        "lat": point.y,
        "crs": "wgs84",
        "accuracy_m": record.accuracy_m,
        "fix_time": record.fix_time.isoformat() if record.fix_time else None,
        "reported": {
            "lon": record.reported_lon,
            "lat": record.reported_lat,
            "crs": record.position_crs,
        },
    }


class ResultSchema(Schema):
    id = ma.fields.Integer(dump_only=True, attribute="result.id")
    submission_id = ma.fields.String(dump_only=True, attribute="result.client_id")
    visit_id = ma.fields.Integer(dump_only=True, attribute="result.visit_id")
    status = ma.fields.Method(
        "dump_status",
        dump_only=True,
        metadata={"description": "done, evidence_pending (photos still to come) or late"},
    )
    outcome = ma.fields.String(dump_only=True, attribute="result.outcome")
    not_found_reason = ma.fields.String(
        dump_only=True, allow_none=True, attribute="result.not_found_reason"
    )
    version = ma.fields.Integer(dump_only=True, attribute="result.version")
    late = ma.fields.Boolean(dump_only=True, attribute="result.late")
    late_reason = ma.fields.String(dump_only=True, allow_none=True, attribute="result.late_reason")
    evidence_pending = ma.fields.Boolean(dump_only=True, attribute="result.evidence_pending")
    position = ma.fields.Function(
        lambda receipt: _position(receipt.result),
        dump_only=True,
        allow_none=True,
        metadata={"description": "WGS-84, with the position as reported"},
    )
    started_at = ma.fields.DateTime(dump_only=True, allow_none=True, attribute="result.started_at")
    captured_at = ma.fields.DateTime(dump_only=True, attribute="result.captured_at")
    received_at = ma.fields.DateTime(dump_only=True, attribute="result.received_at")
    corrections = ma.fields.Dict(dump_only=True, attribute="result.corrections")
    phone_attempts = ma.fields.List(
        ma.fields.Dict(), dump_only=True, attribute="result.phone_attempts"
    )
    notes = ma.fields.String(dump_only=True, allow_none=True, attribute="result.notes")
    photos = ma.fields.List(ma.fields.Nested(NamedPhotoStateSchema), dump_only=True)
    flags = ma.fields.List(ma.fields.Nested(FlagSchema), dump_only=True)

    def dump_status(self, receipt: Any) -> str:
        if receipt.result.late:
            return "late"
        return "evidence_pending" if receipt.result.evidence_pending else "done"


# --- discoveries ------------------------------------------------------------------------


class DiscoveryCreateSchema(Schema):
    discovery_id = ma.fields.String(
        load_default=None,
        validate=CLIENT_ID,
        metadata={"description": "Made by the phone once per report" + CLIENT_ID_OR_HEADER},
    )
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 200))
    address = _text(500)
    operator = _text(64)
    phone = _text(32)
    position = ma.fields.Nested(PositionSchema, load_default=None, allow_none=True)
    captured_at = ma.fields.AwareDateTime(required=True)
    photos = ma.fields.List(
        ma.fields.Nested(NamedPhotoSchema),
        load_default=list,
        validate=ma.validate.Length(max=20),
    )
    notes = _text(4000)

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> DiscoveryReport:
        return DiscoveryReport(**{**data, "photos": tuple(data["photos"])})


class DiscoverySchema(Schema):
    id = ma.fields.Integer(dump_only=True, attribute="discovery.id")
    discovery_id = ma.fields.String(dump_only=True, attribute="discovery.client_id")
    business_id = ma.fields.Integer(dump_only=True, attribute="discovery.business_id")
    status = ma.fields.Function(
        lambda r: "evidence_pending" if r.discovery.evidence_pending else "done", dump_only=True
    )
    name = ma.fields.String(dump_only=True, attribute="discovery.name")
    address = ma.fields.String(dump_only=True, allow_none=True, attribute="discovery.address")
    operator = ma.fields.String(dump_only=True, allow_none=True, attribute="discovery.operator")
    phone = ma.fields.String(dump_only=True, allow_none=True, attribute="discovery.phone")
    position = ma.fields.Function(lambda r: _position(r.discovery), dump_only=True, allow_none=True)
    captured_at = ma.fields.DateTime(dump_only=True, attribute="discovery.captured_at")
    received_at = ma.fields.DateTime(dump_only=True, attribute="discovery.received_at")
    photos = ma.fields.List(ma.fields.Nested(NamedPhotoStateSchema), dump_only=True)
