"""Who is acting: the courier behind an account."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.auth.models import User
from fieldcheck.dispatch.models import Courier
from fieldcheck.errors import PermissionDeniedError


def get_courier_for_user(session: Session, user: User) -> Courier | None:
    return session.scalar(sa.select(Courier).where(Courier.user_id == user.id))


def get_courier_for_user_or_raise(session: Session, user: User) -> Courier:
    """The courier profile of `user`; an account without one may not do fieldwork."""
    courier = get_courier_for_user(session, user) if user.role == "courier" else None
    if courier is None:
        raise not_a_courier(user)
    return courier


def not_a_courier(user: User) -> PermissionDeniedError:
    return PermissionDeniedError(
        f"account {user.username} has no courier profile; ask the campaign office"
    )
