"""The phone's round trip over real HTTP: sync, upload, submit, and retries after answers
lost and uploads cut off on the way."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.serving import make_server

from api.app import create_app
from fieldcheck.config import Settings
from fieldcheck.db import make_engine, make_session_factory
from fieldcheck.evidence.models import Photo
from fieldcheck.fieldwork.models import Discovery, VisitResult
from fieldcheck.registry.models import Business
from tests.builders import TEST_SECRET, auth, courier_user, make_courier, make_visit
from tests.photos import jpeg, result_body, sha256

pytestmark = pytest.mark.e2e


@dataclass
class Server:
    base: str
    sessions: sessionmaker[Session]


@pytest.fixture(scope="module")
def server(databases, template_db, redis_url, tmp_path_factory) -> Iterator[Server]:
    """The app on a free loopback port, on a committed database of its own."""
    url = databases.url(databases.create("fieldwork_e2e", template=template_db))
    instance: Path = tmp_path_factory.mktemp("instance")
    settings = Settings.from_env(
        {},
        mode="test",
        database_url=url,
        redis_url=redis_url,
        secret_key=TEST_SECRET,
        instance_dir=instance,
        storage_url=str(instance / "photos"),
    )
    app = create_app({"SETTINGS": settings, "RATE_LIMIT_PREFIX": f"fce2e:{id(settings)}:"})
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    engine = make_engine(url)
    try:
        yield Server(f"http://127.0.0.1:{http.server_port}", make_session_factory(engine))
    finally:
        http.shutdown()
        thread.join(timeout=10)
        engine.dispose()


@dataclass
class Phone:
    headers: dict[str, str]
    visit_ids: list[int]


@pytest.fixture
def phone(server: Server) -> Phone:
    with server.sessions() as session:
        courier = make_courier(session)
        visits = [make_visit(session, courier=courier, route_order=i) for i in range(2)]
        headers = auth(courier_user(session, courier))
        session.commit()
        return Phone(headers, [v.id for v in visits])


def upload(server: Server, phone: Phone, data: bytes) -> requests.Response:
    return requests.post(
        f"{server.base}/api/v1/courier/photos",
        headers=phone.headers,
        files={"file": ("photo.jpg", data, "image/jpeg")},
        data={"sha256": sha256(data)},
        timeout=30,
    )


def count(server: Server, query: sa.Select) -> int:
    with server.sessions() as session:
        return session.scalar(query)


def send_and_hang_up(
    server: Server,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    *,
    cut_after: int | None = None,
    read_answer: bool = False,
) -> None:
    """Send a request on a raw socket, then close without reading the answer (a phone whose
    signal drops); with `cut_after`, stop sending the body after that many bytes."""
    address = urlsplit(server.base)
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {address.netloc}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in headers.items()),
        "",
        "",
    ]
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall("\r\n".join(lines).encode() + body[:cut_after])
        if read_answer:
            sock.recv(1)  # wait until the server has handled it, then drop the line


def test_phone_syncs_uploads_submits_and_retries_over_http(server, phone):
    sync = requests.get(f"{server.base}/api/v1/courier/sync", headers=phone.headers, timeout=10)
    storefront, doorplate = jpeg(), jpeg()
    uploads = [upload(server, phone, data) for data in (storefront, doorplate, storefront)]
    body = result_body(
        phone.visit_ids[0], photos=[("storefront", storefront), ("doorplate", doorplate)]
    )
    submitted = requests.post(
        f"{server.base}/api/v1/courier/results", json=body, headers=phone.headers, timeout=10
    )
    resent = requests.post(
        f"{server.base}/api/v1/courier/results", json=body, headers=phone.headers, timeout=10
    )
    later = requests.get(
        f"{server.base}/api/v1/courier/sync",
        headers=phone.headers,
        params={"cursor": sync.json()["cursor"]},
        timeout=10,
    )

    assert sync.status_code == 200
    assert [i["visit_id"] for i in sync.json()["items"]] == phone.visit_ids
    assert [u.status_code for u in uploads] == [201, 201, 201]
    assert uploads[2].json() == uploads[0].json()
    assert (submitted.status_code, submitted.json()["status"]) == (201, "done")
    assert (resent.status_code, resent.json()) == (201, submitted.json())
    assert [(i["visit_id"], i["visit"]["state"]) for i in later.json()["items"]] == [
        (phone.visit_ids[0], "submitted")
    ]
    assert (
        count(
            server,
            sa.select(sa.func.count())
            .select_from(VisitResult)
            .where(VisitResult.client_id == body["submission_id"]),
        )
        == 1
    )


def test_submission_whose_answer_was_lost_is_stored_once_when_resent(server, phone):
    body = result_body(phone.visit_ids[1])
    payload = json.dumps(body).encode()
    send_and_hang_up(
        server,
        "POST",
        "/api/v1/courier/results",
        {**phone.headers, "Content-Type": "application/json"},
        payload,
        read_answer=True,
    )

    resent = requests.post(
        f"{server.base}/api/v1/courier/results", json=body, headers=phone.headers, timeout=10
    )

    assert (resent.status_code, resent.json()["submission_id"]) == (201, body["submission_id"])
    assert (
        count(
            server,
            sa.select(sa.func.count())
            .select_from(VisitResult)
            .where(VisitResult.client_id == body["submission_id"]),
        )
        == 1
    )


def test_upload_cut_off_half_way_stores_nothing_and_the_resend_succeeds(server, phone):
    data = jpeg()
    prepared = requests.Request(
        "POST",
        f"{server.base}/api/v1/courier/photos",
        headers=phone.headers,
        files={"file": ("photo.jpg", data, "image/jpeg")},
    ).prepare()
    send_and_hang_up(
        server,
        "POST",
        "/api/v1/courier/photos",
        {**phone.headers, "Content-Type": prepared.headers["Content-Type"]},
        prepared.body,
        cut_after=len(prepared.body) // 2,
    )
    time.sleep(0.3)  # let the server notice the hang-up
    kept_before = count(
        server, sa.select(sa.func.count()).select_from(Photo).where(Photo.sha256 == sha256(data))
    )

    resent = upload(server, phone, data)

    assert kept_before == 0
    assert (resent.status_code, resent.json()["sha256"]) == (201, sha256(data))


def post_at_once(url: str, headers: dict[str, str], body: dict, times: int) -> list:
    """The same POST sent `times` times at the same moment (a phone retrying eagerly)."""
    barrier = threading.Barrier(times)
    answers: list = [None] * times

    def send(i: int) -> None:
        barrier.wait()
        answers[i] = requests.post(url, json=body, headers=headers, timeout=30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_discovery_sent_at_once_with_one_idempotency_key_is_stored_once(server, phone):
    key = str(uuid.uuid4())
    body = {
        "name": "无名早餐店",
        "address": "永康市西城街道城西新区9号",
        "captured_at": "2026-11-28T07:30:00+08:00",
        "position": {"lon": 120.01, "lat": 28.88, "accuracy_m": 9},
    }

    answers = post_at_once(
        f"{server.base}/api/v1/courier/discoveries",
        {**phone.headers, "Idempotency-Key": key},
        body,
        times=4,
    )

    assert [a.status_code for a in answers] == [201] * 4
    assert all(a.json() == answers[0].json() for a in answers)
    stored = sa.select(sa.func.count()).select_from(Discovery).where(Discovery.client_id == key)
    businesses = (
        sa.select(sa.func.count()).select_from(Business).where(Business.name == "无名早餐店")
    )
    assert (count(server, stored), count(server, businesses)) == (1, 1)


def test_result_sent_at_once_with_one_idempotency_key_is_stored_once(server, phone):
    key = str(uuid.uuid4())
    body = result_body(phone.visit_ids[0])
    del body["submission_id"]

    answers = post_at_once(
        f"{server.base}/api/v1/courier/results",
        {**phone.headers, "Idempotency-Key": key},
        body,
        times=4,
    )

    assert [a.status_code for a in answers] == [201] * 4
    assert all(a.json() == answers[0].json() for a in answers)
    assert answers[0].json()["submission_id"] == key
    stored = sa.select(sa.func.count()).select_from(VisitResult).where(VisitResult.client_id == key)
    assert count(server, stored) == 1
