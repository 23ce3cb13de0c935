"""Admin endpoints of the campaign report: counts as JSON, and a page with a map of verdicts."""

from __future__ import annotations

from typing import Any

from flask import Response

from api.admin.routes import blp
from api.admin.schemas import CampaignReportSchema
from api.extensions import db_session
from api.security import current_user
from fieldcheck.exports import report
from fieldcheck.review.access import authorize_campaign


@blp.get("/campaigns/<int:campaign_id>/report")
@blp.login_required("admin", "supervisor")
@blp.response(200, CampaignReportSchema,
              description="Counts by outcome, verdict and action, per township and courier")
@blp.alt_response(404, description="No such campaign")
def campaign_report(campaign_id: int) -> dict[str, Any]:
    """The campaign's results in figures

    Visit outcomes, verdicts and, for each bureau, recommended actions: in total, per
    township and per courier (a finding counts for every courier whose result it rests on).
    """
    authorize_campaign(db_session(), current_user(), campaign_id)
    return report.campaign_report(db_session(), campaign_id=campaign_id).as_dict()


@blp.get("/campaigns/<int:campaign_id>/report.html")
@blp.login_required("admin", "supervisor")
@blp.file_response(200, ("text/html",),
                   description="A self-contained HTML page (inline SVG map, no network)")
@blp.alt_response(404, description="No such campaign")
def campaign_report_page(campaign_id: int) -> Response:
    """The campaign's results as a page: a map of verdicts, and the figures as tables"""
    authorize_campaign(db_session(), current_user(), campaign_id)
    found = report.campaign_report(db_session(), campaign_id=campaign_id, with_map=True)
    response = Response(report.render_html(found), mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response.headers["Cache-Control"] = "private, no-store"
    return response
