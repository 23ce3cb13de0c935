"""Jobs through Redis and an RQ worker, and a job whose worker died."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import RQJobRunner, get_job
from fieldcheck.jobs.worker import run_worker
from fieldcheck.registry.models import SourceRecord
from fieldcheck.registry.service import ImportRequest, request_import
from tests.files import make_uscc, tax_row, write_tax_csv


def test_an_import_queued_in_redis_is_run_by_a_worker(committed_database_url, redis_url,
                                                      tmp_path):
    engine = make_engine(committed_database_url)
    path = write_tax_csv(tmp_path / "t.csv", [tax_row(1, make_uscc("AB12CD34"), "甲商行",
                                                      "古山镇古山西路30号")])
    queue = f"fctest-{uuid.uuid4().hex}"
    with make_session_factory(engine)() as session:
        job = request_import(session, request=ImportRequest(
            kind="tax", path=path, filename="t.csv", sha256=uuid.uuid4().hex), actor_id=None)
    RQJobRunner(redis_url, queue).submit(job.id)
    run_worker(database_url=committed_database_url, redis_url=redis_url, burst=True,
               queue_name=queue, fork=False)
    with make_session_factory(engine)() as session:
        finished = session.get(Job, job.id)
        assert finished.state == "succeeded"
        assert finished.result["rows_imported"] == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(SourceRecord)) == 1
    engine.dispose()


def test_a_running_job_whose_heartbeat_stopped_is_reported_failed(session):
    job = Job(kind="import", state="running", phase="reading", params={},
              heartbeat_at=datetime.now(UTC) - timedelta(minutes=30))
    session.add(job)
    session.flush()
    seen = get_job(session, job.id)
    assert seen.state == "failed"
    assert "worker running this job stopped" in seen.error
