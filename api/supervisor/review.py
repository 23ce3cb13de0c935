"""Review endpoints: the queue, decisions, bulk acceptance, re-checks, findings, courier
integrity, and which supervisors review which campaign. Registered on the supervisor
blueprint when imported."""

from __future__ import annotations

from typing import Any

from api.extensions import db_session
from api.pagination import encode_cursor
from api.security import current_user
from api.supervisor.review_schemas import (
    BulkAcceptReportSchema,
    BulkAcceptSchema,
    CampaignSupervisorListSchema,
    CampaignSupervisorSchema,
    CourierIntegrityListSchema,
    DecisionCreateSchema,
    DecisionListSchema,
    DecisionReceiptSchema,
    FindingPageSchema,
    FindingQueryArgsSchema,
    FindingSchema,
    RecheckPageSchema,
    RecheckQueryArgsSchema,
    ReviewItemDetailSchema,
    ReviewQueueArgsSchema,
    ReviewQueuePageSchema,
)
from api.supervisor.routes import blp
from fieldcheck.review import service as review
from fieldcheck.review.models import CampaignSupervisor, Finding

NOT_YOURS = "No such result (or not in a campaign you review)"
NOT_YOUR_CAMPAIGN = "No such campaign (or not one you review)"


@blp.get("/review/queue")
@blp.login_required("admin", "supervisor")
@blp.arguments(ReviewQueueArgsSchema, location="query")
@blp.response(200, ReviewQueuePageSchema)
def review_queue(args: dict[str, Any]) -> dict[str, Any]:
    """Results to review, oldest first, filtered by flag, courier, township, outcome and age

    Only results of the campaigns the supervisor reviews, and only complete ones (every
    photo arrived). `status=pending` (the default) lists those without a decision.
    """
    items, more = review.list_review_queue(
        db_session(), viewer=current_user(), filters=args["filters"], after_id=args["cursor"],
        limit=args["limit"],
    )
    next_cursor = encode_cursor(items[-1].result.id) if more and items else None
    return {"items": items, "next_cursor": next_cursor}


@blp.get("/review/results/<int:result_id>")
@blp.login_required("admin", "supervisor")
@blp.response(200, ReviewItemDetailSchema)
@blp.alt_response(404, description=NOT_YOURS)
def review_result(result_id: int) -> review.ReviewItem:
    """One result with its flags, photos, every decision and the business's other results"""
    return review.get_review_item(db_session(), viewer=current_user(), result_id=result_id)


@blp.get("/review/results/<int:result_id>/decisions")
@blp.login_required("admin", "supervisor")
@blp.response(200, DecisionListSchema)
@blp.alt_response(404, description=NOT_YOURS)
def list_decisions(result_id: int) -> dict[str, Any]:
    """Every decision on a result, oldest first; superseded ones name their successor"""
    return {"items": review.list_decisions(db_session(), viewer=current_user(),
                                           result_id=result_id)}


@blp.post("/review/results/<int:result_id>/decisions")
@blp.login_required("admin", "supervisor")
@blp.arguments(DecisionCreateSchema)
@blp.response(201, DecisionReceiptSchema)
@blp.alt_response(404, description=NOT_YOURS)
@blp.alt_response(409, description="The result still waits for photos, or a decisive accept "
                                   "has nothing to settle or too little to rest on")
def create_decision(body: dict[str, Any], result_id: int) -> review.DecisionReceipt:
    """Accept, reject (with a reason; the visit goes back to the courier) or order a re-check

    The decision supersedes the result's current one, which stays in its history. An
    accepted negative outcome, and a reproducible sample of positive ones, get a blind
    re-check by another courier; the business's finding is recomputed.
    """
    return review.decide(db_session(), result_id=result_id, decision=body["decision"],
                         reason=body["reason"], decisive=body["decisive"],
                         actor=current_user())


@blp.post("/review/campaigns/<int:campaign_id>/accept-unflagged")
@blp.login_required("admin", "supervisor")
@blp.arguments(BulkAcceptSchema)
@blp.response(200, BulkAcceptReportSchema)
@blp.alt_response(404, description=NOT_YOUR_CAMPAIGN)
def accept_unflagged(body: dict[str, Any], campaign_id: int) -> review.BulkAcceptReport:
    """Accept every undecided result of the campaign that has no flag (or those listed)"""
    return review.accept_unflagged(db_session(), campaign_id=campaign_id, actor=current_user(),
                                   result_ids=body["result_ids"])


