"""Shared fixtures: a throwaway migrated PostGIS database per run, a rolled-back
transaction per test, an app bound to it, Redis, and builders of test data."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from psycopg import sql
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.config import Settings
from fieldcheck.db import make_engine
from tests.builders import TEST_SECRET

# Fixtures: moto's S3 server over HTTP (session), dummy AWS credentials (module).
from tests.s3_server import aws_test_credentials, s3_server  # noqa: F401


def _admin_url() -> str:
    url = os.environ.get("FIELDCHECK_TEST_ADMIN_URL")
    if url:
        return url
    from fieldcheck.localdb import conninfo_to_url, ensure_server

    return conninfo_to_url(ensure_server(Settings.from_env(mode="test").instance_dir), "postgres")


def _psycopg_conninfo(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class Databases:
    """Creates databases on the test server; every one is dropped at the end of the run."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.prefix = f"fctest_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.created: list[str] = []

    def url(self, name: str) -> str:
        return sa.make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create(self, suffix: str, *, template: str | None = None) -> str:
        name = f"{self.prefix}_{suffix}"
        with psycopg.connect(_psycopg_conninfo(self.admin_url), autocommit=True) as conn:
            stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if template:
                stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            conn.execute(stmt)
        self.created.append(name)
        return name

    def drop_all(self) -> None:
        with psycopg.connect(_psycopg_conninfo(self.admin_url), autocommit=True) as conn:
            for name in reversed(self.created):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


@pytest.fixture(scope="session")
def databases() -> Iterator[Databases]:
    dbs = Databases(_admin_url())
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def template_db(databases: Databases) -> str:
    """A database migrated to head, used as the template of every other test database."""
    from fieldcheck.schema import upgrade

    name = databases.create("tpl")
    upgrade(databases.url(name))
    return name


@pytest.fixture(scope="session")
def database_url(databases: Databases, template_db: str) -> str:
    return databases.url(databases.create("main", template=template_db))


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One connection inside an outer transaction that is rolled back after the test."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn
        outer.rollback()


@pytest.fixture
def session_factory(connection: sa.Connection) -> sessionmaker[Session]:
    # Code under test may commit: each commit only releases a savepoint of the outer transaction.
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as s:
        yield s


@pytest.fixture
def committed_database_url(databases: Databases, template_db: str) -> str:
    """A fresh migrated database of its own, for code that commits on its own connections."""
    return databases.url(databases.create(f"c{uuid.uuid4().hex[:8]}", template=template_db))


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("FIELDCHECK_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    prefix = f"fctest:{uuid.uuid4().hex}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Any) -> Settings:
    return Settings.from_env(
        {},
        mode="test",
        database_url=database_url,
        redis_url=redis_url,
        secret_key=TEST_SECRET,
        instance_dir=tmp_path / "instance",
        storage_url=str(tmp_path / "photos"),
    )


@pytest.fixture
def app_config(settings: Settings, engine: sa.Engine, redis_prefix: str) -> dict[str, Any]:
    return {
        "SETTINGS": settings,
        "ENGINE": engine,
        "RATE_LIMIT_PREFIX": redis_prefix,
        "TESTING": True,
    }


@pytest.fixture
def app(app_config: dict[str, Any], session_factory: sessionmaker[Session]) -> Flask:
    from api.app import create_app

    app = create_app(app_config)
    # Requests join the test's rolled-back transaction.
    app.extensions["fieldcheck"].sessions = session_factory
    return app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
