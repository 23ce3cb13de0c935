"""Use cases of registry exports: produce a bureau's cleaned registry (directly or as a job),
hand over a job's file, and open the evidence a file's links point to.

Every file produced is an `Export` row and an audit event naming who, which filters, how
many rows and the SHA-256 of the exact bytes delivered (computed while they stream).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.audit.service import record_event
from fieldcheck.auth.models import User
from fieldcheck.db import utcnow
from fieldcheck.dispatch.models import Campaign
from fieldcheck.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from fieldcheck.evidence.models import Photo
from fieldcheck.evidence.service import PhotoContent
from fieldcheck.evidence.storage import PhotoStorage
from fieldcheck.exports.actions import ACTIONS, BUREAUS
from fieldcheck.exports.models import EXPORT_FORMATS, Export
from fieldcheck.exports.rows import (
    Column,
    ExportFilters,
    RowOptions,
    columns_for,
    count_estimate,
    iter_rows,
)
from fieldcheck.exports.writers import XLSX_MAX_ROWS, RowWriter, Summary, make_writer
from fieldcheck.fieldwork.models import Discovery, DiscoveryPhoto
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import STALE_AFTER, create_job, get_job_or_raise
from fieldcheck.registry.models import Business, SourceRecord
from fieldcheck.review.models import Finding

log = logging.getLogger(__name__)

CSV_ENCODINGS = ("utf-8-sig", "gb18030")
DEFAULT_LINK_TTL_S = 72 * 3600
MAX_LINK_TTL_S = 7 * 24 * 3600
# A photo opened from an evidence page is handed over through a bucket link this short.
PHOTO_URL_TTL_S = 300
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "geojson": "geojson"}
MEDIA_TYPES = {
    "csv": "text/csv",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "geojson": "application/geo+json",
}
# Rows between two hand-overs of bytes and progress reports.
_BATCH = 1024

ProgressFn = Callable[..., None]


@dataclass(frozen=True)
class ExportRequest:
    """What to export. `evidence_url` is the URL prefix of evidence pages (None: no links)."""

    bureau: str
    fmt: str
    filters: ExportFilters = field(default_factory=ExportFilters)
    encoding: str = "utf-8-sig"
    gcj02: bool = False
    evidence_url: str | None = None
    link_ttl_s: int = DEFAULT_LINK_TTL_S
    max_sheet_rows: int = XLSX_MAX_ROWS

    def problems(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if self.bureau not in BUREAUS:
            errors["bureau"] = [f"Must be one of: {', '.join(BUREAUS)}."]
        if self.fmt not in EXPORT_FORMATS:
            errors["format"] = [f"Must be one of: {', '.join(EXPORT_FORMATS)}."]
        if self.encoding not in CSV_ENCODINGS:
            errors["encoding"] = [f"Must be one of: {', '.join(CSV_ENCODINGS)}."]
        unknown = [a for a in self.filters.actions if a not in ACTIONS]
        if unknown:
            errors["actions"] = [f"Unknown actions: {', '.join(unknown)}."]
        f = self.filters
        if f.decided_from and f.decided_to and f.decided_from > f.decided_to:
            errors["decided_to"] = ["Must not be before decided_from."]
        if not 60 <= self.link_ttl_s <= MAX_LINK_TTL_S:
            errors["link_ttl_s"] = [f"Must be between 60 and {MAX_LINK_TTL_S} seconds."]
        return errors

    def params(self) -> dict[str, Any]:
        """The request as JSON, for a job's parameters."""
        return {
            "bureau": self.bureau,
            "format": self.fmt,
            "filters": self.filters.as_dict(),
            "encoding": self.encoding,
            "gcj02": self.gcj02,
            "evidence_url": self.evidence_url,
            "link_ttl_s": self.link_ttl_s,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ExportRequest:
        f = params.get("filters") or {}
        day = date.fromisoformat
        return cls(
            bureau=params["bureau"],
            fmt=params["format"],
            filters=ExportFilters(
                actions=tuple(f.get("actions") or ()),
                towns=tuple(f.get("towns") or ()),
                decided_from=day(f["decided_from"]) if f.get("decided_from") else None,
                decided_to=day(f["decided_to"]) if f.get("decided_to") else None,
                campaign_id=f.get("campaign_id"),
            ),
            encoding=params.get("encoding") or "utf-8-sig",
            gcj02=bool(params.get("gcj02")),
            evidence_url=params.get("evidence_url"),
            link_ttl_s=int(params.get("link_ttl_s") or DEFAULT_LINK_TTL_S),
        )


@dataclass
class ExportResult:
    export_id: int
    filename: str
    media_type: str
    rows: int
    size_bytes: int
    sha256: str
    campaign_id: int | None
    by_action: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export_id,
            "filename": self.filename,
            "media_type": self.media_type,
            "rows": self.rows,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "campaign_id": self.campaign_id,
            "by_action": self.by_action,
        }


