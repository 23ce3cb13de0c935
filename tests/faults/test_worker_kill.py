"""A worker killed in the middle of an import and of an export: nothing half-done is kept
or shown, the job is reported failed with a clear message, and running it again completes
once. The real `fieldcheck worker` runs as a process on Redis and a committed database."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from rq import Queue
from rq.job import Job as RQJob
from rq.registry import FailedJobRegistry

from api.app import create_app
from fieldcheck.audit.models import AuditEvent
from fieldcheck.db import make_session_factory, normalise_url
from fieldcheck.exports.models import Export
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import RQJobRunner, execute_job, get_job
from fieldcheck.registry.models import Business, ImportBatch, ImportIssue, SourceRecord
from fieldcheck.registry.service import ImportRequest, request_import
from tests.builders import auth, make_user
from tests.files import make_uscc, tax_row, write_tax_csv

ROOT = Path(__file__).resolve().parents[2]
HEARTBEAT_S = 0.2
STALE_AFTER_S = 2.0  # ten beats: a busy machine does not make a live job look dead
WAIT_S = 60


class Workers:
    """`fieldcheck worker` processes, each in a process group of its own, all killed at the
    end whatever happens."""

    def __init__(self, tmp_path: Path, database_url: str, redis_url: str, queue: str) -> None:
        self.tmp_path = tmp_path
        self.queue = queue
        self.env = {
            **os.environ,
            "FIELDCHECK_MODE": "test",
            "FIELDCHECK_DATABASE_URL": database_url,
            "FIELDCHECK_REDIS_URL": redis_url,
            "FIELDCHECK_INSTANCE_DIR": str(tmp_path / "worker-instance"),
            "FIELDCHECK_JOB_HEARTBEAT_S": str(HEARTBEAT_S),
            "FIELDCHECK_JOB_STALE_AFTER_S": str(STALE_AFTER_S),
            "PYTHONPATH": str(ROOT),
        }
        self.processes: list[subprocess.Popen[bytes]] = []
        self.horses: list[int] = []  # RQ runs each job in a child with a process group of its own

    def start(self, hold: str | None = None) -> tuple[subprocess.Popen[bytes], Path]:
        """A burst worker; with `hold`, its jobs stop at that step (see held_worker)."""
        marker = self.tmp_path / f"reached-{uuid.uuid4().hex}"
        worker_args = ["worker", "--burst", "--queue", self.queue]
        if hold:
            command = [sys.executable, "-m", "tests.faults.held_worker", hold, str(marker)]
        else:
            command = [sys.executable, "-c", "from api.cli import main; main()"]
        log = open(self.tmp_path / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [*command, *worker_args],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes.append(process)
        return process, marker

    def output(self) -> str:
        return "\n".join(
            log.read_text(errors="replace")[-3000:]
            for log in sorted(self.tmp_path.glob("worker-*.log"))
        )

    def wait_for(self, marker: Path, process: subprocess.Popen[bytes]) -> int:
        """The pid of the process that reached the held step."""
        deadline = time.monotonic() + WAIT_S
        while not marker.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the job never reached its held step:\n{self.output()}")
            time.sleep(0.05)
        pid = int(marker.read_text())
        self.horses.append(pid)
        return pid

    def finish(self, process: subprocess.Popen[bytes]) -> None:
        try:
            process.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the worker did not finish:\n{self.output()}") from None

    def kill(self, process: subprocess.Popen[bytes], horse: int) -> None:
        """SIGKILL the whole worker, as when its machine or container is lost."""
        for group in (process.pid, horse):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        process.wait()

    def kill_all(self) -> None:
        for horse in self.horses:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(horse, signal.SIGKILL)
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture
def queue() -> str:
    return f"fctest-{uuid.uuid4().hex}"


@pytest.fixture
def workers(tmp_path, committed_database_url, redis_url, queue) -> Iterator[Workers]:
    workers = Workers(tmp_path, committed_database_url, redis_url, queue)
    try:
        yield workers
    finally:
        workers.kill_all()
        connection = redis.Redis.from_url(redis_url)
        rq_queue = Queue(queue, connection=connection)
        for job_id in FailedJobRegistry(queue=rq_queue).get_job_ids():
            RQJob(job_id, connection=connection).delete()
        rq_queue.delete(delete_jobs=True)
        for key in connection.scan_iter(f"rq:*{queue}*"):
            connection.delete(key)


@pytest.fixture
def db(committed_database_url) -> Iterator[sa.Engine]:
    # A look into a table a held job has locked fails the test rather than hang it.
    engine = sa.create_engine(
        normalise_url(committed_database_url),
        connect_args={"options": "-c timezone=utc -c lock_timeout=10s"},
    )
    yield engine
    engine.dispose()


def count(engine: sa.Engine, model: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def job_row(engine: sa.Engine, job_id: int) -> Job:
    with make_session_factory(engine)() as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def tax_file(path: Path, rows: int) -> ImportRequest:
    path = write_tax_csv(
        path,
        [
            tax_row(i, make_uscc(f"K{i:07d}"), f"永康市商行{i}", f"古山镇古山西路{i}号")
            for i in range(1, rows + 1)
        ],
    )
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    return ImportRequest(kind="tax", path=path, filename=path.name, sha256=sha256)


def open_transactions(engine: sa.Engine) -> list[tuple[int, str]]:
    """Other backends of this database inside a transaction, with the tables they wrote."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT DISTINCT l.pid, c.relname FROM pg_locks l "
                "JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE a.datname = current_database() AND l.pid <> pg_backend_pid() "
                "AND l.mode = 'RowExclusiveLock' AND c.relkind = 'r' ORDER BY 1, 2"
            )
        ).all()


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 15
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


