"""The RQ side of jobs: the function RQ calls, and the worker loop behind `fieldcheck worker`."""

from __future__ import annotations

import sqlalchemy as sa

from fieldcheck.config import Settings
from fieldcheck.db import make_engine
from fieldcheck.jobs.service import RQJobRunner, execute_job

_engine: sa.Engine | None = None


def configure(database_url: str) -> None:
    """Set the database this worker process runs jobs against."""
    global _engine
    _engine = make_engine(database_url)


def perform(job_id: int) -> None:
    """Called by RQ in the worker for each queued job."""
    if _engine is None:
        settings = Settings.from_env()
        if not settings.database_url:
            raise RuntimeError("FIELDCHECK_DATABASE_URL is needed by the worker")
        configure(settings.database_url)
    assert _engine is not None
    execute_job(_engine, job_id)


def run_worker(
    *,
    database_url: str,
    redis_url: str,
    burst: bool = False,
    queue_name: str = RQJobRunner.QUEUE,
    fork: bool = True,
) -> None:
    """Work the queue; `fork=False` runs jobs in this process (no work-horse child)."""
    import redis
    from rq import Queue, SimpleWorker, Worker

    configure(database_url)
    connection = redis.Redis.from_url(redis_url)
    worker_class = Worker if fork else SimpleWorker
    queue = Queue(queue_name, connection=connection)
    worker_class([queue], connection=connection).work(burst=burst)
