"""Admin endpoints of dispatch: territories, couriers, campaigns, planning, progress, map."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from werkzeug.datastructures import FileStorage

from api.admin.routes import blp
from api.admin.schemas import (
    CampaignCreateSchema,
    CampaignPageSchema,
    CampaignSchema,
    IntakeFileSchema,
    IntakeReportSchema,
    JobSchema,
    MapArgsSchema,
    ProgressSchema,
    ReassignResultSchema,
    ReassignSchema,
    VisitMapSchema,
)
from api.extensions import db_session, services
from api.pagination import PageArgsSchema, fetch_page
from api.security import current_user
from fieldcheck.dispatch import intake
from fieldcheck.dispatch import service as dispatch
from fieldcheck.dispatch.models import Campaign
from fieldcheck.jobs.models import Job
from fieldcheck.review.access import authorize_campaign, visible_campaigns


def _saved(upload: FileStorage, suffix: str) -> Path:
    folder = services().settings.instance_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, suffix=suffix, delete=False) as handle:
        upload.save(handle)
    return Path(handle.name)


@blp.post("/territories")
@blp.login_required("admin")
@blp.arguments(IntakeFileSchema, location="files")
@blp.response(200, IntakeReportSchema)
def import_territories(files: dict[str, FileStorage]) -> dict[str, Any]:
    """Import delivery segments from GeoJSON (polygon, code, name, station)"""
    path = _saved(files["file"], ".geojson")
    try:
        return intake.import_territories(db_session(), path=path,
                                         actor_id=current_user().id).as_dict()
    finally:
        path.unlink(missing_ok=True)


@blp.post("/couriers")
@blp.login_required("admin")
@blp.arguments(IntakeFileSchema, location="files")
@blp.response(200, IntakeReportSchema)
def import_couriers(files: dict[str, FileStorage]) -> dict[str, Any]:
    """Import the courier roster (工号, 姓名, 手机号, 投递段); new couriers get enrolment codes"""
    upload = files["file"]
    path = _saved(upload, Path(upload.filename or "roster.csv").suffix or ".csv")
    try:
        return intake.import_couriers(db_session(), path=path, settings=services().settings,
                                      actor_id=current_user().id).as_dict()
    finally:
        path.unlink(missing_ok=True)


@blp.post("/campaigns")
@blp.login_required("admin")
@blp.arguments(CampaignCreateSchema)
@blp.response(201, CampaignSchema)
@blp.alt_response(409, description="A campaign of that name exists")
def create_campaign(body: dict[str, Any]) -> Campaign:
    """Create a campaign with its scope, rules and dates"""
    defaults = dispatch.CampaignRules()
    rules = dispatch.CampaignRules(**{**defaults.__dict__, **body["rules"]})
    spec = dispatch.CampaignSpec(name=body["name"],
                                 scope=dispatch.CampaignScope(**body["scope"]), rules=rules,
                                 starts_on=body["starts_on"], ends_on=body["ends_on"])
    return dispatch.create_campaign(db_session(), spec=spec, actor_id=current_user().id)


@blp.get("/campaigns")
@blp.login_required("admin", "supervisor")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, CampaignPageSchema)
def list_campaigns(args: dict[str, Any]) -> dict[str, Any]:
    """Campaigns (a supervisor's: those they review)"""
    return fetch_page(db_session(), visible_campaigns(current_user()), Campaign.id,
                      limit=args["limit"], cursor=args["cursor"])


@blp.get("/campaigns/<int:campaign_id>")
@blp.login_required("admin", "supervisor")
@blp.response(200, CampaignSchema)
@blp.alt_response(404, description="No such campaign")
def get_campaign(campaign_id: int) -> Campaign:
    """One campaign"""
    authorize_campaign(db_session(), current_user(), campaign_id)
    return dispatch.get_campaign_or_raise(db_session(), campaign_id)


@blp.post("/campaigns/<int:campaign_id>/plan")
@blp.login_required("admin")
@blp.response(202, JobSchema)
@blp.alt_response(404, description="No such campaign")
def plan_campaign(campaign_id: int) -> Job:
    """Plan the campaign: visits for its scope, couriers, days and routes (a job)

    Visits already submitted are never moved. The job's result has the plan's summary:
    per courier visits, days, kilometres and finish day, and the campaign's finish day next
    to its lower bound.
    """
    job = dispatch.request_plan(db_session(), campaign_id=campaign_id,
                                actor_id=current_user().id)
    services().jobs.submit(job.id)
    return job


@blp.post("/campaigns/<int:campaign_id>/reassign")
@blp.login_required("admin")
@blp.arguments(ReassignSchema)
@blp.response(200, ReassignResultSchema)
@blp.alt_response(404, description="No such visit or courier")
@blp.alt_response(409, description="A visit was submitted, or a re-check would go to the "
                                   "courier it checks")
def reassign(body: dict[str, Any], campaign_id: int) -> dict[str, int]:
    """Move visits (a list, or all open visits of a courier) to another courier or back"""
    change = dispatch.Reassignment(campaign_id=campaign_id, **body)
    return dispatch.reassign_visits(db_session(), change=change, actor_id=current_user().id)


@blp.get("/campaigns/<int:campaign_id>/progress")
@blp.login_required("admin", "supervisor")
@blp.response(200, ProgressSchema)
@blp.alt_response(404, description="No such campaign")
def progress(campaign_id: int) -> dict[str, Any]:
    """Counts by state per campaign, township, segment and courier; completions per day"""
    authorize_campaign(db_session(), current_user(), campaign_id)
    return dispatch.campaign_progress(db_session(), campaign_id=campaign_id)


@blp.get("/campaigns/<int:campaign_id>/map")
@blp.login_required("admin", "supervisor")
@blp.arguments(MapArgsSchema, location="query")
@blp.response(200, VisitMapSchema, description="GeoJSON FeatureCollection of visits")
@blp.alt_response(404, description="No such campaign")
def campaign_map(args: dict[str, Any], campaign_id: int) -> dict[str, Any]:
    """Visits with state, courier, planned day and route order, as GeoJSON"""
    authorize_campaign(db_session(), current_user(), campaign_id)
    return dispatch.visits_geojson(db_session(), campaign_id=campaign_id, crs=args["crs"])
