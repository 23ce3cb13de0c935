"""Running the Alembic migrations in `migrations/` against a database URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from geoalchemy2 import alembic_helpers

from fieldcheck.db import normalise_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"
# Tables PostGIS creates for itself; they are not ours to diff or drop.
POSTGIS_TABLES = {"spatial_ref_sys", "layer", "topology"}


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """What autogenerate compares: our tables, not PostGIS's, with geoalchemy2's index rules."""
    if type_ == "table" and name in POSTGIS_TABLES:
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    config.set_main_option(
        "file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s"
    )
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)
