"""Creating, running and reading background jobs.

A job's state and progress live in its row, so any app instance can report on it. The work
itself runs in an RQ worker when Redis is configured, else in a thread of this process.
Progress is written on a connection of its own, so it is visible while the job's own
transaction is still open (an import commits once, at the end, or not at all).

A running job's heartbeat is touched every few seconds by a thread of the process running
it. When that process dies (killed, out of memory, machine lost), the heartbeat stops and
the job is reported failed once it is older than the stale limit: its transaction died with
its connection, and what it left outside the database (an export's partial file) is removed.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.db import make_session_factory
from fieldcheck.errors import FieldcheckError, NotFoundError, QueueUnavailableError
from fieldcheck.jobs.models import Job

if TYPE_CHECKING:
    from fieldcheck.auth.models import User
    from fieldcheck.config import Settings

log = logging.getLogger(__name__)

# Job kind -> "module:function" taking (sessions, job, progress) and returning a result dict.
HANDLERS: dict[str, str] = {
    "import": "fieldcheck.registry.service:run_import_job",
    "plan": "fieldcheck.dispatch.service:run_plan_job",
    "export": "fieldcheck.exports.service:run_export_job",
}
# A running job touches its heartbeat this often, whatever it is doing...
HEARTBEAT_INTERVAL_S = 10.0
# ...so one whose heartbeat is older than this has lost its worker.
STALE_AFTER = timedelta(seconds=60)
PROGRESS_INTERVAL_S = 0.5
CRASHED = "the job failed unexpectedly; nothing of it was kept"
DATABASE_LOST = (
    "the database could not be reached or the connection broke during the job; nothing of it "
    "was kept; start it again"
)
WORKER_LOST = (
    "the worker running this job stopped (killed, crashed or its machine lost) before the job "
    "finished; nothing of it was kept; start it again"
)

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


def configured_stale_after(settings: Settings) -> timedelta:
    """The stale limit of FIELDCHECK_JOB_STALE_AFTER_S, for every reader of this deployment."""
    return timedelta(seconds=settings.job_stale_after_s)


def get_job(
    session: Session,
    job_id: int,
    *,
    stale_after: timedelta = STALE_AFTER,
    reader: User | None = None,
) -> Job | None:
    """The job; a running one whose heartbeat stopped is marked failed first (commits).

    With a `reader`, only a job they may read: admins read every job, anyone else only the
    jobs they started. None reads any job (the command line, workers).
    """
    query = sa.select(Job).where(Job.id == job_id)
    if reader is not None and reader.role != "admin":
        query = query.where(Job.created_by_id == reader.id)
    job = session.scalar(query)
    if job is not None and _is_stale(job, stale_after):
        # One reader records the death, once. NO KEY UPDATE: a live import's rows hold a
        # key-share lock on their job, which must not make this wait.
        session.refresh(job, with_for_update={"key_share": True})
        if _is_stale(job, stale_after):
            abandon_job(session, job, WORKER_LOST)
    return job


def _is_stale(job: Job, stale_after: timedelta) -> bool:
    return (
        job.state == "running"
        and job.heartbeat_at is not None
        and datetime.now(UTC) - job.heartbeat_at > stale_after
    )


def reap_stale_jobs(session: Session, *, stale_after: timedelta = STALE_AFTER) -> list[int]:
    """Mark failed every running job whose heartbeat stopped; their ids (commits)."""
    limit = datetime.now(UTC) - stale_after
    jobs = session.scalars(
        sa.select(Job)
        .where(Job.state == "running", Job.heartbeat_at < limit)
        .order_by(Job.id)
        .with_for_update(skip_locked=True, key_share=True)
    ).all()
    for job in jobs:
        abandon_job(session, job, WORKER_LOST)
    return [job.id for job in jobs]


def abandon_job(session: Session, job: Job, message: str) -> None:
    """Record that `job` died unfinished, and remove what it left outside the database.

    Its own transaction died with its connection; an export's file is only written under a
    temporary name, which is removed here, and its export row is recorded as failed.
    """
    job.state = job.phase = "failed"
    job.error = message
    job.finished_at = datetime.now(UTC)
    session.commit()
    log.warning("job %s (%s) abandoned: %s", job.id, job.kind, message)
    if job.kind == "export":
        _abandon_export(session, job)


def _abandon_export(session: Session, job: Job) -> None:
    from fieldcheck.exports.models import Export
    from fieldcheck.exports.service import finish_export

    target = job.params.get("output_path")
    if target:
        # The job writes ".<name>.part" beside its target and renames it only when whole.
        partial = Path(target).with_name(f".{Path(target).name}.part")
        partial.unlink(missing_ok=True)
    running = session.scalars(
        sa.select(Export.id).where(Export.job_id == job.id, Export.state == "running")
    ).all()
    for export_id in running:
        finish_export(
            session,
            export_id=export_id,
            result=None,
            via=job.params.get("via") or "job",
            client_address=job.params.get("client_address"),
            error="the worker stopped before the file was whole",
        )


def get_job_or_raise(
    session: Session,
    job_id: int,
    *,
    stale_after: timedelta = STALE_AFTER,
    reader: User | None = None,
) -> Job:
    """As `get_job`; NotFoundError when there is no such job or `reader` may not read it
    (another's job is not found rather than forbidden, so ids reveal nothing)."""
    job = get_job(session, job_id, stale_after=stale_after, reader=reader)
    if job is None:
        raise NotFoundError(f"job {job_id} not found")
    return job


def _handler(kind: str) -> Handler:
    module, _, name = HANDLERS[kind].partition(":")
    return getattr(importlib.import_module(module), name)


class Heartbeat:
    """Touches a running job's heartbeat every `interval_s` seconds, from a thread."""

    def __init__(self, engine: sa.Engine, job_id: int, interval_s: float) -> None:
        self._engine = engine
        self._job_id = job_id
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"fieldcheck-heartbeat-{job_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        sa.update(Job)
                        .where(Job.id == self._job_id, Job.state == "running")
                        .values(heartbeat_at=datetime.now(UTC))
                    )
            except sa.exc.SQLAlchemyError as exc:  # a database blip; the next beat may work
                log.warning("job %s: heartbeat not recorded: %s", self._job_id, exc)


