"""Courier endpoints: the phone app's whole contract with the server."""

from __future__ import annotations

import dataclasses
import mimetypes
import uuid
from typing import Any, TypeVar

from flask import Response, redirect
from flask_smorest import abort
from werkzeug.datastructures import FileStorage

from api.auth.schemas import UserSchema
from api.courier.schemas import (
    DirectUploadCreateSchema,
    DirectUploadSchema,
    DiscoveryCreateSchema,
    DiscoverySchema,
    IdempotencyKeyHeaderSchema,
    PhotoFileSchema,
    PhotoSchema,
    PhotoUploadFormSchema,
    ResultAmendmentCreateSchema,
    ResultCreateSchema,
    ResultSchema,
    SyncPageSchema,
    SyncQueryArgsSchema,
    sync_page_body,
)
from api.extensions import Blueprint, db_session, services
from api.security import current_user
from fieldcheck.auth.models import User
from fieldcheck.evidence import service as evidence
from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork import service as fieldwork
from fieldcheck.fieldwork import sync
from fieldcheck.fieldwork.inputs import DiscoveryReport, ResultAmendmentRequest, ResultSubmission

blp = Blueprint(
    "courier",
    __name__,
    url_prefix="/api/v1/courier",
    description="The phone app's contract with the server",
)

# Part types that say nothing about the file; the file name's extension is the claim then.
_VAGUE_TYPES = {"", "application/octet-stream"}


@blp.get("/me")
@blp.login_required("courier")
@blp.response(200, UserSchema)
def me() -> User:
    """The courier's own account"""
    return current_user()


@blp.get("/sync")
@blp.login_required("courier")
@blp.arguments(SyncQueryArgsSchema, location="query")
@blp.response(200, SyncPageSchema)
@blp.statements_autocommit
def pull_changes(args: dict[str, Any]) -> Response:
    """Visits added, changed and withdrawn since a cursor

    Call without a cursor on a new phone, then always with the `cursor` of the last page,
    while `has_more` is true and on every later sync. Each visit comes with what the app
    needs offline. A `withdrawn` item means: drop that visit, it is no longer yours.
    """
    page = sync.pull_changes(
        db_session(), courier_user=current_user(), after=args["cursor"], limit=args["limit"]
    )
    # Compact UTF-8 rather than the app's sorted, ASCII-escaped JSON: Chinese names and
    # addresses are half the bytes, and the stored payloads go out as they are.
    return Response(sync_page_body(page), mimetype="application/json")


# --- photos --------------------------------------------------------------------------------


@blp.post("/photos")
@blp.login_required("courier")
@blp.arguments(PhotoUploadFormSchema, location="form")
@blp.arguments(PhotoFileSchema, location="files")
@blp.response(201, PhotoSchema)
@blp.alt_response(409, description="The same photo was uploaded by another account")
@blp.alt_response(422, description="Not a whole JPEG, PNG or HEIC of the claimed type, or too big")
@blp.alt_response(503, description="Photo storage unavailable; retry after Retry-After")
def upload_photo(form: dict[str, Any], files: dict[str, FileStorage]) -> Photo:
    """Upload a photo (multipart)

    The original is kept unmodified as evidence. Uploading the same file again returns the
    same photo. Results and discoveries that named it by SHA-256 are completed.
    """
    upload = files["file"]
    claimed = upload.mimetype if upload.mimetype not in _VAGUE_TYPES else None
    if claimed is None and upload.filename:
        claimed = mimetypes.guess_type(upload.filename)[0]
    svc = services()
    return evidence.upload_photo(
        db_session(),
        storage=svc.storage,
        uploader=current_user(),
        data=upload.read(),
        claimed_type=claimed,
        claimed_sha256=form["sha256"],
        limits=evidence.PhotoLimits.from_settings(svc.settings),
    )


@blp.post("/photo-uploads")
@blp.login_required("courier")
@blp.arguments(DirectUploadCreateSchema)
@blp.response(201, DirectUploadSchema)
@blp.alt_response(
    409, description="No direct uploads here (local storage), or another account's photo"
)
def start_direct_upload(body: dict[str, Any]) -> evidence.DirectUpload:
    """Start a direct upload to the bucket

    Send the file with the returned form (`upload.url`, `upload.fields`, then `file`), then
    call `complete`. When `status` is `received` the server already has the photo.
    """
    svc = services()
    return evidence.start_direct_upload(
        db_session(),
        storage=svc.storage,
        uploader=current_user(),
        sha256=body["sha256"],
        content_type=body["content_type"],
        size_bytes=body["size_bytes"],
        limits=evidence.PhotoLimits.from_settings(svc.settings),
    )


@blp.post("/photo-uploads/<uuid:upload_id>/complete")
@blp.login_required("courier")
@blp.response(201, PhotoSchema)
@blp.alt_response(404, description="No such upload of yours")
@blp.alt_response(409, description="The bucket has nothing for this upload yet")
@blp.alt_response(422, description="The bytes are not the announced photo")
def complete_direct_upload(upload_id: uuid.UUID) -> Photo:
    """Complete a direct upload: the server checks the bytes and keeps the photo"""
    svc = services()
    return evidence.complete_direct_upload(
        db_session(),
        storage=svc.storage,
        uploader=current_user(),
        upload_id=upload_id,
        limits=evidence.PhotoLimits.from_settings(svc.settings),
    )


