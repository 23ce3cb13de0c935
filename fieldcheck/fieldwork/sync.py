"""The phones' sync: each courier's feed of visits added, changed and withdrawn.

How the feed stays exact. Each courier has a feed: one `SyncEntry` per visit the courier
was ever shown, carrying the number (`seq`) of that visit's latest change, and a
`SyncHead` holding the last number handed out. A phone pulls entries with `seq` above its
cursor, in `seq` order, and keeps the last number as its next cursor.

Numbers from a global sequence would not do: a transaction that drew number 10 may commit
after one that drew 11, and a phone that read 11 in between would never see 10. Fencing
reads below `pg_snapshot_xmin(pg_current_snapshot())` would fix that, but the fence is
cluster-wide, so any long transaction on the server (an import, a report, another
database) would hold every courier's sync back while it runs. Here the numbers of a feed
are instead handed out at commit, under a row lock of the courier's head: a transaction
changing a courier's visits numbers its changes only when it commits, and a second one
waits for the first to end before drawing its own. So within a feed a higher number is
never visible before a lower one, and a phone can read up to the highest number it sees.
The lock is per courier and held for the commit only; a transaction touching many
couriers (planning) takes their heads in courier order, which rules out deadlocks between
such transactions.

What a page costs. Each shown entry stores the visit's payload (the JSON the phone gets for
it), rendered when the entry is numbered, so a page is one indexed range query whose
payloads are joined as they are. A payload also depends on rows no feed entry follows: the
business (moved to its gazetteer point, merged into), its records in the bureaus' lists
(re-imported, moved by a merge or split) and the campaign's rules. So each payload carries
a stamp: the row versions (`xmin` and `ctid`, which together name one version of a row) of
its visit, business, campaign and the business's records, read in the same statement as
the payload's data. A page serves a stored payload only while its stamp matches the rows
now; any other entry is rendered afresh and stored back. So a stale payload is never
served, whichever code path changed the rows and however transactions interleave.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, SessionTransaction

from fieldcheck.auth.models import User
from fieldcheck.db import utcnow
from fieldcheck.dispatch.models import Visit
from fieldcheck.fieldwork.access import not_a_courier
from fieldcheck.fieldwork.models import PHOTO_KINDS, SyncEntry, SyncHead
from fieldcheck.fieldwork.rules import DEFAULT_REQUIRED_PHOTOS, required_photo_kinds
from fieldcheck.geo.crs import wgs84_to_gcj02

log = logging.getLogger(__name__)

# Visit states a courier sees; `planned` is still the office's draft, `withdrawn` is gone.
SHOWN_STATES = frozenset({"assigned", "submitted", "rejected", "accepted", "recheck_ordered"})
MAX_PAGE = 500
_PENDING = "fieldcheck.sync.pending"
_ROWS_PER_STATEMENT = 1000
# Part of every payload's stamp: raise the number when what `visit_document` renders
# changes. The code defaults a payload applies are folded in, so changing them retires
# every stored payload too.
PAYLOAD_FORMAT = "1." + format(
    zlib.crc32(repr((DEFAULT_REQUIRED_PHOTOS, PHOTO_KINDS)).encode()), "x"
)


def shown_to(visit: Visit) -> int | None:
    """The courier whose feed shows `visit` now, if any."""
    return visit.courier_id if visit.state in SHOWN_STATES else None


def record_visit_change(
    session: Session, visit: Visit, *, previous_courier_id: int | None = None
) -> None:
    """Put a change of `visit` into the feeds of the couriers it concerns.

    Every code path that creates a visit or changes its courier, state, kind, business,
    planned day or route order must call this, in the same transaction and after making
    the change: planning and publishing assignments, reassignment, withdrawal, review
    decisions, result submission. Without it the phones never learn of the change.

    `previous_courier_id` is the visit's courier before this transaction changed it (None
    for a new visit). If the visit is no longer shown to that courier, it is withdrawn from
    their feed; the courier shown the visit now (see `shown_to`) gets it as changed. A visit
    withdrawn or sent back to planning is withdrawn from its courier's feed. Couriers who
    were never shown a visit get nothing for it.

    Nothing is written here: the changes are numbered when the session commits (see the
    module docstring). Calling this several times for one visit in a transaction is fine;
    the state at commit is what the phones get. A change recorded inside a savepoint that is
    rolled back is still announced: the phone then receives the visit unchanged, which is
    harmless.
    """
    if visit.id is None:
        session.flush()
    pending: dict[tuple[int, int], bool] = session.info.setdefault(_PENDING, {})
    now_shown_to = shown_to(visit)
    if previous_courier_id is not None and previous_courier_id != now_shown_to:
        pending[(previous_courier_id, visit.id)] = True
    if visit.courier_id is not None and visit.courier_id != now_shown_to:
        pending[(visit.courier_id, visit.id)] = True
    if now_shown_to is not None:
        pending[(now_shown_to, visit.id)] = False


def record_business_change(session: Session, business_ids: Iterable[int]) -> None:
    """Put the visits of these businesses into their couriers' feeds as changed.

    For changes to a business rather than to a visit (records merged into it or split off
    it): what a phone shows of the visit changed although the visit did not.
    """
    ids = sorted(set(business_ids))
    if not ids:
        return
    # As record_visit_change for a visit whose courier did not change, read as plain rows:
    # a re-import during a campaign may concern tens of thousands of visits.
    pending: dict[tuple[int, int], bool] = session.info.setdefault(_PENDING, {})
    for start in range(0, len(ids), _ROWS_PER_STATEMENT):
        for visit_id, courier_id in session.execute(
            sa.select(Visit.id, Visit.courier_id).where(
                Visit.business_id.in_(ids[start : start + _ROWS_PER_STATEMENT]),
                Visit.state.in_(SHOWN_STATES),
                Visit.courier_id.is_not(None),
            )
        ):
            pending[(courier_id, visit_id)] = False


def number_visit_changes(session: Session) -> None:
    """Number the changes recorded so far now rather than at commit.

    For code whose transaction is committed by someone else (test fixtures, scripts that
    share a connection): it takes the heads' locks early and keeps them until the end of
    the transaction, so use cases should leave numbering to the commit.
    """
    _number_pending_changes(session)


@event.listens_for(Session, "before_commit")
def _number_at_commit(session: Session) -> None:
    # Releasing a savepoint fires this too; numbering waits for the real commit.
    if session.get_nested_transaction() is None:
        _number_pending_changes(session)


def _number_pending_changes(session: Session) -> None:
    pending: dict[tuple[int, int], bool] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()
    by_courier: dict[int, list[tuple[int, bool]]] = defaultdict(list)
    for (courier_id, visit_id), withdrawn in pending.items():
        by_courier[courier_id].append((visit_id, withdrawn))
    now = utcnow()
    # Rendered before any head is locked: the locks are held for the commit only.
    payloads = render_payloads(
        session, {visit_id for (_, visit_id), withdrawn in pending.items() if not withdrawn}
    )
    # Heads are locked in courier order: two transactions never wait for each other in a
    # circle, whatever order their changes were made in.
    for courier_id in sorted(by_courier):
        changes = sorted(by_courier[courier_id])
        top = session.execute(
            insert(SyncHead)
            .values(courier_id=courier_id, seq=len(changes))
            .on_conflict_do_update(
                index_elements=[SyncHead.courier_id],
                set_={"seq": SyncHead.seq + len(changes)},
            )
            .returning(SyncHead.seq)
        ).scalar_one()
        first = top - len(changes) + 1
        shown = []
        withdrawn = []
        for offset, (visit_id, is_withdrawal) in enumerate(changes):
            payload, stamp = payloads.get(visit_id, (None, None))
            row = {
                "courier_id": courier_id,
                "visit_id": visit_id,
                "seq": first + offset,
                "changed_at": now,
                "payload": None if is_withdrawal else payload,
                "payload_stamp": None if is_withdrawal else stamp,
            }
            (withdrawn if is_withdrawal else shown).append(row)
        _upsert_shown(session, shown)
        _mark_withdrawn(session, withdrawn)
    log.debug("numbered %d visit changes for %d couriers", len(pending), len(by_courier))


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending_changes(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_PENDING, None)


def _upsert_shown(session: Session, rows: list[dict[str, Any]]) -> None:
    table = SyncEntry.__table__
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        stmt = insert(table).values(rows[start : start + _ROWS_PER_STATEMENT])
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=[table.c.courier_id, table.c.visit_id],
                set_={
                    "seq": stmt.excluded.seq,
                    "withdrawn": False,
                    "changed_at": stmt.excluded.changed_at,
                    "payload": stmt.excluded.payload,
                    "payload_stamp": stmt.excluded.payload_stamp,
                },
            )
        )


def _mark_withdrawn(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    table = SyncEntry.__table__
    # Only visits the courier was shown and still has: a tombstone for a visit the phone
    # never got would tell it about someone else's work.
    session.execute(
        sa.update(table)
        .where(
            table.c.courier_id == sa.bindparam("b_courier_id"),
            table.c.visit_id == sa.bindparam("b_visit_id"),
            sa.not_(table.c.withdrawn),
        )
        .values(
            withdrawn=True,
            seq=sa.bindparam("b_seq"),
            changed_at=sa.bindparam("b_at"),
            payload=None,
            payload_stamp=None,
        ),
        [
            {
                "b_courier_id": r["courier_id"],
                "b_visit_id": r["visit_id"],
                "b_seq": r["seq"],
                "b_at": r["changed_at"],
            }
            for r in rows
        ],
    )


# --- what the phone gets of a visit, and reading the feed --------------------------------


@dataclass(frozen=True, slots=True)
class RegisteredRecord:
    """What one bureau's list says about the business (never the operator's ID number)."""

    bureau: str
    name: str
    uscc: str | None
    tin: str | None
    reg_no: str | None
    address: str | None
    operator: str | None
    phones: list[str]
    status: str | None
    status_raw: str | None
    established_on: str | None


@dataclass(frozen=True, slots=True)
class BusinessSnapshot:
    id: int
    origin: str
    name: str
    address: str | None
    town: str | None
    uscc: str | None
    lon: float | None
    lat: float | None
    gcj02_lon: float | None
    gcj02_lat: float | None
    location_precision: str
    registered: list[RegisteredRecord] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class VisitSnapshot:
    id: int
    campaign_id: int
    state: str
    kind: str
    planned_day: int | None
    route_order: int | None
    coarse_location: bool
    required_photo_kinds: tuple[str, ...]
    business: BusinessSnapshot


def visit_document(visit: VisitSnapshot) -> dict[str, Any]:
    """What the phone gets for a visit shown to it: the `visit` of a sync item.

    Field for field what `api.courier.schemas.SyncVisitSchema` documents; a test keeps the
    two identical.
    """
    business = visit.business
    location = None
    if business.lon is not None:
        location = {
            "wgs84": {"lon": business.lon, "lat": business.lat},
            "gcj02": {"lon": business.gcj02_lon, "lat": business.gcj02_lat},
            "precision": business.location_precision,
        }
    return {
        "id": visit.id,
        "campaign_id": visit.campaign_id,
        "state": visit.state,
        "kind": visit.kind,
        "planned_day": visit.planned_day,
        "route_order": visit.route_order,
        "coarse_location": visit.coarse_location,
        "required_photo_kinds": list(visit.required_photo_kinds),
        "business": {
            "id": business.id,
            "origin": business.origin,
            "name": business.name,
            "address": business.address,
            "town": business.town,
            "uscc": business.uscc,
            "location": location,
            "registered": [
                {
                    "bureau": r.bureau,
                    "name": r.name,
                    "uscc": r.uscc,
                    "tin": r.tin,
                    "reg_no": r.reg_no,
                    "address": r.address,
                    "operator": r.operator,
                    "phones": list(r.phones),
                    "status": r.status,
                    "status_raw": r.status_raw,
                    "established_on": r.established_on,
                }
                for r in business.registered
            ],
        },
    }


def render_visit(visit: VisitSnapshot) -> str:
    """`visit_document` as compact UTF-8 JSON: a feed entry's stored payload."""
    return json.dumps(visit_document(visit), ensure_ascii=False, separators=(",", ":"))


