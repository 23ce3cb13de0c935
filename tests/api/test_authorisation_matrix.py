"""Who may call what: every route of the app × every role, against one explicit table.

A route without a row here fails the suite, and so does a row whose route is gone. Each
request is a real one with the role's token, on a shared scene whose objects belong to
`courier`, to the campaign `supervisor` reviews and to the tax bureau; `other_courier`,
`other_supervisor` and the commerce official are the same roles outside those objects.

The API's conventions, asserted exactly:
- no token: 401 `unauthenticated`; a role the route is not for: 403 `forbidden`;
- a role the route is for, asking for an object outside its scope: 404 `not_found` (ids
  reveal nothing), except where the route documents 403 (another bureau's registry, a
  visit the courier was never given);
- allowed: anything but 401 and 403 (a 422 from a dummy body is fine); on rows that refuse
  some object, the allowed roles must also find the object (no 404).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.config import Settings
from fieldcheck.db import utcnow
from fieldcheck.evidence.models import PhotoUpload
from fieldcheck.jobs.service import create_job
from tests.builders import (
    TEST_SECRET,
    auth,
    courier_user,
    make_business,
    make_campaign,
    make_courier,
    make_finding,
    make_photo,
    make_result,
    make_source_record,
    make_supervisor,
    make_territory,
    make_user,
    make_visit,
)
from tests.photos import new_id, result_body

ANONYMOUS = "anonymous"
ADMIN = "admin"
SUPERVISOR = "supervisor"  # reviews the scene's campaign
OTHER_SUPERVISOR = "other_supervisor"  # reviews another campaign
COURIER = "courier"  # holds the scene's visits, result and photo
OTHER_COURIER = "other_courier"
OFFICIAL_TAX = "official_tax"  # owns the scene's export job
OFFICIAL_COMMERCE = "official_commerce"
ROLES = (ANONYMOUS, ADMIN, SUPERVISOR, OTHER_SUPERVISOR, COURIER, OTHER_COURIER, OFFICIAL_TAX,
         OFFICIAL_COMMERCE)

EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {ANONYMOUS}
ADMINS = frozenset({ADMIN})
STAFF = frozenset({ADMIN, SUPERVISOR, OTHER_SUPERVISOR})
COURIERS = frozenset({COURIER, OTHER_COURIER})


@dataclass(frozen=True)
class Access:
    """The roles a route admits, and those it admits but refuses the scene's object."""

    allowed: frozenset[str]
    refused: Mapping[str, int] = field(default_factory=dict)


def allow(roles: frozenset[str] | set[str], **refused: int) -> Access:
    return Access(frozenset(roles), refused)


# Review of a campaign: admins, and the supervisors of that campaign.
REVIEWERS = allow({ADMIN, SUPERVISOR}, other_supervisor=404)
# The courier's own objects.
OWN = allow({COURIER}, other_courier=404)
V1 = "/api/v1"

