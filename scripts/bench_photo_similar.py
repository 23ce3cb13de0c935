#!/usr/bin/env python3
"""Benchmarks the near-duplicate photo search: the former text scan beside the banded search.

A throwaway database gets one campaign whose results carry four photos each, with random
perceptual hashes and, for one photo in fifty, a near-duplicate (0-12 bits flipped) of a
photo of another business. The campaign grows in steps; at each size the same sample of
results is searched three ways, each checked to find the same photos:
  old    the former query: every stored hash converted from text and compared;
  scan   every stored hash compared as a bigint (`photos.phash_bits`), no pre-filter;
  bands  `find_similar_photos`: candidates from the btree indexes on `photos.phash_band0..3`.
Usage: scripts/bench_photo_similar.py [--sizes 20000,80000,160000] [--queries 100]
       [--radius 10] [--keep]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.quality import checks
from fieldcheck.quality.checks import ResultFacts, find_similar_photos
from fieldcheck.quality.service import load_facts
from scripts.county_db import ThrowawayDatabase

PHOTOS_PER_RESULT = 4
KINDS = ("storefront", "doorplate", "licence", "interior")
NEAR_DUPLICATE_EVERY = 50

# The query `check_photo_similar` ran before the bands: kept here to measure it.
OLD_QUERY = sa.text("""
    SELECT h.phash AS mine, p.id AS photo_id, rp.kind, r.outcome, r.id AS result_id,
           v.business_id,
           b.address, b.location_precision AS precision, ST_X(b.location) AS lon,
           ST_Y(b.location) AS lat,
           bit_count(('x' || p.phash)::bit(64) # ('x' || h.phash)::bit(64)) AS distance
    FROM unnest(CAST(:hashes AS text[])) AS h(phash)
    JOIN photos p ON length(p.phash) = 16
         AND bit_count(('x' || p.phash)::bit(64) # ('x' || h.phash)::bit(64)) <= :limit
    JOIN result_photos rp ON rp.photo_id = p.id
    JOIN visit_results r ON r.id = rp.result_id
    JOIN visits v ON v.id = r.visit_id
    JOIN businesses b ON b.id = v.business_id
    WHERE v.campaign_id = :campaign AND v.business_id <> :business
      AND p.sha256 <> ALL(:shas)
      AND NOT EXISTS (SELECT 1 FROM review_decisions d WHERE d.result_id = r.id
                      AND d.superseded_by_id IS NULL AND d.decision = 'reject')
    ORDER BY distance, r.id
    LIMIT 50
""")


def old_search(session: Session, facts: ResultFacts, radius: int) -> Sequence[Any]:
    hashes = sorted({p.phash for p in facts.photos if p.phash and len(p.phash) == 16})
    return session.execute(OLD_QUERY, {
        "hashes": hashes, "limit": radius, "campaign": facts.campaign_id,
        "business": facts.business_id, "shas": [p.sha256 for p in facts.photos],
    }).all()


def scan_search(session: Session, facts: ResultFacts, radius: int) -> Sequence[Any]:
    """The bigint comparison over every stored hash (the search's path for wide radii)."""
    saved = checks.PHASH_BAND_SCAN_BITS
    checks.PHASH_BAND_SCAN_BITS = 0
    try:
        return find_similar_photos(session, facts, radius)
    finally:
        checks.PHASH_BAND_SCAN_BITS = saved


# --- filling the database ---------------------------------------------------------------


def setup(conn: sa.Connection) -> tuple[int, int, int]:
    """A courier and a campaign; their ids and the user's."""
    user_id = conn.execute(sa.text("""
        INSERT INTO users (username, display_name, role, may_see_id_numbers, active, created_at)
        VALUES ('bench-courier', 'bench courier', 'courier', false, true, now()) RETURNING id
    """)).scalar_one()
    courier_id = conn.execute(sa.text("""
        INSERT INTO couriers (user_id, staff_no, name) VALUES (:u, 'B0001', '快递员')
        RETURNING id
    """), {"u": user_id}).scalar_one()
    campaign_id = conn.execute(sa.text("""
        INSERT INTO campaigns (name, state, scope, rules, created_at)
        VALUES ('bench', 'active', '{}', '{}', now()) RETURNING id
    """)).scalar_one()
    return user_id, courier_id, campaign_id


def add_results(conn: sa.Connection, rng: random.Random, *, first: int, last: int,
                ids: tuple[int, int, int], hashes: list[int]) -> None:
    """Results first..last (one business and visit each) with their photos; business, visit
    and result k share the id k, photo j of result k has the id 4 (k - 1) + j + 1."""
    user_id, courier_id, campaign_id = ids
    params = {"first": first, "last": last, "courier": courier_id, "campaign": campaign_id}
    conn.execute(sa.text("""
        INSERT INTO businesses (id, origin, name, address, location, location_precision,
                                created_at, updated_at)
        SELECT k, 'registry', '商户' || k, '永康市某路' || k || '号',
               ST_SetSRID(ST_MakePoint(120.0 + (k % 1000) * 0.0005,
                                       28.9 + (k / 1000) * 0.0005), 4326),
               'address', now(), now()
        FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS k
    """), params)
    conn.execute(sa.text("""
        INSERT INTO visits (id, campaign_id, business_id, courier_id, kind, state,
                            coarse_location, created_at, updated_at)
        SELECT k, :campaign, k, :courier, 'first', 'submitted', false, now(), now()
        FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS k
    """), params)
    conn.execute(sa.text("""
        INSERT INTO visit_results (id, visit_id, courier_id, client_id, body_hash, outcome,
                                   captured_at, received_at, corrections, phone_attempts,
                                   late, evidence_pending, version, updated_at)
        SELECT k, k, :courier, 'bench-' || k, repeat('0', 64), 'operating', now(), now(),
               '{}', '[]', false, false, 1, now()
        FROM generate_series(CAST(:first AS integer), CAST(:last AS integer)) AS k
    """), params)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(
        "COPY photos (id, sha256, phash, storage_key, mime_type, size_bytes, width, height,"
        " metadata_warnings, uploaded_by_id, uploaded_at) FROM STDIN"
    ) as copy:
        for k in range(first, last + 1):
            for j in range(PHOTOS_PER_RESULT):
                photo_id = PHOTOS_PER_RESULT * (k - 1) + j + 1
                if hashes and rng.randrange(NEAR_DUPLICATE_EVERY) == 0:
                    value = rng.choice(hashes)
                    for bit in rng.sample(range(64), rng.randint(0, 12)):
                        value ^= 1 << bit
                else:
                    value = rng.getrandbits(64)
                hashes.append(value)
                sha = hashlib.sha256(f"bench photo {photo_id}".encode()).hexdigest()
                copy.write_row((photo_id, sha, f"{value:016x}", f"{sha[:2]}/{sha}.jpg",
                                "image/jpeg", 100_000, 1600, 1200, "[]", user_id, "now"))
    conn.execute(sa.text("""
        INSERT INTO result_photos (result_id, kind, photo_sha256, photo_id)
        SELECT (p.id - 1) / 4 + 1, (ARRAY['storefront', 'doorplate', 'licence',
                                          'interior'])[(p.id - 1) % 4 + 1], p.sha256, p.id
        FROM photos p WHERE p.id > 4 * (CAST(:first AS integer) - 1)
          AND p.id <= 4 * CAST(:last AS integer)
    """), params)
    for table in ("businesses", "visits", "visit_results", "photos", "result_photos"):
        conn.execute(sa.text(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table}"))
    conn.execute(sa.text("ANALYZE"))


# --- measuring ----------------------------------------------------------------------------


def timed(run: Callable[[], Sequence[Any]]) -> tuple[float, Sequence[Any]]:
    start = time.perf_counter()
    rows = run()
    return (time.perf_counter() - start) * 1000, rows


def found(rows: Sequence[Any]) -> set[tuple[str, int, int]]:
    return {(row.mine.lower(), row.photo_id, row.distance) for row in rows}


def describe(ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.2f} ms  p95 {p95:7.2f} ms"


def measure(session: Session, results: int, *, queries: int, radius: int,
            rng: random.Random) -> None:
    sample = rng.sample(range(1, results + 1), queries)
    facts = [load_facts(session, k) for k in sample]
    methods = {
        "old": lambda f: old_search(session, f, radius),
        "scan": lambda f: scan_search(session, f, radius),
        "bands": lambda f: find_similar_photos(session, f, radius),
    }
    for f in facts[:3]:  # warm the caches for all three
        for run in methods.values():
            run(f)
    times: dict[str, list[float]] = {name: [] for name in methods}
    matched = 0
    for f in facts:
        answers = {}
        for name in rng.sample(list(methods), len(methods)):
            ms, rows = timed(lambda run=methods[name], f=f: run(f))
            times[name].append(ms)
            answers[name] = found(rows)
        if not answers["old"] == answers["scan"] == answers["bands"]:
            raise SystemExit(f"result {f.result_id}: the searches disagree: {answers}")
        matched += bool(answers["old"])
    photos = results * PHOTOS_PER_RESULT
    print(f"{photos:>8,} photos, {queries} results ({matched} with a near-duplicate), "
          f"radius {radius}:")
    for name, ms in times.items():
        print(f"    {name:<6} {describe(ms)}")
    ratio = statistics.median(times["old"]) / statistics.median(times["bands"])
    print(f"    old/bands p50 ratio {ratio:.0f}x")


def plan_of_bands(session: Session, facts: ResultFacts, radius: int) -> None:
    """The plan of the banded search's candidate selection: the band indexes should serve it."""
    phash = next(p.phash for p in facts.photos if p.phash)
    values = checks.phash_band_values(phash, radius)
    params = {f"band{band}": values[band] for band in range(checks.PHASH_BANDS)}
    plan = session.execute(sa.text(
        "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM photos p WHERE "
        + " OR ".join(f"p.phash_band{band} = ANY(CAST(:band{band} AS integer[]))"
                      for band in range(checks.PHASH_BANDS))), params).scalars().all()
    print(f"    candidate selection for hash {phash} of result {facts.result_id}:")
    for line in plan:
        print("      " + (line if len(line) <= 110 else line[:107] + "..."))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,80000,160000",
                        help="photo counts to measure at, ascending (default %(default)s)")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--radius", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    args = parser.parse_args()
    sizes = [int(s) // PHOTOS_PER_RESULT for s in args.sizes.split(",")]
    rng = random.Random(20261129)
    hashes: list[int] = []
    name = f"fieldcheck_bench_phash_{os.getpid()}"
    with ThrowawayDatabase(name, keep=args.keep) as db:
        with db.engine.begin() as conn:
            ids = setup(conn)
        done = 0
        for results in sizes:
            start = time.perf_counter()
            with db.engine.begin() as conn:
                add_results(conn, rng, first=done + 1, last=results, ids=ids, hashes=hashes)
            print(f"filled to {results * PHOTOS_PER_RESULT:,} photos in "
                  f"{time.perf_counter() - start:.1f} s")
            done = results
            with Session(db.engine) as session:
                measure(session, results, queries=args.queries, radius=args.radius, rng=rng)
        with Session(db.engine) as session:
            plan_of_bands(session, load_facts(session, 1), args.radius)


if __name__ == "__main__":
    main()
