"""Linking source records into businesses.

Evidence in order of strength:
1. the same valid credit code (`same_code`);
2. the same organisation code: a credit code carries it at positions 9-17 and an old
   15-character tax number after its region, so it ties the two across bureaus
   (`same_org_code`);
3. for records without a code, a similar name at the same road and door number, township
   equal or unknown (`name_address`, with the similarity as score).
Records that match nothing found a business of their own (`new`). Two records with different
valid codes are never linked by name: a code is stronger evidence than a name. Records of a
code-less business that is nothing but them (and has no visits) are reconsidered when new
records arrive, so that a list imported later, with codes, can absorb them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from rapidfuzz import fuzz
from sqlalchemy.orm import Session

from fieldcheck.registry.loader import copy_rows, create_stage, driver_connection

log = logging.getLogger(__name__)

# Names of one business at one address differ by noise (brackets, 有限责任公司, spaces), while
# neighbouring shops at one door number share only the county prefix and trade words.
NAME_SIMILARITY_MIN = 90.0

LINK_SAME_CODE = "same_code"
LINK_SAME_ORG_CODE = "same_org_code"
LINK_NAME_ADDRESS = "name_address"
LINK_NEW = "new"
LINK_REASONS = (LINK_SAME_CODE, LINK_SAME_ORG_CODE, LINK_NAME_ADDRESS, LINK_NEW)

RECORD_COLUMNS = "r.id, r.business_id, r.name_key, r.town, r.road, r.number, r.org_code"


class LinkRecord(NamedTuple):
    """A current record as linkage sees it (the columns of RECORD_COLUMNS)."""

    id: int
    business_id: int | None
    name_key: str
    town: str | None
    road: str | None
    number: str | None
    org_code: str | None


def _link_records(session: Session, sql: str) -> list[LinkRecord]:
    # Plain tuples from the driver: thousands of rows are read and looked at once each.
    with driver_connection(session).cursor() as cursor:
        cursor.execute(sql)
        return list(map(LinkRecord._make, cursor.fetchall()))


@dataclass(slots=True)
class Candidate:
    record_id: int
    business_id: int | None  # None while the record is itself being (re)linked
    name_key: str
    town: str | None
    org_code: str | None


def _attach_by_code(session: Session) -> int:
    """Attach records without a business to the business of their credit code; their
    businesses go into `locate_again`."""
    return session.execute(
        sa.text("""
        WITH attached AS (
        UPDATE source_records r SET business_id = b.id, link_reason = :reason, link_score = 1
        FROM (SELECT DISTINCT ON (uscc) id, uscc FROM businesses
              WHERE uscc IS NOT NULL ORDER BY uscc, id) b
        WHERE r.is_current AND r.business_id IS NULL AND r.uscc = b.uscc
        RETURNING r.business_id
        ), again AS (
            INSERT INTO locate_again SELECT DISTINCT business_id FROM attached
        )
        SELECT count(*) FROM attached
        """),
        {"reason": LINK_SAME_CODE},
    ).scalar_one()


def _link_by_code(session: Session) -> int:
    """Attach records to the business of their credit code, founding missing ones."""
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


def _pool(session: Session) -> list[LinkRecord]:
    """Records to (re)link: those without a business, and lone records of code-less
    businesses without visits sharing a door or an organisation code with a fresh record."""
    return _link_records(
        session,
        f"""
        WITH fresh AS MATERIALIZED (
            SELECT r.road, r.number, r.org_code FROM source_records r
            JOIN link_fresh f ON f.id = r.id
        ), solo AS MATERIALIZED (
            -- From the code-less businesses (few) rather than from every record near a
            -- fresh one (a whole list when a list is imported).
            SELECT r.id, r.road, r.number, r.org_code FROM businesses b
            JOIN source_records r ON r.business_id = b.id AND r.is_current
            WHERE b.uscc IS NULL AND b.origin = 'registry'
              AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.business_id = b.id)
              AND NOT EXISTS (SELECT 1 FROM source_records o WHERE o.business_id = b.id
                              AND o.is_current AND o.id <> r.id)
        ), lone AS (
            SELECT s.id FROM solo s WHERE EXISTS (
                SELECT 1 FROM fresh f WHERE f.road = s.road AND f.number = s.number)
            UNION
            SELECT s.id FROM solo s WHERE EXISTS (
                SELECT 1 FROM fresh f WHERE f.org_code = s.org_code)
        )
        SELECT {RECORD_COLUMNS} FROM source_records r
        WHERE r.is_current AND r.business_id IS NULL
        UNION ALL
        SELECT {RECORD_COLUMNS} FROM source_records r JOIN lone ON lone.id = r.id
        -- In record order: ties between equally good matches go the same way every time.
        ORDER BY 1
        """,
    )


def _linked_neighbours(session: Session, pool: list[LinkRecord]) -> list[LinkRecord]:
    """Linked records sharing a door or an organisation code with a pool record."""
    create_stage(session, "link_keys", "road text, number text, org_code text")
    copy_rows(session, "link_keys", ("road", "number", "org_code"),
              ((r.road, r.number, r.org_code) for r in pool))
    return _link_records(
        session,
        f"""
        SELECT {RECORD_COLUMNS} FROM source_records r
        JOIN (SELECT DISTINCT road, number FROM link_keys) d
          ON d.road = r.road AND d.number = r.number
        WHERE r.is_current AND r.business_id IS NOT NULL
        UNION
        SELECT {RECORD_COLUMNS} FROM source_records r
        JOIN (SELECT DISTINCT org_code FROM link_keys) o ON o.org_code = r.org_code
        WHERE r.is_current AND r.business_id IS NOT NULL
        ORDER BY 1
        """,
    )


def _best_match(
    rec: LinkRecord,
    by_door: dict[tuple[str, str], list[Candidate]],
    by_org: dict[str, list[Candidate]],
) -> tuple[float, Candidate, str] | None:
    """The strongest other record for `rec`: same organisation code, else a similar name at
    the same door."""
    def other(cand: Candidate) -> bool:
        own = cand.business_id is not None and cand.business_id == rec.business_id
        return cand.record_id != rec.id and not own

    if rec.org_code:
        for cand in by_org.get(rec.org_code, []):
            if other(cand):
                return (100.0, cand, LINK_SAME_ORG_CODE)
    best: tuple[float, Candidate, str] | None = None
    if rec.road and rec.number:
        for cand in by_door.get((rec.road, rec.number), []):
            if not other(cand) or not _towns_agree(rec.town, cand.town):
                continue
            # Two different organisation codes are two organisations, however alike the names.
            if rec.org_code and cand.org_code and rec.org_code != cand.org_code:
                continue
            score = fuzz.ratio(rec.name_key, cand.name_key)
            if score >= NAME_SIMILARITY_MIN and (best is None or score > best[0]):
                best = (score, cand, LINK_NAME_ADDRESS)
    return best


def link_unlinked_records(session: Session) -> dict[str, int]:
    """Link every current record without a business; returns counts by link reason.

    The businesses it links records to are left in the temporary table `locate_again`, for
    locate_businesses(session, again="locate_again"); those that lost records to another
    business in `link_emptied` (emptied ones are deleted). A caller that links records
    itself (the import links each new record to the business of its credit code as it
    adds it) adds the businesses it linked to `locate_again` once this returns.
    """
    create_stage(session, "link_emptied", "id integer")
    # A business that gained records may be located better now: locate_businesses looks at
    # the businesses listed in locate_again as well as at the unlocated ones.
    create_stage(session, "locate_again", "id integer")
    # The import fills link_fresh with the records it added or changed; a direct call
    # (no import) starts it here.
    session.execute(sa.text(
        "CREATE TEMP TABLE IF NOT EXISTS link_fresh (id integer) ON COMMIT DROP"))
    session.execute(sa.text("""
        INSERT INTO link_fresh
        SELECT id FROM source_records WHERE is_current AND business_id IS NULL
        EXCEPT SELECT id FROM link_fresh
    """))
    # A temporary table has no statistics until analysed: without them the joins below are
    # planned for a few rows and run as one index probe per fresh record.
    session.execute(sa.text("ANALYZE link_fresh"))
    stats = dict.fromkeys(LINK_REASONS, 0)
    _link_by_code(session)
    # The fresh records linked by their code, by the import or just now.
    stats[LINK_SAME_CODE] = session.scalar(sa.text("""
        SELECT count(*) FROM source_records r JOIN link_fresh f ON f.id = r.id
        WHERE r.link_reason = 'same_code'
    """))
    pool = _pool(session)
    if not pool:
        return stats
    pool_ids = {r.id for r in pool}

    by_door: dict[tuple[str, str], list[Candidate]] = defaultdict(list)
    by_org: dict[str, list[Candidate]] = defaultdict(list)
    # Pool members take part without their old business: that is what is being decided.
    neighbours = [r for r in _linked_neighbours(session, pool) if r.id not in pool_ids]
    for row in [*neighbours, *pool]:
        business = None if row.id in pool_ids else row.business_id
        cand = Candidate(row.id, business, row.name_key, row.town, row.org_code)
        if row.road and row.number:
            by_door[(row.road, row.number)].append(cand)
        if row.org_code:
            by_org[row.org_code].append(cand)

    groups = _UnionFind()
    matched: dict[int, tuple[int, str, float]] = {}  # record -> business, reason, score
    pair_reason: dict[int, tuple[str, float]] = {}
    for rec in pool:
        groups.find(rec.id)
        best = _best_match(rec, by_door, by_org)
        if best is None:
            continue
        score, cand, reason = best
        if cand.business_id is not None:
            matched[rec.id] = (cand.business_id, reason, score / 100)
        else:
            groups.union(rec.id, cand.record_id)
            pair_reason[rec.id] = (reason, score / 100)

    assignments = _assign_groups(session, pool, groups, matched, pair_reason, stats)
    _apply_assignments(session, assignments)
    return stats


def _assign_groups(
    session: Session,
    pool: list[LinkRecord],
    groups: _UnionFind,
    matched: dict[int, tuple[int, str, float]],
    pair_reason: dict[int, tuple[str, float]],
    stats: dict[str, int],
) -> list[tuple[int, int, str, float, bool]]:
    """Give each group of pool records a business: one a member matched, the oldest one a
    member already had, or a new one. Returns (record, business, reason, score, founder)."""
    members: dict[int, list[int]] = defaultdict(list)
    for rec in pool:
        members[groups.find(rec.id)].append(rec.id)
    old_business = {r.id: r.business_id for r in pool}
    needs_new = sum(
        1 for ids in members.values()
        if not any(i in matched for i in ids) and not any(old_business[i] for i in ids)
    )
    new_ids = iter(session.scalars(
        sa.text("SELECT nextval(pg_get_serial_sequence('businesses', 'id')) "
                "FROM generate_series(1, :n)"),
        {"n": needs_new},
    ).all())
    assignments: list[tuple[int, int, str, float, bool]] = []
    for ids in members.values():
        business = next((matched[i][0] for i in ids if i in matched), None)
        founder = None
        if business is None:
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
                    continue  # stays where it is
                reason, score = LINK_NEW, 1.0
            else:
                reason, score = pair_reason.get(i, (LINK_NAME_ADDRESS, 1.0))
            assignments.append((i, business, reason, score, i == founder))
            stats[reason] += 1
    return assignments


def _apply_assignments(
    session: Session, assignments: list[tuple[int, int, str, float, bool]]
) -> None:
    """Found the new businesses, point every record at its business, and drop code-less
    businesses left with no record and no visit."""
    create_stage(session, "link_result",
                 "record_id integer, business_id integer, reason text, score real, "
                 "founder boolean")
    copy_rows(session, "link_result",
              ("record_id", "business_id", "reason", "score", "founder"), assignments)
    session.execute(sa.text("""
        INSERT INTO businesses (id, origin, name, address, town, location_precision,
                                created_at, updated_at)
        SELECT l.business_id, 'registry', r.name, r.address, r.town, 'unlocated', now(), now()
        FROM link_result l JOIN source_records r ON r.id = l.record_id
        WHERE l.founder
    """))
    session.execute(sa.text("""
        INSERT INTO link_emptied
        SELECT DISTINCT r.business_id FROM source_records r
        JOIN link_result l ON l.record_id = r.id
        WHERE r.business_id IS NOT NULL AND r.business_id <> l.business_id
    """))
    session.execute(sa.text("""
        UPDATE source_records r
        SET business_id = l.business_id, link_reason = l.reason, link_score = l.score
        FROM link_result l
        WHERE r.id = l.record_id
    """))
    session.execute(sa.text("""
        DELETE FROM businesses b USING link_emptied e
        WHERE b.id = e.id AND b.uscc IS NULL
          AND NOT EXISTS (SELECT 1 FROM source_records r WHERE r.business_id = b.id)
          AND NOT EXISTS (SELECT 1 FROM visits v WHERE v.business_id = b.id)
    """))
    session.execute(
        sa.text("INSERT INTO locate_again SELECT DISTINCT business_id FROM link_result")
    )
