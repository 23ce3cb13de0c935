"""Preparing the demo campaign: schema, one account of each role, a generated county."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from fieldcheck.auth.models import User
from fieldcheck.auth.service import add_user, hash_password
from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.demo.county import generate_county
from fieldcheck.dispatch.intake import import_couriers, import_territories
from fieldcheck.dispatch.models import Courier
from fieldcheck.dispatch.service import CampaignSpec, create_campaign, request_plan
from fieldcheck.errors import FieldcheckError
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import execute_job
from fieldcheck.registry.service import ImportRequest, request_import
from fieldcheck.schema import upgrade

log = logging.getLogger(__name__)

# username -> (role, bureau); the demo courier is the first courier of the roster.
DEMO_ACCOUNTS = {
    "admin": ("admin", None),
    "supervisor": ("supervisor", None),
    "tax": ("official", "tax"),
    "commerce": ("official", "commerce"),
}
DEMO_CAMPAIGN = "demo campaign"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    role: str
    password: str


@dataclass
class DemoSummary:
    accounts: list[DemoAccount] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _reset_accounts(session: sa.orm.Session) -> list[DemoAccount]:
    """Create the demo accounts, or give the existing ones fresh passwords."""
    accounts = []
    for username, (role, bureau) in DEMO_ACCOUNTS.items():
        password = secrets.token_urlsafe(9)
        user = session.scalar(sa.select(User).where(User.username == username))
        if user is None:
            add_user(
                session,
                username=username,
                role=role,
                bureau=bureau,
                password=password,
                display_name=f"demo {username}",
            )
        else:
            user.password_hash = hash_password(password)
            user.active = True
        accounts.append(DemoAccount(username, role, password))
    return accounts


def _import(engine: sa.Engine, kind: str, path: Path, say: Callable[[str], None]) -> None:
    """Run one import in this process; a file imported before changes nothing."""
    sessions = make_session_factory(engine)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with sessions() as session:
        job = request_import(
            session,
            request=ImportRequest(kind=kind, path=path, filename=path.name, sha256=digest),
            actor_id=None,
        )
        job_id, state = job.id, job.state
    if state == "queued":
        execute_job(engine, job_id)
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        if job.state != "succeeded":
            raise FieldcheckError(f"demo {kind} import failed: {job.error}")
        result = job.result or {}
    already = " (already loaded)" if result.get("duplicate_of") else ""
    say(f"imported {path.name}: {result.get('rows_imported', 0)} rows{already}")


def _courier_account(session: sa.orm.Session) -> DemoAccount | None:
    """Give the roster's first courier a password, so the demo can log in as them."""
    courier = session.scalar(sa.select(Courier).order_by(Courier.id))
    if courier is None:
        return None
    user = session.get(User, courier.user_id)
    assert user is not None
    password = secrets.token_urlsafe(9)
    user.password_hash = hash_password(password)
    return DemoAccount(user.username, "courier", password)


def _dispatch(engine: sa.Engine, settings: Settings, county_dir: Path,
              say: Callable[[str], None]) -> None:
    """Segments, couriers and a planned campaign, once."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        if session.scalar(sa.select(sa.func.count()).select_from(Courier)):
            return
        import_territories(session, path=county_dir / "territories.geojson", actor_id=None)
        report = import_couriers(session, path=county_dir / "couriers.csv", settings=settings,
                                 actor_id=None)
        say(f"imported {report.created} couriers")
        campaign = create_campaign(session, spec=CampaignSpec(name=DEMO_CAMPAIGN),
                                   actor_id=None)
        job = request_plan(session, campaign_id=campaign.id, actor_id=None)
        job_id = job.id
    execute_job(engine, job_id)
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        if job.state != "succeeded":
            raise FieldcheckError(f"demo planning failed: {job.error}")
        result = job.result or {}
    say(f"planned {result.get('visits_planned')} visits, finish day {result.get('finish_day')}")


def prepare_demo(
    settings: Settings, *, businesses: int = 300, say: Callable[[str], None] = log.info
) -> DemoSummary:
    """Bring the database to head and load the demo county; safe to run again."""
    assert settings.database_url
    say("migrating the database")
    upgrade(settings.database_url)
    county_dir = settings.instance_dir / "demo-county"
    if not (county_dir / "truth.csv").exists():
        say(f"generating a demo county of {businesses} businesses in {county_dir}")
        generate_county(county_dir, businesses=businesses)
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            summary = DemoSummary(accounts=_reset_accounts(session))
            session.commit()
        _import(engine, "gazetteer", county_dir / "gazetteer.csv", say)
        _import(engine, "tax", county_dir / "tax_registry.csv", say)
        _import(engine, "commerce", county_dir / "commerce_registry.xlsx", say)
        _dispatch(engine, settings, county_dir, say)
        with make_session_factory(engine)() as session:
            courier = _courier_account(session)
            session.commit()
        if courier:
            summary.accounts.insert(2, courier)
    finally:
        engine.dispose()
    return summary