def render_payloads(session: Session, visit_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Each visit's payload and its stamp (see the module docstring), as the session sees now."""
    ids = sorted(visit_ids)
    rendered: dict[int, tuple[str, str]] = {}
    required: dict[tuple[int, str], tuple[str, ...]] = {}
    for start in range(0, len(ids), _ROWS_PER_STATEMENT):
        for row in session.execute(
            _RENDER,
            {"visit_ids": ids[start : start + _ROWS_PER_STATEMENT], "format": PAYLOAD_FORMAT},
        ):
            rendered[row.visit_id] = (render_visit(_snapshot(row, required)), row.stamp)
    return rendered


@dataclass(frozen=True, slots=True)
class FeedItem:
    """A visit added or changed (`payload`: the visit as the phone gets it, JSON text), or
    withdrawn from the courier (`payload` None)."""

    visit_id: int
    withdrawn: bool
    payload: str | None

    @property
    def visit(self) -> SimpleNamespace | None:
        """The payload read back, its fields as attributes; None for a withdrawal."""
        if self.payload is None:
            return None
        visit: SimpleNamespace = json.loads(
            self.payload, object_hook=lambda fields: SimpleNamespace(**fields)
        )
        return visit


@dataclass(frozen=True, slots=True)
class SyncPage:
    """One page of a feed. `last_seq` is where the next pull starts, also when nothing came.

    `reset` says the cursor was not one of this feed's (a restored database): the page
    starts the feed over, and the phone should replace its visits with what follows.
    """

    items: list[FeedItem]
    last_seq: int
    has_more: bool
    reset: bool = False


def pull_changes(
    session: Session, *, courier_user: User, after: int | None, limit: int = 100
) -> SyncPage:
    """The courier's visits changed since `after` (a previous page's `last_seq`), in order.

    Without `after`, the feed from its start without withdrawn visits: what a new phone
    needs. Pages never skip or repeat a change, whatever commits between two pulls.
    Payloads found stale are rendered afresh and stored back.

    The session's transaction is committed at the end, also when nothing was written:
    psycopg forgets a connection's prepared statements at every rollback, and a page query
    planned afresh for every page costs PostgreSQL more than running it.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be between 1 and {MAX_PAGE}")
    # One statement per page, written out and bound rather than built per call: when a
    # whole team syncs at 8 a.m., building the query cost more than running it.
    rows = session.execute(
        _PAGE,
        {
            "user_id": courier_user.id,
            "after": after or 0,
            "limit": limit + 1,
            "format": PAYLOAD_FORMAT,
        },
    ).all()
    if not rows or courier_user.role != "courier":
        raise not_a_courier(courier_user)
    courier_id, head = rows[0].me, rows[0].head
    reset = bool(after) and (head is None or after > head)
    if reset:
        log.warning(
            "sync cursor %s of courier %s is beyond its feed; starting over", after, courier_id
        )
        after = None
    if rows[0].visit_id is None:  # the courier's row alone: nothing after the cursor
        session.commit()
        return SyncPage([], after or 0, False, reset)
    has_more = len(rows) > limit
    rows = rows[:limit]
    # Whatever an entry says, a visit that is not this courier's now goes out as withdrawn:
    # a code path that forgot record_visit_change must not leak it.
    shown = [
        not row.withdrawn and row.courier_id == courier_id and row.state in SHOWN_STATES
        for row in rows
    ]
    stale = [row for row, is_shown in zip(rows, shown, strict=True) if is_shown and not row.payload]
    fresh = _refresh(session, courier_id, stale) if stale else {}
    items = []
    for row, is_shown in zip(rows, shown, strict=True):
        payload = (row.payload or fresh.get(row.visit_id)) if is_shown else None
        items.append(FeedItem(row.visit_id, payload is None, payload))
    session.commit()
    return SyncPage(items, rows[-1].seq, has_more, reset)


def warm_up(session: Session) -> None:
    """Read one page of some courier's feed on the session's connection, writing nothing.

    A server warms each of its connections so at start: when a whole team syncs at once
    right after a restart, no phone waits while PostgreSQL reads the catalogue, plans this
    statement and reads its indexes for the first time on each connection.
    """
    user_id = session.execute(sa.text("SELECT min(user_id) FROM couriers")).scalar()
    # psycopg prepares a statement at its fifth run on a connection, and PostgreSQL plans a
    # prepared statement afresh for its first five runs before it keeps a generic plan.
    for _ in range(12):
        session.execute(
            _PAGE, {"user_id": user_id or 0, "after": 0, "limit": 100, "format": PAYLOAD_FORMAT}
        )
    session.commit()


def _refresh(session: Session, courier_id: int, rows: list[Any]) -> dict[int, str]:
    """Render the payloads of stale entries and store them back (unless the entry moved on
    meanwhile); the payloads by visit."""
    rendered = render_payloads(session, [row.visit_id for row in rows])
    kept = [row for row in rows if row.visit_id in rendered]
    if kept:
        session.execute(
            _STORE,
            {
                "courier_id": courier_id,
                "visit_ids": [row.visit_id for row in kept],
                "seqs": [row.seq for row in kept],
                "payloads": [rendered[row.visit_id][0] for row in kept],
                "stamps": [rendered[row.visit_id][1] for row in kept],
            },
        )
        log.debug("stored %d fresh sync payloads of courier %s", len(kept), courier_id)
    return {visit_id: payload for visit_id, (payload, _) in rendered.items()}


# The stamp of a payload (see the module docstring), written out the same way in both
# statements that read it.
_STAMP = """concat_ws(':', CAST(:format AS text), v.xmin, v.ctid, b.xmin, b.ctid, c.xmin, c.ctid,
              (SELECT string_agg(r.xmin::text || '@' || r.ctid::text, ',' ORDER BY r.id)
               FROM source_records r WHERE r.business_id = b.id))"""

# One page of a courier's feed, after the courier's own row (`me`, `head`), which comes
# alone when nothing follows the cursor. A cursor beyond the feed's head (a restored
# database) starts the feed over. `payload` is the stored one while its stamp holds, else
# null (rendered afresh by the caller).
_PAGE = sa.text(f"""
    WITH me AS (
        SELECT c.id AS me, h.seq AS head,
               CASE WHEN :after > 0 AND (h.seq IS NULL OR :after > h.seq) THEN 0
                    ELSE :after END AS after
        FROM couriers c LEFT JOIN sync_heads h ON h.courier_id = c.id
        WHERE c.user_id = :user_id
    )
    SELECT me.me, me.head, p.*
    FROM me LEFT JOIN LATERAL (
        SELECT e.visit_id, e.seq, e.withdrawn, v.courier_id, v.state,
               CASE WHEN e.withdrawn THEN NULL
                    WHEN e.payload_stamp = {_STAMP} THEN e.payload END AS payload
        FROM sync_entries e
        JOIN visits v ON v.id = e.visit_id
        JOIN campaigns c ON c.id = v.campaign_id
        JOIN businesses b ON b.id = v.business_id
        WHERE e.courier_id = me.me AND e.seq > me.after
          -- a new phone needs no tombstones of visits it never had
          AND NOT (me.after = 0 AND e.withdrawn)
        ORDER BY e.seq
        LIMIT :limit
    ) p ON true
    ORDER BY p.seq
""")

# What the phone needs of each visit, and the payload's stamp, read in one statement. The
# business's current records in the bureaus' lists come as JSON built by the database, and
# the operator's ID number is deliberately not among their fields.
_RENDER = sa.text(f"""
    SELECT v.id AS visit_id, v.campaign_id, v.state, v.kind, v.planned_day, v.route_order,
           v.coarse_location, c.rules -> 'required_photos' AS required_photos,
           b.id AS business_id, b.origin, b.name, b.address, b.town, b.uscc,
           b.location_precision, ST_X(b.location) AS lon, ST_Y(b.location) AS lat,
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'bureau', r.bureau, 'name', r.name, 'uscc', r.uscc, 'tin', r.tin,
                       'reg_no', r.reg_no, 'address', r.address,
                       'operator', r.raw ->> 'legal_rep_name',
                       'phones', r.fields -> 'phones',
                       'status', r.reg_status, 'status_raw', r.raw ->> 'reg_status_raw',
                       'established_on', r.fields ->> 'established_on')
                       ORDER BY r.bureau DESC, r.id), '[]'::jsonb)
            FROM source_records r
            WHERE r.business_id = b.id AND r.is_current) AS registered,
           {_STAMP} AS stamp
    FROM visits v
    JOIN campaigns c ON c.id = v.campaign_id
    JOIN businesses b ON b.id = v.business_id
    WHERE v.id = ANY(:visit_ids)
