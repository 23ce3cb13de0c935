"""The RQ side of jobs: the function RQ calls, and the worker loop behind `fieldcheck worker`.

The worker forks a work horse per job. Each process keeps its own database connections: a
horse drops the pooled connections it inherited (they belong to the parent), and the parent
records a job as failed at once when its horse dies (killed, out of memory) without doing so.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import (
    HEARTBEAT_INTERVAL_S,
    RQJobRunner,
    abandon_job,
    configured_stale_after,
    execute_job,
    reap_stale_jobs,
)

log = logging.getLogger(__name__)

_engine: sa.Engine | None = None
_engine_pid = 0
_heartbeat_s = HEARTBEAT_INTERVAL_S


def configure(database_url: str, *, heartbeat_s: float = HEARTBEAT_INTERVAL_S) -> None:
    """Set the database this worker process runs jobs against."""
    global _engine, _engine_pid, _heartbeat_s
    _engine = make_engine(database_url)
    _engine_pid = os.getpid()
    _heartbeat_s = heartbeat_s


def _process_engine() -> sa.Engine:
    """The engine, safe to use in this process (a forked horse drops the parent's sockets)."""
    global _engine_pid
    if _engine is None:
        settings = Settings.from_env()
        if not settings.database_url:
            raise RuntimeError("FIELDCHECK_DATABASE_URL is needed by the worker")
        configure(settings.database_url, heartbeat_s=settings.job_heartbeat_s)
    assert _engine is not None
    if _engine_pid != os.getpid():
        _engine.dispose(close=False)  # leave the parent's connections open for the parent
        _engine_pid = os.getpid()
    return _engine


def perform(job_id: int) -> None:
    """Called by RQ in the worker for each queued job."""
    execute_job(_process_engine(), job_id, heartbeat_s=_heartbeat_s)


def horse_killed(rq_job: Any, pid: int, status: int, rusage: Any) -> None:
    """Called by RQ in the parent when a work horse died without finishing its job."""
    if not rq_job.args:
        return
    job_id = int(rq_job.args[0])
    if os.WIFSIGNALED(status):
        how = f"was killed by signal {os.WTERMSIG(status)}"
    else:
        how = f"exited with status {os.waitstatus_to_exitcode(status)}"
    message = (
        f"the worker process running this job {how} before the job finished; "
        "nothing of it was kept; start it again"
    )
    try:
        with make_session_factory(_process_engine())() as session:
            job = session.get(Job, job_id, with_for_update={"key_share": True})
            if job is not None and job.state in ("queued", "running"):
                abandon_job(session, job, message)
    except sa.exc.SQLAlchemyError:  # the heartbeat has stopped: readers will find it dead
        log.exception("job %s: could not record that its work horse died", job_id)


def run_worker(
    *,
    database_url: str,
    redis_url: str,
    burst: bool = False,
    queue_name: str = RQJobRunner.QUEUE,
    fork: bool = True,
    heartbeat_s: float | None = None,
    stale_after: timedelta | None = None,
) -> None:
    """Work the queue; `fork=False` runs jobs in this process (no work-horse child).

    Jobs left running by a worker that died are marked failed first. The heartbeat interval
    and stale limit default to FIELDCHECK_JOB_HEARTBEAT_S and FIELDCHECK_JOB_STALE_AFTER_S.
    """
    import redis
    from rq import Queue, SimpleWorker, Worker

    if heartbeat_s is None or stale_after is None:
        settings = Settings.from_env()
        heartbeat_s = settings.job_heartbeat_s if heartbeat_s is None else heartbeat_s
        if stale_after is None:
            stale_after = configured_stale_after(settings)
    configure(database_url, heartbeat_s=heartbeat_s)
    try:
        with make_session_factory(_process_engine())() as session:
            reaped = reap_stale_jobs(session, stale_after=stale_after)
        if reaped:
            log.warning("jobs whose worker had stopped, now marked failed: %s", reaped)
    except sa.exc.SQLAlchemyError:  # the jobs themselves will report the database down
        log.exception("could not look for jobs whose worker had stopped")
    connection = redis.Redis.from_url(redis_url)
    queue = Queue(queue_name, connection=connection)
    if fork:
        worker: Worker = Worker(
            [queue], connection=connection, work_horse_killed_handler=horse_killed
        )
    else:
        worker = SimpleWorker([queue], connection=connection)
    worker.work(burst=burst)