def test_worker_killed_in_the_middle_of_an_import_keeps_nothing_and_the_rerun_imports_once(
    db, workers, redis_url, queue, tmp_path
):
    engine = db
    request = tax_file(tmp_path / "tax.csv", rows=300)
    sessions = make_session_factory(engine)
    with sessions() as session:
        job = request_import(session, request=request, actor_id=None)
    RQJobRunner(redis_url, queue).submit(job.id)

    process, marker = workers.start(hold="import")
    horse = workers.wait_for(marker, process)

    # Mid-import: the rows are written in the worker's open transaction, not committed.
    # (A first list may lock its tables until the commit: nothing else reads them here.)
    written = {table for _, table in open_transactions(engine)}
    assert {"import_batches", "source_records", "businesses"} <= written
    time.sleep(STALE_AFTER_S * 1.5)
    with sessions() as session:  # its heartbeat still beats: alive, not taken for dead
        assert get_job(session, job.id, stale_after=timedelta(seconds=STALE_AFTER_S)).state == (
            "running"
        )

    workers.kill(process, horse)
    wait_until(lambda: not open_transactions(engine), "the dead worker's transaction ended")

    assert count(engine, SourceRecord) == 0
    assert count(engine, ImportBatch) == 0
    assert count(engine, ImportIssue) == 0
    assert count(engine, Business) == 0
    time.sleep(STALE_AFTER_S * 1.5)  # the heartbeat has stopped

    with sessions() as session:
        rerun = request_import(session, request=request, actor_id=None)
    RQJobRunner(redis_url, queue).submit(rerun.id)
    process, _ = workers.start()
    workers.finish(process)

    dead, done = job_row(engine, job.id), job_row(engine, rerun.id)
    assert dead.state == "failed"  # found by the next worker as it started
    assert dead.error.startswith("the worker running this job stopped")
    assert "nothing of it was kept; start it again" in dead.error
    assert done.state == "succeeded", (done.error, workers.output())
    assert count(engine, SourceRecord) == 300
    assert count(engine, ImportBatch) == 1
    with sessions() as session:  # the same file once more changes nothing
        again = request_import(session, request=request, actor_id=None)
        assert (again.state, again.result["duplicate_of"]) == ("succeeded", done.result["batch_id"])


@pytest.fixture
def official_app(db, committed_database_url, settings, redis_url, queue, tmp_path):
    app = create_app(
        {
            "SETTINGS": dataclasses.replace(
                settings,
                database_url=committed_database_url,
                redis_url=redis_url,
                instance_dir=tmp_path / "instance",
            ),
            "ENGINE": db,
            "JOB_QUEUE": queue,
        }
    )
    return app


def test_worker_killed_in_the_middle_of_an_export_leaves_no_file_and_the_rerun_exports_once(
    db, workers, official_app, tmp_path
):
    engine = db
    rows = 1100  # more than one chunk of the file
    sessions = make_session_factory(engine)
    with sessions() as session:
        job = request_import(session, request=tax_file(tmp_path / "tax.csv", rows), actor_id=None)
        user = make_user(session, role="official", bureau="tax", password=None)
        session.commit()
        headers = auth(user)
    execute_job(engine, job.id)
    assert job_row(engine, job.id).state == "succeeded"
    client = official_app.test_client()
    exports = tmp_path / "instance" / "exports"

    created = client.post(
        "/api/v1/official/registries/tax/exports", json={"format": "csv"}, headers=headers
    )
    assert created.status_code == 202, created.json
    view = f"/api/v1/official/exports/{created.json['id']}"
    process, marker = workers.start(hold="export")
    horse = workers.wait_for(marker, process)

    # Mid-export: part of the file is written under a temporary name; nothing to download.
    [partial] = exports.iterdir()
    assert partial.name.startswith(".") and partial.name.endswith(".part")
    assert partial.stat().st_size > 0
    assert client.get(view, headers=headers).json["download_url"] is None
    assert client.get(f"{view}/file", headers=headers).status_code == 409

    os.kill(horse, signal.SIGKILL)  # the process running the job, as the OOM killer does
    workers.finish(process)

    failed = client.get(view, headers=headers).json
    assert failed["state"] == "failed"
    assert failed["error"].startswith(
        "the worker process running this job was killed by signal 9 before the job finished"
    )
    assert failed["download_url"] is None
    assert client.get(f"{view}/file", headers=headers).status_code == 409
    assert list(exports.iterdir()) == []
    assert count(engine, Export, Export.state == "running") == 0
    assert count(engine, AuditEvent, AuditEvent.action == "registry.export_failed") == 1

    retried = client.post(
        "/api/v1/official/registries/tax/exports", json={"format": "csv"}, headers=headers
    )
    process, _ = workers.start()
    workers.finish(process)

    done = client.get(f"/api/v1/official/exports/{retried.json['id']}", headers=headers).json
    assert done["state"] == "succeeded", (done, workers.output())
    download = client.get(done["download_url"], headers=headers)
    assert download.status_code == 200
    assert download.data.decode("utf-8-sig").count("永康市商行") == rows
    assert hashlib.sha256(download.data).hexdigest() == done["sha256"]
    assert [p.name for p in exports.iterdir()] == [Path(download_path(engine, done)).name]
    assert count(engine, Export, Export.state == "succeeded") == 1


def download_path(engine: sa.Engine, view: dict[str, Any]) -> str:
    with engine.connect() as conn:
        return conn.scalar(sa.select(Export.path).where(Export.job_id == view["id"]))
