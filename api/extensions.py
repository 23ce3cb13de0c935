"""Our flask-smorest `Api`, `Blueprint` and `Schema`, and the per-app services."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

import flask_smorest
import marshmallow as ma
from flask import current_app, g
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ProblemSchema, http_exception_response
from fieldcheck.auth.ratelimit import RateLimiter
from fieldcheck.config import Settings
from fieldcheck.evidence.storage import PhotoStorage
from fieldcheck.jobs.service import JobRunner


class Api(flask_smorest.Api):
    """Renders every HTTP error as problem+json and documents it with `ProblemSchema`."""

    ERROR_SCHEMA = ProblemSchema
    DEFAULT_ERROR_RESPONSE_NAME = "DEFAULT_ERROR"

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def]
        return http_exception_response(error)


class Schema(ma.Schema):
    """Base of every body schema: unknown fields are refused (422), not ignored."""

    class Meta:
        unknown = ma.RAISE
        ordered = True


class Blueprint(flask_smorest.Blueprint):
    def login_required(self, *roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Require a valid access token of one of `roles` (any role when none given)."""
        from api.security import require_user

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                require_user(roles)
                return func(*args, **kwargs)

            doc = self.doc(security=[{"bearerAuth": []}])
            wrapper = self.alt_response(401, description="Missing, expired or invalid token")(
                wrapper
            )
            if roles:
                wrapper = self.alt_response(403, description=f"Only for: {', '.join(roles)}")(
                    wrapper
                )
            return doc(wrapper)

        return decorator


@dataclass
class Services:
    """What a request needs besides its arguments, built once by the app factory."""

    settings: Settings
    sessions: sessionmaker[Session]
    limiter: RateLimiter
    jobs: JobRunner
    storage: PhotoStorage
    extra: dict[str, Any] = field(default_factory=dict)


def services() -> Services:
    return current_app.extensions["fieldcheck"]


def db_session() -> Session:
    """The request's session; closed (and anything uncommitted rolled back) at teardown."""
    if "db_session" not in g:
        g.db_session = services().sessions()
    return g.db_session


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