@blp.get("/photos/<int:photo_id>")
@blp.login_required("courier")
@blp.response(200, PhotoSchema)
@blp.alt_response(404, description="No such photo of yours")
def read_photo(photo_id: int) -> Photo:
    """One of the courier's photos: what was read from it, and where to fetch it"""
    return evidence.get_photo_or_raise(db_session(), viewer=current_user(), photo_id=photo_id)


@blp.get("/photos/<int:photo_id>/<any(original, thumbnail):variant>")
@blp.login_required("courier")
@blp.photo_response()
@blp.alt_response(302, description="Redirect to a short-lived link into the bucket")
@blp.alt_response(404, description="No such photo of yours")
def read_photo_content(photo_id: int, variant: str) -> Response:
    """The original photo as uploaded, or its upright thumbnail"""
    content = evidence.open_photo(
        db_session(),
        storage=services().storage,
        viewer=current_user(),
        photo_id=photo_id,
        variant=variant,
    )
    return photo_response(content)


def photo_response(content: evidence.PhotoContent) -> Response:
    """The bytes, or a redirect to a presigned link; never cached by shared caches."""
    if content.url is not None:
        response = redirect(content.url, code=302)
    else:
        response = Response(content.data, mimetype=content.mime_type)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# --- results and discoveries ----------------------------------------------------------------


@blp.post("/results")
@blp.login_required("courier")
@blp.arguments(ResultCreateSchema)
@blp.arguments(IdempotencyKeyHeaderSchema, location="headers")
@blp.response(201, ResultSchema)
@blp.alt_response(403, description="Not one of your visits")
@blp.alt_response(404, description="No such visit")
@blp.alt_response(
    409,
    description="Stored as late (the visit was reassigned or withdrawn "
    "meanwhile), or the submission id was used for another result",
)
def submit_result(submission: ResultSubmission, headers: dict[str, Any]) -> fieldwork.ResultReceipt:
    """Submit a visit result

    Resending the same submission (same `submission_id`, same content) returns the same
    answer and stores nothing new. Photos are named by SHA-256 and may be uploaded before or
    after: until the last one arrives the result is `evidence_pending`.
    """
    submission = with_client_id(submission, "submission_id", headers)
    return fieldwork.submit_result(db_session(), courier_user=current_user(), submission=submission)


@blp.get("/results/<string:submission_id>")
@blp.login_required("courier")
@blp.response(200, ResultSchema)
@blp.alt_response(404, description="No result of yours with this submission id")
def read_result(submission_id: str) -> fieldwork.ResultReceipt:
    """One of the courier's results, with the photos it still waits for"""
    return fieldwork.get_result_or_raise(
        db_session(), courier_user=current_user(), submission_id=submission_id
    )


@blp.post("/results/<string:submission_id>/amendments")
@blp.login_required("courier")
@blp.arguments(ResultAmendmentCreateSchema)
@blp.arguments(IdempotencyKeyHeaderSchema, location="headers")
@blp.response(200, ResultSchema)
@blp.alt_response(404, description="No result of yours with this submission id")
@blp.alt_response(409, description="The edit was made on an older version of the result")
def amend_result(
    amendment: ResultAmendmentRequest, headers: dict[str, Any], submission_id: str
) -> fieldwork.ResultReceipt:
    """Correct a result

    `base_version` is the result's `version` the edit was made on; if another edit landed
    since, the answer is 409 `version_conflict` with the current version, and nothing changes.
    """
    amendment = with_client_id(amendment, "amendment_id", headers)
    return fieldwork.amend_result(
        db_session(), courier_user=current_user(), submission_id=submission_id, amendment=amendment
    )


@blp.post("/discoveries")
@blp.login_required("courier")
@blp.arguments(DiscoveryCreateSchema)
@blp.arguments(IdempotencyKeyHeaderSchema, location="headers")
@blp.response(201, DiscoverySchema)
@blp.alt_response(409, description="The discovery id was used for another report")
def report_discovery(
    report: DiscoveryReport, headers: dict[str, Any]
) -> fieldwork.DiscoveryReceipt:
    """Report an operating business that no list has

    It becomes a business found in the field; resending the same report is harmless.
    """
    report = with_client_id(report, "discovery_id", headers)
    return fieldwork.report_discovery(db_session(), courier_user=current_user(), report=report)


_Input = TypeVar("_Input", ResultSubmission, ResultAmendmentRequest, DiscoveryReport)


def with_client_id(body: _Input, field: str, headers: dict[str, Any]) -> _Input:
    """`body` with its client id: its own, else the `Idempotency-Key` header's.

    Either one makes a resent POST harmless; a body and a header naming two different ids
    are refused rather than guessed between.
    """
    own, key = getattr(body, field), headers["idempotency_key"]
    if own is not None and key is not None and own != key:
        abort(
            422,
            message=f"{field} and the Idempotency-Key header differ",
            errors={
                "headers": {
                    "Idempotency-Key": [
                        f"Differs from {field} in the body ({own}); send one of the two, "
                        "or the same value in both."
                    ]
                }
            },
        )
    if own is None and key is None:
        abort(
            422,
            message=f"no {field}",
            errors={
                "json": {
                    field: [
                        "Missing data for required field: send it, or an Idempotency-Key "
                        "header, made once per request and sent again with its retries."
                    ]
                }
            },
        )
    return body if own is not None else dataclasses.replace(body, **{field: key})
