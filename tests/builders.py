"""Small builders of test data: keyword defaults, `add` + `flush`, never commit."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from fieldcheck.auth.models import User
from fieldcheck.auth.service import add_user
from fieldcheck.auth.tokens import make_access_token

TEST_SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"

_counter = itertools.count(1)


def make_user(
    session: Session,
    *,
    role: str = "admin",
    username: str | None = None,
    bureau: str | None = None,
    password: str | None = PASSWORD,
    **kwargs: object,
) -> User:
    if role == "official" and bureau is None:
        bureau = "tax"
    return add_user(
        session,
        username=username or f"{role}{next(_counter)}",
        role=role,
        bureau=bureau,
        password=password,
        **kwargs,
    )  # type: ignore[arg-type]


def token_for(user: User, *, secret: str = TEST_SECRET, ttl_s: int = 900) -> str:
    return make_access_token(
        user_id=user.id, role=user.role, bureau=user.bureau, secret=secret, ttl_s=ttl_s
    )


def auth(user: User) -> dict[str, str]:
    """The Authorization header of `user`."""
    return {"Authorization": f"Bearer {token_for(user)}"}
