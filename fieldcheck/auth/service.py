"""Use cases of accounts: create users, log in, refresh, log out, enrol a courier's phone."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from fieldcheck.audit.service import record_event
from fieldcheck.auth.models import BUREAUS, ROLES, EnrolmentCode, RefreshToken, User
from fieldcheck.auth.ratelimit import RateLimiter
from fieldcheck.auth.tokens import hash_opaque_token, make_access_token, new_opaque_token
from fieldcheck.config import Settings
from fieldcheck.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    ValidationError,
)

# argon2id with the library's defaults (RFC 9106 low-memory profile).
_hasher = PasswordHasher()
# Verified against when the user is unknown, so both failures take the same time.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10
# Without 0/O and 1/I/L, so that a code read over the phone is typed right.
ENROLMENT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    token_type: str = "Bearer"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def get_user_by_username(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


def add_user(
    session: Session,
    *,
    username: str,
    role: str,
    password: str | None,
    bureau: str | None = None,
    display_name: str = "",
    phone: str | None = None,
    may_see_id_numbers: bool = False,
    actor_id: int | None = None,
) -> User:
    """Validate and add a user to the session (flushes; the caller's use case commits)."""
    errors: dict[str, list[str]] = {}
    if role not in ROLES:
        errors["role"] = [f"Must be one of: {', '.join(ROLES)}."]
    if role == "official" and bureau not in BUREAUS:
        errors["bureau"] = [f"An official needs a bureau, one of: {', '.join(BUREAUS)}."]
    if role != "official" and bureau is not None:
        errors["bureau"] = ["Only officials belong to a bureau."]
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = [f"Must be at least {MIN_PASSWORD_LENGTH} characters."]
    if not username or len(username) > 64:
        errors["username"] = ["Must be 1 to 64 characters."]
    if errors:
        raise ValidationError("invalid user", errors=errors)
    if get_user_by_username(session, username) is not None:
        raise ConflictError(f"username {username!r} is taken")
    user = User(
        username=username,
        role=role,
        bureau=bureau,
        display_name=display_name,
        phone=phone,
        may_see_id_numbers=may_see_id_numbers,
        password_hash=hash_password(password) if password is not None else None,
    )
    session.add(user)
    session.flush()
    record_event(
        session,
        action="user.created",
        actor_id=actor_id,
        object_type="user",
        object_id=user.id,
        details={"username": username, "role": role, "bureau": bureau},
    )
    return user


def create_user(session: Session, **kwargs: object) -> User:
    """The use case: add a user and commit."""
    user = add_user(session, **kwargs)  # type: ignore[arg-type]
    session.commit()
    return user


def _issue_tokens(session: Session, user: User, settings: Settings,
                  family_id: uuid.UUID | None = None) -> TokenPair:
    assert settings.secret_key
    refresh = new_opaque_token()
    now = datetime.now(UTC)
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id or uuid.uuid4(),
            token_hash=hash_opaque_token(refresh),
            issued_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    access = make_access_token(
        user_id=user.id,
        role=user.role,
        bureau=user.bureau,
        secret=settings.secret_key,
        ttl_s=settings.access_token_ttl_s,
        now=now,
    )
    return TokenPair(access, refresh, settings.access_token_ttl_s, user)


def log_in(
    session: Session,
    *,
    username: str,
    password: str,
    client_address: str | None,
    limiter: RateLimiter,
    settings: Settings,
) -> TokenPair:
    """Check a password and issue tokens; attempts are limited per account and per address."""
    account_key = f"login:user:{username.lower()}"
    address_key = f"login:addr:{client_address}"
    window = settings.login_window_s
    wait = max(
        limiter.hit(address_key, limit=settings.login_limit_per_address, window_s=window),
        limiter.peek(account_key, limit=settings.login_limit_per_account, window_s=window),
    )
    if wait:
        raise RateLimitedError("too many login attempts; try again later", retry_after=wait)
    user = get_user_by_username(session, username)
    ok = False
    try:
        ok = _hasher.verify(user.password_hash if user and user.password_hash else _DUMMY_HASH,
                            password)
    except (VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or not user.active:
        limiter.hit(account_key, limit=settings.login_limit_per_account, window_s=window)
        record_event(
            session,
            action="login.failed",
            actor_id=user.id if user else None,
            object_type="user",
            object_id=user.id if user else None,
            client_address=client_address,
            details={"username": username},
        )
        session.commit()
        raise AuthenticationError("invalid username or password")
    limiter.reset(account_key)
    if _hasher.check_needs_rehash(user.password_hash or ""):
        user.password_hash = hash_password(password)
    pair = _issue_tokens(session, user, settings)
    record_event(session, action="login.succeeded", actor_id=user.id, object_type="user",
                 object_id=user.id, client_address=client_address)
    session.commit()
    return pair


def _revoke_family(session: Session, family_id: uuid.UUID, now: datetime) -> None:
    session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def refresh_tokens(session: Session, *, refresh_token: str, settings: Settings) -> TokenPair:
    """Rotate a refresh token; presenting an already-rotated one revokes its whole family."""
    now = datetime.now(UTC)
    token = session.scalar(
        sa.select(RefreshToken)
        .where(RefreshToken.token_hash == hash_opaque_token(refresh_token))
        .with_for_update()
    )
    if token is None:
        raise AuthenticationError("refresh token is invalid")
    if token.revoked_at is not None:
        raise AuthenticationError("refresh token was revoked")
    if token.rotated_at is not None:
        # Someone else holds a copy of this token: end every session of this login.
        _revoke_family(session, token.family_id, now)
        record_event(session, action="token.reuse_detected", actor_id=token.user_id,
                     object_type="user", object_id=token.user_id,
                     details={"family": str(token.family_id)})
        session.commit()
        raise AuthenticationError(
            "refresh token was already used; every session of this login has been revoked"
        )
    if token.expires_at <= now:
        raise AuthenticationError("refresh token expired")
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise AuthenticationError("account is disabled")
    token.rotated_at = now
    pair = _issue_tokens(session, user, settings, family_id=token.family_id)
    session.commit()
    return pair


def log_out(session: Session, *, refresh_token: str) -> None:
    """Revoke the refresh token's family; access tokens expire on their own within minutes."""
    token = session.scalar(
        sa.select(RefreshToken).where(RefreshToken.token_hash == hash_opaque_token(refresh_token))
    )
    if token is None:
        raise AuthenticationError("refresh token is invalid")
    _revoke_family(session, token.family_id, datetime.now(UTC))
    record_event(session, action="logout", actor_id=token.user_id, object_type="user",
                 object_id=token.user_id)
    session.commit()


def issue_enrolment_code(session: Session, *, user_id: int, actor_id: int | None,
                         settings: Settings) -> tuple[str, datetime]:
    """A single-use, expiring code that lets a courier's phone obtain tokens."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFoundError(f"user {user_id} not found")
    if user.role != "courier":
        raise ValidationError("enrolment codes are for couriers",
                              errors={"user_id": ["Not a courier."]})
    code = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(10))
    expires_at = datetime.now(UTC) + timedelta(seconds=settings.enrolment_code_ttl_s)
    session.add(EnrolmentCode(user_id=user.id, code_hash=hash_opaque_token(code),
                              created_by_id=actor_id, expires_at=expires_at))
    record_event(session, action="enrolment_code.issued", actor_id=actor_id,
                 object_type="user", object_id=user.id)
    session.commit()
    return code, expires_at


def enrol_device(session: Session, *, code: str, client_address: str | None,
                 settings: Settings) -> TokenPair:
    """Exchange an enrolment code for tokens, once."""
    normalised = code.strip().upper().replace("-", "").replace(" ", "")
    row = session.scalar(
        sa.select(EnrolmentCode)
        .where(EnrolmentCode.code_hash == hash_opaque_token(normalised))
        .with_for_update()
    )
    now = datetime.now(UTC)
    if row is None or row.used_at is not None or row.expires_at <= now:
        raise AuthenticationError("enrolment code is invalid, used or expired")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise AuthenticationError("account is disabled")
    row.used_at = now
    pair = _issue_tokens(session, user, settings)
    record_event(session, action="enrolment_code.used", actor_id=user.id, object_type="user",
                 object_id=user.id, client_address=client_address)
    session.commit()
    return pair
