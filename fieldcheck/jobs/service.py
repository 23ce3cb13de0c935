"""Creating, running and reading background jobs.

A job's state and progress live in its row, so any app instance can report on it. The work
itself runs in an RQ worker when Redis is configured, else in a thread of this process.
Progress is written on a connection of its own, so it is visible while the job's own
transaction is still open (an import commits once, at the end, or not at all).
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.db import make_session_factory
from fieldcheck.errors import FieldcheckError, NotFoundError
from fieldcheck.jobs.models import Job

log = logging.getLogger(__name__)

# Job kind -> "module:function" taking (sessions, job, progress) and returning a result dict.
HANDLERS: dict[str, str] = {
    "import": "fieldcheck.registry.service:run_import_job",
    "plan": "fieldcheck.dispatch.service:run_plan_job",
    "export": "fieldcheck.exports.service:run_export_job",
}
# A running job whose heartbeat is older than this has lost its worker.
STALE_AFTER = timedelta(minutes=5)
PROGRESS_INTERVAL_S = 0.5

Handler = Callable[[sessionmaker[Session], Job, "Progress"], dict[str, Any]]


class Progress:
    """Reports a job's phase and counters, at most every PROGRESS_INTERVAL_S seconds."""

    def __init__(self, engine: sa.Engine, job_id: int) -> None:
        self._engine = engine
        self._job_id = job_id
        self._last = 0.0

    def __call__(
        self, phase: str, done: int = 0, total: int | None = None, *, force: bool = False
    ) -> None:
        now = time.monotonic()
        if not force and now - self._last < PROGRESS_INTERVAL_S:
            return
        self._last = now
        with self._engine.begin() as conn:
            conn.execute(
                sa.update(Job)
                .where(Job.id == self._job_id)
                .values(phase=phase, done=done, total=total, heartbeat_at=datetime.now(UTC))
            )


def create_job(session: Session, *, kind: str, params: dict[str, Any], actor_id: int | None) -> Job:
    """Add a queued job (the caller commits, then submits it to a runner)."""
    if kind not in HANDLERS:
        raise ValueError(f"unknown job kind {kind!r}")
    job = Job(kind=kind, params=params, created_by_id=actor_id, state="queued", phase="queued")
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, job_id: int) -> Job | None:
    job = session.get(Job, job_id)
    stale = (
        job is not None
        and job.state == "running"
        and job.heartbeat_at is not None
        and datetime.now(UTC) - job.heartbeat_at > STALE_AFTER
    )
    if stale:
        assert job is not None
        job.state = "failed"
        job.error = "the worker running this job stopped; nothing of it was kept"
        job.finished_at = datetime.now(UTC)
        session.commit()
    return job


def get_job_or_raise(session: Session, job_id: int) -> Job:
    job = get_job(session, job_id)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return job


def _handler(kind: str) -> Handler:
    module, _, name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


def execute_job(engine: sa.Engine, job_id: int) -> None:
    """Run one job to the end, recording success or failure in its row."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        job = session.get(Job, job_id)
        if job is None or job.state != "queued":
            log.warning("job %s is not queued; skipped", job_id)
            return
        job.state, job.phase = "running", "starting"
        job.started_at = job.heartbeat_at = datetime.now(UTC)
        session.commit()
        kind = job.kind
    progress = Progress(engine, job_id)
    with sessions() as session:
        job = session.get(Job, job_id)
        assert job is not None
        session.expunge(job)  # the handler gets a plain copy; no transaction stays open for it
    try:
        result = _handler(kind)(sessions, job, progress)
        state, error = "succeeded", None
    except FieldcheckError as exc:
        log.info("job %s failed: %s", job_id, exc.message)
        state, error, result = "failed", exc.message, getattr(exc, "details", None) or None
    except Exception:
        log.exception("job %s crashed", job_id)
        state, error, result = "failed", "the job failed unexpectedly; nothing of it was kept", None
    with engine.begin() as conn:
        conn.execute(
            sa.update(Job)
            .where(Job.id == job_id)
            .values(
                state=state,
                error=error,
                result=result,
                phase=state,
                finished_at=datetime.now(UTC),
                heartbeat_at=datetime.now(UTC),
            )
        )
    log.info("job %s %s", job_id, state)


class JobRunner(Protocol):
    def submit(self, job_id: int) -> None: ...


class ThreadJobRunner:
    """The embedded default: one background thread in this process, jobs one at a time."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldcheck-job")

    def submit(self, job_id: int) -> None:
        self._pool.submit(execute_job, self._engine, job_id)

    def wait(self) -> None:
        """Wait for every submitted job (tests, one-shot commands)."""
        self._pool.shutdown(wait=True)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fieldcheck-job")


class RQJobRunner:
    """Jobs go to Redis; any `fieldcheck worker` process on the same database runs them."""

    QUEUE = "fieldcheck"

    def __init__(self, redis_url: str, queue_name: str = QUEUE) -> None:
        import redis
        from rq import Queue

        self.queue = Queue(queue_name, connection=redis.Redis.from_url(redis_url))

    def submit(self, job_id: int) -> None:
        # Long imports and plans: the job's own row tracks progress, RQ only delivers it.
        self.queue.enqueue_call(
            "fieldcheck.jobs.worker.perform",
            args=(job_id,),
            timeout=4 * 3600,
            result_ttl=0,
            failure_ttl=7 * 24 * 3600,
        )


def make_runner(
    redis_url: str | None, engine: sa.Engine, queue_name: str = RQJobRunner.QUEUE
) -> JobRunner:
    if redis_url:
        return RQJobRunner(redis_url, queue_name)
    return ThreadJobRunner(engine)
