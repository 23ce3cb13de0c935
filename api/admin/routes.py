"""Admin endpoints: accounts and enrolment codes."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from api.admin.schemas import EnrolmentCodeSchema, UserCreateSchema, UserPageSchema
from api.auth.schemas import UserSchema
from api.extensions import Blueprint, db_session, services
from api.pagination import PageArgsSchema, fetch_page
from api.security import current_user
from fieldcheck.auth import service
from fieldcheck.auth.models import User

blp = Blueprint(
    "admin",
    __name__,
    url_prefix="/api/v1/admin",
    description="Campaign office: accounts, imports, planning, progress",
)


@blp.post("/users")
@blp.login_required("admin")
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
@blp.alt_response(409, description="Username taken")
def create_user(body: dict[str, Any]) -> User:
    """Create an account"""
    return service.create_user(db_session(), actor_id=current_user().id, **body)


@blp.get("/users")
@blp.login_required("admin")
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, UserPageSchema)
def list_users(args: dict[str, Any]) -> dict[str, Any]:
    """List accounts"""
    return fetch_page(
        db_session(), sa.select(User), User.id, limit=args["limit"], cursor=args["cursor"]
    )


@blp.post("/users/<int:user_id>/enrolment-code")
@blp.login_required("admin")
@blp.response(201, EnrolmentCodeSchema)
@blp.alt_response(404, description="No such user")
@blp.alt_response(422, description="The user is not a courier")
def issue_enrolment_code(user_id: int) -> dict[str, Any]:
    """Issue a courier a one-time enrolment code for the phone app"""
    code, expires_at = service.issue_enrolment_code(
        db_session(), user_id=user_id, actor_id=current_user().id, settings=services().settings
    )
    return {"code": code, "expires_at": expires_at}
