"""Endpoints of the bureaus' officials: their cleaned registry as a file, directly or as a job,
and the evidence pages the file's links open."""

from __future__ import annotations

import base64
import html
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from flask import Response, current_app, redirect, request, send_file, stream_with_context, url_for

from api.extensions import Blueprint, db_session, services
from api.official.schemas import (
    EvidencePhotoQueryArgsSchema,
    ExportCreateSchema,
    ExportJobSchema,
    RegistryQueryArgsSchema,
)
from api.security import client_address, current_user
from fieldcheck.errors import ConflictError
from fieldcheck.exports import service
from fieldcheck.exports.actions import VERDICT_LABELS
from fieldcheck.exports.rows import ExportFilters, count_estimate
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import configured_stale_after

blp = Blueprint(
    "official",
    __name__,
    url_prefix="/api/v1/official",
    description="Bureau officials: the cleaned registry of their bureau, with evidence",
)

# Where the evidence links of a file point, below the server's address.
EVIDENCE_PATH = "/api/v1/official/evidence/"
# Registries up to this many rows are streamed at once; larger ones are exported by a job.
DIRECT_MAX_ROWS = {"csv": 200_000, "geojson": 100_000, "xlsx": 20_000}


class ExportTooLargeError(ConflictError):
    code = "export_too_large"


def _request(args: dict[str, Any], bureau: str, actions: list[str], towns: list[str]
             ) -> service.ExportRequest:
    return service.ExportRequest(
        bureau=bureau,
        fmt=args["format"],
        filters=ExportFilters(
            actions=tuple(actions),
            towns=tuple(towns),
            decided_from=args["decided_from"],
            decided_to=args["decided_to"],
            campaign_id=args["campaign_id"],
        ),
        encoding=args["encoding"],
        gcj02=args["gcj02"],
        evidence_url=request.host_url.rstrip("/") + EVIDENCE_PATH,
        link_ttl_s=args["link_ttl_hours"] * 3600,
    )


def _attachment(filename: str) -> dict[str, str]:
    return {
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    }


@blp.get("/registries/<any(tax, commerce):bureau>")
@blp.login_required("official")
@blp.arguments(RegistryQueryArgsSchema, location="query")
@blp.file_response(200, tuple(service.MEDIA_TYPES.values()),
                   description="The file (XLSX, CSV or GeoJSON), streamed")
@blp.alt_response(403, description="Another bureau's registry")
@blp.alt_response(409, description="Too many rows to stream: export it as a job instead")
def download_registry(args: dict[str, Any], bureau: str) -> Response:
    """Download your bureau's cleaned registry

    One row per record of the bureau's list (and per operating business the list lacks):
    the bureau's own fields, the campaign's verdict, the recommended action, verified
    details, location, visit dates, courier, reviewer and a link to the evidence photos.
    Resident ID numbers are masked unless your account may see them. Registries larger than
    20,000 rows (XLSX), 100,000 (GeoJSON) or 200,000 (CSV) are refused with 409: ask for them
    with `POST /official/registries/{bureau}/exports`. Every download is audited with the
    file's SHA-256.
    """
    user = current_user()
    export_request = _request(args, bureau, args["action"], args["town"])
    service.check_export(export_request, user)
    session = db_session()
    limits = current_app.config.get("EXPORT_DIRECT_MAX_ROWS", DIRECT_MAX_ROWS)
    estimate = count_estimate(session, bureau=bureau)
    if estimate > limits[export_request.fmt]:
        raise ExportTooLargeError(
            f"this registry has about {estimate:,} rows, more than "
            f"{limits[export_request.fmt]:,} are exported as a job: POST "
            f"/api/v1/official/registries/{bureau}/exports",
            details={"rows": estimate},
        )
    prepared = service.start_export(session, request=export_request, actor=user)
    address = client_address()

    def stream() -> Iterator[bytes]:
        finished = False
        try:
            yield from prepared.chunks(session)
            finished = True
        finally:
            # The audit event is the file's receipt: recorded once the last byte is out, in a
            # transaction of its own (an interrupted download is recorded as such).
            session.rollback()
            service.finish_export(
                session,
                export_id=prepared.export.id,
                result=prepared.result if finished else None,
                via="api",
                client_address=address,
                error=None if finished else "the download was interrupted",
            )

    return Response(
        stream_with_context(stream()),
        mimetype=prepared.media_type,
        headers=_attachment(prepared.export.filename),
    )


def _stale_after() -> timedelta:
    return configured_stale_after(services().settings)


def _job_view(job: Job) -> dict[str, Any]:
    result = job.result or {}
    view = {
        "id": job.id,
        "state": job.state,
        "phase": job.phase,
        "done": job.done,
        "total": job.total,
        "error": job.error,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "download_url": None,
    }
    for key in ("filename", "rows", "size_bytes", "sha256", "by_action"):
        view[key] = result.get(key)
    if job.state == "succeeded":
        view["download_url"] = url_for("official.download_export", job_id=job.id)
    return view


@blp.post("/registries/<any(tax, commerce):bureau>/exports")
@blp.login_required("official")
@blp.arguments(ExportCreateSchema)
@blp.response(202, ExportJobSchema)
@blp.alt_response(403, description="Another bureau's registry")
@blp.alt_response(404, description="No such campaign")
def create_export(body: dict[str, Any], bureau: str) -> dict[str, Any]:
    """Export your bureau's cleaned registry as a job (any size)

    Poll `GET /official/exports/{id}` for progress; when it has succeeded, fetch the file
    from its `download_url`.
    """
    user = current_user()
    export_request = _request(body, bureau, body["actions"], body["towns"])
    folder = services().settings.instance_dir / "exports"
    job = service.request_export(
        db_session(),
        request=export_request,
        actor=user,
        output_dir=folder,
        via="api",
        client_address=client_address(),
    )
    services().jobs.submit(job.id)
    return _job_view(job)