# (method, rule) -> who may call it. A rule with `any(...)` converters is requested once per
# alternative; its access may be given per alternative.
TABLE: dict[tuple[str, str], Access | dict[str, Access]] = {
    # --- meta, and the OpenAPI document ------------------------------------------------
    ("GET", "/healthz"): allow(EVERYONE),
    ("GET", "/readyz"): allow(EVERYONE),
    ("GET", f"{V1}/openapi.json"): allow(EVERYONE),
    # --- auth --------------------------------------------------------------------------
    ("POST", f"{V1}/auth/login"): allow(EVERYONE),
    ("POST", f"{V1}/auth/refresh"): allow(EVERYONE),
    ("POST", f"{V1}/auth/logout"): allow(EVERYONE),
    ("POST", f"{V1}/auth/enrol"): allow(EVERYONE),
    ("GET", f"{V1}/auth/me"): allow(SIGNED_IN),
    # --- admin: accounts, imports, registry --------------------------------------------
    ("POST", f"{V1}/admin/users"): allow(ADMINS),
    ("GET", f"{V1}/admin/users"): allow(ADMINS),
    ("POST", f"{V1}/admin/users/<int:user_id>/enrolment-code"): allow(ADMINS),
    ("POST", f"{V1}/admin/imports"): allow(ADMINS),
    ("GET", f"{V1}/admin/imports"): allow(ADMINS),
    ("GET", f"{V1}/admin/imports/<int:batch_id>"): allow(ADMINS),
    ("GET", f"{V1}/admin/imports/<int:batch_id>/issues"): allow(ADMINS),
    ("GET", f"{V1}/admin/imports/<int:batch_id>/issues.csv"): allow(ADMINS),
    # Admins read every job, anyone else only the jobs they started: the scene's job is the
    # tax official's export, so both supervisors are let in and do not find it.
    ("GET", f"{V1}/admin/jobs/<int:job_id>"):
        allow(ADMINS, supervisor=404, other_supervisor=404),
    ("GET", f"{V1}/admin/businesses"): allow(STAFF),
    ("GET", f"{V1}/admin/businesses/<int:business_id>"): allow(STAFF),
    ("POST", f"{V1}/admin/businesses/merge"): allow(ADMINS),
    ("POST", f"{V1}/admin/businesses/<int:business_id>/split"): allow(ADMINS),
    # --- admin: dispatch and progress --------------------------------------------------
    ("POST", f"{V1}/admin/territories"): allow(ADMINS),
    ("POST", f"{V1}/admin/couriers"): allow(ADMINS),
    ("POST", f"{V1}/admin/campaigns"): allow(ADMINS),
    ("GET", f"{V1}/admin/campaigns"): allow(STAFF),
    ("GET", f"{V1}/admin/campaigns/<int:campaign_id>"): REVIEWERS,
    ("POST", f"{V1}/admin/campaigns/<int:campaign_id>/plan"): allow(ADMINS),
    ("POST", f"{V1}/admin/campaigns/<int:campaign_id>/reassign"): allow(ADMINS),
    ("GET", f"{V1}/admin/campaigns/<int:campaign_id>/progress"): REVIEWERS,
    ("GET", f"{V1}/admin/campaigns/<int:campaign_id>/map"): REVIEWERS,
    ("GET", f"{V1}/admin/campaigns/<int:campaign_id>/report"): REVIEWERS,
    ("GET", f"{V1}/admin/campaigns/<int:campaign_id>/report.html"): REVIEWERS,
    # --- courier -------------------------------------------------------------------------
    ("GET", f"{V1}/courier/me"): allow(COURIERS),
    ("GET", f"{V1}/courier/sync"): allow(COURIERS),
    ("POST", f"{V1}/courier/photos"): allow(COURIERS),
    ("POST", f"{V1}/courier/photo-uploads"): allow(COURIERS),
    ("POST", f"{V1}/courier/photo-uploads/<uuid:upload_id>/complete"): OWN,
    ("GET", f"{V1}/courier/photos/<int:photo_id>"): OWN,
    ("GET", f"{V1}/courier/photos/<int:photo_id>/<any(original, thumbnail):variant>"): OWN,
    # Submitting for a visit never given to you is documented as 403.
    ("POST", f"{V1}/courier/results"): allow({COURIER}, other_courier=403),
    ("GET", f"{V1}/courier/results/<string:submission_id>"): OWN,
    ("POST", f"{V1}/courier/results/<string:submission_id>/amendments"): OWN,
    ("POST", f"{V1}/courier/discoveries"): allow(COURIERS),
    # --- supervisor: results and photos as submitted --------------------------------------
    ("GET", f"{V1}/supervisor/results"): allow(STAFF),  # scoped by filtering
    ("GET", f"{V1}/supervisor/photos/<int:photo_id>"): REVIEWERS,
    ("GET", f"{V1}/supervisor/photos/<int:photo_id>/<any(original, thumbnail):variant>"):
        REVIEWERS,
    # --- supervisor: review ------------------------------------------------------------------
    ("GET", f"{V1}/supervisor/review/queue"): allow(STAFF),  # scoped by filtering
    ("GET", f"{V1}/supervisor/review/results/<int:result_id>"): REVIEWERS,
    ("GET", f"{V1}/supervisor/review/results/<int:result_id>/decisions"): REVIEWERS,
    ("POST", f"{V1}/supervisor/review/results/<int:result_id>/decisions"): REVIEWERS,
    ("POST", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/accept-unflagged"):
        REVIEWERS,
    ("GET", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/rechecks"): REVIEWERS,
    ("GET", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/findings"): REVIEWERS,
    ("GET", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/findings/<int:business_id>"):
        REVIEWERS,
    ("GET", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/couriers"): REVIEWERS,
    ("GET", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/supervisors"): REVIEWERS,
    ("PUT", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/supervisors/<int:user_id>"):
        allow(ADMINS),
    ("DELETE", f"{V1}/supervisor/review/campaigns/<int:campaign_id>/supervisors/<int:user_id>"):
        allow(ADMINS),
    # --- official ------------------------------------------------------------------------
    ("GET", f"{V1}/official/registries/<any(tax, commerce):bureau>"): {
        "tax": allow({OFFICIAL_TAX}, official_commerce=403),
        "commerce": allow({OFFICIAL_COMMERCE}, official_tax=403),
    },
    ("POST", f"{V1}/official/registries/<any(tax, commerce):bureau>/exports"): {
        "tax": allow({OFFICIAL_TAX}, official_commerce=403),
        "commerce": allow({OFFICIAL_COMMERCE}, official_tax=403),
    },
    ("GET", f"{V1}/official/exports/<int:job_id>"): allow({OFFICIAL_TAX}, official_commerce=404),
    ("GET", f"{V1}/official/exports/<int:job_id>/file"):
        allow({OFFICIAL_TAX}, official_commerce=404),
    # The link in a registry file is the credential: no Authorization header is needed.
    ("GET", f"{V1}/official/evidence/<string:token>/<int:business_id>"): allow(EVERYONE),
    ("GET", f"{V1}/official/evidence/<string:token>/<int:business_id>/photos/<int:photo_id>"):
        allow(EVERYONE),
}

# Bodies that get past a route's arguments, so that the object checks behind them run.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", f"{V1}/supervisor/review/results/<int:result_id>/decisions"): {"decision": "accept"},
    ("POST", f"{V1}/official/registries/<any(tax, commerce):bureau>/exports"): {"format": "csv"},
}
HIDDEN_METHODS = {"HEAD", "OPTIONS"}


# --- the scene -----------------------------------------------------------------------------


@dataclass
class Scene:
    users: dict[str, Any]
    params: dict[str, Any]
    open_visit_id: int


@dataclass
class World:
    app: Flask
    connection: sa.Connection
    scene: Scene
    sessions: TrackedSessions


class TrackedSessions:
    """The app's session factory, remembering each session it made until `close_all`.

    A streamed response can use its session after the request's teardown closed it (which
    reopens it); closing every session after the response keeps the savepoints in order.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.kw = factory.kw  # what the app reads of a factory: its bind
        self.opened: list[Session] = []

    def __call__(self) -> Session:
        session = self.factory()
        self.opened.append(session)
        return session

    def close_all(self) -> None:
        while self.opened:
            self.opened.pop().close()


class RecordingRunner:
    """Takes jobs without running them: a request's job never outlives its rolled-back row."""

    def __init__(self) -> None:
        self.submitted: list[int] = []

    def submit(self, job_id: int) -> None:
        self.submitted.append(job_id)


def build_scene(session: Any, app: Flask) -> Scene:
    storage = app.extensions["fieldcheck"].storage
    # The campaign made last is the one a registry file reports on.
    elsewhere, campaign = make_campaign(session), make_campaign(session)
    territory = make_territory(session)
    courier = make_courier(session, territory=territory)
    other_courier = make_courier(session, territory=territory)
    users = {
        ADMIN: make_user(session, role="admin", password=None),
        SUPERVISOR: make_supervisor(session, campaigns=(campaign,)),
        OTHER_SUPERVISOR: make_supervisor(session, campaigns=(elsewhere,)),
        COURIER: courier_user(session, courier),
        OTHER_COURIER: courier_user(session, other_courier),
        OFFICIAL_TAX: make_user(session, role="official", bureau="tax", password=None),
        OFFICIAL_COMMERCE: make_user(session, role="official", bureau="commerce",
                                     password=None),
    }
    business = make_business(session)
    tax_record = make_source_record(session, business, bureau="tax")
    make_source_record(session, business, bureau="commerce")
    photo = make_photo(session, uploader=users[COURIER], data=b"\xff\xd8 storefront",
                       storage=storage)
    photo.thumbnail_key = photo.storage_key
    visit = make_visit(session, courier=courier, business=business, campaign=campaign)
    result = make_result(session, visit=visit, photos=(("storefront", photo),))
    make_finding(session, campaign=campaign, business=business, verdict="operating",
                 results=[result], photos=[photo], reviewers=[users[SUPERVISOR]])
    open_visit = make_visit(session, courier=courier, campaign=campaign, route_order=2)
    upload = PhotoUpload(uploaded_by_id=users[COURIER].id, sha256="a" * 64,
                         content_type="image/jpeg", size_bytes=1000,
                         staging_key=f"staging/{uuid.uuid4().hex}",
                         expires_at=utcnow() + timedelta(hours=1))
    session.add(upload)
    export_job = create_job(session, kind="export", params={"bureau": "tax", "format": "csv"},
                            actor_id=users[OFFICIAL_TAX].id)
    session.commit()
    return Scene(
        users=users,
        params={
            "campaign_id": campaign.id,
            "business_id": business.id,
            "result_id": result.id,
            "submission_id": result.client_id,
            "photo_id": photo.id,
            "upload_id": upload.id,
            "batch_id": tax_record.batch_id,
            "job_id": export_job.id,
            "user_id": users[SUPERVISOR].id,
        },
        open_visit_id=open_visit.id,
    )


def evidence_token(app: Flask, scene: Scene) -> str:
    """The token of an evidence link, from a registry file the tax official downloads."""
    response = app.test_client().get(f"{V1}/official/registries/tax?format=csv",
                                     headers=auth(scene.users[OFFICIAL_TAX]))
    assert response.status_code == 200, response.get_data(as_text=True)
    match = re.search(r"/api/v1/official/evidence/([^/\s,\"]+)/", response.get_data(as_text=True))
    assert match, "the registry file has no evidence link"
    return match.group(1)


@pytest.fixture(scope="module")
def world(engine: sa.Engine, database_url: str, redis_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """One app and one scene for the whole module, in a transaction rolled back at the end;
    every request runs in a savepoint of its own, rolled back after it."""
    from api.app import create_app

    folder = tmp_path_factory.mktemp("matrix")
    settings = Settings.from_env({}, mode="test", database_url=database_url,
                                 redis_url=redis_url, secret_key=TEST_SECRET,
                                 instance_dir=folder / "instance",
                                 storage_url=str(folder / "photos"))
    with engine.connect() as connection:
        outer = connection.begin()
        sessions = sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                                expire_on_commit=False)
        app = create_app({"SETTINGS": settings, "ENGINE": engine, "TESTING": True,
                          "RATE_LIMIT_PREFIX": f"fctest:{uuid.uuid4().hex}:"})
        tracked = TrackedSessions(sessions)
        app.extensions["fieldcheck"].sessions = tracked
        app.extensions["fieldcheck"].jobs = RecordingRunner()
        with sessions() as session:
            scene = build_scene(session, app)
        scene.params["token"] = evidence_token(app, scene)
        yield World(app, connection, scene, tracked)
        outer.rollback()


# --- requests --------------------------------------------------------------------------------


_PARAM = re.compile(r"<(?:(?P<converter>[a-z]+)(?:\((?P<args>[^)]*)\))?:)?(?P<name>\w+)>")


def app_routes(app: Flask) -> set[tuple[str, str]]:
    return {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
        if method not in HIDDEN_METHODS
    }


def variants(rule: str) -> list[str]:
    """The alternatives of the rule's `any(...)` converter ("" when it has none)."""
    for match in _PARAM.finditer(rule):
        if match["converter"] == "any":
            return [a.strip() for a in match["args"].split(",")]
    return [""]


def concrete_path(rule: str, variant: str, params: Mapping[str, Any]) -> str:
    def fill(match: re.Match[str]) -> str:
        if match["converter"] == "any":
            return variant
        return str(params[match["name"]])

    return _PARAM.sub(fill, rule)


def request_kwargs(world: World, method: str, rule: str) -> dict[str, Any]:
    if (method, rule) == ("POST", f"{V1}/courier/results"):
        return {"json": result_body(world.scene.open_visit_id)}
    if (method, rule) == ("POST", f"{V1}/courier/results/<string:submission_id>/amendments"):
        return {"json": {"amendment_id": new_id(), "base_version": 1,
                         "outcome": "operating_changed", "corrections": {"phone": "13911112222"}}}
    if (method, rule) in BODIES:
        return {"json": BODIES[(method, rule)]}
    if method in ("POST", "PUT"):
        return {"json": {}}
    return {}


def call(world: World, role: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    """The status and problem code of one request, made in a savepoint rolled back after."""
    user = world.scene.users.get(role)
    headers = auth(user) if user is not None else {}
    savepoint = world.connection.begin_nested()
    try:
        response = world.app.test_client().open(path, method=method, headers=headers, **kwargs)
        try:
            response.get_data()
            code = (response.get_json(silent=True) or {}).get("code")
        finally:
            response.close()
    finally:
        world.sessions.close_all()
        savepoint.rollback()
    return response.status_code, code


def refusal(role: str, access: Access) -> tuple[int, str] | None:
    """The status and code `role` must get; None when it is let through."""
    if role in access.allowed:
        return None
    if role in access.refused:
        status = access.refused[role]
        return status, {403: "forbidden", 404: "not_found"}[status]
    if role == ANONYMOUS:
        return 401, "unauthenticated"
    return 403, "forbidden"


# --- the tests -------------------------------------------------------------------------------


def test_every_route_has_exactly_one_row(world: World) -> None:
    routes = app_routes(world.app)
    missing = sorted(routes - TABLE.keys())
    stale = sorted(TABLE.keys() - routes)
    assert not missing, "routes without a row in the authorisation table: " + ", ".join(
        f"{m} {r}" for m, r in missing)
    assert not stale, "rows for routes the app no longer has: " + ", ".join(
        f"{m} {r}" for m, r in stale)


@pytest.mark.parametrize("method, rule", sorted(TABLE), ids=lambda v: v)
def test_route_admits_exactly_its_roles(world: World, method: str, rule: str) -> None:
    assert (method, rule) in app_routes(world.app), f"{method} {rule}: no such route"
    adapter = world.app.url_map.bind("localhost")
    wrong: list[str] = []
    for variant in variants(rule):
        entry = TABLE[(method, rule)]
        access = entry[variant] if isinstance(entry, dict) else entry
        path = concrete_path(rule, variant, world.scene.params)
        matched, _ = adapter.match(path, method=method, return_rule=True)
        assert matched.rule == rule, f"{path} reaches {matched.rule}, not {rule}"
        for role in ROLES:
            status, code = call(world, role, method, path, **request_kwargs(world, method, rule))
            expected = refusal(role, access)
            if expected is None:
                # Let through; where the row refuses the object to others, it was found.
                denied = {401, 403, 404} if access.refused else {401, 403}
                if status in denied:
                    wrong.append(f"{method} {path} as {role}: {status} {code}, "
                                 "expected to be let through")
            elif (status, code) != expected:
                wrong.append(f"{method} {path} as {role}: {status} {code}, "
                             f"expected {expected[0]} {expected[1]}")
    assert not wrong, "\n".join(wrong)


def test_the_scene_objects_are_reachable_by_their_owners(world: World) -> None:
    """The rows' object checks mean something only if the owners really get the objects."""
    params = world.scene.params
    reads = [
        (COURIER, f"{V1}/courier/results/{params['submission_id']}"),
        (COURIER, f"{V1}/courier/photos/{params['photo_id']}/original"),
        (SUPERVISOR, f"{V1}/supervisor/photos/{params['photo_id']}/thumbnail"),
        (SUPERVISOR, f"{V1}/supervisor/review/results/{params['result_id']}"),
        (SUPERVISOR, f"{V1}/admin/campaigns/{params['campaign_id']}/progress"),
        (OFFICIAL_TAX, f"{V1}/official/exports/{params['job_id']}"),
        (ANONYMOUS, f"{V1}/official/evidence/{params['token']}/{params['business_id']}"),
    ]
    for role, path in reads:
        assert call(world, role, "GET", path)[0] == 200, (role, path)


def test_supervisors_see_only_results_of_their_campaigns_in_lists(world: World) -> None:
    result_id = world.scene.params["result_id"]

    def listed(role: str, path: str) -> list[int]:
        client = world.app.test_client()
        response = client.get(path, headers=auth(world.scene.users[role]))
        assert response.status_code == 200, response.json
        return [item["id"] for item in response.json["items"]]

    for path in (f"{V1}/supervisor/results", f"{V1}/supervisor/review/queue"):
        assert result_id in listed(ADMIN, path)
        assert result_id in listed(SUPERVISOR, path)
        assert result_id not in listed(OTHER_SUPERVISOR, path)
