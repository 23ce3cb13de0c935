"""A server worker starts with its connections open and its hot statements planned."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from flask import Flask

from api.app import create_app
from api.serving import warm_up
from fieldcheck.config import Settings
from fieldcheck.db import make_engine


def _app(settings: Settings, engine: sa.Engine) -> Flask:
    return create_app({"SETTINGS": settings, "ENGINE": engine, "TESTING": True})


def test_warm_up_opens_one_connection_per_thread(
    committed_database_url: str, settings: Settings
) -> None:
    engine = make_engine(committed_database_url)
    try:
        app = _app(settings, engine)
        assert engine.pool.checkedin() == 0
        warm_up(app, connections=3)
        assert engine.pool.checkedin() == 3
        with engine.connect() as conn:
            backends = conn.execute(
                sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            ).scalar_one()
        assert backends >= 3
    finally:
        engine.dispose()


def test_warm_up_with_the_database_away_logs_and_lets_the_server_start(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 1: connecting fails at once.
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        app = _app(settings, engine)
        with caplog.at_level(logging.WARNING, logger="api.serving"):
            warm_up(app, connections=2)
        assert "could not warm the database connections" in caplog.text
        assert engine.pool.checkedin() == 0
    finally:
        engine.dispose()
