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
        level=logging.DEBUG if verbose else logging.INFO,
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
@click.option("--role", type=click.Choice(["admin", "supervisor", "courier", "official"]),
              required=True)
@click.option("--bureau", type=click.Choice(["tax", "commerce"]), default=None,
              help="For officials: whose registry they read.")
@click.option("--name", "display_name", default="", help="Display name.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(username: str, role: str, bureau: str | None, display_name: str,
             password_stdin: bool) -> None:
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
            created = create_user(session, username=username, role=role, bureau=bureau,
                                  display_name=display_name, password=password)
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
    summary = prepare_demo(settings, businesses=businesses,
                           say=lambda m: click.echo(m, err=True))
    base = f"http://127.0.0.1:{port}"
    click.echo("")
    click.echo(f"fieldcheck demo: {base}/api/v1/openapi.json")
    click.echo(f"  database: {url}")
    click.echo(f"  photos:   {settings.photo_storage_url}")
    click.echo("  accounts (username / password):")
    for account in summary.accounts:
        click.echo(f"    {account.role:<10} {account.username:<12} {account.password}")
    admin_password = summary.accounts[0].password
    click.echo(f"  try: curl -s {base}/api/v1/auth/login -H 'Content-Type: application/json' "
               f"-d '{{\"username\": \"admin\", \"password\": \"{admin_password}\"}}'")
    if no_serve:
        return
    from api.app import create_app
    from api.serving import serve as gunicorn_serve

    gunicorn_serve(create_app({"SETTINGS": settings}), host="127.0.0.1", port=port)