@blp.get("/review/campaigns/<int:campaign_id>/rechecks")
@blp.login_required("admin", "supervisor")
@blp.arguments(RecheckQueryArgsSchema, location="query")
@blp.response(200, RecheckPageSchema)
@blp.alt_response(404, description=NOT_YOUR_CAMPAIGN)
def list_rechecks(args: dict[str, Any], campaign_id: int) -> dict[str, Any]:
    """Re-check visits of the campaign, with the visit each checks"""
    rows, more = review.list_rechecks(db_session(), viewer=current_user(),
                                      campaign_id=campaign_id, state=args["state"],
                                      after_id=args["cursor"], limit=args["limit"])
    next_cursor = encode_cursor(rows[-1].visit.id) if more and rows else None
    return {"items": rows, "next_cursor": next_cursor}


@blp.get("/review/campaigns/<int:campaign_id>/findings")
@blp.login_required("admin", "supervisor")
@blp.arguments(FindingQueryArgsSchema, location="query")
@blp.response(200, FindingPageSchema)
@blp.alt_response(404, description=NOT_YOUR_CAMPAIGN)
def list_findings(args: dict[str, Any], campaign_id: int) -> dict[str, Any]:
    """Verdicts of the campaign, one per business, with the evidence behind each"""
    rows, more = review.list_findings(db_session(), viewer=current_user(),
                                      campaign_id=campaign_id, verdict=args["verdict"],
                                      settled=args["settled"], after_id=args["cursor"],
                                      limit=args["limit"])
    next_cursor = encode_cursor(rows[-1].id) if more and rows else None
    return {"items": rows, "next_cursor": next_cursor}


@blp.get("/review/campaigns/<int:campaign_id>/findings/<int:business_id>")
@blp.login_required("admin", "supervisor")
@blp.response(200, FindingSchema)
@blp.alt_response(404, description="No finding yet, or not a campaign you review")
def get_finding(campaign_id: int, business_id: int) -> Finding:
    """The verdict on one business, with its results, photos and reviewers"""
    return review.get_finding_or_raise(db_session(), viewer=current_user(),
                                       campaign_id=campaign_id, business_id=business_id)


@blp.get("/review/campaigns/<int:campaign_id>/couriers")
@blp.login_required("admin", "supervisor")
@blp.response(200, CourierIntegrityListSchema)
@blp.alt_response(404, description=NOT_YOUR_CAMPAIGN)
def courier_integrity(campaign_id: int) -> dict[str, Any]:
    """Per courier: flag rates, photo reuse, time between visits, share far from the address

    Each figure beside the campaign median; the couriers farthest from it come first.
    """
    return {"items": review.courier_integrity(db_session(), viewer=current_user(),
                                              campaign_id=campaign_id)}


@blp.get("/review/campaigns/<int:campaign_id>/supervisors")
@blp.login_required("admin", "supervisor")
@blp.response(200, CampaignSupervisorListSchema)
@blp.alt_response(404, description=NOT_YOUR_CAMPAIGN)
def list_supervisors(campaign_id: int) -> dict[str, Any]:
    """The supervisors who review the campaign"""
    return {"items": review.list_campaign_supervisors(db_session(), campaign_id=campaign_id,
                                                      actor=current_user())}


@blp.put("/review/campaigns/<int:campaign_id>/supervisors/<int:user_id>")
@blp.login_required("admin")
@blp.response(200, CampaignSupervisorSchema)
@blp.alt_response(404, description="No such campaign or user")
@blp.alt_response(422, description="The user is not a supervisor")
def add_supervisor(campaign_id: int, user_id: int) -> CampaignSupervisor:
    """Let a supervisor review the campaign"""
    return review.add_campaign_supervisor(db_session(), campaign_id=campaign_id,
                                          user_id=user_id, actor=current_user())


@blp.delete("/review/campaigns/<int:campaign_id>/supervisors/<int:user_id>")
@blp.login_required("admin")
@blp.response(204)
@blp.alt_response(404, description="The user does not supervise the campaign")
def remove_supervisor(campaign_id: int, user_id: int) -> None:
    """Stop a supervisor reviewing the campaign; their past decisions stay"""
    review.remove_campaign_supervisor(db_session(), campaign_id=campaign_id, user_id=user_id,
                                      actor=current_user())
