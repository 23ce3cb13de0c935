"""The `fieldcheck` command line: database, users, serving and the demo campaign."""

from __future__ import annotations

import dataclasses
import logging
import sys

import click

from fieldcheck.config import Settings
from fieldcheck.errors import FieldcheckError


def _settings(mode: str | None = None) -> Settings:
    return Settings.from_env(**({"mode": mode} if mode else {}))


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    from fieldcheck.localdb import prepare_local_database

    return prepare_local_database(settings.instance_dir, say=lambda m: click.echo(m, err=True))


def _fail(exc: FieldcheckError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(2)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """fieldcheck: door-to-door registry verification campaigns."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations (creates the embedded database when no URL is configured)."""
    from fieldcheck.schema import upgrade

    upgrade(_database_url(_settings("dev")), revision)
    click.echo(f"database at {revision}")


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    """Revert the migrations down to REVISION (`base` empties the database)."""
    from fieldcheck.schema import downgrade

    downgrade(_database_url(_settings("dev")), revision)
    click.echo(f"database at {revision}")


@main.group()
def user() -> None:
    """Accounts."""


@user.command("add")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(["admin", "supervisor", "courier", "official"]), required=True
)
@click.option(
    "--bureau",
    type=click.Choice(["tax", "commerce"]),
    default=None,
    help="For officials: whose registry they read.",
)
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(
    username: str, role: str, bureau: str | None, display_name: str, password_stdin: bool
) -> None:
    """Create an account; the password comes from a prompt or standard input."""
    from fieldcheck.auth.service import create_user
    from fieldcheck.db import make_engine, make_session_factory

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine(_database_url(_settings("dev")))
    with make_session_factory(engine)() as session:
        try:
            created = create_user(
                session,
                username=username,
                role=role,
                bureau=bureau,
                display_name=display_name,
                password=password,
            )
        except FieldcheckError as exc:
            _fail(exc)
    click.echo(f"created {created.role} {created.username} (id {created.id})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int)
@click.option("--dev", is_flag=True, help="Flask's development server instead of gunicorn.")
def serve(host: str, port: int, workers: int, dev: bool) -> None:
    """Serve the API (gunicorn)."""
    from api.app import create_app

    settings = _settings()
    try:
        settings.check_secret()
    except FieldcheckError as exc:
        _fail(exc)
    app = create_app({"SETTINGS": settings})
    if dev:
        app.run(host=host, port=port, debug=False)
        return
    from api.serving import serve as gunicorn_serve

    gunicorn_serve(app, host=host, port=port, workers=workers)


@main.command()
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Prepare the demo and exit.")
@click.option("--businesses", default=300, show_default=True, type=int)
def demo(port: int, no_serve: bool, businesses: int) -> None:
    """Prepare a demo campaign on the embedded database and serve it on 127.0.0.1."""
    from fieldcheck.demo.setup import prepare_demo

    settings = _settings("demo")
    url = _database_url(settings)
    settings = dataclasses.replace(settings, database_url=url)
    summary = prepare_demo(settings, businesses=businesses, say=lambda m: click.echo(m, err=True))
    base = f"http://127.0.0.1:{port}"
    click.echo("")
    click.echo(f"fieldcheck demo: {base}/api/v1/openapi.json")
    click.echo(f"  database: {url}")
    click.echo(f"  photos:   {settings.photo_storage_url}")
    click.echo("  accounts (username / password):")
    for account in summary.accounts:
        click.echo(f"    {account.role:<10} {account.username:<12} {account.password}")
    admin_password = summary.accounts[0].password
    click.echo(
        f"  try: curl -s {base}/api/v1/auth/login -H 'Content-Type: application/json' "
        f'-d \'{{"username": "admin", "password": "{admin_password}"}}\''
    )
    if no_serve:
        return
    from api.app import create_app
    from api.serving import serve as gunicorn_serve

    gunicorn_serve(create_app({"SETTINGS": settings}), host="127.0.0.1", port=port)


def _engine_and_settings() -> tuple[object, Settings]:
    from fieldcheck.db import make_engine

    settings = _settings("dev")
    url = _database_url(settings)
    return make_engine(url), dataclasses.replace(settings, database_url=url)


def _run_job_with_progress(engine: object, job_id: int) -> dict[str, object]:
    """Run a job in a thread of this process, drawing its progress until it ends."""
    import threading
    import time

    from tqdm import tqdm

    from fieldcheck.db import make_session_factory
    from fieldcheck.jobs.models import Job
    from fieldcheck.jobs.service import execute_job

    thread = threading.Thread(target=execute_job, args=(engine, job_id), daemon=True)
    thread.start()
    sessions = make_session_factory(engine)  # type: ignore[arg-type]
    with tqdm(unit=" rows", dynamic_ncols=True, file=sys.stderr) as bar:
        while True:
            with sessions() as session:
                job = session.get(Job, job_id)
                assert job is not None
                bar.set_description(job.phase)
                if job.total:
                    bar.total = job.total
                bar.n = job.done
                bar.refresh()
                if job.state in ("succeeded", "failed"):
                    return {"state": job.state, "error": job.error, "result": job.result}
            time.sleep(0.3)


@main.command("import")
@click.argument("kind", type=click.Choice(["tax", "commerce", "gazetteer"]))
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="FIELD=HEADER",
    help="Read FIELD from the column headed HEADER (repeatable).",
)
@click.option(
    "--crs",
    type=click.Choice(["wgs84", "gcj02", "bd09"]),
    default="wgs84",
    show_default=True,
    help="Coordinate system of a gazetteer's points.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def import_file(kind: str, file: str, mappings: tuple[str, ...], crs: str, as_json: bool) -> None:
    """Import a bureau list (tax, commerce) or the postal gazetteer."""
    import hashlib
    import json
    from pathlib import Path

    from fieldcheck.db import make_session_factory
    from fieldcheck.registry.service import ImportRequest, request_import

    mapping = dict(m.split("=", 1) for m in mappings) or None
    path = Path(file).resolve()
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    engine, _ = _engine_and_settings()
    with make_session_factory(engine)() as session:  # type: ignore[arg-type]
        job = request_import(
            session,
            request=ImportRequest(
                kind=kind,
                path=path,
                filename=path.name,
                sha256=digest.hexdigest(),
                mapping=mapping,
                crs=crs,
            ),
            actor_id=None,
        )
        job_id, state, result = job.id, job.state, job.result
    outcome = (
        {"state": state, "error": None, "result": result}
        if state != "queued"
        else _run_job_with_progress(engine, job_id)
    )
    if as_json:
        click.echo(json.dumps(outcome, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{kind} import {outcome['state']}")
        if outcome["error"]:
            click.echo(f"  {outcome['error']}")
        for key, value in (outcome["result"] or {}).items():
            click.echo(f"  {key}: {value}")
    if outcome["state"] != "succeeded":
        sys.exit(1)


@main.group()
def territories() -> None:
    """Delivery segments."""


@territories.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def territories_import(file: str) -> None:
    """Import delivery segments from a GeoJSON FeatureCollection."""
    from pathlib import Path

    from fieldcheck.db import make_session_factory
    from fieldcheck.dispatch.intake import import_territories

    engine, _ = _engine_and_settings()
    with make_session_factory(engine)() as session:  # type: ignore[arg-type]
        report = import_territories(session, path=Path(file), actor_id=None)
    _print_intake(report.as_dict())


@main.group()
def couriers() -> None:
    """The courier roster."""


@couriers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
def couriers_import(file: str) -> None:
    """Import the roster (工号, 姓名, 手机号, 投递段); prints new couriers' enrolment codes."""
    from pathlib import Path

    from fieldcheck.db import make_session_factory
    from fieldcheck.dispatch.intake import import_couriers

    engine, settings = _engine_and_settings()
    with make_session_factory(engine)() as session:  # type: ignore[arg-type]
        report = import_couriers(session, path=Path(file), settings=settings, actor_id=None)
    _print_intake(report.as_dict())


def _print_intake(report: dict[str, object]) -> None:
    click.echo(f"created {report['created']}, updated {report['updated']}, "
               f"rejected {report['rejected']}")
    for issue in report["issues"]:  # type: ignore[attr-defined]
        click.echo(f"  row {issue['row_number']} {issue['column'] or ''}: {issue['reason']}"
                   f" [{issue['severity']}]")
    codes = report.get("enrolment_codes") or {}
    if codes:
        click.echo("enrolment codes (give each courier theirs; shown once):")
        for staff_no, code in codes.items():  # type: ignore[attr-defined]
            click.echo(f"  {staff_no}  {code}")


@main.group()
def campaign() -> None:
    """Campaigns."""


@campaign.command("create")
@click.argument("name")
@click.option("--town", "towns", multiple=True, help="Limit to a township (repeatable).")
@click.option("--bureau", "bureaus", multiple=True, type=click.Choice(["tax", "commerce"]))
@click.option("--capacity", type=int, default=40, show_default=True,
              help="Visits per courier-day.")
@click.option("--recheck-rate", type=float, default=0.05, show_default=True)
@click.option("--starts-on", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--ends-on", type=click.DateTime(["%Y-%m-%d"]), default=None)
def campaign_create(name: str, towns: tuple[str, ...], bureaus: tuple[str, ...],
                    capacity: int, recheck_rate: float, starts_on: object,
                    ends_on: object) -> None:
    """Create a campaign."""
    from fieldcheck.db import make_session_factory
    from fieldcheck.dispatch import service as dispatch

    spec = dispatch.CampaignSpec(
        name=name,
        scope=dispatch.CampaignScope(bureaus=list(bureaus), towns=list(towns)),
        rules=dispatch.CampaignRules(daily_capacity=capacity, recheck_rate=recheck_rate),
        starts_on=starts_on.date() if starts_on else None,  # type: ignore[attr-defined]
        ends_on=ends_on.date() if ends_on else None,  # type: ignore[attr-defined]
    )
    engine, _ = _engine_and_settings()
    with make_session_factory(engine)() as session:  # type: ignore[arg-type]
        try:
            created = dispatch.create_campaign(session, spec=spec, actor_id=None)
        except FieldcheckError as exc:
            _fail(exc)
    click.echo(f"campaign {created.id} {created.name!r} created")


@main.command("plan")
@click.argument("campaign_key", metavar="CAMPAIGN")
@click.option("--json", "as_json", is_flag=True, help="Print the plan's summary as JSON.")
def plan_command(campaign_key: str, as_json: bool) -> None:
    """Plan a campaign (id or name): visits, couriers, days and routes."""
    import json

    from fieldcheck.db import make_session_factory
    from fieldcheck.dispatch import service as dispatch

    engine, _ = _engine_and_settings()
    with make_session_factory(engine)() as session:  # type: ignore[arg-type]
        try:
            found = dispatch.find_campaign(session, campaign_key)
            job = dispatch.request_plan(session, campaign_id=found.id, actor_id=None)
        except FieldcheckError as exc:
            _fail(exc)
        job_id = job.id
    outcome = _run_job_with_progress(engine, job_id)
    if outcome["state"] != "succeeded":
        click.echo(f"planning failed: {outcome['error']}", err=True)
        sys.exit(1)
    summary: dict = outcome["result"]  # type: ignore[assignment]
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'courier':<12} {'visits':>6} {'days':>5} {'km':>8} {'finish':>6}")
    for c in summary["couriers"]:
        click.echo(f"{c['staff_no'] or c['courier_id']:<12} {c['visits']:>6} {c['days']:>5} "
                   f"{c['km']:>8.1f} {c['finish_day']:>6}")
    click.echo(f"visits planned {summary['visits_planned']} (new {summary['visits_created']}),"
               f" unassigned {summary['unassigned'] or 0}")
    click.echo(f"finish day {summary['finish_day']} (lower bound "
               f"{summary['lower_bound_days']}), total {summary['total_km']} km")


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--queue", default="fieldcheck", show_default=True)
def worker(burst: bool, queue: str) -> None:
    """Run background jobs from Redis (needs FIELDCHECK_REDIS_URL)."""
    from fieldcheck.jobs.worker import run_worker

    settings = _settings()
    if not settings.redis_url:
        click.echo("error: FIELDCHECK_REDIS_URL is not set; without Redis the app runs jobs "
                   "in its own process and needs no worker", err=True)
        sys.exit(2)
    run_worker(database_url=_database_url(settings), redis_url=settings.redis_url,
               burst=burst, queue_name=queue)


# --- registry exports ------------------------------------------------------------------------

from fieldcheck.exports.actions import ACTIONS as EXPORT_ACTIONS  # noqa: E402


@main.command("export")
@click.option("--bureau", type=click.Choice(["tax", "commerce"]), required=True)
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv", "geojson"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True,
              help="The file to write (replaced only once the export is complete).")
@click.option("--action", "actions", multiple=True, type=click.Choice(EXPORT_ACTIONS),
              help="Only rows with this recommended action (repeatable).")
@click.option("--town", "towns", multiple=True, help="Only this township (repeatable).")
@click.option("--from", "decided_from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Only verdicts decided on or after this day (China time).")
@click.option("--to", "decided_to", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Only verdicts decided on or before this day.")
@click.option("--campaign", "campaign_key", default=None,
              help="Campaign id or name whose findings are used; default the latest.")
@click.option("--encoding", type=click.Choice(["utf-8-sig", "gb18030"]), default="utf-8-sig",
              show_default=True, help="CSV only.")
@click.option("--gcj02", is_flag=True, help="Add GCJ-02 coordinates (AMap, Tencent maps).")
@click.option("--as", "as_user", default=None, metavar="USERNAME",
              help="Export for this official: their bureau only, ID numbers masked unless "
                   "their account may see them, evidence links that work for them.")
@click.option("--base-url", envvar="FIELDCHECK_PUBLIC_URL", default=None,
              help="The server's public address, for evidence links (with --as).")
@click.option("--link-ttl-hours", type=click.IntRange(1, 168), default=72, show_default=True)
def export_command(bureau: str, fmt: str, output: str, actions: tuple[str, ...],
                   towns: tuple[str, ...], decided_from: object, decided_to: object,
                   campaign_key: str | None, encoding: str, gcj02: bool, as_user: str | None,
                   base_url: str | None, link_ttl_hours: int) -> None:
    """Export a bureau's cleaned registry as XLSX, CSV or GeoJSON (audited, with its SHA-256).

    Without --as, resident ID numbers are masked and the file has no evidence links.
    """
    from pathlib import Path

    import sqlalchemy as sa

    from fieldcheck.auth.models import User
    from fieldcheck.db import make_session_factory
    from fieldcheck.dispatch import service as dispatch
    from fieldcheck.exports.rows import ExportFilters
    from fieldcheck.exports.service import ExportRequest, request_export

    engine, _ = _engine_and_settings()
    with make_session_factory(engine)() as session:  # type: ignore[arg-type]
        try:
            actor = None
            if as_user:
                actor = session.scalar(sa.select(User).where(User.username == as_user))
                if actor is None:
                    raise FieldcheckError(f"no account named {as_user!r}")
            campaign_id = dispatch.find_campaign(session, campaign_key).id if campaign_key \
                else None
            evidence_url = None
            if actor is not None and base_url:
                evidence_url = base_url.rstrip("/") + "/api/v1/official/evidence/"
            job = request_export(
                session,
                request=ExportRequest(
                    bureau=bureau,
                    fmt=fmt,
                    filters=ExportFilters(
                        actions=actions,
                        towns=towns,
                        decided_from=decided_from.date() if decided_from else None,  # type: ignore[attr-defined]
                        decided_to=decided_to.date() if decided_to else None,  # type: ignore[attr-defined]
                        campaign_id=campaign_id,
                    ),
                    encoding=encoding,
                    gcj02=gcj02,
                    evidence_url=evidence_url,
                    link_ttl_s=link_ttl_hours * 3600,
                ),
                actor=actor,
                output_path=Path(output).resolve(),
                via="cli",
            )
        except FieldcheckError as exc:
            _fail(exc)
        job_id = job.id
    outcome = _run_job_with_progress(engine, job_id)
    if outcome["state"] != "succeeded":
        click.echo(f"export failed: {outcome['error']}", err=True)
        sys.exit(1)
    result: dict = outcome["result"]  # type: ignore[assignment]
    click.echo(f"{output}: {result['rows']:,} rows, {result['size_bytes']:,} bytes")
    click.echo(f"sha256 {result['sha256']}")
    for action, count in sorted(result["by_action"].items(), key=lambda kv: -kv[1]):
        click.echo(f"  {action:<26} {count:>9,}")
