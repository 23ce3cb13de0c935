"""Linking source records into businesses.

In order: identical valid credit codes; then, for records without a valid code, a similar
name at the same road and door number (township equal or unknown), or the identical
normalised name in the same township; records that still match nothing become businesses of
their own. Each link keeps its reason and score. Two records with different valid codes are
never linked by name: a code is stronger evidence than a name.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy.orm import Session

from fieldcheck.registry.loader import copy_rows, create_stage

log = logging.getLogger(__name__)

# Names of one business at one address differ by noise (brackets, 有限责任公司, spaces), while
# neighbouring shops at one door number share only the county prefix and trade words.
NAME_SIMILARITY_MIN = 90.0

LINK_SAME_CODE = "same_code"
LINK_NAME_ADDRESS = "name_address"
LINK_SAME_NAME_TOWN = "same_name_town"
LINK_NEW = "new"


@dataclass
class Candidate:
    record_id: int
    business_id: int | None
    name_key: str
    town: str | None
    bureau: str


def _attach_by_code(session: Session) -> int:
    return session.execute(
        sa.text("""
        UPDATE source_records r SET business_id = b.id, link_reason = :reason, link_score = 1
        FROM (SELECT DISTINCT ON (uscc) id, uscc FROM businesses
              WHERE uscc IS NOT NULL ORDER BY uscc, id) b
        WHERE r.is_current AND r.business_id IS NULL AND r.uscc = b.uscc
    """),
        {"reason": LINK_SAME_CODE},
    ).rowcount


def _link_by_code(session: Session) -> int:
    linked = _attach_by_code(session)
    session.execute(
        sa.text("""
        INSERT INTO businesses (origin, name, address, town, uscc, location_precision,
                                created_at, updated_at)
        SELECT DISTINCT ON (uscc) 'registry', name, address, town, uscc, 'unlocated',
               now(), now()
        FROM source_records
        WHERE is_current AND business_id IS NULL AND uscc IS NOT NULL
        ORDER BY uscc, (bureau = 'tax') DESC, id
    """)
    )
    return linked + _attach_by_code(session)


def _towns_agree(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def link_unlinked_records(session: Session) -> dict[str, int]:
    """Link every current record without a business; returns counts by link reason.

    Records of a code-less business that is nothing but them (no visits yet) are reconsidered
    too, so that a list imported later, with codes, can absorb them.
    """
    session.execute(sa.text("DROP TABLE IF EXISTS link_fresh, link_emptied"))
    session.execute(
        sa.text("""
        CREATE TEMP TABLE link_fresh ON COMMIT DROP AS
        SELECT id FROM source_records WHERE is_current AND business_id IS NULL
    """)
    )
    by_code = _link_by_code(session)
    # A business that gained records may be located better now.
    session.execute(
        sa.text("""
        UPDATE businesses SET location_precision = 'unlocated'
        WHERE location_precision <> 'visit' AND id IN (
            SELECT r.business_id FROM source_records r JOIN link_fresh f ON f.id = r.id)
    """)
    )
    stats = {LINK_SAME_CODE: by_code, LINK_NAME_ADDRESS: 0, LINK_SAME_NAME_TOWN: 0, LINK_NEW: 0}
    # The pool to (re)link: records without a business, and lone records of code-less
    # businesses without visits that share a door or a name with a freshly linked record.
    pool = session.execute(
        sa.text("""
        WITH fresh AS (
            SELECT r.road, r.number, r.name_key FROM source_records r
            JOIN link_fresh f ON f.id = r.id
        ), near_fresh AS (
            SELECT r.id, r.business_id FROM source_records r
            JOIN (SELECT DISTINCT road, number FROM fresh) d
              ON d.road = r.road AND d.number = r.number
            WHERE r.is_current
            UNION
            SELECT r.id, r.business_id FROM source_records r
            JOIN (SELECT DISTINCT name_key FROM fresh) n ON n.name_key = r.name_key
            WHERE r.is_current
        ), lone AS (
            SELECT c.id FROM near_fresh c JOIN businesses b ON b.id = c.business_id
            WHERE b.uscc IS NULL AND b.origin = 'registry'
              AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.business_id = b.id)
              AND b.id IN (SELECT business_id FROM source_records
                           WHERE is_current AND business_id IS NOT NULL
                           GROUP BY business_id HAVING count(*) = 1)
        )
        SELECT id, business_id, name_key, town, road, number, bureau FROM source_records
        WHERE is_current AND business_id IS NULL
        UNION ALL
        SELECT r.id, r.business_id, r.name_key, r.town, r.road, r.number, r.bureau
        FROM source_records r JOIN lone ON lone.id = r.id
    """)
    ).all()
    if not pool:
        return stats
    pool_ids = {r.id for r in pool}

    create_stage(session, "link_keys", "road text, number text, name_key text")
    copy_rows(
        session,
        "link_keys",
        ("road", "number", "name_key"),
        ((r.road, r.number, r.name_key) for r in pool),
    )
    linked = session.execute(
        sa.text("""
        SELECT r.id, r.business_id, r.name_key, r.town, r.road, r.number, r.bureau
        FROM source_records r
        JOIN (SELECT DISTINCT road, number FROM link_keys) d
          ON d.road = r.road AND d.number = r.number
        WHERE r.is_current AND r.business_id IS NOT NULL
        UNION
        SELECT r.id, r.business_id, r.name_key, r.town, r.road, r.number, r.bureau
        FROM source_records r
        JOIN (SELECT DISTINCT name_key FROM link_keys) n ON n.name_key = r.name_key
        WHERE r.is_current AND r.business_id IS NOT NULL
    """)
    ).all()

    by_door: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    by_name: dict[str, list[Candidate]] = defaultdict(list)
    for row in linked:
        # Pool members are candidates as pool members (no business), not through their old one.
        business = None if row.id in pool_ids else row.business_id
        cand = Candidate(row.id, business, row.name_key, row.town, row.bureau)
        if row.road and row.number:
            by_door[(row.road, row.number)].append(cand)
        by_name[row.name_key].append(cand)
    for row in pool:
        if row.business_id is None:
            cand = Candidate(row.id, None, row.name_key, row.town, row.bureau)
            if row.road and row.number:
                by_door[(row.road, row.number)].append(cand)
            by_name[row.name_key].append(cand)

    groups = _UnionFind()
    matched: dict[int, tuple[int, str, float]] = {}  # pool record -> business, reason, score
    pair_reason: dict[int, tuple[str, float]] = {}
    for rec in pool:
        groups.find(rec.id)
        best = _best_match(rec, by_door, by_name)
        if best is None:
            continue
        score, cand, reason = best
        if cand.business_id is not None:
            matched[rec.id] = (cand.business_id, reason, score / 100)
        else:
            groups.union(rec.id, cand.record_id)
            pair_reason[rec.id] = (reason, score / 100)

    members: dict[int, list[int]] = defaultdict(list)
    for rec in pool:
        members[groups.find(rec.id)].append(rec.id)
    old_business = {r.id: r.business_id for r in pool}
    needs_new = [
        ids
        for ids in members.values()
        if not any(i in matched for i in ids) and not any(old_business[i] for i in ids)
    ]
    new_ids = iter(
        session.scalars(
            sa.text(
                "SELECT nextval(pg_get_serial_sequence('businesses', 'id')) "
                "FROM generate_series(1, :n)"
            ),
            {"n": len(needs_new)},
        ).all()
    )
    assignments: list[tuple[int, int, str, float, bool]] = []
    for ids in members.values():
        business = next((matched[i][0] for i in ids if i in matched), None)
        founder = None
        if business is None:
            # A group keeps the oldest business one of its records had, else founds one.
            kept = sorted(old_business[i] for i in ids if old_business[i])
            if kept:
                business = kept[0]
                founder = next(i for i in ids if old_business[i] == business)
            else:
                business, founder = next(new_ids), min(ids)
        for i in ids:
            if i in matched:
                _, reason, score = matched[i]
            elif i == founder:
                if old_business[i]:
                    continue  # unchanged
                reason, score = LINK_NEW, 1.0
            else:
                reason, score = pair_reason.get(i, (LINK_NAME_ADDRESS, 1.0))
            assignments.append((i, business, reason, score, i == founder and not old_business[i]))
            stats[reason] += 1
    _apply_assignments(session, assignments)
    return stats


def _best_match(
    rec: sa.Row,
    by_door: dict[tuple[str, str], list[Candidate]],
    by_name: dict[str, list[Candidate]],
) -> tuple[float, Candidate, str] | None:
    """The most similar other record at the same door, else one of the same name and town."""
    best: tuple[float, Candidate, str] | None = None
    if rec.road and rec.number:
        for cand in by_door.get((rec.road, rec.number), []):
            if cand.record_id == rec.id or not _towns_agree(rec.town, cand.town):
                continue
            if cand.business_id is not None and cand.business_id == rec.business_id:
                continue
            score = fuzz.ratio(rec.name_key, cand.name_key)
            if score >= NAME_SIMILARITY_MIN and (best is None or score > best[0]):
                best = (score, cand, LINK_NAME_ADDRESS)
    if best is None and rec.town:
        for cand in by_name.get(rec.name_key, []):
            if (
                cand.record_id != rec.id
                and cand.town == rec.town
                and (cand.business_id is None or cand.business_id != rec.business_id)
            ):
                return (100.0, cand, LINK_SAME_NAME_TOWN)
    return best


def _apply_assignments(
    session: Session, assignments: list[tuple[int, int, str, float, bool]]
) -> None:
    """Create the founded businesses (ids drawn above), point every record at its business,
    and drop code-less businesses left with no record and no visit."""
    create_stage(
        session,
        "link_result",
        "record_id integer, business_id integer, reason text, score real, founder boolean",
    )
    copy_rows(
        session,
        "link_result",
        ("record_id", "business_id", "reason", "score", "founder"),
        assignments,
    )
    session.execute(
        sa.text("""
        INSERT INTO businesses (id, origin, name, address, town, location_precision,
                                created_at, updated_at)
        SELECT l.business_id, 'registry', r.name, r.address, r.town, 'unlocated', now(), now()
        FROM link_result l JOIN source_records r ON r.id = l.record_id
        WHERE l.founder
    """)
    )
    session.execute(
        sa.text("""
        CREATE TEMP TABLE link_emptied ON COMMIT DROP AS
        SELECT DISTINCT r.business_id AS id FROM source_records r
        JOIN link_result l ON l.record_id = r.id
        WHERE r.business_id IS NOT NULL AND r.business_id <> l.business_id
    """)
    )
    session.execute(
        sa.text("""
        UPDATE source_records r
        SET business_id = l.business_id, link_reason = l.reason, link_score = l.score
        FROM link_result l
        WHERE r.id = l.record_id
    """)
    )
    # A business absorbed by another: its records moved, and it has no visits to keep.
    session.execute(
        sa.text("""
        DELETE FROM businesses b USING link_emptied e
        WHERE b.id = e.id AND b.uscc IS NULL
          AND NOT EXISTS (SELECT 1 FROM source_records r WHERE r.business_id = b.id)
          AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.business_id = b.id)
    """)
    )
    # A business that gained records may need locating again.
    session.execute(
        sa.text("""
        UPDATE businesses SET location_precision = 'unlocated'
        WHERE location_precision <> 'visit'
          AND id IN (SELECT business_id FROM link_result)
    """)
    )
