"""The database connection cut while a courier's result is being written, and the database
unreachable: a 503 with Retry-After, no half-written result, and the same submission sent
again stores exactly one result with all its photo links."""

from __future__ import annotations

import dataclasses
import io
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from fieldcheck.audit.models import AuditEvent
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.dispatch.models import Visit
from fieldcheck.fieldwork import service as fieldwork_service
from fieldcheck.fieldwork.models import ResultPhoto, VisitResult
from fieldcheck.quality.models import Flag
from tests.builders import auth, courier_user, make_courier, make_visit
from tests.photos import jpeg, result_body

RESULTS = "/api/v1/courier/results"


@dataclasses.dataclass
class Live:
    client: FlaskClient
    sessions: sessionmaker[Session]
    engine: sa.Engine
    url: str


@pytest.fixture
def live(committed_database_url: str, settings: Any, redis_prefix: str) -> Iterator[Live]:
    """An app whose requests use their own pooled connections on a committed database."""
    engine = make_engine(committed_database_url)
    app = create_app(
        {
            "SETTINGS": dataclasses.replace(settings, database_url=committed_database_url),
            "ENGINE": engine,
            "RATE_LIMIT_PREFIX": redis_prefix,
            "TESTING": True,
        }
    )
    yield Live(app.test_client(), make_session_factory(engine), engine, committed_database_url)
    engine.dispose()


@pytest.fixture
def scene(live: Live) -> tuple[dict[str, str], dict[str, Any]]:
    """A courier with an assigned visit and two photos already uploaded; the result body."""
    with live.sessions() as session:
        courier = make_courier(session)
        visit = make_visit(session, courier=courier)
        headers = auth(courier_user(session, courier))
        session.commit()
    photos = [("storefront", jpeg()), ("doorplate", jpeg())]
    for _, data in photos:
        uploaded = live.client.post(
            "/api/v1/courier/photos",
            headers=headers,
            content_type="multipart/form-data",
            data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg")},
        )
        assert uploaded.status_code == 201, uploaded.json
    return headers, result_body(visit.id, photos=photos)


def terminate_backend(url: str, pid: int) -> None:
    """Cut one server connection from the outside, as a failover or a network cut does."""
    conninfo = sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)


def cut_connection_during(
    monkeypatch: pytest.MonkeyPatch, url: str, name: str
) -> list[int]:
    """Make `fieldwork.service.<name>` cut its session's connection first, once."""
    original: Callable[..., Any] = getattr(fieldwork_service, name)
    cut: list[int] = []

    def cutting(session: Session, *args: Any, **kwargs: Any) -> Any:
        if not cut:
            pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            terminate_backend(url, pid)
            cut.append(pid)
        return original(session, *args, **kwargs)

    monkeypatch.setattr(fieldwork_service, name, cutting)
    return cut


def stored(live: Live) -> dict[str, Any]:
    with live.engine.connect() as conn:

        def count(model: Any, *where: Any) -> int:
            return conn.scalar(sa.select(sa.func.count()).select_from(model).where(*where))

        return {
            "results": count(VisitResult),
            "photo_links": count(ResultPhoto),
            "linked_photos": count(ResultPhoto, ResultPhoto.photo_id.is_not(None)),
            "flags": count(Flag),
            "submitted_events": count(AuditEvent, AuditEvent.action == "result.submitted"),
            "visit_states": conn.scalars(sa.select(Visit.state)).all(),
        }


# The moments to cut: while the result's quality checks run (result and photo links
# flushed, nothing committed), and as the audit event, the last write before the commit, goes in.
@pytest.mark.parametrize("moment", ["complete_result_if_whole", "record_event"])
def test_connection_cut_while_a_result_is_written_is_a_503_and_the_retry_stores_it_once(
    live, scene, monkeypatch, moment
):
    headers, body = scene
    cut = cut_connection_during(monkeypatch, live.url, moment)

    failed = live.client.post(RESULTS, json=body, headers=headers)

    assert cut, "the connection was not cut"
    assert failed.status_code == 503, failed.json
    assert failed.mimetype == "application/problem+json"
    assert 0 < int(failed.headers["Retry-After"]) <= 60
    assert (failed.json["code"], failed.json["title"]) == (
        "database_unavailable",
        "Database unavailable",
    )
    assert failed.json["detail"].startswith("The database could not be reached or the conn")
    assert stored(live) == {
        "results": 0,
        "photo_links": 0,
        "linked_photos": 0,
        "flags": 0,
        "submitted_events": 0,
        "visit_states": ["assigned"],
    }

    monkeypatch.undo()
    retried = live.client.post(RESULTS, json=body, headers=headers)
    replayed = live.client.post(RESULTS, json=body, headers=headers)

    assert retried.status_code == 201, retried.json
    assert retried.json["status"] == "done"
    assert replayed.json["id"] == retried.json["id"]
    after = stored(live)
    assert after["visit_states"] == ["submitted"]
    assert (after["results"], after["photo_links"], after["linked_photos"]) == (1, 2, 2)
    assert after["submitted_events"] == 1


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_database_unreachable_is_a_503_quickly(settings, redis_prefix, session):
    courier = make_courier(session)
    headers = auth(courier_user(session, courier))
    url = f"postgresql+psycopg://fieldcheck@127.0.0.1:{closed_port()}/fieldcheck"
    app = create_app(
        {
            "SETTINGS": dataclasses.replace(settings, database_url=url),
            "ENGINE": make_engine(url),
            "RATE_LIMIT_PREFIX": redis_prefix,
        }
    )

    started = time.monotonic()
    response = app.test_client().post(RESULTS, json=result_body(1), headers=headers)

    assert time.monotonic() - started < 5
    assert response.status_code == 503
    assert response.json["code"] == "database_unavailable"
    assert int(response.headers["Retry-After"]) > 0
