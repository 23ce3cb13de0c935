"""Every error is problem+json with the right status."""

from __future__ import annotations

from api.app import create_app
from tests.builders import auth, make_user


def test_malformed_json_returns_400_problem(client):
    response = client.post("/api/v1/auth/login", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"] == "The request body is not valid JSON."


def test_unknown_field_returns_422_with_field_errors(client):
    response = client.post(
        "/api/v1/auth/login", json={"username": "a", "password": "b", "remember": True}
    )
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"remember": ["Unknown field."]}}


def test_missing_field_returns_422_naming_it(client):
    response = client.post("/api/v1/auth/login", json={"username": "a"})
    assert response.status_code == 422
    assert response.json["errors"] == {"json": {"password": ["Missing data for required field."]}}


def test_wrong_content_type_returns_415(client):
    response = client.post(
        "/api/v1/auth/login",
        data="username=a&password=b",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 415
    assert response.json["code"] == "unsupported_media_type"


def test_oversized_body_returns_413(app_config, session_factory):
    app = create_app({**app_config, "MAX_CONTENT_LENGTH": 1024})
    app.extensions["fieldcheck"].sessions = session_factory
    response = app.test_client().post(
        "/api/v1/auth/login", json={"username": "a", "password": "b" * 4096}
    )
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"


def test_unknown_route_returns_404_problem(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_wrong_method_returns_405_problem(client):
    response = client.delete("/api/v1/auth/login")
    assert response.status_code == 405
    assert response.mimetype == "application/problem+json"


def test_bad_cursor_returns_422(client, session):
    admin = make_user(session)
    response = client.get("/api/v1/admin/users?cursor=%%%", headers=auth(admin))
    assert response.status_code == 422
    assert response.json["errors"] == {"query": {"cursor": ["Not a cursor returned by this API."]}}


def test_users_are_paged_with_cursors(client, session):
    admin = make_user(session)
    for _ in range(4):
        make_user(session, role="supervisor")
    first = client.get("/api/v1/admin/users?limit=3", headers=auth(admin)).json
    assert len(first["items"]) == 3
    second = client.get(
        f"/api/v1/admin/users?limit=3&cursor={first['next_cursor']}", headers=auth(admin)
    ).json
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None
    ids = [u["id"] for u in first["items"] + second["items"]]
    assert ids == sorted(set(ids))


def test_unknown_query_parameter_returns_422_naming_it(client, session):
    admin = make_user(session)
    response = client.get("/api/v1/admin/users?limt=3", headers=auth(admin))
    assert response.status_code == 422
    assert response.json["errors"] == {"query": {"limt": ["Unknown field."]}}


def test_nul_character_in_text_returns_422_naming_the_field(client):
    response = client.post("/api/v1/auth/login", json={"username": "a\u0000b", "password": "x"})
    assert response.status_code == 422
    assert response.json["errors"] == {
        "json": {"username": ["Must not contain the NUL character."]}
    }


def test_nul_character_in_a_path_names_nothing(client, session):
    courier = make_user(session, role="courier", password=None)
    response = client.get("/api/v1/courier/results/abc%00defgh", headers=auth(courier))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_id_beyond_the_database_range_returns_422_naming_it(client, session):
    admin = make_user(session)
    response = client.post(
        "/api/v1/admin/businesses/merge", json={"business_ids": [1, 2**31]}, headers=auth(admin)
    )
    assert response.status_code == 422
    assert response.json["errors"] == {
        "json": {"business_ids": {"1": ["Not an id: ids are 1 to 2147483647."]}}
    }


def test_forged_cursor_beyond_the_id_range_returns_422(client, session):
    from api.pagination import encode_cursor

    admin = make_user(session)
    response = client.get(f"/api/v1/admin/users?cursor={encode_cursor(2**40)}",
                          headers=auth(admin))
    assert response.status_code == 422
    assert response.json["errors"] == {"query": {"cursor": ["Not a cursor returned by this API."]}}
