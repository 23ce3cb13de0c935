"""Serving the app under gunicorn, configured from code rather than a config file."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from api.extensions import services
from fieldcheck.auth.models import User
from fieldcheck.fieldwork import sync

log = logging.getLogger(__name__)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn around an app built in this process, preloaded into its workers.

    Each worker starts with connections of its own, one per thread, already warmed: a pool
    copied from the master would share its sockets, and the first burst of requests after
    a restart (a team syncing at 8 a.m.) should not pay for connecting and planning.
    """

    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", self._post_fork)
        self.cfg.set("post_worker_init", self._post_worker_init)

    def load(self) -> Flask:
        return self.application

    def _post_fork(self, _server: Any, _worker: Any) -> None:
        # Connections the master may hold stay the master's; the worker opens its own.
        with self.application.app_context():
            services().sessions.kw["bind"].dispose(close=False)

    def _post_worker_init(self, _worker: Any) -> None:
        warm_up(self.application, connections=int(self.cfg.threads))


def warm_up(app: Flask, *, connections: int) -> None:
    """Open `connections` pooled connections at once and run the commonest statements on each.

    A database that cannot be reached yet is not an error here: requests connect as usual.
    """
    with app.app_context():
        sessions = services().sessions

    def warm(_: int) -> None:
        with sessions() as session:
            # Every request's first statement (the caller's account), then the phones' sync.
            session.get(User, 0)
            sync.warm_up(session)

    try:
        # All at once, so that the pool opens that many distinct connections.
        with ThreadPoolExecutor(max_workers=connections) as pool:
            list(pool.map(warm, range(connections)))
    except Exception:
        # The server must start even when the database does not answer yet.
        log.warning("could not warm the database connections; going on", exc_info=True)


def serve(app: Flask, *, host: str, port: int, workers: int = 2, threads: int = 4) -> None:
    """Run gunicorn in this process with the app already built (preloaded into the workers)."""
    GunicornServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 120,
            "accesslog": "-",
            "preload_app": True,
        },
    ).run()
