"""Bodies of the auth endpoints."""

from __future__ import annotations

import marshmallow as ma

from api.extensions import Schema
from fieldcheck.auth.models import BUREAUS, ROLES


class LoginSchema(Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(1, 64))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(1, 1024))


class RefreshSchema(Schema):
    refresh_token = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(1, 512)
    )


class EnrolSchema(Schema):
    code = ma.fields.String(
        required=True,
        load_only=True,
        validate=ma.validate.Length(4, 32),
        metadata={"description": "One-time enrolment code from the office"},
    )


class UserSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    username = ma.fields.String(dump_only=True)
    display_name = ma.fields.String(dump_only=True)
    role = ma.fields.String(dump_only=True, validate=ma.validate.OneOf(ROLES))
    bureau = ma.fields.String(dump_only=True, allow_none=True, validate=ma.validate.OneOf(BUREAUS))


class TokenPairSchema(Schema):
    access_token = ma.fields.String(dump_only=True, metadata={"description": "JWT, 15 minutes"})
    refresh_token = ma.fields.String(
        dump_only=True, metadata={"description": "Opaque; rotated on every use"}
    )
    token_type = ma.fields.String(dump_only=True)
    expires_in = ma.fields.Integer(dump_only=True, metadata={"description": "Seconds"})
    user = ma.fields.Nested(UserSchema, dump_only=True)
