"""Admin endpoints of registry intake: imports and their row issues, jobs, businesses."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Response, request, stream_with_context
from werkzeug.datastructures import FileStorage

from api.admin.routes import blp
from api.admin.schemas import (
    BusinessPageSchema,
    BusinessQueryArgsSchema,
    BusinessSchema,
    ImportBatchPageSchema,
    ImportBatchSchema,
    ImportFileSchema,
    ImportIssuePageSchema,
    ImportUploadSchema,
    JobSchema,
    MergeSchema,
    SplitSchema,
)
from api.extensions import db_session, services
from api.pagination import PageArgsSchema, fetch_page
from api.security import current_user
from fieldcheck.errors import NotFoundError, ValidationError
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import configured_stale_after, get_job_or_raise
from fieldcheck.registry import businesses as business_service
from fieldcheck.registry.models import ImportBatch, ImportIssue
from fieldcheck.registry.service import ImportRequest, ensure_file_readable, request_import

# Bureau lists can be large; only this route accepts bodies beyond the API's usual cap.
MAX_IMPORT_BYTES = 1024 * 1024 * 1024
ALLOWED_SUFFIXES = {".csv", ".txt", ".xlsx", ".xls", ""}


def _allow_large_upload(func):  # type: ignore[no-untyped-def]
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request.max_content_length = MAX_IMPORT_BYTES
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    wrapper.__dict__.update(func.__dict__)
    return wrapper


def _store_upload(upload: FileStorage, uploads: Path) -> tuple[Path, str]:
    """Copy the upload to the uploads folder under its SHA-256, in chunks."""
    uploads.mkdir(parents=True, exist_ok=True)
    suffix = Path(upload.filename or "").suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        raise ValidationError(
            "unsupported file type",
            errors={
                "files": {"file": [f"{suffix} files cannot be imported; send CSV, XLSX or XLS."]}
            },
        )
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=uploads, suffix=".part")
    with os.fdopen(fd, "wb") as out:
        for chunk in iter(lambda: upload.stream.read(1 << 20), b""):
            digest.update(chunk)
            out.write(chunk)
    final = uploads / f"{digest.hexdigest()}{suffix}"
    os.replace(tmp, final)
    return final, digest.hexdigest()


@blp.post("/imports")
@_allow_large_upload
@blp.login_required("admin")
@blp.arguments(ImportUploadSchema, location="form")
@blp.arguments(ImportFileSchema, location="files")
@blp.response(202, JobSchema)
@blp.alt_response(422, description="The file is unreadable or lacks required columns")
def create_import(form: dict[str, Any], files: dict[str, FileStorage]) -> Job:
    """Upload a bureau list or the postal gazetteer for import

    The import runs as a job: poll `GET /admin/jobs/{id}`. A file that was already imported
    gives a finished job at once, with `duplicate_of` and nothing changed. A file missing
    required columns is refused here, naming them and the headers found.
    """
    mapping = None
    if form.get("mapping"):
        try:
            mapping = json.loads(form["mapping"])
            if not isinstance(mapping, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
            ):
                raise ValueError
        except ValueError:
            raise ValidationError(
                "bad mapping",
                errors={
                    "form": {"mapping": ["Must be a JSON object of field name to header text."]}
                },
            ) from None
    upload = files["file"]
    settings = services().settings
    path, sha256 = _store_upload(upload, settings.instance_dir / "uploads")
    filename = Path(upload.filename or path.name).name
    ensure_file_readable(path, filename, form["kind"], mapping)
    job = request_import(
        db_session(),
        request=ImportRequest(
            kind=form["kind"],
            path=path,
            filename=filename,
            sha256=sha256,
            mapping=mapping,
            crs=form["crs"],
        ),
        actor_id=current_user().id,
    )
    if job.state == "queued":
        services().jobs.submit(job.id)
    return job


@blp.get("/jobs/<int:job_id>")
@blp.login_required("admin", "supervisor")
@blp.response(200, JobSchema)
@blp.alt_response(404, description="No such job, or not one you started")
def get_job(job_id: int) -> Job:
    """A background job's state, progress and result

    Admins read every job; a supervisor only the jobs they started themselves. A job whose
    worker stopped answering is reported failed.
    """
    return get_job_or_raise(
        db_session(),
        job_id,
        stale_after=configured_stale_after(services().settings),
        reader=current_user(),
    )


@blp.get("/imports")
@blp.login_required("admin")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, ImportBatchPageSchema)
def list_imports(args: dict[str, Any]) -> dict[str, Any]:
    """Imported files, oldest first"""
    return fetch_page(
        db_session(),
        sa.select(ImportBatch),
        ImportBatch.id,
        limit=args["limit"],
        cursor=args["cursor"],
    )


def _batch_or_404(batch_id: int) -> ImportBatch:
    batch = db_session().get(ImportBatch, batch_id)
    if batch is None:
        raise NotFoundError(f"import {batch_id} not found")
    return batch


@blp.get("/imports/<int:batch_id>")
@blp.login_required("admin")
@blp.response(200, ImportBatchSchema)
@blp.alt_response(404, description="No such import")
def get_import(batch_id: int) -> ImportBatch:
    """One import: counts of rows read, imported, rejected; added, changed, removed"""
    return _batch_or_404(batch_id)


@blp.get("/imports/<int:batch_id>/issues")
@blp.login_required("admin")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, ImportIssuePageSchema)
@blp.alt_response(404, description="No such import")
def list_import_issues(args: dict[str, Any], batch_id: int) -> dict[str, Any]:
    """Rejected and doubtful rows of an import: row, column, value, reason"""
    _batch_or_404(batch_id)
    query = sa.select(ImportIssue).where(ImportIssue.batch_id == batch_id)
    return fetch_page(
        db_session(), query, ImportIssue.id, limit=args["limit"], cursor=args["cursor"]
    )


@blp.get("/imports/<int:batch_id>/issues.csv")
@blp.login_required("admin")
@blp.file_response(200, ("text/csv",), description="CSV, UTF-8 with BOM (opens in Excel and WPS)")
@blp.alt_response(404, description="No such import")
def download_import_issues(batch_id: int) -> Response:
    """The row issues of an import as a CSV file"""
    batch = _batch_or_404(batch_id)
    session = db_session()

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        buffer.write("\ufeff")
        writer.writerow(["行号 row", "列 column", "值 value", "原因 reason", "级别 severity"])
        query = (
            sa.select(ImportIssue)
            .where(ImportIssue.batch_id == batch_id)
            .order_by(ImportIssue.row_number.nulls_first(), ImportIssue.id)
        )
        for issue in session.scalars(query.execution_options(yield_per=2000)):
            writer.writerow(
                [
                    issue.row_number or "",
                    _safe(issue.column),
                    _safe(issue.value),
                    _safe(issue.reason),
                    issue.severity,
                ]
            )
            if buffer.tell() > 1 << 16:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    name = f"import-{batch.id}-issues.csv"
    return Response(
        stream_with_context(rows()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _safe(value: str | None) -> str:
    """Neutralise spreadsheet formula triggers: the file is opened in Excel."""
    if not value:
        return ""
    return "'" + value if value[0] in "=+-@\t\r\n" else value


@blp.get("/businesses")
@blp.login_required("admin", "supervisor")
@blp.arguments(BusinessQueryArgsSchema, location="query")
@blp.response(200, BusinessPageSchema)
def list_businesses(args: dict[str, Any]) -> dict[str, Any]:
    """Businesses with their source records and location"""
    filters = business_service.BusinessFilter(
        town=args["town"],
        link_reason=args["link_reason"],
        location_precision=args["location_precision"],
    )
    session = db_session()
    page = fetch_page(
        session,
        business_service.business_query(filters),
        business_service.Business.id,
        limit=args["limit"],
        cursor=args["cursor"],
    )
    page["items"] = business_service.list_business_views(session, page["items"])
    return page


@blp.get("/businesses/<int:business_id>")
@blp.login_required("admin", "supervisor")
@blp.response(200, BusinessSchema)
@blp.alt_response(404, description="No such business")
def get_business(business_id: int) -> business_service.BusinessView:
    """One business with its source records and location"""
    return business_service.get_business_or_raise(db_session(), business_id)


@blp.post("/businesses/merge")
@blp.login_required("admin")
@blp.arguments(MergeSchema)
@blp.response(200, BusinessSchema)
@blp.alt_response(404, description="A business does not exist")
@blp.alt_response(409, description="The businesses carry different credit codes")
def merge_businesses(body: dict[str, Any]) -> business_service.BusinessView:
    """Merge businesses that are one: records and visits move to the oldest"""
    return business_service.merge_businesses(
        db_session(),
        business_ids=body["business_ids"],
        actor_id=current_user().id,
        reason=body["reason"],
    )


@blp.post("/businesses/<int:business_id>/split")
@blp.login_required("admin")
@blp.arguments(SplitSchema)
@blp.response(201, BusinessSchema)
@blp.alt_response(404, description="No such business")
def split_business(body: dict[str, Any], business_id: int) -> business_service.BusinessView:
    """Move some records of a business to a new business"""
    return business_service.split_business(
        db_session(),
        business_id=business_id,
        record_ids=body["record_ids"],
        actor_id=current_user().id,
        reason=body["reason"],
    )
