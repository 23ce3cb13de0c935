"""Migrations upgrade an empty database, downgrade it back, and match the models."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from fieldcheck.db import make_engine
from fieldcheck.models import Base
from fieldcheck.schema import downgrade, include_object, upgrade

POSTGIS_TABLES = {"spatial_ref_sys"}


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - POSTGIS_TABLES
    finally:
        engine.dispose()


def test_migrations_upgrade_an_empty_database_and_downgrade_it_back(databases):
    url = databases.url(databases.create("updown"))
    assert _tables(url) == set()
    upgrade(url)
    assert _tables(url) == set(Base.metadata.tables) | {"alembic_version"}
    downgrade(url, "base")
    assert _tables(url) == {"alembic_version"}
    upgrade(url)
    assert "visits" in _tables(url)


def test_autogenerate_finds_no_difference_between_models_and_migrations(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []
