"""A failed or killed import leaves nothing behind."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import execute_job
from fieldcheck.registry import service
from fieldcheck.registry.models import Business, ImportBatch, ImportIssue, SourceRecord
from fieldcheck.registry.service import ImportRequest, request_import
from tests.files import make_uscc, tax_row, write_tax_csv


def count(conn, model) -> int:
    return conn.scalar(sa.select(sa.func.count()).select_from(model))


def test_an_import_failing_after_loading_rows_leaves_no_half_batch(
    committed_database_url, tmp_path, monkeypatch
):
    engine = make_engine(committed_database_url)
    path = write_tax_csv(
        tmp_path / "t.csv",
        [
            tax_row(i, make_uscc(f"AB{i:06d}"), f"商行{i}", f"古山镇古山西路{i}号")
            for i in range(1, 200)
        ],
    )

    def crash(session, **kwargs):
        raise RuntimeError("worker lost its database connection")

    monkeypatch.setattr(service, "locate_businesses", crash)
    with make_session_factory(engine)() as session:
        job = request_import(
            session,
            request=ImportRequest(
                kind="tax",
                path=path,
                filename="t.csv",
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            ),
            actor_id=None,
        )
    execute_job(engine, job.id)
    with engine.connect() as conn:
        state, error = conn.execute(sa.select(Job.state, Job.error).where(Job.id == job.id)).one()
        assert state == "failed"
        assert "nothing of it was kept" in error
        assert count(conn, SourceRecord) == 0
        assert count(conn, ImportBatch) == 0
        assert count(conn, ImportIssue) == 0
        assert count(conn, Business) == 0
    # The same file imports cleanly afterwards.
    monkeypatch.undo()
    with make_session_factory(engine)() as session:
        retry = request_import(
            session,
            request=ImportRequest(
                kind="tax",
                path=path,
                filename="t.csv",
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            ),
            actor_id=None,
        )
    execute_job(engine, retry.id)
    with engine.connect() as conn:
        assert count(conn, SourceRecord) == 199
    engine.dispose()
