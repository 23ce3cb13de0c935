"""Helpers shared by the benchmarks and quality reports: a throwaway database on the local
PostgreSQL server, and running an import job in this process."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.jobs.service import execute_job
from fieldcheck.localdb import conninfo_to_url, ensure_server
from fieldcheck.registry.service import ImportRequest, request_import
from fieldcheck.schema import upgrade


class ThrowawayDatabase:
    """A migrated database created on entry and dropped on exit (unless `keep`)."""

    def __init__(self, name: str, *, keep: bool = False) -> None:
        self.name = name
        self.keep = keep
        self.conninfo = ensure_server(Settings.from_env(mode="dev").instance_dir)
        self.url = conninfo_to_url(self.conninfo, name)
        self.engine: sa.Engine

    def __enter__(self) -> ThrowawayDatabase:
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))
        upgrade(self.url)
        self.engine = make_engine(self.url)
        return self

    def __exit__(self, *exc: object) -> None:
        self.engine.dispose()
        if self.keep:
            print(f"kept database {self.url}")
            return
        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(self.name)))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(engine: sa.Engine, kind: str, path: Path) -> dict[str, Any]:
    """Queue and run one import in this process; its result, or an exception on failure."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        job = request_import(
            session,
            request=ImportRequest(kind=kind, path=path, filename=path.name, sha256=sha256_of(path)),
            actor_id=None,
        )
        job_id = job.id
    execute_job(engine, job_id)
    with sessions() as session:
        from fieldcheck.jobs.models import Job

        job = session.get(Job, job_id)
        assert job is not None
        if job.state != "succeeded":
            raise RuntimeError(f"{kind} import failed: {job.error}")
        return dict(job.result or {})
