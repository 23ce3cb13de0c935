"""Bodies of the review endpoints: the queue, decisions, re-checks, findings, couriers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from geoalchemy2.shape import to_shape

from api.extensions import Id, Schema
from api.pagination import PageArgsSchema, page_schema
from fieldcheck.dispatch.models import VISIT_KINDS
from fieldcheck.fieldwork.models import OUTCOMES
from fieldcheck.quality.checks import KINDS as FLAG_KINDS
from fieldcheck.review.models import DECISIONS, VERDICTS
from fieldcheck.review.service import QUEUE_STATUSES, QueueFilter


def _point(value: Any) -> dict[str, float] | None:
    if value is None:
        return None
    point = to_shape(value)
    return {"lon": point.x, "lat": point.y}


# Ages of results are asked in hours; ten years is more than any campaign lasts.
MAX_AGE_H = 10 * 366 * 24


class ReviewQueueArgsSchema(PageArgsSchema):
    campaign_id = Id(load_default=None, allow_none=True)
    status = ma.fields.String(
        load_default="pending", validate=ma.validate.OneOf(QUEUE_STATUSES),
        metadata={"description": "pending (no decision yet, the default), decided, amended "
                                 "(decided, then amended by the courier), all, or results "
                                 "whose current decision is accept, reject or recheck"},
    )
    flag = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(1, 32)), load_default=list,
        metadata={"description": "Only results with a flag of one of these kinds (repeat the "
                                 f"parameter); kinds of the checks: {', '.join(FLAG_KINDS)}"},
    )
    flagged = ma.fields.Boolean(
        load_default=None, allow_none=True,
        metadata={"description": "Only results with (true) or without (false) any flag"},
    )
    courier_id = Id(load_default=None, allow_none=True)
    town = ma.fields.String(load_default=None, allow_none=True,
                            metadata={"description": "Township of the business, e.g. 古山镇"})
    outcome = ma.fields.String(load_default=None, allow_none=True,
                               validate=ma.validate.OneOf(OUTCOMES))
    visit_kind = ma.fields.String(load_default=None, allow_none=True,
                                  validate=ma.validate.OneOf(VISIT_KINDS))
    min_age_h = ma.fields.Float(
        load_default=None, allow_none=True, validate=ma.validate.Range(0, MAX_AGE_H),
        metadata={"description": "Only results received at least this many hours ago"},
    )
    max_age_h = ma.fields.Float(
        load_default=None, allow_none=True, validate=ma.validate.Range(0, MAX_AGE_H),
        metadata={"description": "Only results received at most this many hours ago"},
    )

    @ma.post_load
    def make(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {
            "limit": data["limit"],
            "cursor": data["cursor"],
            "filters": QueueFilter(
                campaign_id=data["campaign_id"], status=data["status"],
                flag_kinds=tuple(data["flag"]), flagged=data["flagged"],
                courier_id=data["courier_id"], town=data["town"], outcome=data["outcome"],
                visit_kind=data["visit_kind"], min_age_h=data["min_age_h"],
                max_age_h=data["max_age_h"],
            ),
        }


class ReviewFlagSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    measured = ma.fields.Float(dump_only=True, allow_none=True,
                               metadata={"description": "Empty when it could not be measured"})
    threshold = ma.fields.Float(dump_only=True, allow_none=True)
    unit = ma.fields.String(dump_only=True, allow_none=True)
    message = ma.fields.String(dump_only=True)
    details = ma.fields.Dict(dump_only=True)
    created_at = ma.fields.DateTime(dump_only=True)


class DecisionSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    result_id = ma.fields.Integer(dump_only=True)
    decision = ma.fields.String(dump_only=True)
    reason = ma.fields.String(dump_only=True, allow_none=True)
    reviewer_id = ma.fields.Integer(dump_only=True, allow_none=True)
    bulk = ma.fields.Boolean(dump_only=True)
    decisive = ma.fields.Boolean(dump_only=True)
    result_version = ma.fields.Integer(dump_only=True)
    recheck_visit_id = ma.fields.Integer(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)
    superseded_by_id = ma.fields.Integer(dump_only=True, allow_none=True)
    current = ma.fields.Function(lambda d: d.superseded_by_id is None, dump_only=True)


class DecisionListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(DecisionSchema), dump_only=True)


class DecisionCreateSchema(Schema):
    decision = ma.fields.String(required=True, validate=ma.validate.OneOf(DECISIONS))
    reason = ma.fields.String(
        load_default=None, allow_none=True, validate=ma.validate.Length(0, 2000),
        metadata={"description": "Required for reject: the courier is told why"},
    )
    decisive = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "With accept: this result settles a disagreement between "
                                 "independent visits"},
    )


class ReviewPhotoRefSchema(Schema):
    kind = ma.fields.String(dump_only=True)
    sha256 = ma.fields.String(dump_only=True, attribute="photo_sha256")
    photo_id = ma.fields.Integer(dump_only=True, allow_none=True)


class BusinessBriefSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String(dump_only=True)
    address = ma.fields.String(dump_only=True, allow_none=True)
    town = ma.fields.String(dump_only=True, allow_none=True)
    location_precision = ma.fields.String(dump_only=True)
    location = ma.fields.Function(lambda b: _point(b.location), dump_only=True, allow_none=True)


class VisitBriefSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    campaign_id = ma.fields.Integer(dump_only=True)
    kind = ma.fields.String(dump_only=True)
    state = ma.fields.String(dump_only=True)
    courier_id = ma.fields.Integer(dump_only=True, allow_none=True)
    checks_visit_id = ma.fields.Integer(dump_only=True, allow_none=True)


class RelatedResultSchema(Schema):
    result_id = ma.fields.Integer(dump_only=True)
    visit_id = ma.fields.Integer(dump_only=True)
    visit_kind = ma.fields.String(dump_only=True)
    courier_id = ma.fields.Integer(dump_only=True)
    outcome = ma.fields.String(dump_only=True)
    captured_at = ma.fields.DateTime(dump_only=True)
    decision = ma.fields.String(dump_only=True, allow_none=True)


def _position(result: Any) -> dict[str, Any] | None:
    point = _point(result.position)
    if point is None:
        return None
    return {**point, "accuracy_m": result.accuracy_m,
            "fix_time": result.fix_time.isoformat() if result.fix_time else None}


class ReviewItemSchema(Schema):
    id = ma.fields.Integer(dump_only=True, attribute="result.id")
    courier_id = ma.fields.Integer(dump_only=True, attribute="result.courier_id")
    outcome = ma.fields.String(dump_only=True, attribute="result.outcome")
    not_found_reason = ma.fields.String(dump_only=True, allow_none=True,
                                        attribute="result.not_found_reason")
    position = ma.fields.Function(lambda item: _position(item.result), dump_only=True,
                                  allow_none=True, metadata={"description": "WGS-84"})
    started_at = ma.fields.DateTime(dump_only=True, allow_none=True,
                                    attribute="result.started_at")
    captured_at = ma.fields.DateTime(dump_only=True, attribute="result.captured_at")
    received_at = ma.fields.DateTime(dump_only=True, attribute="result.received_at")
    corrections = ma.fields.Dict(dump_only=True, attribute="result.corrections")
    phone_attempts = ma.fields.List(ma.fields.Dict(), dump_only=True,
                                    attribute="result.phone_attempts")
    notes = ma.fields.String(dump_only=True, allow_none=True, attribute="result.notes")
    late = ma.fields.Boolean(dump_only=True, attribute="result.late")
    late_reason = ma.fields.String(dump_only=True, allow_none=True,
                                   attribute="result.late_reason")
    version = ma.fields.Integer(dump_only=True, attribute="result.version")
    visit = ma.fields.Nested(VisitBriefSchema, dump_only=True)
    business = ma.fields.Nested(BusinessBriefSchema, dump_only=True)
    flags = ma.fields.List(ma.fields.Nested(ReviewFlagSchema), dump_only=True)
    photos = ma.fields.List(ma.fields.Nested(ReviewPhotoRefSchema), dump_only=True)
    decision = ma.fields.Nested(DecisionSchema, dump_only=True, allow_none=True,
                                metadata={"description": "The current decision, if any"})


class ReviewItemDetailSchema(ReviewItemSchema):
    history = ma.fields.List(ma.fields.Nested(DecisionSchema), dump_only=True,
                             metadata={"description": "Every decision, superseded ones too"})
    related = ma.fields.List(
        ma.fields.Nested(RelatedResultSchema), dump_only=True,
        metadata={"description": "The business's other results in the campaign"},
    )


ReviewQueuePageSchema = page_schema(ReviewItemSchema, "ReviewQueuePageSchema")


class FindingSchema(Schema):
    campaign_id = ma.fields.Integer(dump_only=True)
    business_id = ma.fields.Integer(dump_only=True)
    verdict = ma.fields.String(dump_only=True, metadata={"description": ", ".join(VERDICTS)})
    basis = ma.fields.String(dump_only=True)
    settled = ma.fields.Boolean(
        dump_only=True,
        metadata={"description": "False while a visit under way may still change it"},
    )
    result_ids = ma.fields.List(ma.fields.Integer(), dump_only=True)
    photo_ids = ma.fields.List(ma.fields.Integer(), dump_only=True)
    reviewer_ids = ma.fields.List(ma.fields.Integer(), dump_only=True)
    corrections = ma.fields.Dict(dump_only=True)
    verified_location = ma.fields.Function(lambda f: _point(f.verified_location),
                                           dump_only=True, allow_none=True)
    first_visit_on = ma.fields.Date(dump_only=True, allow_none=True)
    last_visit_on = ma.fields.Date(dump_only=True, allow_none=True)
    decided_at = ma.fields.DateTime(dump_only=True)


FindingPageSchema = page_schema(FindingSchema, "FindingPageSchema")


class FindingQueryArgsSchema(PageArgsSchema):
    verdict = ma.fields.String(load_default=None, allow_none=True,
                               validate=ma.validate.OneOf(VERDICTS))
    settled = ma.fields.Boolean(load_default=None, allow_none=True)


class DecisionReceiptSchema(Schema):
    decision = ma.fields.Nested(DecisionSchema, dump_only=True)
    recheck_visit = ma.fields.Nested(VisitBriefSchema, dump_only=True, allow_none=True)
    finding = ma.fields.Nested(FindingSchema, dump_only=True, allow_none=True)
    unchanged = ma.fields.Boolean(
        dump_only=True, metadata={"description": "The same decision was already current"})


class BulkAcceptSchema(Schema):
    result_ids = ma.fields.List(
        Id(), load_default=list,
        metadata={"description": "Limit to these results; empty: every qualifying result"},
    )


class BulkAcceptReportSchema(Schema):
    accepted = ma.fields.List(ma.fields.Integer(), dump_only=True)
    rechecks_ordered = ma.fields.List(ma.fields.Integer(), dump_only=True)


class RecheckSchema(Schema):
    visit = ma.fields.Nested(VisitBriefSchema, dump_only=True)
    checked_visit = ma.fields.Nested(VisitBriefSchema, dump_only=True, allow_none=True)
    business = ma.fields.Nested(BusinessBriefSchema, dump_only=True)


RecheckPageSchema = page_schema(RecheckSchema, "RecheckPageSchema")


class RecheckQueryArgsSchema(PageArgsSchema):
    state = ma.fields.String(load_default=None, allow_none=True)


class CourierIntegritySchema(Schema):
    courier_id = ma.fields.Integer(dump_only=True)
    staff_no = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    results = ma.fields.Integer(dump_only=True)
    flagged_share = ma.fields.Float(dump_only=True)
    flag_rates = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Float(),
                                dump_only=True, metadata={"description": "Share by flag kind"})
    photo_reuse_share = ma.fields.Float(dump_only=True)
    far_share = ma.fields.Float(dump_only=True)
    median_interval_s = ma.fields.Float(dump_only=True, allow_none=True)
    campaign_median = ma.fields.Dict(dump_only=True)
    outlier_score = ma.fields.Float(
        dump_only=True,
        metadata={"description": "Largest distance from the campaign median, in robust "
                                 "standard deviations"},
    )
    outlier_in = ma.fields.List(ma.fields.String(), dump_only=True)


class CourierIntegrityListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(CourierIntegritySchema), dump_only=True)


class CampaignSupervisorSchema(Schema):
    user_id = ma.fields.Integer(dump_only=True)
    campaign_id = ma.fields.Integer(dump_only=True)
    added_by_id = ma.fields.Integer(dump_only=True, allow_none=True)
    added_at = ma.fields.DateTime(dump_only=True)


class CampaignSupervisorListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(CampaignSupervisorSchema), dump_only=True)
