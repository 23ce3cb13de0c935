"""The app factory, health probes and the OpenAPI document."""

from __future__ import annotations

from api.app import create_app


def test_create_app_takes_the_given_settings(app_config):
    app = create_app(app_config)
    assert app.extensions["fieldcheck"].settings is app_config["SETTINGS"]
    assert app.config["MAX_CONTENT_LENGTH"] == app_config["SETTINGS"].max_request_bytes


def test_healthz_says_ok(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200


def test_readyz_returns_503_when_the_database_is_unreachable(app_config):
    from fieldcheck.db import make_engine

    dead = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1")
    app = create_app({**app_config, "ENGINE": dead})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_openapi_document_lists_the_routes_and_security(client):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/auth/login" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = spec["paths"]["/api/v1/auth/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    assert "401" in me["responses"]
