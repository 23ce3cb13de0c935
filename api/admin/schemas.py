"""Bodies of the admin endpoints."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload

from api.auth.schemas import UserSchema
from api.extensions import Id, Schema
from api.pagination import PageArgsSchema, page_schema
from fieldcheck.auth.models import BUREAUS, ROLES
from fieldcheck.fieldwork.models import OUTCOMES, PHOTO_KINDS
from fieldcheck.registry.validation import REG_STATUSES


class UserCreateSchema(Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    password = ma.fields.String(
        load_default=None,
        allow_none=True,
        load_only=True,
        validate=ma.validate.Length(10, 1024),
        metadata={"description": "Couriers may have none and enrol"},
    )
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    bureau = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.OneOf(BUREAUS)
    )
    display_name = ma.fields.String(load_default="", validate=ma.validate.Length(0, 128))
    may_see_id_numbers = ma.fields.Boolean(load_default=False)


UserPageSchema = page_schema(UserSchema, "UserPageSchema")


class EnrolmentCodeSchema(Schema):
    code = ma.fields.String(dump_only=True, metadata={"description": "Shown once"})
    expires_at = ma.fields.DateTime(dump_only=True)


class JobSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    state = ma.fields.String(
        dump_only=True, metadata={"description": "queued, running, succeeded or failed"}
    )
    phase = ma.fields.String(dump_only=True)
    done = ma.fields.Integer(dump_only=True, metadata={"description": "Rows (or items) done"})
    total = ma.fields.Integer(dump_only=True, allow_none=True)
    result = ma.fields.Dict(dump_only=True, allow_none=True)
    error = ma.fields.String(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    started_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    finished_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class ImportUploadSchema(Schema):
    kind = ma.fields.String(
        required=True, validate=ma.validate.OneOf(("tax", "commerce", "gazetteer"))
    )
    mapping = ma.fields.String(
        load_default=None,
        allow_none=True,
        metadata={"description": 'JSON object field -> header text, e.g. {"name": "企业名称"}'},
    )
    crs = ma.fields.String(
        load_default="wgs84",
        validate=ma.validate.OneOf(("wgs84", "gcj02", "bd09")),
        metadata={"description": "CRS of a gazetteer's points"},
    )


class ImportFileSchema(Schema):
    file = Upload(required=True, metadata={"description": "CSV (UTF-8/GB18030), XLSX or XLS"})


class ImportBatchSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    filename = ma.fields.String(dump_only=True)
    sha256 = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True)
    rows_read = ma.fields.Integer(dump_only=True)
    rows_imported = ma.fields.Integer(dump_only=True)
    rows_rejected = ma.fields.Integer(dump_only=True)
    summary = ma.fields.Dict(dump_only=True)
    job_id = ma.fields.Integer(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    finished_at = ma.fields.DateTime(dump_only=True, allow_none=True)


ImportBatchPageSchema = page_schema(ImportBatchSchema, "ImportBatchPageSchema")


class ImportIssueSchema(Schema):
    row_number = ma.fields.Integer(dump_only=True, allow_none=True)
    column = ma.fields.String(dump_only=True, allow_none=True)
    value = ma.fields.String(dump_only=True, allow_none=True)
    reason = ma.fields.String(dump_only=True)
    severity = ma.fields.String(dump_only=True)


ImportIssuePageSchema = page_schema(ImportIssueSchema, "ImportIssuePageSchema")


class SourceRecordSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    bureau = ma.fields.String(dump_only=True)
    import_id = ma.fields.Integer(dump_only=True, attribute="batch_id")
    row_number = ma.fields.Integer(dump_only=True)
    source_key = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    uscc = ma.fields.String(dump_only=True, allow_none=True)
    tin = ma.fields.String(dump_only=True, allow_none=True)
    reg_status = ma.fields.String(dump_only=True, allow_none=True)
    link_reason = ma.fields.String(dump_only=True, allow_none=True)
    link_score = ma.fields.Float(dump_only=True, allow_none=True)


class LocationSchema(Schema):
    lon = ma.fields.Float(dump_only=True, allow_none=True)
    lat = ma.fields.Float(dump_only=True, allow_none=True)
    crs = ma.fields.Constant("wgs84", dump_only=True)
    precision = ma.fields.String(dump_only=True, attribute="location_precision")
    source = ma.fields.String(dump_only=True, allow_none=True, attribute="location_source")


class BusinessSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    origin = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    town = ma.fields.String(dump_only=True, allow_none=True)
    uscc = ma.fields.String(dump_only=True, allow_none=True)
    location = ma.fields.Method("dump_location", dump_only=True)
    records = ma.fields.List(ma.fields.Nested(SourceRecordSchema), dump_only=True)

    def dump_location(self, view: Any) -> dict[str, Any]:
        return LocationSchema().dump(view)


BusinessPageSchema = page_schema(BusinessSchema, "BusinessPageSchema")


class BusinessQueryArgsSchema(PageArgsSchema):
    town = ma.fields.String(load_default=None, metadata={"description": "e.g. 古山镇"})
    link_reason = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(
            ("same_code", "same_org_code", "name_address", "new", "manual_merge", "manual_split")
        ),
    )
    location_precision = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(("address", "township", "ambiguous", "unlocated", "visit")),
    )


class MergeSchema(Schema):
    business_ids = ma.fields.List(Id(), required=True, validate=ma.validate.Length(2, 50))
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(0, 500))


class SplitSchema(Schema):
    record_ids = ma.fields.List(Id(), required=True, validate=ma.validate.Length(1, 500))
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(0, 500))


class CampaignScopeSchema(Schema):
    bureaus = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(("tax", "commerce"))),
                             load_default=list)
    towns = ma.fields.List(ma.fields.String(), load_default=list,
                           metadata={"description": "Townships, e.g. 古山镇; empty: all"})
    reg_statuses = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(REG_STATUSES)),
                                  load_default=list)


class CampaignRulesSchema(Schema):
    gps_tolerance_m = ma.fields.Float(validate=ma.validate.Range(1, 5000))
    accuracy_max_m = ma.fields.Float(validate=ma.validate.Range(1, 5000))
    photo_distance_m = ma.fields.Float(validate=ma.validate.Range(1, 5000))
    max_speed_kmh = ma.fields.Float(validate=ma.validate.Range(1, 1000))
    min_time_on_site_s = ma.fields.Float(validate=ma.validate.Range(0, 3600))
    recheck_rate = ma.fields.Float(validate=ma.validate.Range(0, 1))
    daily_capacity = ma.fields.Integer(validate=ma.validate.Range(1, 500))
    speed_kmh = ma.fields.Float(validate=ma.validate.Range(1, 120))
    neighbour_hops = ma.fields.Integer(validate=ma.validate.Range(0, 3), metadata={
        "description": "How far couriers help other segments (1: touching, 2: also theirs)"})
    working_weekdays = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(1, 7)))
    required_photos = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(PHOTO_KINDS)))
    required_photos_by_outcome = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf(OUTCOMES)),
        values=ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(PHOTO_KINDS))))


class CampaignCreateSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(1, 128))
    scope = ma.fields.Nested(CampaignScopeSchema, load_default=dict)
    rules = ma.fields.Nested(CampaignRulesSchema, load_default=dict)
    starts_on = ma.fields.Date(load_default=None, allow_none=True)
    ends_on = ma.fields.Date(load_default=None, allow_none=True)


class CampaignSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True)
    scope = ma.fields.Dict(dump_only=True)
    rules = ma.fields.Dict(dump_only=True)
    starts_on = ma.fields.Date(dump_only=True, allow_none=True)
    ends_on = ma.fields.Date(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)


CampaignPageSchema = page_schema(CampaignSchema, "CampaignPageSchema")


class ReassignSchema(Schema):
    visit_ids = ma.fields.List(Id(), load_default=list,
                               validate=ma.validate.Length(0, 10000))
    from_courier_id = Id(load_default=None, allow_none=True, metadata={
        "description": "Move all open visits of this courier"})
    to_courier_id = Id(load_default=None, allow_none=True, metadata={
        "description": "New courier; null sends the visits back to the planner"})


class ReassignResultSchema(Schema):
    moved = ma.fields.Integer(dump_only=True)


class ProgressSchema(Schema):
    by_state = ma.fields.Dict(dump_only=True)
    by_town = ma.fields.Dict(dump_only=True)
    by_segment = ma.fields.Dict(dump_only=True)
    by_courier = ma.fields.Dict(dump_only=True)
    completed_per_day = ma.fields.List(ma.fields.Dict(), dump_only=True)


class MapArgsSchema(Schema):
    crs = ma.fields.String(load_default="wgs84", validate=ma.validate.OneOf(
        ("wgs84", "gcj02", "bd09")), metadata={"description": "gcj02 for AMap/Tencent maps"})


class IntakeFileSchema(Schema):
    file = Upload(required=True)


class IntakeReportSchema(Schema):
    created = ma.fields.Integer(dump_only=True)
    updated = ma.fields.Integer(dump_only=True)
    rejected = ma.fields.Integer(dump_only=True)
    issues = ma.fields.List(ma.fields.Dict(), dump_only=True, metadata={
        "description": "row_number, column, value, reason, severity"})
    enrolment_codes = ma.fields.Dict(dump_only=True, metadata={
        "description": "New couriers' one-time enrolment codes by staff number (shown once)"})


class PointGeometrySchema(Schema):
    type = ma.fields.Constant("Point", dump_only=True)
    coordinates = ma.fields.List(ma.fields.Float(), dump_only=True,
                                 metadata={"description": "[lon, lat]"})


class VisitFeaturePropertiesSchema(Schema):
    visit_id = ma.fields.Integer(dump_only=True)
    state = ma.fields.String(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    courier = ma.fields.String(dump_only=True, allow_none=True,
                               metadata={"description": "The courier's staff number"})
    planned_day = ma.fields.Integer(dump_only=True, allow_none=True)
    route_order = ma.fields.Integer(dump_only=True, allow_none=True)
    coarse_location = ma.fields.Boolean(dump_only=True)
    business_id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)


class VisitFeatureSchema(Schema):
    type = ma.fields.Constant("Feature", dump_only=True)
    geometry = ma.fields.Nested(PointGeometrySchema, dump_only=True)
    properties = ma.fields.Nested(VisitFeaturePropertiesSchema, dump_only=True)


class VisitMapSchema(Schema):
    type = ma.fields.Constant("FeatureCollection", dump_only=True)
    features = ma.fields.List(ma.fields.Nested(VisitFeatureSchema), dump_only=True)
    coordinate_system = ma.fields.String(dump_only=True, metadata={
        "description": "gcj02 or bd09 when asked for (not a GeoJSON CRS: a hint for map SDKs)"})


def _counts() -> ma.fields.Dict:
    return ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), dump_only=True)


def _counts_by(what: str) -> ma.fields.Dict:
    return ma.fields.Dict(keys=ma.fields.String(), values=_counts(), dump_only=True,
                          metadata={"description": f"Counts by {what}"})


class ReportCampaignSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True)


class BureauActionsSchema(Schema):
    total = _counts()
    by_town = _counts_by("township")
    by_courier = _counts_by("courier")


class CampaignReportSchema(Schema):
    campaign = ma.fields.Nested(ReportCampaignSchema, dump_only=True)
    generated_at = ma.fields.String(dump_only=True, metadata={"description": "ISO 8601"})
    businesses_planned = ma.fields.Integer(dump_only=True)
    businesses_visited = ma.fields.Integer(dump_only=True)
    discoveries = ma.fields.Integer(dump_only=True)
    outcomes = _counts()
    outcomes_by_town = _counts_by("township")
    outcomes_by_courier = _counts_by("courier")
    verdicts = _counts()
    verdicts_by_town = _counts_by("township")
    verdicts_by_courier = _counts_by("courier")
    actions = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(BureauActionsSchema),
                             dump_only=True, metadata={"description": "By bureau"})
