"""Jobs through Redis and an RQ worker, heartbeats, a job whose worker died, and a queue
that cannot be reached."""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from fieldcheck.audit.models import AuditEvent
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.errors import QueueUnavailableError
from fieldcheck.exports.models import Export
from fieldcheck.jobs import service as jobs_service
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import (
    RQJobRunner,
    create_job,
    execute_job,
    get_job,
    reap_stale_jobs,
)
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


def test_a_job_with_a_fresh_heartbeat_is_not_taken_for_dead(session):
    job = Job(kind="import", state="running", phase="reading", params={},
              heartbeat_at=datetime.now(UTC) - timedelta(seconds=20))
    session.add(job)
    session.flush()

    assert get_job(session, job.id).state == "running"
    assert get_job(session, job.id, stale_after=timedelta(seconds=10)).state == "failed"


def test_a_long_job_step_keeps_the_heartbeat_beating(committed_database_url, monkeypatch):
    engine = make_engine(committed_database_url)
    sessions = make_session_factory(engine)
    beats: list[datetime] = []

    def slow_step(sessions, job, progress):
        # One long step that reports no progress, like a big INSERT … SELECT.
        for _ in range(4):
            time.sleep(0.25)
            with engine.connect() as conn:
                beats.append(conn.scalar(sa.select(Job.heartbeat_at).where(Job.id == job.id)))
        return {"ok": True}

    monkeypatch.setattr(jobs_service, "_handler", lambda kind: slow_step)
    with sessions() as session:
        job = create_job(session, kind="import", params={}, actor_id=None)
        session.commit()

    execute_job(engine, job.id, heartbeat_s=0.1)

    assert len(set(beats)) == 4  # a new beat between every look
    with sessions() as session:
        assert session.get(Job, job.id).state == "succeeded"
    engine.dispose()


def test_reaping_fails_the_running_jobs_whose_heartbeat_stopped_and_no_others(session):
    old = datetime.now(UTC) - timedelta(minutes=10)
    dead = Job(kind="import", state="running", phase="linking", params={}, heartbeat_at=old)
    alive = Job(kind="import", state="running", phase="linking", params={},
                heartbeat_at=datetime.now(UTC))
    waiting = Job(kind="import", state="queued", phase="queued", params={})
    session.add_all([dead, alive, waiting])
    session.flush()

    assert reap_stale_jobs(session) == [dead.id]

    assert (dead.state, alive.state, waiting.state) == ("failed", "running", "queued")
    assert dead.error == jobs_service.WORKER_LOST


def test_an_abandoned_export_job_leaves_no_partial_file_and_its_export_failed(session, tmp_path):
    target = tmp_path / "tax.csv"
    partial = tmp_path / ".tax.csv.part"
    partial.write_bytes(b"half a file")
    job = Job(kind="export", state="running", phase="exporting",
              params={"output_path": str(target), "via": "api"},
              heartbeat_at=datetime.now(UTC) - timedelta(minutes=10))
    session.add(job)
    session.flush()
    export = Export(bureau="tax", format="csv", job_id=job.id, state="running",
                    filename="tax-registry.csv", path=str(target))
    session.add(export)
    session.flush()

    assert get_job(session, job.id).state == "failed"

    assert not partial.exists()
    assert export.state == "failed" and export.finished_at is not None
    event = session.scalar(sa.select(AuditEvent).where(AuditEvent.object_id == str(export.id),
                                                       AuditEvent.object_type == "export"))
    assert event.action == "registry.export_failed"
    assert event.details["error"] == "the worker stopped before the file was whole"


def test_a_job_the_queue_cannot_take_fails_at_once(committed_database_url):
    engine = make_engine(committed_database_url)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    runner = RQJobRunner(f"redis://127.0.0.1:{port}/0", "fieldcheck", engine=engine)
    with make_session_factory(engine)() as session:
        job = create_job(session, kind="import", params={}, actor_id=None)
        session.commit()

    with pytest.raises(QueueUnavailableError) as excinfo:
        runner.submit(job.id)

    assert excinfo.value.code == "queue_unavailable" and excinfo.value.retry_after > 0
    with make_session_factory(engine)() as session:
        failed = session.get(Job, job.id)
        assert failed.state == "failed"
        assert failed.error == "the job queue could not be reached; the job never started"
    engine.dispose()


def test_a_job_whose_database_connection_is_cut_fails_saying_so(committed_database_url,
                                                                monkeypatch):
    engine = make_engine(committed_database_url)
    sessions = make_session_factory(engine)

    def cut_mid_way(sessions, job, progress):
        with sessions() as session:
            pid = session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
            with engine.connect() as other:
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            session.execute(sa.text("SELECT 1"))
        return {}

    monkeypatch.setattr(jobs_service, "_handler", lambda kind: cut_mid_way)
    with sessions() as session:
        job = create_job(session, kind="import", params={}, actor_id=None)
        session.commit()

    execute_job(engine, job.id)

    with sessions() as session:
        failed = session.get(Job, job.id)
        assert (failed.state, failed.error) == ("failed", jobs_service.DATABASE_LOST)
    engine.dispose()
