"""Database engine, sessions and the declarative base shared by every model."""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Session, configure_mappers, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    return datetime.now(UTC)


def normalise_url(url: str) -> str:
    """Accept plain postgresql:// URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


# A pooled connection idle longer than this is checked with a round trip before it is
# handed out (a restart, failover or idle timeout may have closed it meanwhile). A
# connection back in use within this time is not: under load that round trip was a fifth
# of a small request's database work. A connection that dies anyway fails its request with
# a 503, and the pool then replaces every connection older than the failure.
IDLE_PING_AFTER_S = 5.0


def make_engine(url: str, **kwargs: object) -> sa.Engine:
    """An engine whose connections all speak UTC and are checked after sitting idle."""
    engine = sa.create_engine(
        normalise_url(url),
        connect_args={"options": "-c timezone=utc"},
        **kwargs,
    )
    event.listen(engine, "checkin", _note_idle)
    event.listen(engine, "checkout", functools.partial(_ping_if_idle, engine.dialect))
    return engine


def _note_idle(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_if_idle(
    dialect: sa.Dialect,
    dbapi_connection: Any,
    record: ConnectionPoolEntry,
    proxy: PoolProxiedConnection,
) -> None:
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < IDLE_PING_AFTER_S:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as exc:
        # The pool discards this connection and checks out another (a fresh one if need be).
        raise sa.exc.DisconnectionError(f"pooled connection is gone: {exc}") from exc


def make_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    # Every model must be imported before a session resolves foreign keys between them.
    import fieldcheck.models  # noqa: F401

    # Relationships are resolved now, once, rather than by a server worker's first request
    # while every other request of that worker waits for it.
    configure_mappers()
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for one unit of work: the work commits itself; anything left is rolled back."""
    session = factory()
    try:
        yield session
    finally:
        session.close()
