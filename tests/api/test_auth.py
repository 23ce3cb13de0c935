"""Logging in, tokens, refresh rotation, logout, enrolment, roles and rate limits."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from fieldcheck.audit.models import AuditEvent
from fieldcheck.auth.models import EnrolmentCode
from tests.builders import PASSWORD, TEST_SECRET, auth, make_user, token_for


def login(client: FlaskClient, username: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_login_returns_tokens_and_user(client, session):
    user = make_user(session, role="supervisor", username="sue")
    response = login(client, "sue")
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["user"] == {
        "id": user.id,
        "username": "sue",
        "display_name": "",
        "role": "supervisor",
        "bureau": None,
    }
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json["username"] == "sue"


def test_login_with_wrong_password_returns_401_problem(client, session):
    make_user(session, username="ann")
    response = login(client, "ann", "wrong password!")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"] == "invalid username or password"


def test_login_of_unknown_user_says_the_same_as_a_wrong_password(client, session):
    response = login(client, "nobody")
    assert response.status_code == 401
    assert response.json["detail"] == "invalid username or password"


def test_login_success_and_failure_are_audited(client, session):
    user = make_user(session, username="aud")
    login(client, "aud", "bad password!")
    login(client, "aud")
    actions = session.scalars(
        sa.select(AuditEvent.action).where(AuditEvent.actor_id == user.id).order_by(AuditEvent.id)
    ).all()
    assert actions == ["login.failed", "login.succeeded"]


def test_expired_access_token_returns_401(client, session):
    user = make_user(session)
    response = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {token_for(user, ttl_s=-5)}"}
    )
    assert response.status_code == 401
    assert response.json["detail"] == "access token expired"


def test_tampered_access_token_returns_401(client, session):
    user = make_user(session)
    header, _payload, signature = token_for(user).split(".")
    forged = jwt.encode({"sub": str(user.id), "role": "admin"}, "another secret " * 4)
    for token in (f"{header}.{forged.split('.')[1]}.{signature}", token_for(user, secret="x" * 40)):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.json["detail"] == "access token is invalid"


def test_access_token_for_another_audience_returns_401(client, session):
    user = make_user(session)
    now = datetime.now(UTC)
    token = jwt.encode(
        {
            "iss": "fieldcheck",
            "aud": "some-other-api",
            "sub": str(user.id),
            "role": "admin",
            "iat": now,
            "exp": now + timedelta(minutes=5),
        },
        TEST_SECRET,
        algorithm="HS256",
    )
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json["detail"] == "access token is not meant for this API"


def test_missing_token_returns_401_with_bearer_challenge(client):
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_refresh_rotates_the_refresh_token(client, session):
    make_user(session, username="rot")
    first = login(client, "rot").json
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    assert second.json["refresh_token"] != first["refresh_token"]
    third = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second.json["refresh_token"]}
    )
    assert third.status_code == 200


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(client, session):
    make_user(session, username="reuse")
    first = login(client, "reuse").json
    second = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    ).json
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert "revoked" in replay.json["detail"]
    # The legitimate holder's newer token dies with it.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401


def test_other_logins_survive_a_reuse_in_one_family(client, session):
    make_user(session, username="two")
    phone = login(client, "two").json
    laptop = login(client, "two").json
    client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    client.post("/api/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    ok = client.post("/api/v1/auth/refresh", json={"refresh_token": laptop["refresh_token"]})
    assert ok.status_code == 200


def test_logout_revokes_the_refresh_token(client, session):
    make_user(session, username="out")
    tokens = login(client, "out").json
    response = client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 204
    again = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert again.status_code == 401
    assert again.json["detail"] == "refresh token was revoked"


def test_unknown_refresh_token_returns_401(client):
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": "not-a-token"})
    assert response.status_code == 401


def test_courier_calling_an_admin_endpoint_gets_403(client, session):
    courier = make_user(session, role="courier")
    response = client.get("/api/v1/admin/users", headers=auth(courier))
    assert response.status_code == 403
    assert response.json["code"] == "forbidden"


def test_admin_creates_a_user(client, session):
    admin = make_user(session)
    response = client.post(
        "/api/v1/admin/users",
        headers=auth(admin),
        json={
            "username": "tax1",
            "password": "long enough pw",
            "role": "official",
            "bureau": "tax",
        },
    )
    assert response.status_code == 201
    body = response.json
    body.pop("id")
    assert body == {"username": "tax1", "display_name": "", "role": "official", "bureau": "tax"}


def test_official_without_bureau_is_refused_field_by_field(client, session):
    admin = make_user(session)
    response = client.post(
        "/api/v1/admin/users",
        headers=auth(admin),
        json={"username": "tax2", "password": "long enough pw", "role": "official"},
    )
    assert response.status_code == 422
    assert response.json["errors"] == {
        "json": {"bureau": ["An official needs a bureau, one of: tax, commerce."]}
    }


def test_duplicate_username_returns_409(client, session):
    admin = make_user(session)
    make_user(session, username="dup")
    response = client.post(
        "/api/v1/admin/users",
        headers=auth(admin),
        json={"username": "dup", "password": "long enough pw", "role": "supervisor"},
    )
    assert response.status_code == 409


def test_enrolment_code_is_exchanged_for_tokens_once(client, session):
    admin = make_user(session)
    courier = make_user(session, role="courier", password=None)
    issued = client.post(f"/api/v1/admin/users/{courier.id}/enrolment-code", headers=auth(admin))
    assert issued.status_code == 201
    code = issued.json["code"]
    first = client.post("/api/v1/auth/enrol", json={"code": code.lower()})
    assert first.status_code == 200
    assert first.json["user"]["id"] == courier.id
    second = client.post("/api/v1/auth/enrol", json={"code": code})
    assert second.status_code == 401


def test_expired_enrolment_code_is_refused(client, session):
    admin = make_user(session)
    courier = make_user(session, role="courier", password=None)
    code = client.post(
        f"/api/v1/admin/users/{courier.id}/enrolment-code", headers=auth(admin)
    ).json["code"]
    session.execute(
        sa.update(EnrolmentCode).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    response = client.post("/api/v1/auth/enrol", json={"code": code})
    assert response.status_code == 401


def test_enrolment_code_only_for_couriers(client, session):
    admin = make_user(session)
    supervisor = make_user(session, role="supervisor")
    response = client.post(
        f"/api/v1/admin/users/{supervisor.id}/enrolment-code", headers=auth(admin)
    )
    assert response.status_code == 422


@pytest.fixture
def fast_window_app(app_config, session_factory):
    from api.app import create_app

    settings = dataclasses.replace(
        app_config["SETTINGS"], login_limit_per_account=3, login_window_s=2
    )
    app = create_app({**app_config, "SETTINGS": settings})
    app.extensions["fieldcheck"].sessions = session_factory
    return app


def test_login_rate_limit_returns_429_then_recovers(fast_window_app, session):
    client = fast_window_app.test_client()
    make_user(session, username="brute")
    for _ in range(3):
        assert login(client, "brute", "wrong password!").status_code == 401
    limited = login(client, "brute")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    assert limited.json["code"] == "rate_limited"
    time.sleep(2.1)
    assert login(client, "brute").status_code == 200


def test_rate_limit_is_per_account(fast_window_app, session):
    client = fast_window_app.test_client()
    make_user(session, username="victim")
    make_user(session, username="bystander")
    for _ in range(4):
        login(client, "victim", "wrong password!")
    assert login(client, "bystander").status_code == 200
