#!/usr/bin/env python3
"""Benchmarks registry exports beside a raw COPY of the same rows.

Two registries: the yongkang-40k county (imported with the real import jobs) and a generated
1,000,000-row tax registry (tables filled directly). Each gets a campaign with couriers,
accepted visits, results and findings (verdicts from the county's truth file where it has
them, else a fixed mix), plus a few discoveries. The tax registry is then exported, each
measurement in a fresh child process so that its peak RSS is its own:
  (a) `COPY (<the export's own query>) TO STDOUT (FORMAT csv)` into a file: the limit;
  (b) fieldcheck's CSV export (actions, masking, neutralised cells, links, SHA-256);
  (c) fieldcheck's XLSX export (xlsxwriter, constant memory).
Usage: scripts/bench_export.py [COUNTY_DIR] [--rows N] [--skip-big | --skip-county] [--keep]
       scripts/bench_export.py --reuse DATABASE_URL   (measure again on a kept database)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_COUNTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "yongkang-40k"
WORK_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / "fieldcheck-bench"
TOWNS = ("东城街道", "西城街道", "江南街道", "石柱镇", "前仓镇", "古山镇", "唐先镇", "方岩镇",
         "舟山镇", "芝英镇", "花街镇", "西溪镇", "象珠镇", "龙山镇")


# --- filling a database ---------------------------------------------------------------------

def _run(conn, sql: str):  # type: ignore[no-untyped-def]
    """Run SQL text (several statements, `%` as modulo) on the connection's transaction."""
    return conn.connection.dbapi_connection.execute(sql)


def fill_registry(conn, rows: int) -> None:  # type: ignore[no-untyped-def]
    """A generated tax registry of `rows` rows, one business each, straight into the tables."""
    towns = "ARRAY[" + ",".join(f"'{t}'" for t in TOWNS) + "]"
    _run(conn, f"""
        INSERT INTO import_batches (kind, filename, sha256, state, rows_read, rows_imported,
                                    rows_rejected, summary, created_at)
        VALUES ('tax', 'generated.csv', repeat('0', 64), 'succeeded', {rows}, {rows}, 0,
                '{{}}', now());
        CREATE TEMP TABLE gen AS
        SELECT g AS n,
               '91330784' || lpad(to_hex(g), 9, '0') || (g % 10) AS uscc,
               ({towns})[1 + g % 14] AS town,
               '永康市生成' || g || '五金经营部' AS name,
               '浙江省金华市永康市' || ({towns})[1 + g % 14] || '生成路' || (g % 500) || '号'
                   AS address,
               120.0 + (g % 997) / 4000.0 AS lon, 28.8 + (g % 991) / 4000.0 AS lat
        FROM generate_series(1, {rows}) g;
        INSERT INTO businesses (id, origin, name, address, town, uscc, location,
                                location_precision, location_source, created_at, updated_at)
        SELECT n, 'registry', name, address, town, uscc,
               ST_SetSRID(ST_MakePoint(lon, lat), 4326), 'address', 'gazetteer', now(), now()
        FROM gen;
        SELECT setval('businesses_id_seq', {rows});
        INSERT INTO source_records (batch_id, bureau, row_number, source_key, raw, fields,
            content_hash, uscc, tin, name, name_key, address, town, reg_status, is_current,
            business_id, link_reason)
        SELECT (SELECT max(id) FROM import_batches), 'tax', n + 1, uscc,
               jsonb_build_object(
                   'source_row_id', n::text, 'tin', uscc, 'name', name,
                   'legal_rep_name', '张' || (n % 100), 'legal_rep_id_no',
                   '330784' || (1950 + n % 50) || '0101' || lpad((n % 1000)::text, 3, '0') || 'X',
                   'op_address', address, 'phone', '138' || lpad((n % 100000000)::text, 8, '0'),
                   'reg_type', '私营有限责任公司', 'industry', 'C3399',
                   'tax_office', '永康市税务局' || left(town, 2) || '税务所',
                   'established_on', '2010-05-01',
                   'reg_status_raw', CASE WHEN n % 50 = 0 THEN '非正常' ELSE '正常' END),
               jsonb_build_object('tin_kind', 'uscc', 'established_on', '2010-05-01',
                                  'phones', jsonb_build_array('13800000000')),
               repeat('0', 64), uscc, uscc, name, name, address, town,
               CASE WHEN n % 50 = 0 THEN 'abnormal' WHEN n % 97 = 0 THEN 'deregistered'
                    ELSE 'active' END,
               true, n, 'same_code'
        FROM gen;
        DROP TABLE gen;
        ANALYZE businesses; ANALYZE source_records;
    """)


