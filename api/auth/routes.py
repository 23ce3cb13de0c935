"""Auth endpoints: log in, refresh, log out, enrol, who am I."""

from __future__ import annotations

from api.auth.schemas import EnrolSchema, LoginSchema, RefreshSchema, TokenPairSchema, UserSchema
from api.extensions import Blueprint, db_session, services
from api.security import client_address, current_user
from fieldcheck.auth import service
from fieldcheck.auth.models import User

blp = Blueprint(
    "auth",
    __name__,
    url_prefix="/api/v1/auth",
    description="Tokens for every role; phone enrolment for couriers",
)


@blp.post("/login")
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Wrong username or password")
@blp.alt_response(429, description="Too many attempts for this account or address")
def login(body: dict[str, str]) -> service.TokenPair:
    """Log in with a username and password"""
    svc = services()
    return service.log_in(
        db_session(),
        username=body["username"],
        password=body["password"],
        client_address=client_address(),
        limiter=svc.limiter,
        settings=svc.settings,
    )


@blp.post("/refresh")
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Invalid, expired, revoked or reused refresh token")
def refresh(body: dict[str, str]) -> service.TokenPair:
    """Exchange a refresh token for a new pair

    The refresh token is rotated: the old one stops working. Presenting an old one again
    revokes every token of that login.
    """
    return service.refresh_tokens(
        db_session(), refresh_token=body["refresh_token"], settings=services().settings
    )


@blp.post("/logout")
@blp.arguments(RefreshSchema)
@blp.response(204)
@blp.alt_response(401, description="Unknown refresh token")
def logout(body: dict[str, str]) -> None:
    """Revoke a refresh token and every token rotated from it"""
    service.log_out(db_session(), refresh_token=body["refresh_token"])


@blp.post("/enrol")
@blp.arguments(EnrolSchema)
@blp.response(200, TokenPairSchema)
@blp.alt_response(401, description="Invalid, used or expired code")
def enrol(body: dict[str, str]) -> service.TokenPair:
    """Exchange a courier's one-time enrolment code for tokens"""
    return service.enrol_device(
        db_session(),
        code=body["code"],
        client_address=client_address(),
        settings=services().settings,
    )


@blp.get("/me")
@blp.login_required()
@blp.response(200, UserSchema)
def me() -> User:
    """The account the token belongs to"""
    return current_user()
