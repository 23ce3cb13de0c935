"""Bodies of the admin endpoints."""

from __future__ import annotations

import marshmallow as ma

from api.auth.schemas import UserSchema
from api.extensions import Schema
from api.pagination import page_schema
from fieldcheck.auth.models import BUREAUS, ROLES


class UserCreateSchema(Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    password = ma.fields.String(load_default=None, allow_none=True, load_only=True,
                                validate=ma.validate.Length(10, 1024),
                                metadata={"description": "Couriers may have none and enrol"})
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    bureau = ma.fields.String(load_default=None, allow_none=True,
                              validate=ma.validate.OneOf(BUREAUS))
    display_name = ma.fields.String(load_default="", validate=ma.validate.Length(0, 128))
    may_see_id_numbers = ma.fields.Boolean(load_default=False)


UserPageSchema = page_schema(UserSchema, "UserPageSchema")


class EnrolmentCodeSchema(Schema):
    code = ma.fields.String(dump_only=True, metadata={"description": "Shown once"})
    expires_at = ma.fields.DateTime(dump_only=True)
