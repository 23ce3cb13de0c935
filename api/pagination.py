"""Cursor pagination: `?limit=&cursor=` in, `{items, next_cursor}` out, ordered by id."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.orm import Session

from api.extensions import MAX_ID, Schema

MAX_LIMIT = 500


class CursorField(ma.fields.String):
    """An opaque cursor; decodes to the last id of the previous page."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            decoded = json.loads(base64.urlsafe_b64decode(text.encode() + b"==="))
            after = decoded["after"]
            if not isinstance(after, int) or isinstance(after, bool) or not 0 <= after <= MAX_ID:
                raise ValueError
            return after
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise ma.ValidationError("Not a cursor returned by this API.") from exc


def encode_cursor(after: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": after}).encode()).decode().rstrip("=")


class PageArgsSchema(Schema):
    limit = ma.fields.Integer(load_default=100, validate=ma.validate.Range(1, MAX_LIMIT))
    cursor = CursorField(
        load_default=None,
        allow_none=True,
        metadata={"description": "`next_cursor` of the previous page"},
    )


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    return type(
        name,
        (Schema,),
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), dump_only=True),
            "next_cursor": ma.fields.String(dump_only=True, allow_none=True),
        },
    )


def fetch_page(
    session: Session, query: sa.Select[Any], id_column: Any, *, limit: int, cursor: int | None
) -> dict[str, Any]:
    """Run `query` for one page after `cursor`, keyset-paginated on `id_column`."""
    if cursor is not None:
        query = query.where(id_column > cursor)
    rows = list(session.scalars(query.order_by(id_column).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].id) if more and rows else None
    return {"items": rows, "next_cursor": next_cursor}