def fill_campaign(conn, truth: Path | None = None) -> None:  # type: ignore[no-untyped-def]
    """A campaign over every business with a record: couriers, accepted visits and results,
    findings, and discoveries for one business in a hundred."""
    _run(conn, """
        INSERT INTO campaigns (name, state, scope, rules, created_at)
        VALUES ('benchmark campaign', 'active', '{}', '{}', now());
        INSERT INTO users (username, display_name, role, may_see_id_numbers, active, created_at)
        SELECT 'bench-courier-' || g, '快递员' || g, 'courier', false, true, now()
        FROM generate_series(1, 60) g;
        INSERT INTO users (username, display_name, role, may_see_id_numbers, active, created_at)
        SELECT 'bench-supervisor-' || g, '审核员' || g, 'supervisor', false, true, now()
        FROM generate_series(1, 3) g;
        INSERT INTO couriers (user_id, staff_no, name)
        SELECT id, 'YKEMS' || lpad(substr(username, 15), 4, '0'), display_name
        FROM users WHERE username LIKE 'bench-courier-%';
        CREATE TEMP TABLE verdicts (business_id int PRIMARY KEY, verdict text);
    """)
    if truth is not None:
        _run(conn, "CREATE TEMP TABLE truth (uscc text, state text)")
        raw = conn.connection.dbapi_connection
        with raw.cursor().copy("COPY truth FROM STDIN") as copy, \
                open(truth, encoding="utf-8") as fh:
            next(fh)
            for line in fh:
                cells = line.rstrip("\n").split(",")
                copy.write_row((cells[3] or None, cells[4]))
        _run(conn, """
            INSERT INTO verdicts
            SELECT DISTINCT ON (b.id) b.id,
                   CASE t.state WHEN 'refused' THEN 'unresolved' ELSE t.state END
            FROM businesses b JOIN truth t ON t.uscc = b.uscc
            WHERE t.state <> 'unlisted'
            ORDER BY b.id
        """)
    _run(conn, """
        INSERT INTO verdicts
        SELECT b.id, CASE
            WHEN h < 72 THEN 'operating' WHEN h < 80 THEN 'operating_changed'
            WHEN h < 85 THEN 'relocated' WHEN h < 91 THEN 'closed' WHEN h < 94 THEN 'shell'
            WHEN h < 97 THEN 'not_found' ELSE 'unresolved' END
        FROM (SELECT DISTINCT business_id AS id, (business_id::bigint * 7919) % 100 AS h
              FROM source_records WHERE business_id IS NOT NULL) b
        ON CONFLICT DO NOTHING;
        CREATE TEMP TABLE courier_ids AS
        SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM couriers;
        INSERT INTO visits (campaign_id, business_id, courier_id, kind, state, coarse_location,
                            created_at, updated_at)
        SELECT (SELECT max(id) FROM campaigns), v.business_id,
               (SELECT id FROM courier_ids WHERE k = v.business_id % 60), 'first', 'accepted',
               false, now(), now()
        FROM verdicts v;
        INSERT INTO visit_results (visit_id, courier_id, client_id, body_hash, outcome,
            not_found_reason, position, position_crs, accuracy_m, captured_at, received_at,
            corrections, phone_attempts, late, evidence_pending, version, updated_at)
        SELECT vi.id, vi.courier_id, 'bench-' || vi.id, repeat('0', 64),
               CASE v.verdict WHEN 'unresolved' THEN 'refused' ELSE v.verdict END,
               CASE WHEN v.verdict = 'not_found' THEN 'unknown_at_address' END,
               b.location, 'wgs84', 8,
               timestamptz '2026-10-01 02:00+00' + (vi.id % 40) * interval '1 day',
               now(), '{}', '[]', false, false, 1, now()
        FROM visits vi JOIN verdicts v ON v.business_id = vi.business_id
        JOIN businesses b ON b.id = vi.business_id;
        INSERT INTO findings (campaign_id, business_id, verdict, settled, basis, result_ids,
            photo_ids,
            reviewer_ids, corrections, verified_location, first_visit_on, last_visit_on,
            decided_at)
        SELECT vi.campaign_id, vi.business_id, v.verdict, vi.business_id % 50 <> 3,
               CASE WHEN v.verdict IN ('shell', 'not_found')
                    THEN '两次独立走访结论一致' ELSE '走访结果已审核通过' END,
               jsonb_build_array(r.id),
               jsonb_build_array(r.id * 2, r.id * 2 + 1),
               jsonb_build_array((SELECT min(id) FROM users WHERE role = 'supervisor')),
               CASE v.verdict
                   WHEN 'operating_changed' THEN jsonb_build_object(
                       'phone', '139' || lpad((vi.business_id % 100000000)::text, 8, '0'),
                       'operator', '李' || (vi.business_id % 100))
                   WHEN 'relocated' THEN jsonb_build_object(
                       'relocated_to_address',
                       '浙江省金华市永康市江南街道新址路' || (vi.business_id % 300) || '号')
                   ELSE '{}'::jsonb END,
               CASE WHEN v.verdict IN ('operating', 'operating_changed', 'relocated')
                    THEN r.position END,
               (r.captured_at AT TIME ZONE 'Asia/Shanghai')::date,
               (r.captured_at AT TIME ZONE 'Asia/Shanghai')::date,
               r.captured_at + interval '1 day'
        FROM visits vi JOIN verdicts v ON v.business_id = vi.business_id
        JOIN visit_results r ON r.visit_id = vi.id;
        INSERT INTO businesses (origin, name, address, town, location, location_precision,
                                location_source, created_at, updated_at)
        SELECT 'field', '实地发现' || b.id || '小吃店', b.address, b.town, b.location, 'visit',
               'discovery', now(), now()
        FROM businesses b WHERE b.id % 100 = 7 AND b.origin = 'registry';
        INSERT INTO discoveries (courier_id, client_id, body_hash, business_id, name, address,
            operator, phone, position, position_crs, accuracy_m, captured_at, received_at,
            evidence_pending)
        SELECT (SELECT min(id) FROM couriers), 'bench-d-' || b.id, repeat('0', 64), b.id,
               b.name, b.address, '王五', '13700000000', b.location, 'wgs84', 10,
               timestamptz '2026-10-05 03:00+00', now(), false
        FROM businesses b WHERE b.origin = 'field';
        DROP TABLE verdicts; DROP TABLE courier_ids;
        ANALYZE;
    """)


