"""Courier endpoints."""

from __future__ import annotations

from api.auth.schemas import UserSchema
from api.extensions import Blueprint
from api.security import current_user
from fieldcheck.auth.models import User

blp = Blueprint(
    "courier",
    __name__,
    url_prefix="/api/v1/courier",
    description="The phone app's contract with the server",
)


@blp.get("/me")
@blp.login_required("courier")
@blp.response(200, UserSchema)
def me() -> User:
    """The courier's own account"""
    return current_user()
