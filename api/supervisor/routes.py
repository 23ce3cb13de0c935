"""Supervisor endpoints: results to look at (late ones, ones waiting for photos), photos."""

from __future__ import annotations

from typing import Any

from flask import Response

from api.courier.routes import photo_response
from api.extensions import Blueprint, db_session, services
from api.pagination import encode_cursor
from api.security import current_user
from api.supervisor.schemas import ResultQueryArgsSchema, ReviewPhotoSchema, ReviewResultPageSchema
from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork import service as fieldwork
from fieldcheck.review import service as review

blp = Blueprint(
    "supervisor",
    __name__,
    url_prefix="/api/v1/supervisor",
    description="Review of what couriers submitted",
)


@blp.get("/results")
@blp.login_required("admin", "supervisor")
@blp.arguments(ResultQueryArgsSchema, location="query")
@blp.response(200, ReviewResultPageSchema)
def list_results(args: dict[str, Any]) -> dict[str, Any]:
    """Visit results of your campaigns, oldest first: `late=true` or `evidence_pending=true`
    to see those"""
    results, more = review.list_results(
        db_session(),
        viewer=current_user(),
        filters=fieldwork.ResultFilter(
            late=args["late"], evidence_pending=args["evidence_pending"]
        ),
        after_id=args["cursor"],
        limit=args["limit"],
    )
    next_cursor = encode_cursor(results[-1].result.id) if more and results else None
    return {"items": results, "next_cursor": next_cursor}


@blp.get("/photos/<int:photo_id>")
@blp.login_required("admin", "supervisor")
@blp.response(200, ReviewPhotoSchema)
@blp.alt_response(404, description="No such photo (or not of a campaign you review)")
def read_photo(photo_id: int) -> Photo:
    """A photo's facts: EXIF position and time, camera, hashes, who uploaded it"""
    return review.get_photo(db_session(), viewer=current_user(), photo_id=photo_id)


@blp.get("/photos/<int:photo_id>/<any(original, thumbnail):variant>")
@blp.login_required("admin", "supervisor")
@blp.photo_response()
@blp.alt_response(302, description="Redirect to a short-lived link into the bucket")
@blp.alt_response(404, description="No such photo (or not of a campaign you review)")
def read_photo_content(photo_id: int, variant: str) -> Response:
    """The original photo as uploaded, or its upright thumbnail"""
    content = review.open_photo(
        db_session(),
        storage=services().storage,
        viewer=current_user(),
        photo_id=photo_id,
        variant=variant,
    )
    return photo_response(content)
