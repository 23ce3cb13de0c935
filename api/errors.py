"""Every error as RFC 9457 problem+json: HTTP exceptions, domain exceptions and crashes."""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
import psycopg
import redis.exceptions
import sqlalchemy.exc
from flask import Flask, Response, json
from werkzeug.exceptions import HTTPException

from fieldcheck import errors as domain

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://fieldcheck.invalid/problems/"
PROBLEM_MIMETYPE = "application/problem+json"

# Domain exception -> HTTP status; the most specific class listed first wins.
STATUS_BY_ERROR: list[tuple[type[domain.FieldcheckError], int]] = [
    (domain.RateLimitedError, 429),
    (domain.ServiceUnavailableError, 503),
    (domain.AuthenticationError, 401),
    (domain.PermissionDeniedError, 403),
    (domain.NotFoundError, 404),
    (domain.ConflictError, 409),
    (domain.ValidationError, 422),
    (domain.ConfigurationError, 500),
]

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, with `errors` keyed by location and field for bad input."""

    type = ma.fields.String(metadata={"description": "URI naming the kind of problem"})
    title = ma.fields.String(metadata={"description": "Short summary of the kind of problem"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong this time"})
    code = ma.fields.String(metadata={"description": "Stable machine-readable error code"})
    errors = ma.fields.Dict(metadata={"description": "Field-by-field messages, by location"})


def problem_response(
    status: int,
    *,
    code: str,
    detail: str | None = None,
    errors: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    title: str | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if status == 401:
        response.headers.setdefault("WWW-Authenticate", 'Bearer realm="fieldcheck"')
    return response


def http_exception_response(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    detail = data.get("message") or error.description
    code = {
        400: "bad_request",
        401: "unauthenticated",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        409: "conflict",
        413: "too_large",
        415: "unsupported_media_type",
        422: "invalid",
        429: "rate_limited",
    }.get(status, "http_error")
    if status == 422 and errors:
        detail = "The request has invalid fields; see `errors`."
    elif status == 400 and errors:
        detail = "The request body is not valid JSON."
    if status >= 500:
        detail = "The server could not complete the request."
    return problem_response(
        status,
        code=data.get("code", code),
        detail=detail,
        errors=errors,
        headers=data.get("headers"),
    )


def domain_error_response(error: domain.FieldcheckError) -> Response:
    status = next((s for cls, s in STATUS_BY_ERROR if isinstance(error, cls)), 500)
    status = getattr(error, "http_status", status)
    headers: dict[str, str] = {}
    retry_after = error.details.get("retry_after")
    if retry_after is not None:
        headers["Retry-After"] = str(int(retry_after))
    errors = getattr(error, "errors", None) or None
    if errors is not None and not any(isinstance(v, dict) for v in errors.values()):
        errors = {"json": errors}
    extra = {k: v for k, v in error.details.items() if k != "retry_after"} or None
    if isinstance(error, domain.ServiceUnavailableError):
        # Retryable, and the message says which store failed (never a host, path or query).
        log.warning("request failed, retryable: %s", error, exc_info=error.__cause__)
        return problem_response(
            status, code=error.code, detail=error.message, headers=headers, extra=extra,
            title=error.title,
        )
    if status >= 500:
        log.error("request failed: %s", error)
        return problem_response(
            status,
            code=error.code,
            detail="The server could not complete the request.",
            headers=headers,
        )
    return problem_response(
        status, code=error.code, detail=error.message, errors=errors, headers=headers, extra=extra
    )


def unavailable(error: Exception) -> domain.ServiceUnavailableError | None:
    """The retryable 503 an infrastructure fault stands for, or None if it is not one.

    The database unreachable or its connection cut (the request's transaction is rolled
    back, unless the cut came during its COMMIT), and Redis unreachable (the job queue, the
    login rate limiter).
    """
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated or isinstance(error, sqlalchemy.exc.OperationalError):
            return domain.DatabaseUnavailableError()
        return None
    if isinstance(error, sqlalchemy.exc.TimeoutError | psycopg.OperationalError):
        # All pooled connections busy; or psycopg used directly, without SQLAlchemy.
        return domain.DatabaseUnavailableError()
    if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return domain.RedisUnavailableError()
    return None


def unexpected_error_response(error: Exception) -> Response:
    fault = unavailable(error)
    if fault is not None:
        fault.__cause__ = error
        return domain_error_response(fault)
    log.exception("request failed")
    return problem_response(
        500, code="internal", detail="The server could not complete the request."
    )


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(domain.FieldcheckError, domain_error_response)
    app.register_error_handler(HTTPException, http_exception_response)
    app.register_error_handler(Exception, unexpected_error_response)
