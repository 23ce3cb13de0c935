"""Use cases of registry intake: import bureau lists and the postal gazetteer, then link
records into businesses and locate them. An import is one transaction: it lands whole or
not at all, and a file already imported is recognised and changes nothing."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.audit.service import record_event
from fieldcheck.errors import InputFileError, ValidationError
from fieldcheck.fieldwork.sync import record_business_change
from fieldcheck.geo.crs import to_wgs84
from fieldcheck.jobs.models import Job
from fieldcheck.jobs.service import create_job
from fieldcheck.registry.linkage import link_unlinked_records
from fieldcheck.registry.loader import analyze_sample, copy_rows, copy_text, create_stage
from fieldcheck.registry.location import (
    decide_locations,
    locate_businesses,
    record_columns,
    stage_gazetteer,
)
from fieldcheck.registry.models import IMPORT_KINDS, ImportBatch, ImportIssue
from fieldcheck.registry.normalize import normalize_address, normalize_text
from fieldcheck.registry.reading import (
    HeaderMap,
    Record,
    RowIssue,
    Table,
    iter_records,
    map_headers,
    open_table,
)
from fieldcheck.registry.validation import STAGE_COLUMNS, ValidatedChunk, validate_table

log = logging.getLogger(__name__)

ProgressFn = Callable[..., None]
MAX_ISSUES_STORED = 200_000
# Lists from this many rows on are validated in worker processes (one per idle core, at
# most MAX_VALIDATION_WORKERS), CHUNK_ROWS rows at a time. Starting the workers and passing
# them rows costs more than validating a county's list here: the 36,400-row tax list took
# 1.8 s with two workers against 1.3 s in this process.
PARALLEL_MIN_ROWS = 200_000
MAX_VALIDATION_WORKERS = 4
CHUNK_ROWS = 2000
# Memory for each sort and hash of the merge and of locating, for the import's transaction
# only (the server's default, 4 MB, spills a list's rows to disk several times over).
MERGE_WORK_MEM = "64MB"


def _tune_import_transaction(session: Session) -> None:
    """Settings for the import's own transaction: room to sort and hash in memory, and no
    JIT compilation. An import's statements each run once, over more rows than the planner
    foresees: at a million rows, compiling locate's decision took 1.1 s of its 14."""
    session.execute(sa.text(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'"))
    session.execute(sa.text("SET LOCAL jit = off"))

STAGE_SQL = """
    row_number integer, source_key text, raw jsonb, fields jsonb, content_hash text,
    uscc text, tin text, reg_no text, org_code text, name text, name_key text, address text,
    address_key text, town text, road text, number text, reg_status text
"""


@dataclass(frozen=True)
class ImportRequest:
    kind: str
    path: Path
    filename: str
    sha256: str
    mapping: dict[str, str] | None = None
    crs: str = "wgs84"


def request_import(session: Session, *, request: ImportRequest, actor_id: int | None) -> Job:
    """Queue an import job (committed); a file already imported gives a finished job at once."""
    if request.kind not in IMPORT_KINDS:
        raise ValidationError(
            "unknown import kind", errors={"kind": [f"Must be one of: {', '.join(IMPORT_KINDS)}."]}
        )
    previous = session.scalar(
        sa.select(ImportBatch)
        .where(
            ImportBatch.kind == request.kind,
            ImportBatch.sha256 == request.sha256,
            ImportBatch.state == "succeeded",
        )
        .order_by(ImportBatch.id.desc())
    )
    job = create_job(
        session,
        kind="import",
        actor_id=actor_id,
        params={
            "kind": request.kind,
            "path": str(request.path),
            "filename": request.filename,
            "sha256": request.sha256,
            "mapping": request.mapping,
            "crs": request.crs,
        },
    )
    if previous is not None:
        job.state = job.phase = "succeeded"
        job.finished_at = datetime.now(UTC)
        job.result = {
            "batch_id": previous.id,
            "duplicate_of": previous.id,
            "message": f"this file was already imported as batch {previous.id}; nothing changed",
            "added": 0,
            "changed": 0,
            "removed": 0,
            "unchanged": previous.rows_imported,
        }
    record_event(
        session,
        action="import.requested",
        actor_id=actor_id,
        object_type="job",
        object_id=job.id,
        details={
            "kind": request.kind,
            "filename": request.filename,
            "sha256": request.sha256,
            "duplicate_of": previous.id if previous else None,
        },
    )
    session.commit()
    return job


def run_import_job(
    sessions: sessionmaker[Session], job: Job, progress: ProgressFn
) -> dict[str, Any]:
    """The job body: one transaction for the batch, its rows, linkage and location."""
    params = job.params
    with sessions() as session:
        batch = ImportBatch(
            kind=params["kind"],
            filename=params["filename"],
            sha256=params["sha256"],
            job_id=job.id,
            created_by_id=job.created_by_id,
            state="running",
        )
        session.add(batch)
        session.flush()
        path = Path(params["path"])
        if params["kind"] == "gazetteer":
            summary = import_gazetteer(
                session,
                batch=batch,
                path=path,
                mapping=params.get("mapping"),
                crs=params.get("crs") or "wgs84",
                progress=progress,
            )
        else:
            summary = import_registry(
                session,
                batch=batch,
                path=path,
                bureau=params["kind"],
                mapping=params.get("mapping"),
                progress=progress,
            )
        batch.state = "succeeded"
        batch.finished_at = datetime.now(UTC)
        batch.summary = summary
        record_event(
            session,
            action="import.finished",
            actor_id=job.created_by_id,
            object_type="import_batch",
            object_id=batch.id,
            details=summary,
        )
        progress("committing", force=True)
        session.commit()
        return {"batch_id": batch.id, **summary}


def _open(
    path: Path, filename: str, profile: str, mapping: dict[str, str] | None
) -> tuple[Table, HeaderMap]:
    table = open_table(path, filename=filename, profile=profile, explicit=mapping)
    header_map = map_headers(
        table.headers, profile, mapping, header_row_number=table.header_row_number
    )
    return table, header_map


def _expected_rows(path: Path, table: Table) -> int:
    """Rows to expect, for the progress bar and to decide on worker processes: the line
    breaks of a CSV (a cell with a line break makes it a little high), a workbook's size
    over the typical 70 bytes of a compressed row."""
    if table.format != "csv":
        return path.stat().st_size // 70
    lines = 0
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            lines += block.count(b"\n")
    return max(0, lines - table.header_row_number)


def _idle_cores() -> float:
    """How many of the cores this process may run on are idle now, measured over a quarter
    of a second. Not the load average: it trails a minute behind, and counts this import's
    own work so far."""
    busy = psutil.cpu_percent(interval=0.25, percpu=True)
    allowed = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(len(busy))
    return sum(100.0 - busy[cpu] for cpu in allowed if cpu < len(busy)) / 100.0


def _validation_workers(expected_rows: int) -> int:
    """Worker processes for validation: one per idle core (to the nearest whole core), for
    lists long enough to repay them, when that makes at least two (this process needs one
    to read the file).
    Workers cost a third more CPU than validating here (starting, passing rows): on cores
    busy with other work they make an import slower, not faster. On two idle cores, a
    million-row list took 101 s with two workers and 116 s without."""
    if expected_rows < PARALLEL_MIN_ROWS:
        return 0
    idle = round(_idle_cores())
    return min(idle, MAX_VALIDATION_WORKERS) if idle >= 2 else 0


class IssueSink:
    """Collects row issues into the batch's issue table, bulk-loaded at the end."""

    def __init__(self) -> None:
        self.items: list[RowIssue] = []
        self.errors = 0
        self.warnings = 0

    def add(self, issue: RowIssue) -> None:
        if issue.severity == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.items) < MAX_ISSUES_STORED:
            self.items.append(issue)

    def save(self, session: Session, batch_id: int) -> None:
        copy_rows(
            session,
            "import_issues",
            ("batch_id", "row_number", '"column"', "value", "reason", "severity"),
            ((batch_id, i.row_number, i.column, i.value, i.reason, i.severity) for i in self.items),
        )


def _staged_text(
    chunks: Iterator[ValidatedChunk],
    sink: IssueSink,
    counters: dict[str, int],
    progress: ProgressFn,
    total: int | None,
) -> Iterator[str]:
    for chunk in chunks:
        for issue in chunk.issues:
            sink.add(issue)
        counters["read"] += chunk.read
        counters["imported"] += chunk.imported
        counters["rejected"] += chunk.rejected
        progress("reading", counters["read"], total)
        yield chunk.copy_text


def _mark_duplicates(session: Session, sink: IssueSink) -> None:
    """A second registration under one identifier: kept, reported, linked to the same
    business. Its source key gets its row number, so that both records stay current."""
    duplicates = session.execute(sa.text("""
        WITH repeated AS (
            SELECT source_key, min(row_number) AS first FROM registry_stage
            GROUP BY source_key HAVING count(*) > 1
        )
        UPDATE registry_stage s SET source_key = s.source_key || '#' || s.row_number
        FROM repeated k
        WHERE s.source_key = k.source_key AND s.row_number <> k.first
        RETURNING s.row_number, k.source_key, k.first
    """)).all()
    for row_number, key, first in sorted(duplicates):
        sink.add(
            RowIssue(
                row_number,
                None,
                key,
                f"same identifier as row {first}: a duplicate registration; "
                "imported and linked to the same business",
                "warning",
            )
        )


def import_registry(
    session: Session,
    *,
    batch: ImportBatch,
    path: Path,
    bureau: str,
    mapping: dict[str, str] | None,
    progress: ProgressFn,
) -> dict[str, Any]:
    """Load one bureau list into source records, reporting rows added, changed and removed."""
    progress("checking the file", 0, None, force=True)
    table, header_map = _open(path, batch.filename, bureau, mapping)
    expected = _expected_rows(path, table)
    total = expected if table.format == "csv" else None
    labels = {field: header_map.header_of(field) for field in header_map.columns}
    sink = IssueSink()
    for warning in header_map.warnings:
        sink.add(warning)
    counters = {"read": 0, "imported": 0, "rejected": 0}
    # Each staged row takes its record id as it arrives, in row order: the records this
    # import adds keep them, without sorting whole rows (a million of them spill 0.9 GB to
    # disk). Rows that turn out unchanged or changed leave a gap in the ids: the 32-bit ids
    # allow some 2,000 imports of a million-row list, 50,000 of a county's.
    sequence = session.scalar(sa.text("SELECT pg_get_serial_sequence('source_records', 'id')"))
    create_stage(
        session, "registry_stage", f"record_id integer DEFAULT nextval('{sequence}'), {STAGE_SQL}"
    )
    _tune_import_transaction(session)
    with table:
        chunks = validate_table(
            table, header_map, labels,
            workers=_validation_workers(expected), chunk_rows=CHUNK_ROWS,
        )
        copy_text(
            session,
            "registry_stage",
            STAGE_COLUMNS,
            _staged_text(chunks, sink, counters, progress, total),
        )
    _mark_duplicates(session, sink)
    progress("merging", counters["read"], total, force=True)
    conn = session.connection()
    # More rows than businesses (the first lists of a campaign): businesses are inserted and
    # located in bulk, and their indexes built once afterwards. Every join below is on
    # the primary key or hashed. Dropping an index locks its table until the import
    # commits, which only the first imports, before any fieldwork, may do.
    businesses = conn.execute(sa.text("SELECT count(*) FROM businesses")).scalar_one()
    rebuilt = (
        _drop_secondary_indexes(conn, "businesses") if counters["imported"] > businesses else []
    )
    touched = _start_touched(session)
    changes, restore = _merge_stage(
        session, batch_id=batch.id, bureau=bureau, businesses_locked=bool(rebuilt)
    )
    progress("linking", counters["read"], total, force=True)
    link_stats = link_unlinked_records(session)
    # Businesses that gained records (by the import or by linkage), whose records changed or
    # went, or that lost records to another business.
    conn.execute(sa.text(
        "INSERT INTO locate_again SELECT id FROM relocate UNION SELECT id FROM link_emptied"
    ))
    if touched:
        conn.execute(sa.text(f"INSERT INTO {touched} SELECT id FROM locate_again"))
    # After the touched ones: a row number alone is nothing a phone shows.
    conn.execute(sa.text("INSERT INTO locate_again SELECT id FROM rows_moved"))
    progress("locating", counters["read"], total, force=True)
    locate_businesses(session, again="locate_again", moved=touched)
    locate_stats = _location_summary(session)
    for definition in [*rebuilt, *restore]:
        conn.execute(sa.text(definition))
    if touched:
        _announce_business_changes(session, touched)
    sink.save(session, batch.id)
    batch.rows_read = counters["read"]
    batch.rows_imported = counters["imported"]
    batch.rows_rejected = counters["rejected"]
    return {
        "rows_read": counters["read"],
        "rows_imported": counters["imported"],
        "rows_rejected": counters["rejected"],
        "errors": sink.errors,
        "warnings": sink.warnings,
        "header_row": header_map.header_row_number,
        "unmapped_columns": header_map.unmapped,
        **changes,
        "linkage": link_stats,
        "location": locate_stats,
    }


def _location_summary(session: Session) -> dict[str, int]:
    """The businesses this import located (its new businesses, and those the final pass
    looked at: every business still unlocated, and those whose records changed) by the
    precision they have now, in the order they were first found with each."""
    counts = session.execute(sa.text("""
        SELECT COALESCE(l.precision, h.precision), count(*)
        FROM located_here h FULL JOIN locate_result l ON l.business_id = h.id
        GROUP BY 1 ORDER BY min(COALESCE(l.business_id, h.id))
    """)).all()
    return {precision: n for precision, n in counts}


def _start_touched(session: Session) -> str | None:
    """The temporary table collecting businesses whose visits the phones must get again, or
    None when there are no visits at all (the first imports, before any campaign)."""
    if not session.scalar(sa.text("SELECT EXISTS (SELECT FROM visits)")):
        return None
    create_stage(session, "registry_touched", "id integer")
    return "registry_touched"


def _announce_business_changes(session: Session, touched: str) -> None:
    """Put the visits of the touched businesses into their couriers' feeds as changed: what
    a phone shows of a visit includes the business's point and its registered records."""
    ids = session.scalars(sa.text(f"""
        SELECT DISTINCT v.business_id FROM visits v
        JOIN (SELECT DISTINCT id FROM {touched}) t ON t.id = v.business_id
        ORDER BY v.business_id
    """)).all()
    record_business_change(session, ids)
    if ids:
        log.info("registry changes reach the visits of %d businesses", len(ids))


# The rows of a staged list that become the first records of new businesses, as
# decide_locations reads records: each business is known by its first row's record id.
_NEW_BUSINESS_RECORDS_SQL = f"""
    SELECT n.key AS bid, {record_columns("s", "s.record_id", ":bureau")}
    FROM registry_stage s JOIN new_businesses n ON n.uscc = s.uscc
    WHERE NOT EXISTS (SELECT 1 FROM source_records r WHERE r.bureau = :bureau
                      AND r.is_current AND r.source_key = s.source_key)
"""


def _merge_stage(
    session: Session, *, batch_id: int, bureau: str, businesses_locked: bool
) -> tuple[dict[str, int], list[str]]:
    """Apply the staged list to the bureau's current records: add, change, remove, keep.

    Leaves in the temporary table `relocate` the businesses whose records changed or went,
    and the existing businesses it linked new records to; in `located_here` the new
    businesses, located from the records they are founded with (so not in `relocate`).
    Returns the counts and the statements that restore foreign keys dropped for a bulk
    load, to be run once linkage and location are done."""
    conn = session.connection()
    params = {"batch": batch_id, "bureau": bureau}
    conn.execute(sa.text("CREATE INDEX ON registry_stage (source_key)"))
    # Statistics of the join keys only: sampling the JSON columns costs more than the joins.
    analyze_sample(session, "registry_stage (source_key, uscc, content_hash)")
    # Records added or changed by this import; linkage looks around them.
    create_stage(session, "link_fresh", "id integer")
    # New businesses, located as they are written, with the precision found.
    create_stage(session, "located_here", "id integer, precision text")
    # Businesses to locate again once linkage is done (see above).
    create_stage(session, "relocate", "id integer")
    # Businesses for new credit codes first, so that new records are inserted already
    # linked: one write per row instead of an insert and an update. Each is located from
    # its staged rows before it is written, for the same reason; a business that gains
    # records by linkage is located again afterwards.
    conn.execute(sa.text("DROP TABLE IF EXISTS new_businesses"))
    conn.execute(sa.text("""
        CREATE TEMP TABLE new_businesses ON COMMIT DROP AS
        SELECT DISTINCT ON (s.uscc) s.record_id AS key, s.name, s.address, s.town, s.uscc
        FROM registry_stage s
        WHERE s.uscc IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM businesses b WHERE b.uscc = s.uscc)
        ORDER BY s.uscc, s.row_number
    """))
    stage_gazetteer(session)
    decide_locations(session, _NEW_BUSINESS_RECORDS_SQL, params)
    conn.execute(sa.text("""
        WITH inserted AS (
        INSERT INTO businesses (origin, name, address, town, uscc, location, location_precision,
                                location_source, created_at, updated_at)
        SELECT 'registry', n.name, n.address, COALESCE(l.town, n.town), n.uscc, l.location,
               COALESCE(l.precision, 'unlocated'), l.source, now(), now()
        FROM new_businesses n LEFT JOIN locate_result l ON l.business_id = n.key
        ORDER BY n.uscc
        RETURNING id, location_precision)
        INSERT INTO located_here SELECT id, location_precision FROM inserted
    """))
    # Records about to change or go, with the business they belong to now.
    conn.execute(
        sa.text("""
        INSERT INTO relocate
        SELECT r.business_id FROM source_records r
        WHERE r.bureau = :bureau AND r.is_current AND r.business_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM registry_stage s WHERE s.source_key = r.source_key
                          AND s.content_hash = r.content_hash)
    """),
        params,
    )
    # Unchanged records now on another row: their businesses are located again, so that a
    # location found from one of them names the row it is on now.
    create_stage(session, "rows_moved", "id integer")
    conn.execute(
        sa.text("""
        INSERT INTO rows_moved
        SELECT DISTINCT r.business_id FROM source_records r JOIN registry_stage s
          ON r.source_key = s.source_key AND r.content_hash = s.content_hash
        WHERE r.bureau = :bureau AND r.is_current AND r.business_id IS NOT NULL
          AND r.row_number <> s.row_number
    """),
        params,
    )
    unchanged = conn.execute(
        sa.text("""
        UPDATE source_records r SET batch_id = :batch, row_number = s.row_number
        FROM registry_stage s
        WHERE r.bureau = :bureau AND r.is_current AND r.source_key = s.source_key
          AND r.content_hash = s.content_hash
    """),
        params,
    ).rowcount
    changed = conn.execute(
        sa.text("""
        WITH changed AS (
        UPDATE source_records r SET batch_id = :batch, row_number = s.row_number, raw = s.raw,
            fields = s.fields, content_hash = s.content_hash, uscc = s.uscc, tin = s.tin,
            reg_no = s.reg_no, org_code = s.org_code, name = s.name, name_key = s.name_key,
            address = s.address, address_key = s.address_key, town = s.town, road = s.road,
            number = s.number, reg_status = s.reg_status,
            -- what identifies the business changed: link it again
            business_id = CASE WHEN r.uscc IS NOT DISTINCT FROM s.uscc
                                AND r.name_key = s.name_key
                                AND r.address_key IS NOT DISTINCT FROM s.address_key
                               THEN r.business_id END,
            link_reason = CASE WHEN r.uscc IS NOT DISTINCT FROM s.uscc
                                AND r.name_key = s.name_key
                                AND r.address_key IS NOT DISTINCT FROM s.address_key
                               THEN r.link_reason END
        FROM registry_stage s
        WHERE r.bureau = :bureau AND r.is_current AND r.source_key = s.source_key
          AND r.content_hash <> s.content_hash
        RETURNING r.id)
        INSERT INTO link_fresh SELECT id FROM changed
    """),
        params,
    ).rowcount
    removed = conn.execute(
        sa.text("""
        UPDATE source_records r SET is_current = false
        WHERE r.bureau = :bureau AND r.is_current AND r.batch_id <> :batch
          AND NOT EXISTS (SELECT 1 FROM registry_stage s WHERE s.source_key = r.source_key)
    """),
        params,
    ).rowcount
    # A list larger than what is there (the first list of a campaign): building the indexes
    # once afterwards costs a fraction of updating them row by row. Their definitions are
    # read from the catalogue and restored in this transaction.
    incoming = conn.execute(sa.text("SELECT count(*) FROM registry_stage")).scalar_one()
    current = conn.execute(sa.text("SELECT count(*) FROM source_records")).scalar_one()
    rebuilt = _drop_secondary_indexes(conn, "source_records") if incoming > current else []
    # Checking a record's business row by row locks and logs each business row; checked
    # once, by one join, when the constraint is added again. Both tables are already locked
    # by the dropped indexes. The constraint to the import batches stays: dropping it would
    # lock the batches table, which other imports and the API read, until the commit.
    restore = (
        _drop_foreign_keys(conn, "source_records", "businesses")
        if rebuilt and businesses_locked
        else []
    )
    added = conn.execute(
        sa.text(f"""
        WITH added AS (
        INSERT INTO source_records (id, batch_id, bureau, is_current,
                                    {", ".join(STAGE_COLUMNS)}, business_id, link_reason,
                                    link_score)
        SELECT s.record_id, :batch, CAST(:bureau AS varchar), true,
               {", ".join("s." + c for c in STAGE_COLUMNS)},
               b.id, CASE WHEN b.id IS NOT NULL THEN 'same_code' END,
               CASE WHEN b.id IS NOT NULL THEN 1.0 END
        FROM registry_stage s
        LEFT JOIN (SELECT DISTINCT ON (uscc) id, uscc FROM businesses
                   WHERE uscc IS NOT NULL ORDER BY uscc, id) b ON b.uscc = s.uscc
        WHERE NOT EXISTS (SELECT 1 FROM source_records r WHERE r.bureau = :bureau
                          AND r.is_current AND r.source_key = s.source_key)
        RETURNING id, business_id
        ), relocated AS (
            -- The new businesses were located from these very records.
            INSERT INTO relocate
            SELECT business_id FROM added WHERE business_id IS NOT NULL
            EXCEPT SELECT id FROM located_here
        )
        INSERT INTO link_fresh SELECT id FROM added
    """),
        params,
    ).rowcount
    for definition in rebuilt:
        conn.execute(sa.text(definition))
    # Statistics that know the new rows, for the linkage and location queries that follow.
    analyze_sample(session, "source_records (bureau, source_key, is_current, business_id, uscc,"
                   " org_code, road, number)")
    analyze_sample(session, "businesses (uscc, origin, location_precision)")
    return {"added": added, "changed": changed, "removed": removed, "unchanged": unchanged}, restore


def _drop_secondary_indexes(conn: sa.Connection, table: str) -> list[str]:
    """Drop the table's indexes that back no constraint; the statements that recreate them."""
    indexes = conn.execute(
        sa.text("""
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        WHERE i.indrelid = CAST(:table AS regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        """),
        {"table": table},
    ).all()
    for name, _ in indexes:
        conn.execute(sa.text(f"DROP INDEX {name}"))
    return [definition for _, definition in indexes]


def _drop_foreign_keys(conn: sa.Connection, table: str, referenced: str) -> list[str]:
    """Drop the table's foreign keys to `referenced`; the statements that add them again."""
    constraints = conn.execute(
        sa.text("""
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE contype = 'f' AND conrelid = CAST(:table AS regclass)
          AND confrelid = CAST(:referenced AS regclass)
        """),
        {"table": table, "referenced": referenced},
    ).all()
    for name, _ in constraints:
        conn.execute(sa.text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    return [f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'
            for name, definition in constraints]


def import_gazetteer(
    session: Session,
    *,
    batch: ImportBatch,
    path: Path,
    mapping: dict[str, str] | None,
    crs: str,
    progress: ProgressFn,
) -> dict[str, Any]:
    """Replace the postal gazetteer with this file, then locate every business again."""
    progress("checking the file", 0, None, force=True)
    table, header_map = _open(path, batch.filename, "gazetteer", mapping)
    labels = {field: header_map.header_of(field) for field in header_map.columns}
    sink = IssueSink()
    counters = {"read": 0, "imported": 0, "rejected": 0}

    def rows() -> Iterator[tuple[Any, ...]]:
        for item in iter_records(table, header_map):
            if isinstance(item, RowIssue):
                sink.add(item)
                if item.severity == "error":
                    counters["rejected"] += 1
                continue
            counters["read"] += 1
            parsed = _gazetteer_row(item, labels, crs, sink)
            if parsed is None:
                counters["rejected"] += 1
                continue
            counters["imported"] += 1
            if counters["read"] % 5000 == 0:
                progress("reading", counters["read"], None)
            yield (*parsed, batch.id)

    _tune_import_transaction(session)
    session.execute(sa.text("DELETE FROM gazetteer_addresses"))
    # The table is replaced whole: its indexes are built once after the load.
    rebuilt = _drop_secondary_indexes(session.connection(), "gazetteer_addresses")
    with table:
        copy_rows(
            session,
            "gazetteer_addresses",
            ("address", "town", "road", "number", "location", "batch_id"),
            rows(),
            plain=True,
        )
    for definition in rebuilt:
        session.execute(sa.text(definition))
    analyze_sample(session, "gazetteer_addresses")
    progress("locating", counters["read"], counters["read"], force=True)
    # Points from the old gazetteer are stale: every business not located by a visit is
    # redone. Before any list there is nothing to locate.
    located: dict[str, int] = {}
    if session.scalar(sa.text("SELECT EXISTS (SELECT FROM businesses)")):
        touched = _start_touched(session)
        stage_gazetteer(session)
        located = locate_businesses(session, everything=True, moved=touched)
        if touched:
            _announce_business_changes(session, touched)
    sink.save(session, batch.id)
    batch.rows_read = counters["read"]
    batch.rows_imported = counters["imported"]
    batch.rows_rejected = counters["rejected"]
    return {
        "rows_read": counters["read"],
        "rows_imported": counters["imported"],
        "rows_rejected": counters["rejected"],
        "errors": sink.errors,
        "warnings": sink.warnings,
        "location": located,
    }


# A gazetteer repeats its few townships and roads, and door numbers, on every row.
_normal_part = functools.lru_cache(maxsize=16_384)(normalize_text)

# Yongkang and its neighbours lie well inside this box; a point outside is a data error.
LON_RANGE = (118.0, 122.0)
LAT_RANGE = (27.0, 31.0)


def _gazetteer_row(
    record: Record, labels: dict[str, str], crs: str, sink: IssueSink
) -> tuple[str, str, str, str, str] | None:
    values = record.values
    row = record.row_number
    try:
        lon = float(values.get("lon") or "")
        lat = float(values.get("lat") or "")
    except ValueError:
        sink.add(
            RowIssue(
                row,
                labels.get("lon"),
                f"{values.get('lon')}, {values.get('lat')}",
                "longitude and latitude must be numbers; row not imported",
            )
        )
        return None
    if not (LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]):
        swapped = LON_RANGE[0] <= lat <= LON_RANGE[1] and LAT_RANGE[0] <= lon <= LAT_RANGE[1]
        sink.add(
            RowIssue(
                row,
                labels.get("lon"),
                f"{lon}, {lat}",
                "longitude and latitude look swapped; row not imported"
                if swapped
                else "point is far outside the county; row not imported",
            )
        )
        return None
    address_text = values.get("address") or ""
    town = _normal_part(values.get("town") or "")
    road = _normal_part(values.get("road") or "")
    number = _normal_part(values.get("number") or "").removesuffix("号")
    if not (town and road and number) and address_text:
        # Only a gazetteer without separate columns needs its addresses parsed (slow).
        parsed = normalize_address(address_text)
        town = town or parsed.town or ""
        road = road or parsed.road or ""
        number = number or parsed.number or ""
    if not (town and road and number):
        sink.add(
            RowIssue(
                row,
                labels.get("address"),
                address_text,
                "township, road or door number missing; row not imported",
            )
        )
        return None
    wlon, wlat = to_wgs84(lon, lat, crs)
    return (
        address_text or f"{town}{road}{number}号",
        town,
        road,
        number,
        f"SRID=4326;POINT({wlon:.7f} {wlat:.7f})",
    )


def list_import_issues(session: Session, *, batch_id: int) -> Iterator[ImportIssue]:
    return iter(
        session.scalars(
            sa.select(ImportIssue)
            .where(ImportIssue.batch_id == batch_id)
            .order_by(ImportIssue.row_number.nulls_first(), ImportIssue.id)
        )
    )


def ensure_file_readable(
    path: Path, filename: str, kind: str, mapping: dict[str, str] | None
) -> None:
    """Fail fast (before queueing) on a file that cannot be an import of this kind."""
    try:
        table, _ = _open(path, filename, "gazetteer" if kind == "gazetteer" else kind, mapping)
    except InputFileError:
        raise
    table.close()
