"""Signed short-lived access tokens and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from fieldcheck.errors import AuthenticationError

ISSUER = "fieldcheck"
AUDIENCE = "fieldcheck-api"
ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    role: str
    bureau: str | None


def make_access_token(*, user_id: int, role: str, bureau: str | None, secret: str,
                      ttl_s: int, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    payload = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": str(user_id),
        "role": role,
        "bureau": bureau,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_access_token(token: str, *, secret: str) -> AccessClaims:
    """Verify signature, issuer, audience and expiry; raise AuthenticationError with the cause."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise AuthenticationError("access token expired") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthenticationError("access token is not meant for this API") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError("access token is invalid") from exc
    try:
        return AccessClaims(int(payload["sub"]), str(payload["role"]), payload.get("bureau"))
    except (KeyError, ValueError) as exc:
        raise AuthenticationError("access token is invalid") from exc


def new_opaque_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_opaque_token(token: str) -> str:
    """Refresh tokens and enrolment codes are stored hashed: a database leak reveals none."""
    return hashlib.sha256(token.encode()).hexdigest()
