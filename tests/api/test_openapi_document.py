"""The served OpenAPI document is complete: every route and method of the app is in it, with
its parameters, its success response and every error it can answer as problem+json.

A route added without documentation, or documented without its errors, fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

OPENAPI_PATH = "/api/v1/openapi.json"
PROBLEM = "application/problem+json"
# The document's own route is the one route it does not describe.
UNDOCUMENTED_ENDPOINTS = {"api-docs.openapi_json"}
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
# Query parameters a handler reads itself, where any value is acceptable (never a 422).
UNPARSED_QUERY = {
    ("/api/v1/official/evidence/{token}/{business_id}/photos/{photo_id}", "thumbnail"),
}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    return response.json


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def _parameters(spec: dict[str, Any], path: str, operation: dict[str, Any]) -> list[dict]:
    return [*spec["paths"][path].get("parameters", []), *operation.get("parameters", [])]


def test_every_route_and_method_of_the_app_is_documented(app, spec):
    routes = {
        (_openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in UNDOCUMENTED_ENDPOINTS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, method, _ in _operations(spec)}

    assert routes - documented == set()
    assert documented - routes == set()
    assert len(routes) > 50


def test_every_path_parameter_is_declared(spec):
    for path, method, operation in _operations(spec):
        declared = {p["name"] for p in _parameters(spec, path, operation) if p["in"] == "path"}
        assert declared == set(re.findall(r"{([^}]+)}", path)), (method, path)


def test_every_operation_declares_a_success_response_with_its_content(spec):
    for path, method, operation in _operations(spec):
        responses = operation["responses"]
        successes = {s: r for s, r in responses.items() if s.startswith("2")}
        assert successes, (method, path)
        for status, response in successes.items():
            if status != "204":
                assert response.get("content"), (method, path, status)
                for media_type in response["content"].values():
                    assert media_type.get("schema"), (method, path, status)


def test_every_error_response_is_problem_json(spec):
    schemas = spec["components"]["schemas"]
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM], (method, path, status)
                ref = response["content"][PROBLEM]["schema"]["$ref"]
                problem = schemas[ref.rsplit("/", 1)[1]]
                assert {"type", "title", "status", "detail", "code", "errors"} <= set(
                    problem["properties"]
                )
                # RFC 9457 lets a problem carry extension members.
                assert problem.get("additionalProperties", True) is not False


def test_common_errors_are_documented_where_they_can_happen(spec):
    for path, method, operation in _operations(spec):
        responses = operation["responses"]
        where = (method, path)
        has_body = "requestBody" in operation
        params = _parameters(spec, path, operation)
        if operation.get("security"):
            assert "401" in responses, where
            assert "WWW-Authenticate" in responses["401"]["headers"], where
            if operation["security"][0]["bearerAuth"]:
                assert "403" in responses, where
        if has_body:
            assert {"400", "413", "415", "422"} <= set(responses), where
        if method in ("post", "put", "patch"):
            assert "415" in responses, where
        if any(p["in"] == "query" and (path, p["name"]) not in UNPARSED_QUERY for p in params):
            assert "422" in responses, where
        if any(p["in"] == "path" for p in params):
            assert "404" in responses, where
        if path != "/healthz":
            assert responses["503"]["headers"]["Retry-After"]["required"] is True, where
        if "429" in responses:
            assert responses["429"]["headers"]["Retry-After"]["required"] is True, where


def test_no_catch_all_response_hides_undocumented_status_codes(spec):
    for path, method, operation in _operations(spec):
        assert "default" not in operation["responses"], (method, path)


def test_operations_for_some_roles_name_them(spec):
    create_user = spec["paths"]["/api/v1/admin/users"]["post"]
    sync = spec["paths"]["/api/v1/courier/sync"]["get"]
    me = spec["paths"]["/api/v1/auth/me"]["get"]

    assert create_user["security"] == [{"bearerAuth": ["admin"]}]
    assert sync["security"] == [{"bearerAuth": ["courier"]}]
    assert me["security"] == [{"bearerAuth": []}]


def test_file_downloads_declare_their_content_types(spec):
    def types(path: str) -> set[str]:
        return set(spec["paths"][path]["get"]["responses"]["200"]["content"])

    assert types("/api/v1/official/registries/{bureau}") == {
        "text/csv",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/geo+json",
    }
    assert types("/api/v1/official/exports/{job_id}/file") == types(
        "/api/v1/official/registries/{bureau}"
    )
    assert types("/api/v1/admin/imports/{batch_id}/issues.csv") == {"text/csv"}
    assert types("/api/v1/admin/campaigns/{campaign_id}/report.html") == {"text/html"}
    assert "image/jpeg" in types("/api/v1/courier/photos/{photo_id}/{variant}")
    assert "image/jpeg" in types("/api/v1/supervisor/photos/{photo_id}/{variant}")


def test_id_path_parameters_are_bounded_and_beyond_the_bound_name_nothing(client, spec, session):
    from tests.builders import auth, make_user

    parameter = spec["paths"]["/api/v1/admin/campaigns/{campaign_id}"]["parameters"][0]
    admin = make_user(session)

    too_big = client.get(f"/api/v1/admin/campaigns/{2**31}", headers=auth(admin))
    # A route whose path another method shares: still 404, not 405.
    shared = client.post(f"/api/v1/supervisor/review/results/{2**31}/decisions",
                         json={"decision": "accept"}, headers=auth(admin))

    assert parameter["schema"]["maximum"] == 2**31 - 1
    assert (too_big.status_code, too_big.mimetype) == (404, PROBLEM)
    assert (shared.status_code, shared.mimetype) == (404, PROBLEM)
    assert shared.json["detail"] == "result_id 2147483648 names nothing: ids are 1 to 2147483647"