def authorize_export(actor: User | None, bureau: str) -> None:
    """An official reads only their own bureau's registry; an administrator reads both.

    `actor` None is the command line, run by whoever holds the database itself.
    """
    if actor is None:
        return
    if not actor.active:
        raise PermissionDeniedError("this account is disabled")
    if actor.role == "admin":
        return
    if actor.role == "official" and actor.bureau == bureau:
        return
    if actor.role == "official":
        raise PermissionDeniedError(
            f"this account reads the {actor.bureau} registry, not the {bureau} registry"
        )
    raise PermissionDeniedError(f"a {actor.role} cannot export registries")


def resolve_campaign(session: Session, campaign_id: int | None) -> Campaign | None:
    """The campaign asked for, else the latest one (None when there is none yet)."""
    if campaign_id is not None:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise NotFoundError(f"campaign {campaign_id} not found")
        return campaign
    return session.scalar(
        sa.select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id.desc()).limit(1)
    )


def check_export(request: ExportRequest, actor: User | None) -> None:
    """Refuse an invalid request (ValidationError) or another bureau's registry (403)."""
    errors = request.problems()
    if errors:
        raise ValidationError("invalid export request", errors=errors)
    authorize_export(actor, request.bureau)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class PreparedExport:
    """An export whose row is recorded; `chunks()` produces the file's bytes once."""

    def __init__(
        self,
        export: Export,
        request: ExportRequest,
        *,
        columns: list[Column],
        writer: RowWriter,
        options: RowOptions,
        campaign: Campaign | None,
        summary: Summary,
    ) -> None:
        self.export = export
        self.request = request
        self.columns = columns
        self.writer = writer
        self.options = options
        self.campaign = campaign
        self.summary = summary
        self.result: ExportResult | None = None

    @property
    def media_type(self) -> str:
        return self.writer.media_type

    def chunks(self, session: Session, progress: ProgressFn | None = None) -> Iterator[bytes]:
        """The file, chunk by chunk; `result` (rows, SHA-256, size) is set at the end."""
        digest = hashlib.sha256()
        size = rows = 0
        counts: Counter[tuple[str | None, str]] = self.summary.counts
        writer = self.writer
        total = count_estimate(session, bureau=self.request.bureau) if progress else None
        for row in iter_rows(
            session,
            bureau=self.request.bureau,
            campaign_id=self.campaign.id if self.campaign else None,
            filters=self.request.filters,
            options=self.options,
        ):
            writer.write_row(row)
            counts[(row.town, row.action)] += 1
            rows += 1
            if rows % _BATCH == 0:
                data = writer.drain()
                if data:
                    digest.update(data)
                    size += len(data)
                    yield data
                if progress is not None:
                    progress("exporting", rows, max(total or 0, rows))
        for data in writer.finish(self.summary):
            if data:
                digest.update(data)
                size += len(data)
                yield data
        by_action: Counter[str] = Counter()
        for (_, action), n in counts.items():
            by_action[action] += n
        self.result = ExportResult(
            export_id=self.export.id,
            filename=self.export.filename,
            media_type=writer.media_type,
            rows=rows,
            size_bytes=size,
            sha256=digest.hexdigest(),
            campaign_id=self.campaign.id if self.campaign else None,
            by_action=dict(by_action),
        )


