"""Alembic environment: the models' metadata, geoalchemy2 helpers, PostGIS tables left out."""

from __future__ import annotations

from alembic import context
from geoalchemy2 import alembic_helpers

from fieldcheck.db import make_engine
from fieldcheck.models import Base
from fieldcheck.schema import include_object

config = context.config
target_metadata = Base.metadata


def drop_empty_autogenerate(context_, revision, directives):  # type: ignore[no-untyped-def]
    """Refuse to write a revision file with nothing in it."""
    if config.cmd_opts and getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            return
    alembic_helpers.writer(context_, revision, directives)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=include_object,
        render_item=alembic_helpers.render_item,
        process_revision_directives=drop_empty_autogenerate,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
