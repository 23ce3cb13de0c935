"""The Flask app factory."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from api.errors import problem_response, register_error_handlers
from api.extensions import (
    Api,
    Services,
    TextConverter,
    close_db_session,
    id_converter_schema,
    refuse_ids_out_of_range,
)
from fieldcheck.auth.ratelimit import make_rate_limiter
from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.evidence.storage import storage_from_url
from fieldcheck.jobs.service import make_runner

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
# Bodies the API reads: JSON, and multipart for file uploads.
ACCEPTED_BODY_TYPES = ("application/json", "multipart/form-data")


def _settings_from(config: dict[str, Any]) -> Settings:
    if isinstance(config.get("SETTINGS"), Settings):
        return config["SETTINGS"]
    names = {f.name for f in dataclasses.fields(Settings)}
    overrides = {k: v for k, v in config.items() if k in names}
    return Settings.from_env(**overrides)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` (a test's or a command's)."""
    config = dict(config or {})
    settings = _settings_from(config)
    # No static files: every route is the API's, and in its OpenAPI document.
    app = Flask("fieldcheck", static_folder=None)
    app.url_map.converters["string"] = app.url_map.converters["default"] = TextConverter
    app.config.update(
        API_TITLE="fieldcheck",
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX=API_PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        JSON_SORT_KEYS=False,
        API_SPEC_OPTIONS={
            "info": {"description": "Door-to-door registry verification campaigns."},
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
            },
        },
    )
    app.config.update({k: v for k, v in config.items() if k.isupper() and k != "SETTINGS"})
    app.config["SECRET_KEY"] = settings.secret_key

    if settings.database_url is None:
        from fieldcheck.localdb import prepare_local_database

        settings = dataclasses.replace(
            settings, database_url=prepare_local_database(settings.instance_dir)
        )
    engine = config.get("ENGINE") or make_engine(settings.database_url or "")
    app.extensions["fieldcheck"] = Services(
        settings=settings,
        sessions=make_session_factory(engine),
        limiter=make_rate_limiter(
            settings.redis_url, config.get("RATE_LIMIT_PREFIX", "fieldcheck:rl:")
        ),
        storage=storage_from_url(
            settings.photo_storage_url,
            s3_endpoint_url=settings.s3_endpoint_url,
            s3_connect_timeout=settings.s3_connect_timeout_s,
            s3_read_timeout=settings.s3_read_timeout_s,
            s3_max_attempts=settings.s3_max_attempts,
        ),
        jobs=make_runner(settings.redis_url, engine, config.get("JOB_QUEUE", "fieldcheck")),
    )
    app.teardown_appcontext(close_db_session)
    if settings.behind_proxy:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]

    api = Api(app)
    api.register_converter(IntegerConverter, id_converter_schema)
    app.url_value_preprocessor(refuse_ids_out_of_range)
    register_error_handlers(app)

    @app.before_request
    def refuse_unknown_body_types():  # type: ignore[no-untyped-def]
        has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding")
        writes = request.method in ("POST", "PUT", "PATCH")
        if writes and has_body and request.mimetype not in ACCEPTED_BODY_TYPES:
            return problem_response(
                415,
                code="unsupported_media_type",
                detail=f"send application/json (or multipart/form-data for files), "
                f"not {request.mimetype or 'no content type'}",
            )
        return None

    from api.resources import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        api.register_blueprint(blueprint)
    return app
