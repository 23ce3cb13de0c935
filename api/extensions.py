"""Our flask-smorest `Api`, `Blueprint` and `Schema`, and the per-app services.

The served OpenAPI document is completed here, in one place: every error an operation can
answer is documented as problem+json (RFC 9457), with the headers sent beside it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, ClassVar

import flask_smorest
import marshmallow as ma
import sqlalchemy as sa
from apispec import BasePlugin
from flask import current_app, g, request
from sqlalchemy.orm import Session, sessionmaker
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter, Map, Rule, UnicodeConverter

from api.errors import PROBLEM_MIMETYPE, ProblemSchema, http_exception_response
from fieldcheck.auth.ratelimit import RateLimiter
from fieldcheck.config import Settings
from fieldcheck.evidence.storage import PhotoStorage
from fieldcheck.jobs.service import JobRunner

# An operation marked with this key (by `Blueprint.process_only`) answers without the
# database or photo storage, so it is not documented as answering 503.
PROCESS_ONLY = "x-fieldcheck-process-only"
WRITE_METHODS = ("post", "put", "patch")
BINARY = {"type": "string", "format": "binary"}
JSON_FILE = {"type": "object", "description": "A JSON document (GeoJSON: RFC 7946)"}
# What the photo routes send: the original as uploaded, or a JPEG thumbnail.
PHOTO_TYPES = ("image/jpeg", "image/png", "image/heic", "image/heif")
# The component name of `ProblemDetailsSchema` in the document.
PROBLEM_COMPONENT = "ProblemDetails"
RETRY_AFTER = {
    "description": "Seconds to wait before trying again",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
WWW_AUTHENTICATE = {
    "description": "The authentication scheme: Bearer",
    "required": True,
    "schema": {"type": "string"},
}
# Errors every operation of a kind can answer, whatever its handler does.
COMMON_ERRORS = {
    400: "The body is not valid JSON or not a valid multipart form",
    401: "Missing, expired or invalid token",
    404: "Nothing here: a path parameter names nothing, or is not of its type",
    413: "The body is larger than the server accepts",
    415: "The body is neither application/json nor multipart/form-data",
    422: "Invalid arguments: `errors` names each field and says why",
    503: "The database, photo storage or disk is unavailable; retry after Retry-After",
}


class ProblemDetailsSchema(ProblemSchema):
    """`ProblemSchema` as documented: a problem may carry extension members (RFC 9457 §3.2),
    e.g. `current_version` beside a version conflict."""

    class Meta:
        unknown = ma.INCLUDE


class ProblemResponsesPlugin(BasePlugin):
    """Completes each operation's responses: the errors it can answer as problem+json."""

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None,
                         **kwargs: Any) -> None:
        rule: Rule | None = kwargs.get("rule")
        has_path_params = bool(rule and rule.arguments)
        for method, operation in (operations or {}).items():
            if not isinstance(operation, dict):
                continue
            complete_operation(method, operation, has_path_params=has_path_params)


def complete_operation(method: str, operation: dict[str, Any], *, has_path_params: bool) -> None:
    """Add the errors `operation` can answer, and document every error as problem+json."""
    responses = {str(k): v for k, v in operation.get("responses", {}).items()}
    operation["responses"] = responses
    process_only = operation.pop(PROCESS_ONLY, False)
    has_body = "requestBody" in operation
    takes_arguments = has_body or any(
        isinstance(p, dict) and p.get("in") == "query" for p in operation.get("parameters", ())
    )
    wanted = {
        400: has_body,
        401: "security" in operation,
        404: has_path_params,
        413: has_body,
        415: method in WRITE_METHODS,
        422: takes_arguments,
        503: not process_only,
    }
    for status, applies in wanted.items():
        if applies:
            responses.setdefault(str(status), {"description": COMMON_ERRORS[status]})
    for status, response in list(responses.items()):
        if not status.isdigit() or int(status) < 400:
            continue
        if not isinstance(response, dict) or "$ref" in response:
            # flask-smorest's shared responses say application/json; ours say what is sent.
            response = {"description": COMMON_ERRORS.get(int(status), "Error")}
        response = {
            **response,
            "content": {PROBLEM_MIMETYPE: {"schema": PROBLEM_COMPONENT}},
        }
        headers = dict(response.get("headers", {}))
        if status in ("429", "503"):
            headers.setdefault("Retry-After", RETRY_AFTER)
        if status == "401":
            headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
        if headers:
            response["headers"] = headers
        responses[status] = response
    operation["responses"] = dict(sorted(responses.items()))


class Api(flask_smorest.Api):
    """Renders every HTTP error as problem+json and documents it with `ProblemSchema`."""

    ERROR_SCHEMA = ProblemDetailsSchema
    # No catch-all `default` response: each status an operation can answer is listed.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _init_spec(self, **kwargs: Any) -> None:
        kwargs["extra_plugins"] = [*kwargs.get("extra_plugins", ()), ProblemResponsesPlugin()]
        super()._init_spec(**kwargs)

    def handle_http_exception(self, error):  # type: ignore[no-untyped-def]
        return http_exception_response(error)


