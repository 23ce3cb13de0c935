"""Bodies of the supervisor endpoints."""

from __future__ import annotations

import marshmallow as ma

from api.courier.schemas import PhotoSchema, ResultSchema
from api.pagination import PageArgsSchema, page_schema


class ResultQueryArgsSchema(PageArgsSchema):
    late = ma.fields.Boolean(
        load_default=None,
        metadata={
            "description": "Only results that arrived after their visit was reassigned, "
            "withdrawn or closed (true), or only the others (false)"
        },
    )
    evidence_pending = ma.fields.Boolean(
        load_default=None,
        metadata={
            "description": "Only results still waiting for photos (true), or only "
            "complete ones (false)"
        },
    )


class ReviewResultSchema(ResultSchema):
    courier_id = ma.fields.Integer(dump_only=True, attribute="result.courier_id")
    evidence_complete_at = ma.fields.DateTime(
        dump_only=True, allow_none=True, attribute="result.evidence_complete_at"
    )


ReviewResultPageSchema = page_schema(ReviewResultSchema, "ReviewResultPageSchema")


class ReviewPhotoSchema(PhotoSchema):
    content_endpoint = "supervisor.read_photo_content"

    uploaded_by_id = ma.fields.Integer(dump_only=True)