def add_official(conn) -> int:  # type: ignore[no-untyped-def]
    return _run(conn, """
        INSERT INTO users (username, display_name, role, bureau, may_see_id_numbers, active,
                           created_at)
        VALUES ('bench-tax-official', '税务局', 'official', 'tax', false, true, now())
        RETURNING id
    """).fetchone()[0]


# --- children: one measurement each, printing a JSON line ---------------------------------

def child_copy(db_url: str, out: Path, official_id: int) -> dict[str, float]:
    """COPY of the export's own query, literal parameters, CSV into a file."""
    import psycopg
    import sqlalchemy as sa
    from sqlalchemy.dialects import postgresql

    from fieldcheck.db import make_engine, make_session_factory, normalise_url
    from fieldcheck.exports.rows import ExportFilters, export_query
    from fieldcheck.exports.service import resolve_campaign

    with make_session_factory(make_engine(db_url))() as session:
        campaign = resolve_campaign(session, None)
        campaign_id = campaign.id if campaign else None
    stmt = export_query("tax", campaign_id, ExportFilters())
    text = str(stmt.compile(dialect=postgresql.dialect(),
                            compile_kwargs={"literal_binds": True}))
    conninfo = sa.make_url(normalise_url(db_url)).set(drivername="postgresql")
    started = time.perf_counter()
    size = 0
    with psycopg.connect(conninfo.render_as_string(hide_password=False)) as conn, \
            open(out, "wb") as fh:
        # The settings the export runs its query with.
        conn.execute("SET jit = off")
        conn.execute("SET work_mem = '64MB'")
        cursor = conn.cursor()
        with cursor.copy(f"COPY ({text}) TO STDOUT (FORMAT csv, HEADER)") as copy:
            for block in copy:
                fh.write(block)
                size += len(block)
    return {"seconds": time.perf_counter() - started, "bytes": size, "rows": cursor.rowcount}


def child_export(db_url: str, out: Path, official_id: int, fmt: str) -> dict[str, float]:
    from fieldcheck.auth.models import User
    from fieldcheck.db import make_engine, make_session_factory
    from fieldcheck.exports.rows import ExportFilters
    from fieldcheck.exports.service import export_registry

    with make_session_factory(make_engine(db_url))() as session:
        official = session.get(User, official_id)
        started = time.perf_counter()
        with open(out, "wb") as fh:
            result = export_registry(
                session, bureau="tax", fmt=fmt, filters=ExportFilters(), actor=official,
                out=fh, evidence_url="https://fieldcheck.example/api/v1/official/evidence/",
                via="benchmark",
            )
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "bytes": result.size_bytes, "rows": result.rows}


