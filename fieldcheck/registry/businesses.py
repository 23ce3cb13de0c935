"""Businesses as the administrator sees them: listing with their records, merge and split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.audit.service import record_event
from fieldcheck.dispatch.models import Visit
from fieldcheck.errors import ConflictError, NotFoundError, ValidationError
from fieldcheck.fieldwork.sync import record_business_change, record_visit_change
from fieldcheck.registry.models import Business, SourceRecord

__all__ = ["Business", "BusinessFilter", "BusinessView"]


@dataclass(frozen=True)
class BusinessFilter:
    town: str | None = None
    link_reason: str | None = None
    location_precision: str | None = None


@dataclass
class BusinessView:
    """A business with its current source records and its point."""

    business: Business
    records: list[SourceRecord] = field(default_factory=list)
    lon: float | None = None
    lat: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.business, name)


def _views(session: Session, businesses: list[Business]) -> list[BusinessView]:
    if not businesses:
        return []
    ids = [b.id for b in businesses]
    records: dict[int, list[SourceRecord]] = {i: [] for i in ids}
    for record in session.scalars(
        sa.select(SourceRecord)
        .where(SourceRecord.business_id.in_(ids), SourceRecord.is_current)
        .order_by(SourceRecord.bureau.desc(), SourceRecord.id)
    ):
        records[record.business_id].append(record)  # type: ignore[index]
    points = dict.fromkeys(ids, (None, None))
    for row in session.execute(
        sa.select(
            Business.id, sa.func.ST_X(Business.location), sa.func.ST_Y(Business.location)
        ).where(Business.id.in_(ids), Business.location.is_not(None))
    ):
        points[row[0]] = (row[1], row[2])
    return [BusinessView(b, records[b.id], *points[b.id]) for b in businesses]


def business_query(filters: BusinessFilter) -> sa.Select[tuple[Business]]:
    query = sa.select(Business)
    if filters.town:
        query = query.where(Business.town == filters.town)
    if filters.location_precision:
        query = query.where(Business.location_precision == filters.location_precision)
    if filters.link_reason:
        query = query.where(
            sa.exists().where(
                SourceRecord.business_id == Business.id,
                SourceRecord.is_current,
                SourceRecord.link_reason == filters.link_reason,
            )
        )
    return query


def list_business_views(session: Session, businesses: list[Business]) -> list[BusinessView]:
    return _views(session, businesses)


def get_business_or_raise(session: Session, business_id: int) -> BusinessView:
    business = session.get(Business, business_id)
    if business is None:
        raise NotFoundError(f"business {business_id} not found")
    return _views(session, [business])[0]


def merge_businesses(
    session: Session, *, business_ids: list[int], actor_id: int | None, reason: str | None = None
) -> BusinessView:
    """Merge businesses into the oldest of them: records and visits move, the others go."""
    ids = sorted(set(business_ids))
    if len(ids) < 2:
        raise ValidationError(
            "name at least two businesses to merge",
            errors={"business_ids": ["At least two different ids."]},
        )
    found = list(session.scalars(sa.select(Business).where(Business.id.in_(ids)).with_for_update()))
    missing = set(ids) - {b.id for b in found}
    if missing:
        raise NotFoundError(f"businesses not found: {', '.join(map(str, sorted(missing)))}")
    codes = {b.uscc for b in found if b.uscc}
    if len(codes) > 1:
        raise ConflictError(
            f"these businesses carry different credit codes ({', '.join(sorted(codes))}); "
            "a merge would hide a duplicate registration the bureaus must decide on"
        )
    keep, others = ids[0], ids[1:]
    moved = session.execute(
        sa.update(SourceRecord)
        .where(SourceRecord.business_id.in_(others))
        .values(business_id=keep, link_reason="manual_merge", link_score=1.0)
    ).rowcount
    # Through the ORM, so that each moved visit reaches its courier's phone at the next sync.
    for visit in session.scalars(sa.select(Visit).where(Visit.business_id.in_(others))):
        visit.business_id = keep
        record_visit_change(session, visit, previous_courier_id=visit.courier_id)
    # The kept business's own visits now show the merged records too.
    record_business_change(session, [keep])
    kept = next(b for b in found if b.id == keep)
    if not kept.uscc and codes:
        kept.uscc = codes.pop()
    session.execute(sa.delete(Business).where(Business.id.in_(others)))
    record_event(
        session,
        action="business.merged",
        actor_id=actor_id,
        object_type="business",
        object_id=keep,
        details={"merged": others, "records_moved": moved, "reason": reason},
    )
    session.commit()
    return get_business_or_raise(session, keep)


def split_business(
    session: Session,
    *,
    business_id: int,
    record_ids: list[int],
    actor_id: int | None,
    reason: str | None = None,
) -> BusinessView:
    """Move some records of a business to a new business of their own."""
    business = session.get(Business, business_id, with_for_update=True)
    if business is None:
        raise NotFoundError(f"business {business_id} not found")
    records = list(
        session.scalars(
            sa.select(SourceRecord).where(
                SourceRecord.business_id == business_id, SourceRecord.is_current
            )
        )
    )
    chosen = [r for r in records if r.id in set(record_ids)]
    strangers = set(record_ids) - {r.id for r in chosen}
    if strangers:
        raise ValidationError(
            "records not in this business",
            errors={
                "record_ids": [
                    f"Not current records of business {business_id}: "
                    f"{', '.join(map(str, sorted(strangers)))}."
                ]
            },
        )
    if not chosen or len(chosen) == len(records):
        raise ValidationError(
            "a split keeps at least one record on each side",
            errors={"record_ids": ["Name some, not all, of the business's records."]},
        )
    first = chosen[0]
    new = Business(
        origin="registry",
        name=first.name,
        address=first.address,
        town=first.town,
        uscc=first.uscc if first.uscc and first.uscc != business.uscc else None,
        location=business.location,
        location_precision=business.location_precision,
        location_source=business.location_source,
    )
    session.add(new)
    session.flush()
    for record in chosen:
        record.business_id = new.id
        record.link_reason = "manual_split"
        record.link_score = 1.0
    # The business's visits no longer show the records split off.
    record_business_change(session, [business_id])
    record_event(
        session,
        action="business.split",
        actor_id=actor_id,
        object_type="business",
        object_id=business_id,
        details={"new_business": new.id, "records": [r.id for r in chosen], "reason": reason},
    )
    session.commit()
    return get_business_or_raise(session, new.id)