@blp.get("/exports/<int:job_id>")
@blp.login_required("official")
@blp.response(200, ExportJobSchema)
@blp.alt_response(404, description="No such export of yours")
def get_export(job_id: int) -> dict[str, Any]:
    """An export job's progress, and its file's fingerprint once done"""
    job = service.get_export_job_or_raise(
        db_session(), job_id=job_id, actor=current_user(), stale_after=_stale_after()
    )
    return _job_view(job)


@blp.get("/exports/<int:job_id>/file")
@blp.login_required("official")
@blp.file_response(200, tuple(service.MEDIA_TYPES.values()), description="The file")
@blp.alt_response(404, description="No such export of yours, or its file is gone")
@blp.alt_response(409, description="The export is not finished")
def download_export(job_id: int) -> Response:
    """Download the file of a finished export job (audited)"""
    export = service.open_export_download(
        db_session(),
        job_id=job_id,
        actor=current_user(),
        client_address=client_address(),
        stale_after=_stale_after(),
    )
    assert export.path is not None and export.sha256 is not None
    response = send_file(
        export.path,
        mimetype=service.media_type_of(export),
        as_attachment=True,
        download_name=export.filename,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    # RFC 9530: the digest of the whole file, to check the download against the audit record.
    digest = base64.b64encode(bytes.fromhex(export.sha256)).decode()
    response.headers["Repr-Digest"] = f"sha-256=:{digest}:"
    return response


# --- evidence pages -------------------------------------------------------------------------
# Opened from a file's links, where no Authorization header can be sent: the link's token
# names the export, which names the official; it works until it expires and only while the
# official's account is active and still of that bureau.


def _evidence_headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blp.get("/evidence/<string:token>/<int:business_id>")
@blp.file_response(200, ("text/html",), description="An HTML page with the photos")
@blp.alt_response(403, description="The link has expired, or the account may no longer read")
@blp.alt_response(404, description="Unknown link or business")
def evidence_page(token: str, business_id: int) -> Response:
    """The evidence behind one row of a registry file (from the file's link)"""
    evidence = service.view_evidence(
        db_session(), token=token, business_id=business_id, client_address=client_address()
    )
    response = Response(_evidence_html(evidence, business_id), mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self' https: http:; style-src 'unsafe-inline'"
    )
    return _evidence_headers(response)


@blp.get("/evidence/<string:token>/<int:business_id>/photos/<int:photo_id>")
@blp.arguments(EvidencePhotoQueryArgsSchema, location="query")
@blp.photo_response()
@blp.alt_response(302, description="Redirect to a short-lived link into the bucket")
@blp.alt_response(404, description="Not a photo of this row")
def evidence_photo(args: dict[str, Any], token: str, business_id: int, photo_id: int
                   ) -> Response:
    """One evidence photo (`?thumbnail=1` for the small upright version)"""
    content = service.open_evidence_photo(
        db_session(),
        storage=services().storage,
        token=token,
        business_id=business_id,
        photo_id=photo_id,
        variant="thumbnail" if args["thumbnail"] else "original",
    )
    if content.url is not None:
        response = redirect(content.url, code=302)
    else:
        response = Response(content.data, mimetype=content.mime_type)
    return _evidence_headers(response)


def _evidence_html(evidence: service.Evidence, business_id: int) -> str:
    e = html.escape
    finding = evidence.finding
    business = evidence.business
    verdict = VERDICT_LABELS.get(finding.verdict if finding else None, "")
    facts = [
        ("名称", business.name),
        ("地址", business.address or ""),
        ("乡镇", business.town or ""),
        ("核查结论", verdict if finding else "实地发现"),
        ("核查依据", finding.basis if finding else ""),
        ("走访日期", f"{finding.first_visit_on or ''} – {finding.last_visit_on or ''}"
         if finding else ""),
    ]
    rows = "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in facts)
    photos = "".join(
        f'<figure><a href="{business_id}/photos/{p.id}">'
        f'<img src="{business_id}/photos/{p.id}?thumbnail=1" alt="照片 {p.id}" loading="lazy">'
        f"</a><figcaption>{e(str(p.exif_local_time or p.uploaded_at or ''))}</figcaption>"
        "</figure>"
        for p in evidence.photos
    ) or "<p>没有照片。</p>"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>核查证据 · {e(business.name)}</title>
<style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:1.5rem;color:#222}}
table{{border-collapse:collapse;margin-bottom:1rem}}th,td{{padding:.3rem .8rem;text-align:left;
border-bottom:1px solid #ddd}}th{{color:#555;font-weight:normal}}
figure{{display:inline-block;margin:.4rem}}img{{max-width:320px;max-height:320px;
border:1px solid #ccc}}figcaption{{font-size:.8rem;color:#666}}
</style></head><body>
<h1>核查证据</h1><table>{rows}</table>
<div>{photos}</div>
<p style="color:#888;font-size:.8rem">
链接有效期至 {e(str(evidence.export.links_expire_at))}（UTC），仅限本人使用；每次查看均有审计记录。
</p>
</body></html>"""