class Schema(ma.Schema):
    """Base of every body schema: unknown fields are refused (422), not ignored, and so is
    text with a NUL character (which no database column can store)."""

    class Meta:
        unknown = ma.RAISE
        ordered = True

    @ma.pre_load
    def refuse_nul_characters(self, data: Any, **_: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        errors = {}
        for name in data:
            value = data.get(name)
            values = value if isinstance(value, list | tuple) else (value,)
            if any(isinstance(v, str) and "\x00" in v for v in values):
                errors[name] = ["Must not contain the NUL character."]
        if errors:
            raise ma.ValidationError(errors)
        return data


# The largest id of a row: ids are PostgreSQL `integer` columns.
MAX_ID = 2**31 - 1


class Id(ma.fields.Integer):
    """The id of a row: an integer from 1 to `MAX_ID` (a larger one names nothing)."""

    def __init__(self, **kwargs: Any) -> None:
        validate = kwargs.pop("validate", None)
        validators = [validate] if callable(validate) else list(validate or [])
        range_ = ma.validate.Range(1, MAX_ID, error="Not an id: ids are 1 to {max}.")
        super().__init__(validate=[range_, *validators], **kwargs)


def refuse_ids_out_of_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A URL's number beyond `MAX_ID` (an `<int:…>` in a route, always an id) names nothing.

    Checked here rather than by the route's converter: a converter refusing a number makes
    werkzeug answer 405 when another method shares the route.
    """
    for name, value in (values or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_ID:
            raise NotFound(f"{name} {value} names nothing: ids are 1 to {MAX_ID}")


class TextConverter(UnicodeConverter):
    """`<string:…>` in routes: any text but a slash or a NUL character (which names nothing)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(map, *args, **kwargs)
        self.regex = self.regex.replace("[^/]", "[^/\\x00]", 1)


def id_converter_schema(converter: IntegerConverter) -> dict[str, Any]:
    """How an `<int:…>` path parameter is documented: an id."""
    return {"type": "integer", "minimum": 0, "maximum": MAX_ID}


class ArgumentsParser(FlaskParser):
    """Query strings and file parts are held to their schema's `unknown` as bodies are: an
    unknown parameter (a misspelt filter, say) is refused with 422 rather than ignored."""

    DEFAULT_UNKNOWN_BY_LOCATION: ClassVar[dict[str, str | None]] = {
        **FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
        "query": None,
        "querystring": None,
        "files": None,
    }


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ArgumentsParser()

    def login_required(self, *roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Require a valid access token of one of `roles` (any role when none given)."""
        from api.security import require_user

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @wraps(func)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                require_user(roles)
                return func(*args, **kwargs)

            # OpenAPI 3.1 lets a bearer requirement list the roles it needs.
            doc = self.doc(security=[{"bearerAuth": list(roles)}])
            wrapper = self.alt_response(401, description="Missing, expired or invalid token")(
                wrapper
            )
            if roles:
                wrapper = self.alt_response(403, description=f"Only for: {', '.join(roles)}")(
                    wrapper
                )
            return doc(wrapper)

        return decorator

    def file_response(
        self, status: int, media_types: tuple[str, ...], *, description: str
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document a response that is a file (bytes) of one of `media_types`."""
        response = self.response(status, description=description)
        content = {
            media_type: {"schema": JSON_FILE if media_type.endswith("json") else BINARY}
            for media_type in media_types
        }
        doc = self.doc(responses={str(status): {"content": content}})
        return lambda func: doc(response(func))

    def photo_response(self, *, description: str = "The image"
                       ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Document a 200 response that is a photo: the original, or its JPEG thumbnail."""
        return self.file_response(200, PHOTO_TYPES, description=description)

    def statements_autocommit(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Run the request's statements each in its own transaction, with no BEGIN and
        COMMIT around them: for a hot route whose statements each stand alone (as under READ
        COMMITTED they see different snapshots anyway), two round trips fewer a request."""
        func.statements_autocommit = True  # type: ignore[attr-defined]
        return func

    def process_only(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Mark an operation that answers without the database or the photo storage."""
        return self.doc(**{PROCESS_ONLY: True})(func)


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
        # The mark is copied onto every decorator's wrapper (functools.wraps), so it is
        # found on the view whatever the order of the decorators.
        view = current_app.view_functions.get(request.endpoint or "")
        sessions = services().sessions
        bind = sessions.kw.get("bind")
        # A factory bound to one connection (a test's transaction) keeps it as it is.
        if getattr(view, "statements_autocommit", False) and isinstance(bind, sa.Engine):
            g.db_session = sessions(bind=_autocommit_engine(bind))
        else:
            g.db_session = sessions()
    return g.db_session


@functools.lru_cache(maxsize=4)
def _autocommit_engine(engine: sa.Engine) -> sa.Engine:
    """The engine on the same pool whose connections commit each statement by itself."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def close_db_session(_exc: BaseException | None = None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