def run_child(method: str, db_url: str, out: Path, official_id: int) -> dict[str, float]:
    spec = json.dumps({"method": method, "db": db_url, "out": str(out),
                       "official": official_id})
    proc = subprocess.Popen([sys.executable, __file__, "--child", spec],
                            stdout=subprocess.PIPE, text=True)
    stdout, _ = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{method} failed")
    return json.loads(stdout.strip().splitlines()[-1])


def _peak_rss_mb() -> float:
    """This process's peak RSS since its exec, imports and all (getrusage's ru_maxrss would
    include the parent's memory at fork)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child_main(spec: dict) -> None:  # type: ignore[type-arg]
    out = Path(spec["out"])
    if spec["method"] == "copy":
        result = child_copy(spec["db"], out, spec["official"])
    else:
        result = child_export(spec["db"], out, spec["official"], spec["method"])
    result["peak_rss_mb"] = _peak_rss_mb()
    print(json.dumps(result))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child_main(json.loads(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("county", nargs="?", type=Path, default=DEFAULT_COUNTY)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-big", action="store_true", help="only the county registry")
    parser.add_argument("--skip-county", action="store_true", help="only the generated one")
    parser.add_argument("--keep", action="store_true", help="keep the databases and files")
    parser.add_argument("--reuse", metavar="URL", default=None,
                        help="measure again on a database a --keep run left (no new ones)")
    args = parser.parse_args()

    from scripts.county_db import ThrowawayDatabase

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    workloads = [] if args.skip_county or args.reuse else [(f"{args.county.name} tax", "county")]
    if not (args.skip_big or args.reuse):
        workloads.append((f"generated {args.rows:,}", "big"))
    print(f"{'registry':<20} {'rows':>9} {'method':<30} {'seconds':>8} {'× COPY':>7} "
          f"{'peak RSS':>9} {'file':>9}", flush=True)
    for label, kind in workloads:
        with ThrowawayDatabase(f"fcx_{uuid.uuid4().hex[:8]}", keep=args.keep) as db:
            started = time.perf_counter()
            official_id = prepare(db, kind, args)
            print(f"  ({label}: database prepared in {time.perf_counter() - started:.0f} s)",
                  file=sys.stderr, flush=True)
            db.engine.dispose()
            measure(label, kind, db.url, official_id, keep=args.keep)
    if args.reuse:
        from fieldcheck.db import make_engine

        engine = make_engine(args.reuse)
        with engine.connect() as conn:
            official_id = conn.exec_driver_sql(
                "SELECT id FROM users WHERE username = 'bench-tax-official'").scalar_one()
            rows = conn.exec_driver_sql(
                "SELECT count(*) FROM source_records WHERE bureau = 'tax'").scalar_one()
        engine.dispose()
        measure(f"reused {rows:,}", "reused", args.reuse, official_id, keep=args.keep)


def prepare(db, kind: str, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    """Fill a fresh database with a registry and its campaign; the official's id."""
    from scripts.county_db import import_file

    if kind == "county":
        for what, name in (("gazetteer", "gazetteer.csv"), ("tax", "tax_registry.csv"),
                           ("commerce", "commerce_registry.xlsx")):
            import_file(db.engine, what, args.county / name)
        with db.engine.begin() as conn:
            fill_campaign(conn, args.county / "truth.csv")
            official_id = add_official(conn)
    else:
        with db.engine.begin() as conn:
            fill_registry(conn, args.rows)
        with db.engine.begin() as conn:
            fill_campaign(conn)
            official_id = add_official(conn)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    return official_id


def measure(label: str, kind: str, url: str, official_id: int, *, keep: bool) -> None:
    """COPY, CSV and XLSX of the tax registry, each in a child process, printed as they end."""
    # One unrecorded run first, so that no measurement pays for a cold cache.
    run_child("copy", url, WORK_DIR / f"{kind}.warm.csv", official_id)
    (WORK_DIR / f"{kind}.warm.csv").unlink(missing_ok=True)
    names = {"copy": "(a) COPY (same query) TO STDOUT",
             "csv": "(b) fieldcheck CSV",
             "xlsx": "(c) fieldcheck XLSX"}
    base = rows = None
    for method, ext in (("copy", "copy.csv"), ("csv", "csv"), ("xlsx", "xlsx")):
        out = WORK_DIR / f"{kind}.{ext}"
        result = run_child(method, url, out, official_id)
        if not keep:
            out.unlink(missing_ok=True)
        base = base or result["seconds"]
        rows = rows or result.get("rows")
        print(f"{label:<20} {int(rows or 0):>9,} {names[method]:<30} "
              f"{result['seconds']:8.2f} {result['seconds'] / base:7.2f} "
              f"{result['peak_rss_mb']:6.0f} MB {result['bytes'] / 1e6:6.0f} MB", flush=True)

if __name__ == "__main__":
    main()
