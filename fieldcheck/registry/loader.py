"""Bulk loading with PostgreSQL COPY into temporary staging tables of the current transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from sqlalchemy.orm import Session


def driver_connection(session: Session) -> psycopg.Connection[Any]:
    """The psycopg connection under the session's current transaction."""
    return session.connection().connection.driver_connection  # type: ignore[return-value]


def create_stage(session: Session, name: str, columns_sql: str) -> None:
    """A temporary table that disappears with the transaction (a killed import leaves nothing)."""
    conn = driver_connection(session)
    # A previous import in the same (test) transaction may have left it behind.
    conn.execute(f"DROP TABLE IF EXISTS {name}")
    conn.execute(f"CREATE TEMP TABLE {name} ({columns_sql}) ON COMMIT DROP")


# Statistics gathered inside an import serve only the import's own joins: a sample of 3,000
# rows (the server's default target samples 30,000) is enough for those, and autovacuum
# gathers the full statistics of the tables after the commit.
SAMPLE_STATISTICS_TARGET = 10


def analyze_sample(session: Session, table_columns: str) -> None:
    """ANALYZE `table (columns)` on a small sample (SAMPLE_STATISTICS_TARGET)."""
    conn = driver_connection(session)
    previous = conn.execute("SHOW default_statistics_target").fetchone()[0]  # type: ignore[index]
    conn.execute("SELECT set_config('default_statistics_target', %s, true)",
                 (str(SAMPLE_STATISTICS_TARGET),))
    conn.execute(f"ANALYZE {table_columns}")
    conn.execute("SELECT set_config('default_statistics_target', %s, true)", (previous,))


def copy_rows(
    session: Session,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    plain: bool = False,
) -> int:
    """COPY rows into `table`; dicts and lists are written as JSON text. Returns the count.

    `plain`: the rows hold no dicts or lists, so each is written as it is."""
    count = 0
    conn = driver_connection(session)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        if plain:
            for row in rows:
                copy.write_row(row)
                count += 1
            return count
        for row in rows:
            copy.write_row(
                [
                    json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else v
                    for v in row
                ]
            )
            count += 1
    return count


def copy_text(
    session: Session, table: str, columns: Sequence[str], blocks: Iterable[str]
) -> None:
    """COPY blocks of lines already in COPY text format (tab-separated, \\N for NULL)."""
    conn = driver_connection(session)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for block in blocks:
            if block:
                copy.write(block)
