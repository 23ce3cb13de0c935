"""The sync feed under real concurrency: transactions on their own connections, committing
in any order, while a phone pages through its feed."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.auth.models import User
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.dispatch.models import Visit
from fieldcheck.fieldwork.models import SyncEntry, SyncHead
from fieldcheck.fieldwork.sync import pull_changes, record_visit_change
from tests.builders import courier_user, make_campaign, make_courier, make_visit


@pytest.fixture(scope="module")
def sessions(databases, template_db) -> Iterator[sessionmaker[Session]]:
    """A committed database shared by the module; every test makes couriers of its own."""
    url = databases.url(databases.create("fieldwork_sync", template=template_db))
    engine = make_engine(url, pool_size=8)
    yield make_session_factory(engine)
    engine.dispose()


@dataclass
class Feed:
    user: User
    courier_id: int
    other_courier_id: int
    visit_ids: list[int]


@pytest.fixture
def feed(sessions: sessionmaker[Session]) -> Feed:
    with sessions() as session:
        courier, other = make_courier(session), make_courier(session)
        campaign = make_campaign(session)
        visits = [
            make_visit(session, courier=courier, campaign=campaign, route_order=0) for _ in range(6)
        ]
        user = courier_user(session, courier)
        session.commit()
        return Feed(user, courier.id, other.id, [v.id for v in visits])


def bump(session: Session, visit_id: int) -> None:
    """Change a visit's route order and record the change, as dispatch does."""
    visit = session.get(Visit, visit_id, with_for_update=True)
    assert visit is not None
    visit.route_order = (visit.route_order or 0) + 1
    record_visit_change(session, visit, previous_courier_id=visit.courier_id)
    session.flush()


def pull_all(
    sessions: sessionmaker[Session], user: User, after: int | None, limit: int = 100
) -> tuple[list[tuple[int, int | None]], int]:
    """(visit id, route order) of every item from `after` to the end, and the last number."""
    seen = []
    with sessions() as session:
        while True:
            page = pull_changes(session, courier_user=user, after=after, limit=limit)
            seen += [(i.visit_id, i.visit.route_order if i.visit else None) for i in page.items]
            after = page.last_seq
            if not page.has_more:
                return seen, after


def test_change_that_commits_after_a_later_one_is_not_missed(sessions, feed):
    _, cursor = pull_all(sessions, feed.user, None)
    early, late = sessions(), sessions()
    bump(early, feed.visit_ids[0])  # begins first, commits last
    bump(late, feed.visit_ids[1])
    late.commit()

    first, cursor = pull_all(sessions, feed.user, cursor)
    early.commit()
    second, _ = pull_all(sessions, feed.user, cursor)

    assert (first, second) == ([(feed.visit_ids[1], 1)], [(feed.visit_ids[0], 1)])
    early.close()
    late.close()


def test_a_change_does_not_wait_for_another_open_transaction_of_the_same_courier(sessions, feed):
    open_one, other = sessions(), sessions()
    bump(open_one, feed.visit_ids[0])
    other.execute(sa.text("SET LOCAL lock_timeout = '2s'"))

    bump(other, feed.visit_ids[1])
    other.commit()  # would raise LockNotAvailable if the feed were locked before commit

    open_one.rollback()
    open_one.close()
    other.close()


def test_rolled_back_change_leaves_no_trace_in_the_feed(sessions, feed):
    _, cursor = pull_all(sessions, feed.user, None)
    with sessions() as session:
        bump(session, feed.visit_ids[0])
        session.rollback()
        bump(session, feed.visit_ids[1])
        session.commit()

    changes, _ = pull_all(sessions, feed.user, cursor)

    assert changes == [(feed.visit_ids[1], 1)]


def test_visit_never_shown_to_a_courier_leaves_nothing_in_their_feed(sessions, feed):
    with sessions() as session:
        visit = make_visit(session, courier=None, campaign=make_campaign(session), state="planned")
        visit.courier_id = feed.other_courier_id  # drafted for the other courier, not shown
        record_visit_change(session, visit)
        session.commit()
        previous = visit.courier_id
        visit.courier_id, visit.state = feed.courier_id, "assigned"
        record_visit_change(session, visit, previous_courier_id=previous)
        session.commit()
        entries = session.execute(
            sa.select(SyncEntry.courier_id, SyncEntry.withdrawn).where(
                SyncEntry.visit_id == visit.id
            )
        ).all()

    assert entries == [(feed.courier_id, False)]


def test_feed_numbers_of_one_courier_are_unique_and_end_at_the_head(sessions, feed):
    with sessions() as session:
        for visit_id in feed.visit_ids:
            bump(session, visit_id)
        session.commit()
        numbers = session.scalars(
            sa.select(SyncEntry.seq).where(SyncEntry.courier_id == feed.courier_id)
        ).all()
        head = session.get(SyncHead, feed.courier_id)

    assert len(set(numbers)) == len(feed.visit_ids)
    assert head is not None and max(numbers) == head.seq


def test_concurrent_writers_and_a_paging_phone_end_up_agreeing(sessions, feed):
    """Writers commit overlapping transactions in random order while the phone pages with a
    small page size; the phone must end with every visit's last state, and never see a
    visit go back to an older state."""
    rnd = random.Random(20261129)
    plans = [
        [sorted(rnd.sample(feed.visit_ids, rnd.randint(1, 3))) for _ in range(12)] for _ in range(4)
    ]
    errors: list[BaseException] = []
    writers_done = threading.Event()

    def write(plan: list[list[int]], seed: int) -> None:
        pause = random.Random(seed)
        try:
            for visit_ids in plan:
                with sessions() as session:
                    for visit_id in visit_ids:
                        bump(session, visit_id)
                    time.sleep(pause.uniform(0, 0.02))  # hold the transaction open a while
                    session.commit()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    replica: dict[int, int | None] = {}
    regressions: list[tuple[int, int | None, int | None]] = []

    def read() -> None:
        after = None
        try:
            while True:
                finished = writers_done.is_set()
                changes, after = pull_all(sessions, feed.user, after, limit=2)
                for visit_id, order in changes:
                    if visit_id in replica and (order or 0) <= (replica[visit_id] or 0):
                        regressions.append((visit_id, replica[visit_id], order))
                    replica[visit_id] = order
                if finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(plan, i)) for i, plan in enumerate(plans)]
    reader = threading.Thread(target=read)
    reader.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writers_done.set()
    reader.join()

    with sessions() as session:
        truth = dict(
            session.execute(
                sa.select(Visit.id, Visit.route_order).where(Visit.id.in_(feed.visit_ids))
            ).all()
        )
    assert errors == []
    assert regressions == []
    assert replica == truth


def test_changes_are_numbered_at_the_commit_not_at_a_savepoint(sessions, feed):
    with sessions() as session:
        bump(session, feed.visit_ids[0])
        with session.begin_nested():
            pass
        head_inside = session.scalar(
            sa.select(SyncHead.seq).where(SyncHead.courier_id == feed.courier_id)
        )
        session.commit()
        head_after = session.scalar(
            sa.select(SyncHead.seq).where(SyncHead.courier_id == feed.courier_id)
        )

    assert head_after == head_inside + 1
