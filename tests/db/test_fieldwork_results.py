"""Submissions and uploads sent twice at the same moment, on their own connections."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.evidence.models import Photo
from fieldcheck.evidence.service import PhotoLimits, upload_photo
from fieldcheck.evidence.storage import LocalStorage
from fieldcheck.fieldwork.inputs import ResultSubmission
from fieldcheck.fieldwork.models import VisitResult
from fieldcheck.fieldwork.service import submit_result
from tests.builders import courier_user, make_courier, make_visit
from tests.photos import jpeg, new_id

LIMITS = PhotoLimits(max_bytes=15 * 1024 * 1024, max_pixels=50_000_000)


@pytest.fixture(scope="module")
def sessions(databases, template_db) -> Iterator[sessionmaker[Session]]:
    url = databases.url(databases.create("fieldwork_results", template=template_db))
    engine = make_engine(url, pool_size=8)
    yield make_session_factory(engine)
    engine.dispose()


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together; exceptions are returned, not raised."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        try:
            outcomes[i] = calls[i]()
        except Exception as exc:  # compared by the test
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_the_same_submission_sent_twice_at_once_is_stored_once(sessions):
    with sessions() as session:
        courier = make_courier(session)
        visit = make_visit(session, courier=courier)
        user = courier_user(session, courier)
        session.commit()
    submission = ResultSubmission(
        submission_id=new_id(),
        visit_id=visit.id,
        outcome="operating",
        captured_at=datetime.fromisoformat("2026-11-28T10:00+08:00"),
    )

    def send() -> int:
        with sessions() as session:
            return submit_result(session, courier_user=user, submission=submission).result.id

    outcomes = at_once([send, send, send])

    with sessions() as session:
        stored = session.scalars(
            sa.select(VisitResult.id).where(VisitResult.client_id == submission.submission_id)
        ).all()
    assert len(stored) == 1
    assert outcomes == [stored[0]] * 3


def test_the_same_photo_uploaded_twice_at_once_is_kept_once(sessions, tmp_path: Path):
    with sessions() as session:
        user = courier_user(session, make_courier(session))
        session.commit()
    storage = LocalStorage(tmp_path)
    data = jpeg()

    def send() -> int:
        with sessions() as session:
            return upload_photo(
                session,
                storage=storage,
                uploader=user,
                data=data,
                claimed_type="image/jpeg",
                limits=LIMITS,
            ).id

    outcomes = at_once([send, send])

    with sessions() as session:
        stored = session.scalars(sa.select(Photo.id).where(Photo.uploaded_by_id == user.id)).all()
    assert len(stored) == 1
    assert outcomes == [stored[0]] * 2
