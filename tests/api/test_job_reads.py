"""Reading a background job over HTTP: who may read which job, and a job whose worker died
reported failed after the deployment's own stale limit (FIELDCHECK_JOB_STALE_AFTER_S)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from fieldcheck.config import Settings
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import WORKER_LOST
from tests.builders import auth, make_supervisor, make_user

JOBS = "/api/v1/admin/jobs"
EXPORTS = "/api/v1/official/exports"
STALE_AFTER_S = 3.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The suite's settings, with a stale limit far below the built-in 60 s, read from the
    environment variables a deployment sets."""
    environ = {"FIELDCHECK_JOB_STALE_AFTER_S": str(STALE_AFTER_S),
               "FIELDCHECK_JOB_HEARTBEAT_S": "1"}
    overrides = {name: getattr(settings, name) for name in (
        "mode", "database_url", "redis_url", "secret_key", "instance_dir", "storage_url")}
    configured = Settings.from_env(environ, **overrides)
    assert configured.job_stale_after_s == STALE_AFTER_S
    return configured


def running_job(session: Session, *, silent_for_s: float, kind: str = "import",
                created_by: Any = None, params: dict[str, Any] | None = None) -> Job:
    """A running job whose last heartbeat was `silent_for_s` seconds ago."""
    job = Job(kind=kind, state="running", phase="reading", params=params or {},
              created_by_id=created_by.id if created_by is not None else None,
              started_at=datetime.now(UTC) - timedelta(minutes=5),
              heartbeat_at=datetime.now(UTC) - timedelta(seconds=silent_for_s))
    session.add(job)
    session.flush()
    return job


def test_a_job_silent_longer_than_the_configured_limit_is_reported_failed(client, session):
    job = running_job(session, silent_for_s=10 * STALE_AFTER_S)  # well under the built-in 60 s
    admin = make_user(session, role="admin", password=None)

    response = client.get(f"{JOBS}/{job.id}", headers=auth(admin))

    assert response.status_code == 200
    assert (response.json["state"], response.json["error"]) == ("failed", WORKER_LOST)
    session.refresh(job)
    assert job.state == "failed" and job.finished_at is not None


def test_a_job_with_a_heartbeat_within_the_configured_limit_is_running(client, session):
    job = running_job(session, silent_for_s=0)
    admin = make_user(session, role="admin", password=None)

    response = client.get(f"{JOBS}/{job.id}", headers=auth(admin))

    assert (response.status_code, response.json["state"]) == (200, "running")


def test_an_export_silent_longer_than_the_configured_limit_is_reported_failed_to_its_official(
    client, session
):
    official = make_user(session, role="official", bureau="tax", password=None)
    job = running_job(session, silent_for_s=10 * STALE_AFTER_S, kind="export",
                      created_by=official, params={"bureau": "tax", "format": "csv"})

    response = client.get(f"{EXPORTS}/{job.id}", headers=auth(official))

    assert response.status_code == 200
    assert (response.json["state"], response.json["error"]) == ("failed", WORKER_LOST)
    assert response.json["download_url"] is None


def test_an_admin_reads_a_job_another_user_started(client, session):
    official = make_user(session, role="official", bureau="tax", password=None)
    job = running_job(session, silent_for_s=0, kind="export", created_by=official)
    admin = make_user(session, role="admin", password=None)

    response = client.get(f"{JOBS}/{job.id}", headers=auth(admin))

    assert (response.status_code, response.json["id"]) == (200, job.id)


def test_a_supervisor_reads_a_job_they_started(client, session):
    supervisor = make_supervisor(session)
    job = running_job(session, silent_for_s=0, created_by=supervisor)

    response = client.get(f"{JOBS}/{job.id}", headers=auth(supervisor))

    assert (response.status_code, response.json["id"]) == (200, job.id)


@pytest.mark.parametrize("started_by", ["admin", "supervisor", "nobody"])
def test_a_supervisor_gets_404_for_a_job_someone_else_started(client, session, started_by):
    starter = None if started_by == "nobody" else make_user(session, role=started_by,
                                                             password=None)
    job = running_job(session, silent_for_s=0, created_by=starter)

    response = client.get(f"{JOBS}/{job.id}", headers=auth(make_supervisor(session)))

    assert (response.status_code, response.json["code"]) == (404, "not_found")


def test_a_reader_who_may_not_read_a_dead_job_leaves_it_to_those_who_may(client, session):
    job = running_job(session, silent_for_s=10 * STALE_AFTER_S)

    response = client.get(f"{JOBS}/{job.id}", headers=auth(make_supervisor(session)))

    assert response.status_code == 404
    session.refresh(job)
    assert job.state == "running"