def execute_job(
    engine: sa.Engine, job_id: int, *, heartbeat_s: float = HEARTBEAT_INTERVAL_S
) -> None:
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
        with Heartbeat(engine, job_id, heartbeat_s):
            result = _handler(kind)(sessions, job, progress)
        state, error = "succeeded", None
    except FieldcheckError as exc:
        log.info("job %s failed: %s", job_id, exc.message)
        state, error, result = "failed", exc.message, getattr(exc, "details", None) or None
    except sa.exc.DBAPIError as exc:
        if not (exc.connection_invalidated or isinstance(exc, sa.exc.OperationalError)):
            log.exception("job %s crashed", job_id)
            state, error, result = "failed", CRASHED, None
        else:
            log.error("job %s lost its database connection: %s", job_id, exc)
            state, error, result = "failed", DATABASE_LOST, None
    except Exception:
        log.exception("job %s crashed", job_id)
        state, error, result = "failed", CRASHED, None
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

    def __init__(
        self, redis_url: str, queue_name: str = QUEUE, *, engine: sa.Engine | None = None
    ) -> None:
        import redis
        from rq import Queue

        connection = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=5)
        self.queue = Queue(queue_name, connection=connection)
        self._engine = engine

    def submit(self, job_id: int) -> None:
        """Hand the job to the workers; QueueUnavailableError (and the job failed) when Redis
        cannot be reached, so that no job waits forever for a message that was never sent."""
        import redis

        try:
            # Long imports and plans: the job's own row tracks progress, RQ only delivers it.
            self.queue.enqueue_call(
                "fieldcheck.jobs.worker.perform",
                args=(job_id,),
                timeout=4 * 3600,
                result_ttl=0,
                failure_ttl=7 * 24 * 3600,
            )
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            log.error("job %s not queued: Redis cannot be reached: %s", job_id, exc)
            if self._engine is not None:
                self._fail_unsent(job_id)
            raise QueueUnavailableError() from exc

    def _fail_unsent(self, job_id: int) -> None:
        assert self._engine is not None
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    sa.update(Job)
                    .where(Job.id == job_id, Job.state == "queued")
                    .values(
                        state="failed",
                        phase="failed",
                        error="the job queue could not be reached; the job never started",
                        finished_at=datetime.now(UTC),
                    )
                )
        except sa.exc.SQLAlchemyError:
            log.exception("job %s could not be marked failed", job_id)


def make_runner(
    redis_url: str | None, engine: sa.Engine, queue_name: str = RQJobRunner.QUEUE
) -> JobRunner:
    if redis_url:
        return RQJobRunner(redis_url, queue_name, engine=engine)
    return ThreadJobRunner(engine)
