"""Column types shared by the models: UTC timestamps, WGS-84 geometries, string enums."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from geoalchemy2 import Geometry

WGS84 = 4326


def Timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def Point() -> Geometry:
    return Geometry("POINT", srid=WGS84, spatial_index=True)


def Polygon() -> Geometry:
    return Geometry("MULTIPOLYGON", srid=WGS84, spatial_index=True)


def StrEnum(name: str, values: Sequence[str]) -> sa.Enum:
    """A string column limited by a CHECK constraint (easier to migrate than a PG enum)."""
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)
