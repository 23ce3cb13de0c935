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


def copy_rows(
    session: Session, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """COPY rows into `table`; dicts and lists are written as JSON text. Returns the count."""
    count = 0
    conn = driver_connection(session)
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
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