""")

# Fresh payloads stored back into entries that still have the number they were read at.
_STORE = sa.text("""
    UPDATE sync_entries e SET payload = d.payload, payload_stamp = d.stamp
    FROM unnest(CAST(:visit_ids AS integer[]), CAST(:seqs AS bigint[]),
                CAST(:payloads AS text[]), CAST(:stamps AS text[]))
         AS d(visit_id, seq, payload, stamp)
    WHERE e.courier_id = :courier_id AND e.visit_id = d.visit_id AND e.seq = d.seq
      AND NOT e.withdrawn
""")


def _snapshot(row: Any, required: dict[tuple[int, str], tuple[str, ...]]) -> VisitSnapshot:
    # Stored points are WGS-84 already; the GCJ-02 copy is for the Chinese map SDKs.
    gcj = wgs84_to_gcj02(row.lon, row.lat) if row.lon is not None else (None, None)
    business = BusinessSnapshot(
        id=row.business_id,
        origin=row.origin,
        name=row.name,
        address=row.address,
        town=row.town,
        uscc=row.uscc,
        lon=row.lon,
        lat=row.lat,
        gcj02_lon=_round(gcj[0]),
        gcj02_lat=_round(gcj[1]),
        location_precision=row.location_precision,
        registered=[_record(r) for r in row.registered],
    )
    return VisitSnapshot(
        id=row.visit_id,
        campaign_id=row.campaign_id,
        state=row.state,
        kind=row.kind,
        planned_day=row.planned_day,
        route_order=row.route_order,
        coarse_location=row.coarse_location,
        required_photo_kinds=_required(required, row),
        business=business,
    )


def _required(known: dict[tuple[int, str], tuple[str, ...]], row: Any) -> tuple[str, ...]:
    # A page holds a campaign or two: their rules are read once, not once per visit.
    key = (row.campaign_id, row.kind)
    if key not in known:
        known[key] = required_photo_kinds({"required_photos": row.required_photos}, row.kind)
    return known[key]


def _round(value: float | None) -> float | None:
    # 1e-7 degrees is about a centimetre: more digits are noise on the wire.
    return None if value is None else round(value, 7)


def _record(values: dict[str, Any]) -> RegisteredRecord:
    phones = values.get("phones")
    return RegisteredRecord(
        bureau=values["bureau"],
        name=values["name"],
        uscc=values.get("uscc"),
        tin=values.get("tin"),
        reg_no=values.get("reg_no"),
        address=values.get("address"),
        operator=values.get("operator"),
        phones=[str(p) for p in phones] if isinstance(phones, list) else [],
        status=values.get("status"),
        status_raw=values.get("status_raw"),
        established_on=values.get("established_on"),
    )
