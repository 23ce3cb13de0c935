"""Access-token checks for the API: who is calling, and may they call this."""

from __future__ import annotations

from collections.abc import Iterable

from flask import g, request

from api.extensions import db_session, services
from fieldcheck.auth.models import User
from fieldcheck.auth.tokens import read_access_token
from fieldcheck.errors import AuthenticationError, PermissionDeniedError


def bearer_token() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("an access token is required (Authorization: Bearer …)")
    return token.strip()


def require_user(roles: Iterable[str] = ()) -> User:
    """Load the calling user from the token; 401 without a valid one, 403 for a wrong role."""
    settings = services().settings
    assert settings.secret_key
    claims = read_access_token(bearer_token(), secret=settings.secret_key)
    user = db_session().get(User, claims.user_id)
    if user is None or not user.active:
        raise AuthenticationError("account is disabled")
    roles = tuple(roles)
    if roles and user.role not in roles:
        raise PermissionDeniedError(f"this action is for {', '.join(roles)}, not {user.role}")
    g.user = user
    return user


def current_user() -> User:
    return g.user


def client_address() -> str | None:
    # Behind a proxy the app is run with ProxyFix, which sets remote_addr from X-Forwarded-For.
    return request.remote_addr
