"""Stored sync payloads: a page serves them while the rows they were rendered from are
unchanged, and renders afresh (and stores back) once anything changed them, whatever code
path made the change and however transactions interleave."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from geoalchemy2 import WKTElement
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.auth.models import User
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.dispatch.models import Campaign, Visit
from fieldcheck.fieldwork.models import SyncEntry
from fieldcheck.fieldwork.sync import pull_changes, record_visit_change, render_payloads
from fieldcheck.registry.businesses import merge_businesses, split_business
from fieldcheck.registry.models import Business, SourceRecord
from tests.builders import (
    courier_user,
    make_business,
    make_courier,
    make_source_record,
    make_visit,
)


def stored(session: Session, visit: Visit) -> SyncEntry:
    session.expire_all()
    entry = session.get(SyncEntry, (visit.courier_id, visit.id))
    assert entry is not None
    return entry


def first_sync(session: Session, user: User) -> dict[int, SimpleNamespace]:
    """The visits a new phone gets, by id."""
    page = pull_changes(session, courier_user=user, after=None, limit=500)
    assert not page.has_more
    return {item.visit_id: item.visit for item in page.items if item.visit is not None}


@pytest.fixture
def synced(session: Session) -> tuple[User, Visit, Business]:
    """A courier's visit of a business with one tax record, synced once (payload stored)."""
    courier = make_courier(session)
    business = make_business(session, name="永康市古山胜利五金经营部")
    make_source_record(session, business, operator="张三")
    visit = make_visit(session, courier=courier, business=business)
    user = courier_user(session, courier)
    session.commit()
    first_sync(session, user)
    return user, visit, business


def test_a_numbered_entry_stores_what_a_fresh_render_gives_and_a_page_serves_it(session):
    courier = make_courier(session)
    visit = make_visit(session, courier=courier, route_order=7)
    session.commit()

    entry = stored(session, visit)
    [item] = pull_changes(session, courier_user=courier_user(session, courier), after=None).items

    assert entry.payload is not None
    assert entry.payload == render_payloads(session, [visit.id])[visit.id][0]
    assert item.payload == entry.payload and item.visit.route_order == 7


def test_a_business_changed_without_a_feed_entry_is_served_as_it_is_now(session, synced):
    user, visit, business = synced
    session.execute(
        sa.update(Business)
        .where(Business.id == business.id)
        .values(name="永康市古山胜利五金商行", location=WKTElement("POINT(120.1 28.9)", srid=4326))
    )
    session.commit()

    served = first_sync(session, user)[visit.id].business

    assert (served.name, served.location.wgs84.lon) == ("永康市古山胜利五金商行", 120.1)
    assert "永康市古山胜利五金商行" in (stored(session, visit).payload or "")  # stored back
    assert first_sync(session, user)[visit.id].business.name == "永康市古山胜利五金商行"


def test_records_reimported_added_or_retired_are_served_as_they_are_now(session, synced):
    user, visit, business = synced
    [record] = session.scalars(
        sa.select(SourceRecord).where(SourceRecord.business_id == business.id)
    )
    session.execute(
        sa.update(SourceRecord)
        .where(SourceRecord.id == record.id)
        .values(raw={"legal_rep_name": "王五", "reg_status_raw": "正常"})
    )
    session.commit()
    assert [r.operator for r in first_sync(session, user)[visit.id].business.registered] == ["王五"]

    make_source_record(session, business, bureau="commerce", operator="赵六")
    session.commit()
    assert [r.bureau for r in first_sync(session, user)[visit.id].business.registered] == [
        "tax",
        "commerce",
    ]

    session.execute(
        sa.update(SourceRecord)
        .where(SourceRecord.business_id == business.id)
        .values(is_current=False)
    )
    session.commit()
    assert first_sync(session, user)[visit.id].business.registered == []


def test_campaign_rules_changed_are_served_as_they_are_now(session, synced):
    user, visit, _ = synced
    session.execute(
        sa.update(Campaign)
        .where(Campaign.id == visit.campaign_id)
        .values(rules={"required_photos": ["licence"]})
    )
    session.commit()

    assert first_sync(session, user)[visit.id].required_photo_kinds == ["licence"]


def test_a_visit_changed_again_after_its_entry_was_numbered_in_the_same_transaction(session):
    courier = make_courier(session)
    visit = make_visit(session, courier=courier, route_order=1)  # numbered right away
    visit.route_order = 2  # same transaction, not recorded again
    session.flush()

    served = first_sync(session, courier_user(session, courier))

    assert served[visit.id].route_order == 2


def test_a_merge_sends_the_kept_business_its_new_records(session, synced):
    user, visit, business = synced
    other = make_business(session, name="永康市古山胜利五金经营部（重复）")
    make_source_record(session, other, bureau="commerce", operator="李四")
    session.commit()

    merge_businesses(session, business_ids=[business.id, other.id], actor_id=None)

    registered = first_sync(session, user)[visit.id].business.registered
    assert [(r.bureau, r.operator) for r in registered] == [("tax", "张三"), ("commerce", "李四")]


def test_a_phone_already_synced_gets_the_visit_again_after_a_merge_and_a_split(session, synced):
    user, visit, business = synced
    cursor = pull_changes(session, courier_user=user, after=None, limit=500).last_seq
    other = make_business(session, name="永康市古山胜利五金经营部（重复）")
    make_source_record(session, other, bureau="commerce", operator="李四")
    session.commit()

    merge_businesses(session, business_ids=[business.id, other.id], actor_id=None)
    merged = pull_changes(session, courier_user=user, after=cursor, limit=500)
    assert [item.visit_id for item in merged.items] == [visit.id]
    assert len(merged.items[0].visit.business.registered) == 2

    commerce = session.scalar(
        sa.select(SourceRecord.id).where(
            SourceRecord.business_id == business.id, SourceRecord.bureau == "commerce"
        )
    )
    split_business(session, business_id=business.id, record_ids=[commerce], actor_id=None)
    split = pull_changes(session, courier_user=user, after=merged.last_seq, limit=500)
    assert [item.visit_id for item in split.items] == [visit.id]
    assert [r.operator for r in split.items[0].visit.business.registered] == ["张三"]


# --- across transactions -------------------------------------------------------------------


@pytest.fixture
def sessions(committed_database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(committed_database_url, pool_size=4)
    yield make_session_factory(engine)
    engine.dispose()


def test_a_business_change_committed_after_the_entry_was_rendered_is_not_missed(sessions):
    """The entry is numbered (and its payload rendered) while another transaction holds an
    uncommitted change of the business, which commits last: the old payload must not stay."""
    with sessions() as session:
        courier = make_courier(session)
        visit = make_visit(session, courier=courier)
        user = courier_user(session, courier)
        business_id, visit_id = visit.business_id, visit.id
        session.commit()

    renaming, numbering = sessions(), sessions()
    renaming.execute(
        sa.update(Business).where(Business.id == business_id).values(name="改名后的五金店")
    )
    moved = numbering.get(Visit, visit_id)
    assert moved is not None
    moved.route_order = 5
    record_visit_change(numbering, moved, previous_courier_id=moved.courier_id)
    numbering.commit()  # renders the payload with the old name
    renaming.commit()
    renaming.close()
    numbering.close()

    with sessions() as session:
        served = first_sync(session, user)[visit_id]

    assert (served.route_order, served.business.name) == (5, "改名后的五金店")
