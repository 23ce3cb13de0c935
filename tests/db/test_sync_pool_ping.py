"""Pooled connections: one that sat idle is checked before use and replaced when the server
closed it meanwhile; one back in use at once is handed out without that round trip (every
sync page would pay it)."""

from __future__ import annotations

import psycopg
import pytest
import sqlalchemy as sa

from fieldcheck import db
from fieldcheck.db import make_engine


def backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def terminate(url: str, pid: int) -> None:
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)


@pytest.fixture
def engine(committed_database_url: str):
    engine = make_engine(committed_database_url, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = engine.dialect.do_ping

    def counting(dbapi_connection):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return calls


def test_a_connection_closed_by_the_server_while_idle_is_replaced_before_use(
    engine, pings, committed_database_url, monkeypatch
):
    first = backend_pid(engine)
    terminate(committed_database_url, first)
    monkeypatch.setattr(db, "IDLE_PING_AFTER_S", 0.0)  # it has been idle long enough

    second = backend_pid(engine)

    assert second != first
    assert pings == [1]


def test_a_connection_back_in_use_at_once_is_not_pinged(engine, pings, monkeypatch):
    monkeypatch.setattr(db, "IDLE_PING_AFTER_S", 3600.0)

    pids = {backend_pid(engine) for _ in range(3)}

    assert len(pids) == 1  # the same pooled connection each time
    assert pings == []
