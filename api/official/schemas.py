"""Arguments and bodies of the officials' endpoints."""

from __future__ import annotations

import marshmallow as ma

from api.extensions import Id, Schema
from fieldcheck.exports.actions import ACTIONS
from fieldcheck.exports.models import EXPORT_FORMATS
from fieldcheck.exports.service import CSV_ENCODINGS


class _ExportOptionsSchema(Schema):
    format = ma.fields.String(
        load_default="xlsx",
        validate=ma.validate.OneOf(EXPORT_FORMATS),
        metadata={"description": "xlsx (summary + one sheet per action), csv or geojson"},
    )
    encoding = ma.fields.String(
        load_default="utf-8-sig",
        validate=ma.validate.OneOf(CSV_ENCODINGS),
        metadata={"description": "CSV only: UTF-8 with BOM (Excel, WPS) or GB18030"},
    )
    decided_from = ma.fields.Date(
        load_default=None, metadata={"description": "Verdicts decided on or after (China time)"}
    )
    decided_to = ma.fields.Date(
        load_default=None, metadata={"description": "Verdicts decided on or before"}
    )
    campaign_id = Id(
        load_default=None, metadata={"description": "Whose findings; default the latest campaign"}
    )
    gcj02 = ma.fields.Boolean(
        load_default=False, metadata={"description": "Add GCJ-02 coordinates (AMap, Tencent)"}
    )
    link_ttl_hours = ma.fields.Integer(
        load_default=72,
        validate=ma.validate.Range(1, 168),
        metadata={"description": "How long the file's evidence links work"},
    )


class RegistryQueryArgsSchema(_ExportOptionsSchema):
    action = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(ACTIONS)),
        load_default=list,
        metadata={"description": "Only these actions (repeat the parameter)"},
    )
    town = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 32)),
        load_default=list,
        metadata={"description": "Only these townships, e.g. 古山镇 (repeatable)"},
    )


class ExportCreateSchema(_ExportOptionsSchema):
    actions = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf(ACTIONS)),
        load_default=list,
        metadata={"description": "Only these actions; empty: all"},
    )
    towns = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 32)),
        load_default=list,
        metadata={"description": "Only these townships; empty: all"},
    )


class ExportJobSchema(Schema):
    id = ma.fields.Integer(dump_only=True, metadata={"description": "The export job's id"})
    state = ma.fields.String(
        dump_only=True, metadata={"description": "queued, running, succeeded or failed"}
    )
    phase = ma.fields.String(dump_only=True)
    done = ma.fields.Integer(dump_only=True, metadata={"description": "Rows written so far"})
    total = ma.fields.Integer(dump_only=True, allow_none=True,
                              metadata={"description": "Rows expected (an estimate)"})
    error = ma.fields.String(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    finished_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    filename = ma.fields.String(dump_only=True, allow_none=True)
    rows = ma.fields.Integer(dump_only=True, allow_none=True)
    size_bytes = ma.fields.Integer(dump_only=True, allow_none=True)
    sha256 = ma.fields.String(dump_only=True, allow_none=True,
                              metadata={"description": "SHA-256 of the file, once done"})
    by_action = ma.fields.Dict(dump_only=True, allow_none=True)
    download_url = ma.fields.String(dump_only=True, allow_none=True,
                                    metadata={"description": "Where to fetch the file, once done"})


class EvidencePhotoQueryArgsSchema(Schema):
    thumbnail = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "true (or 1): the small upright version, not the original"},
    )
