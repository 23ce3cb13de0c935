"""Redis unreachable: the login rate limiter and the job queue answer a 503 with Retry-After,
and a job that could not be queued is not left waiting forever."""

from __future__ import annotations

import dataclasses
import io
import socket
import time

import pytest
import sqlalchemy as sa

from api.app import create_app
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.jobs.models import Job
from tests.builders import PASSWORD, auth, make_user
from tests.files import make_uscc, tax_row, write_tax_csv


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def app_without_redis(app_config, session_factory):
    """The test app, its Redis (rate limiter and job queue) on a port nobody listens on."""
    settings = dataclasses.replace(
        app_config["SETTINGS"], redis_url=f"redis://127.0.0.1:{closed_port()}/0"
    )
    app = create_app({**app_config, "SETTINGS": settings})
    app.extensions["fieldcheck"].sessions = session_factory
    return app


def test_login_while_redis_is_down_is_a_503(app_without_redis, session):
    user = make_user(session, role="admin")

    started = time.monotonic()
    response = app_without_redis.test_client().post(
        "/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}
    )

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert (response.json["code"], response.json["title"]) == (
        "redis_unavailable",
        "Shared state unavailable",
    )
    assert response.json["detail"].startswith("The server's shared state (Redis) cannot be")


def test_import_while_the_queue_is_down_is_a_503_and_the_job_is_not_left_queued(
    app_config, committed_database_url, tmp_path
):
    # Committed: the job row is committed before it is queued, as in production.
    engine = make_engine(committed_database_url)
    settings = dataclasses.replace(
        app_config["SETTINGS"],
        database_url=committed_database_url,
        redis_url=f"redis://127.0.0.1:{closed_port()}/0",
    )
    app = create_app({**app_config, "SETTINGS": settings, "ENGINE": engine})
    sessions = make_session_factory(engine)
    with sessions() as session:
        headers = auth(make_user(session, role="admin", password=None))
        session.commit()
    path = write_tax_csv(
        tmp_path / "t.csv", [tax_row(1, make_uscc("AB12CD34"), "甲商行", "古山镇古山西路30号")]
    )

    response = app.test_client().post(
        "/api/v1/admin/imports",
        headers=headers,
        data={"kind": "tax", "file": (io.BytesIO(path.read_bytes()), path.name)},
        content_type="multipart/form-data",
    )

    assert response.status_code == 503, response.json
    assert (response.json["code"], response.json["title"]) == (
        "queue_unavailable",
        "Job queue unavailable",
    )
    assert int(response.headers["Retry-After"]) > 0
    with sessions() as session:
        states = session.execute(sa.select(Job.state, Job.error)).all()
    assert states == [("failed", "the job queue could not be reached; the job never started")]
    engine.dispose()
