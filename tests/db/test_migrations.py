"""Migrations upgrade an empty database, downgrade it back, and match the models."""

from __future__ import annotations

import warnings

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
    with engine.connect() as connection, warnings.catch_warnings():
        # Alembic only warns when a generated column's expression differs.
        warnings.simplefilter("error")
        context = MigrationContext.configure(
            connection, opts={"include_object": include_object, "compare_type": True}
        )
        assert compare_metadata(context, Base.metadata) == []


def test_phash_bits_and_bands_are_backfilled_for_existing_photos(databases):
    url = databases.url(databases.create("phash_backfill"))
    upgrade(url, "0001")
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            user_id = conn.execute(sa.text("""
                INSERT INTO users (username, display_name, role, may_see_id_numbers, active,
                                   created_at)
                VALUES ('c1', 'c1', 'courier', false, true, now()) RETURNING id
            """)).scalar_one()
            conn.execute(sa.text("""
                INSERT INTO photos (sha256, phash, storage_key, mime_type, size_bytes, width,
                                    height, metadata_warnings, uploaded_by_id, uploaded_at)
                SELECT s, p, s, 'image/jpeg', 1, 1, 1, '[]', :user, now()
                FROM (VALUES ('a', 'ffff00000000000f'), ('b', 'not a hash'), ('c', NULL))
                     AS v(s, p)
            """), {"user": user_id})
        upgrade(url, "7c3e9a41d5b2")
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT sha256, phash_bits, phash_band0, phash_band1, phash_band2, phash_band3"
                " FROM photos ORDER BY sha256")).all()
        assert rows == [("a", -(1 << 48) + 15, 0xFFFF, 0, 0, 15),
                        ("b", None, None, None, None, None), ("c", None, None, None, None, None)]
        downgrade(url, "0001")
        with engine.connect() as conn:
            columns = {c["name"] for c in sa.inspect(conn).get_columns("photos")}
        assert {"phash", "sha256"} <= columns
        assert not {c for c in columns if c.startswith("phash_b")}
    finally:
        engine.dispose()