def start_export(
    session: Session,
    *,
    request: ExportRequest,
    actor: User | None,
    job_id: int | None = None,
    path: str | None = None,
) -> PreparedExport:
    """Check and record an export (commits its row, so its evidence links work at once)."""
    check_export(request, actor)
    campaign = resolve_campaign(session, request.filters.campaign_id)
    now = utcnow()
    token = None
    if request.evidence_url and actor is not None:
        token = secrets.token_urlsafe(18)
    ext = EXTENSIONS[request.fmt]
    export = Export(
        bureau=request.bureau,
        format=request.fmt,
        encoding=request.encoding if request.fmt == "csv" else None,
        filters=request.filters.as_dict(),
        campaign_id=campaign.id if campaign else None,
        actor_id=actor.id if actor else None,
        job_id=job_id,
        state="running",
        filename=f"{request.bureau}-registry-{now:%Y%m%d-%H%M%S}.{ext}",
        path=path,
        link_token_hash=_token_hash(token) if token else None,
        links_expire_at=now + timedelta(seconds=request.link_ttl_s) if token else None,
        created_at=now,
    )
    session.add(export)
    session.commit()
    reviewer_names = {
        uid: display or username
        for uid, display, username in session.execute(
            sa.select(User.id, User.display_name, User.username).where(
                User.role.in_(("admin", "supervisor"))
            )
        )
    }
    link: Callable[[int], str] | None = None
    if token:
        prefix = f"{request.evidence_url}{token}/"

        def link(business_id: int) -> str:
            return f"{prefix}{business_id}"

    options = RowOptions(
        unmask_ids=bool(actor is not None and actor.may_see_id_numbers),
        gcj02=request.gcj02,
        evidence_link=link,
        reviewer_names=reviewer_names,
    )
    columns = columns_for(request.bureau, gcj02=request.gcj02)
    actions = request.filters.actions or ACTIONS
    writer = make_writer(
        request.fmt,
        columns,
        bureau=request.bureau,
        encoding=request.encoding,
        actions=tuple(a for a in ACTIONS if a in actions),
        max_sheet_rows=request.max_sheet_rows,
    )
    summary = Summary(
        bureau=request.bureau,
        campaign=campaign.name if campaign else None,
        filters=request.filters.as_dict(),
        generated_at=now,
        masked=not options.unmask_ids,
    )
    return PreparedExport(
        export, request, columns=columns, writer=writer, options=options, campaign=campaign,
        summary=summary,
    )


def finish_export(
    session: Session,
    *,
    export_id: int,
    result: ExportResult | None,
    via: str,
    client_address: str | None = None,
    error: str | None = None,
) -> None:
    """Record how an export ended, and its audit event (commits)."""
    export = session.get(Export, export_id)
    if export is None:
        raise NotFoundError(f"export {export_id} not found")
    export.finished_at = utcnow()
    details: dict[str, Any] = {
        "export_id": export.id,
        "bureau": export.bureau,
        "format": export.format,
        "encoding": export.encoding,
        "filters": export.filters,
        "campaign_id": export.campaign_id,
        "via": via,
        "filename": export.filename,
    }
    if result is not None and error is None:
        export.state = "succeeded"
        export.rows, export.size_bytes, export.sha256 = (
            result.rows, result.size_bytes, result.sha256,
        )
        details.update(rows=result.rows, bytes=result.size_bytes, sha256=result.sha256)
        action = "registry.exported"
    else:
        export.state = "failed"
        details["error"] = error or "the export did not finish"
        action = "registry.export_failed"
    record_event(
        session,
        action=action,
        actor_id=export.actor_id,
        object_type="export",
        object_id=export.id,
        client_address=client_address,
        details=details,
    )
    session.commit()


def export_registry(
    session: Session,
    *,
    bureau: str,
    fmt: str,
    filters: ExportFilters,
    actor: User | None,
    out: BinaryIO,
    encoding: str = "utf-8-sig",
    gcj02: bool = False,
    evidence_url: str | None = None,
    link_ttl_s: int = DEFAULT_LINK_TTL_S,
    max_sheet_rows: int = XLSX_MAX_ROWS,
    via: str = "cli",
    client_address: str | None = None,
    progress: ProgressFn | None = None,
    job_id: int | None = None,
    path: str | None = None,
) -> ExportResult:
    """Write a bureau's cleaned registry to `out` and record the download (commits)."""
    request = ExportRequest(
        bureau=bureau, fmt=fmt, filters=filters, encoding=encoding, gcj02=gcj02,
        evidence_url=evidence_url, link_ttl_s=link_ttl_s, max_sheet_rows=max_sheet_rows,
    )
    prepared = start_export(session, request=request, actor=actor, job_id=job_id, path=path)
    try:
        for chunk in prepared.chunks(session, progress):
            out.write(chunk)
        out.flush()
    except Exception as exc:
        session.rollback()
        finish_export(session, export_id=prepared.export.id, result=None, via=via,
                      client_address=client_address, error=type(exc).__name__)
        raise
    assert prepared.result is not None
    finish_export(session, export_id=prepared.export.id, result=prepared.result, via=via,
                  client_address=client_address)
    log.info("export %s: %s %s, %s rows, sha256 %s", prepared.export.id, bureau, fmt,
             prepared.result.rows, prepared.result.sha256)
    return prepared.result


# --- jobs ----------------------------------------------------------------------------------


def request_export(
    session: Session,
    *,
    request: ExportRequest,
    actor: User | None,
    via: str,
    output_path: Path | None = None,
    output_dir: Path | None = None,
    client_address: str | None = None,
) -> Job:
    """Queue an export job writing to `output_path`, or to a new file in `output_dir`
    (commits; the caller submits the job)."""
    check_export(request, actor)
    resolve_campaign(session, request.filters.campaign_id)  # an unknown campaign fails now
    if output_path is None:
        if output_dir is None:
            raise ValueError("an output path or folder is needed")
        output_path = output_dir / f"{secrets.token_hex(16)}.{EXTENSIONS[request.fmt]}"
    job = create_job(
        session,
        kind="export",
        params={
            **request.params(),
            "output_path": str(output_path),
            "via": via,
            "client_address": client_address,
        },
        actor_id=actor.id if actor else None,
    )
    job.total = count_estimate(session, bureau=request.bureau)
    session.commit()
    return job


def run_export_job(
    sessions: sessionmaker[Session], job: Job, progress: ProgressFn
) -> dict[str, Any]:
    """The job: export to a temporary file beside the target, then move it into place."""
    params = job.params
    request = ExportRequest.from_params(params)
    target = Path(params["output_path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.part")
    progress("exporting", 0, job.total, force=True)
    with sessions() as session:
        actor = session.get(User, job.created_by_id) if job.created_by_id else None
        try:
            with open(partial, "wb") as out:
                result = export_registry(
                    session,
                    bureau=request.bureau,
                    fmt=request.fmt,
                    filters=request.filters,
                    actor=actor,
                    out=out,
                    encoding=request.encoding,
                    gcj02=request.gcj02,
                    evidence_url=request.evidence_url,
                    link_ttl_s=request.link_ttl_s,
                    via=params.get("via") or "job",
                    client_address=params.get("client_address"),
                    progress=progress,
                    job_id=job.id,
                    path=str(target),
                )
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
    progress("done", result.rows, result.rows, force=True)
    return result.as_dict()


def get_export_job_or_raise(
    session: Session, *, job_id: int, actor: User, stale_after: timedelta = STALE_AFTER
) -> Job:
    """An export job of `actor`'s (others' jobs are not found, not forbidden); one whose
    heartbeat is older than `stale_after` is reported failed."""
    job = get_job_or_raise(session, job_id, stale_after=stale_after, reader=actor)
    # Even an admin reads here only the exports they asked for themselves.
    if job.kind != "export" or job.created_by_id != actor.id:
        raise NotFoundError(f"export job {job_id} not found")
    return job


def media_type_of(export: Export) -> str:
    """The media type of an export's file, with the charset of a CSV."""
    if export.format == "csv":
        return f"text/csv; charset={'gb18030' if export.encoding == 'gb18030' else 'utf-8'}"
    return MEDIA_TYPES[export.format]


def export_of_job(session: Session, job_id: int) -> Export | None:
    return session.scalar(sa.select(Export).where(Export.job_id == job_id))


def open_export_download(
    session: Session,
    *,
    job_id: int,
    actor: User,
    client_address: str | None = None,
    stale_after: timedelta = STALE_AFTER,
) -> Export:
    """The finished file of an export job, for its owner; records the download (commits)."""
    job = get_export_job_or_raise(session, job_id=job_id, actor=actor, stale_after=stale_after)
    authorize_export(actor, job.params.get("bureau", ""))
    if job.state != "succeeded":
        raise ConflictError(f"export job {job_id} is {job.state}; the file is not ready")
    export = export_of_job(session, job_id)
    if export is None or not export.path or not Path(export.path).is_file():
        raise NotFoundError(f"the file of export job {job_id} is no longer kept")
    record_event(
        session,
        action="registry.export_downloaded",
        actor_id=actor.id,
        object_type="export",
        object_id=export.id,
        client_address=client_address,
        details={
            "export_id": export.id,
            "job_id": job_id,
            "bureau": export.bureau,
            "format": export.format,
            "filters": export.filters,
            "rows": export.rows,
            "bytes": export.size_bytes,
            "sha256": export.sha256,
        },
    )
    session.commit()
    return export


# --- evidence behind a file's links --------------------------------------------------------


@dataclass
class Evidence:
    export: Export
    viewer: User
    business: Business
    finding: Finding | None
    photos: list[Photo]


def find_evidence(session: Session, *, token: str, business_id: int) -> Evidence:
    """The photos behind one row of an export, for the link's official while it is valid."""
    export = session.scalar(sa.select(Export).where(Export.link_token_hash == _token_hash(token)))
    if export is None or export.actor_id is None:
        raise NotFoundError("unknown evidence link")
    if export.links_expire_at is None or export.links_expire_at <= datetime.now(UTC):
        raise PermissionDeniedError(
            "this evidence link has expired; download the registry again for fresh links"
        )
    viewer = session.get(User, export.actor_id)
    if viewer is None:
        raise NotFoundError("unknown evidence link")
    authorize_export(viewer, export.bureau)
    business = session.get(Business, business_id)
    if business is None:
        raise NotFoundError(f"business {business_id} not found")
    finding = None
    if export.campaign_id is not None:
        finding = session.scalar(
            sa.select(Finding).where(
                Finding.campaign_id == export.campaign_id, Finding.business_id == business_id
            )
        )
    listed = session.scalar(
        sa.select(sa.func.count()).where(
            SourceRecord.business_id == business_id,
            SourceRecord.bureau == export.bureau,
            SourceRecord.is_current,
        )
    )
    discovery_photo_ids = list(
        session.scalars(
            sa.select(DiscoveryPhoto.photo_id)
            .join(Discovery, Discovery.id == DiscoveryPhoto.discovery_id)
            .where(Discovery.business_id == business_id, DiscoveryPhoto.photo_id.is_not(None))
            .order_by(DiscoveryPhoto.id)
        )
    )
    if not listed and finding is None and not discovery_photo_ids:
        raise NotFoundError(f"business {business_id} is not in this registry")
    wanted = [*(finding.photo_ids if finding else []), *discovery_photo_ids]
    by_id = {p.id: p for p in session.scalars(sa.select(Photo).where(Photo.id.in_(wanted)))}
    photos = [by_id[i] for i in dict.fromkeys(wanted) if i in by_id]
    return Evidence(export, viewer, business, finding, photos)


def view_evidence(
    session: Session, *, token: str, business_id: int, client_address: str | None = None
) -> Evidence:
    """Open the evidence page of a row; the view is audited (commits)."""
    evidence = find_evidence(session, token=token, business_id=business_id)
    record_event(
        session,
        action="evidence.viewed",
        actor_id=evidence.viewer.id,
        object_type="business",
        object_id=business_id,
        client_address=client_address,
        details={"export_id": evidence.export.id, "photos": len(evidence.photos)},
    )
    session.commit()
    return evidence


def open_evidence_photo(
    session: Session,
    *,
    storage: PhotoStorage,
    token: str,
    business_id: int,
    photo_id: int,
    variant: str = "original",
) -> PhotoContent:
    """One photo of a row's evidence, through the same link: a short-lived bucket link when
    the store can sign one, else the bytes."""
    evidence = find_evidence(session, token=token, business_id=business_id)
    photo = next((p for p in evidence.photos if p.id == photo_id), None)
    if photo is None:
        raise NotFoundError(f"photo {photo_id} is not evidence of business {business_id}")
    if variant == "thumbnail" and photo.thumbnail_key:
        key, mime_type = photo.thumbnail_key, "image/jpeg"
    else:
        key, mime_type = photo.storage_key, photo.mime_type
    url = storage.presigned_get_url(key, PHOTO_URL_TTL_S)
    if url is not None:
        return PhotoContent(mime_type, url=url)
    return PhotoContent(mime_type, data=storage.get(key))
