"""The photo bucket refusing, failing or hanging during an upload: the courier gets a 503
with Retry-After, no photo row points at missing bytes, and the same upload sent again once
the bucket is back keeps exactly one photo. S3 is moto's server behind a fault proxy."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from fieldcheck.evidence.models import Photo, PhotoUpload
from fieldcheck.evidence.storage import S3Storage, key_for, make_s3_client
from tests.builders import auth, courier_user, make_courier
from tests.faults.proxy import HTTP_503, PASS, REFUSE, STALL, FaultProxy, fault_proxy
from tests.photos import jpeg, sha256

REGION = "us-east-1"
PREFIX = "evidence"
# What a courier may have to wait for, at most, before a 503: two attempts of a second each.
MAX_WAIT_S = 8


pytestmark = pytest.mark.usefixtures("aws_test_credentials")


@pytest.fixture(scope="module")
def direct_client(s3_server: str) -> Any:
    """A client straight to moto, to look into the bucket behind the app's back."""
    return make_s3_client(endpoint_url=s3_server, region=REGION)


@pytest.fixture
def proxy(s3_server: str) -> Iterator[FaultProxy]:
    with fault_proxy(s3_server) as proxy:
        yield proxy


@pytest.fixture
def bucket(direct_client: Any) -> str:
    name = f"photos-{uuid.uuid4().hex[:12]}"
    direct_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def storage(app, proxy: FaultProxy, bucket: str) -> S3Storage:
    """The app's photo store: the bucket through the proxy, with short timeouts."""
    client = make_s3_client(
        endpoint_url=proxy.url, region=REGION, connect_timeout=1, read_timeout=1, max_attempts=2
    )
    storage = S3Storage(bucket, PREFIX, client=client)
    app.extensions["fieldcheck"].storage = storage
    return storage


@pytest.fixture
def headers(session) -> dict[str, str]:
    return auth(courier_user(session, make_courier(session)))


def post_photo(client, headers, data: bytes):
    return client.post(
        "/api/v1/courier/photos",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg"), "sha256": sha256(data)},
    )


def objects(direct_client: Any, bucket: str) -> list[str]:
    listing = direct_client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def photo_rows(session) -> list[Photo]:
    return list(session.scalars(sa.select(Photo)))


def assert_retryable_503(response, reason: str) -> None:
    assert response.status_code == 503, response.json
    assert response.mimetype == "application/problem+json"
    assert 0 < int(response.headers["Retry-After"]) <= 300
    body = response.json
    assert (body["code"], body["reason"], body["title"]) == (
        "storage_unavailable",
        reason,
        "Photo storage unavailable",
    )
    assert body["detail"].endswith("The photo was not kept. Try again later.")


@pytest.mark.parametrize(
    ("mode", "reason"),
    [(REFUSE, "unreachable"), (HTTP_503, "error"), (STALL, "timeout")],
    ids=["connection-refused", "bucket-answers-503", "bucket-never-answers"],
)
def test_upload_while_the_bucket_fails_is_a_503_and_the_retry_keeps_one_photo(
    client, session, headers, storage, proxy, bucket, direct_client, mode, reason
):
    data = jpeg()
    proxy.set_mode(mode)

    started = time.monotonic()
    failed = post_photo(client, headers, data)
    waited = time.monotonic() - started

    assert_retryable_503(failed, reason)
    assert waited < MAX_WAIT_S
    assert photo_rows(session) == []
    assert objects(direct_client, bucket) == []

    proxy.set_mode(PASS)
    retried = post_photo(client, headers, data)
    again = post_photo(client, headers, data)

    assert (retried.status_code, again.json["id"]) == (201, retried.json["id"])
    [photo] = photo_rows(session)
    assert photo.sha256 == sha256(data)
    assert objects(direct_client, bucket) == sorted(
        [f"{PREFIX}/{photo.storage_key}", f"{PREFIX}/{photo.thumbnail_key}"]
    )
    assert storage.get(photo.storage_key) == data


def test_bucket_lost_between_the_original_and_its_thumbnail_keeps_no_row(
    client, session, headers, storage, proxy, bucket, direct_client
):
    data = jpeg()
    real_put = storage.put
    puts: list[str] = []

    def put_then_lose_the_bucket(key: str, body: bytes, content_type: str) -> None:
        if len(puts) == 1:  # the original is in, the thumbnail comes next
            proxy.set_mode(REFUSE)
        puts.append(key)
        real_put(key, body, content_type)

    storage.put = put_then_lose_the_bucket  # type: ignore[method-assign]
    failed = post_photo(client, headers, data)

    assert_retryable_503(failed, "unreachable")
    assert photo_rows(session) == []
    # The original landed; without a row it is only bytes, rewritten by the retry.
    assert objects(direct_client, bucket) == [f"{PREFIX}/{key_for(sha256(data), '.jpg')}"]

    proxy.set_mode(PASS)
    retried = post_photo(client, headers, data)

    assert retried.status_code == 201
    [photo] = photo_rows(session)
    assert len(objects(direct_client, bucket)) == 2
    assert storage.get(photo.thumbnail_key)[:2] == b"\xff\xd8"


def test_completing_a_direct_upload_while_the_bucket_hangs_is_a_503_and_the_retry_completes(
    client, session, headers, storage, proxy
):
    data = jpeg()
    started = client.post(
        "/api/v1/courier/photo-uploads",
        headers=headers,
        json={"sha256": sha256(data), "content_type": "image/jpeg", "size_bytes": len(data)},
    ).json
    form = started["upload"]
    sent = requests.post(
        form["url"], data=form["fields"], files={"file": ("p.jpg", data, "image/jpeg")}, timeout=10
    )
    assert sent.status_code == 204
    complete = f"/api/v1/courier/photo-uploads/{started['id']}/complete"

    proxy.set_mode(STALL)
    failed = client.post(complete, headers=headers)

    assert failed.status_code == 503
    assert (failed.json["code"], failed.json["reason"]) == ("storage_unavailable", "timeout")
    assert "Retry-After" in failed.headers
    assert photo_rows(session) == []
    upload = session.get(PhotoUpload, uuid.UUID(started["id"]))
    assert (upload.completed_at, upload.photo_id) == (None, None)

    proxy.set_mode(PASS)
    completed = client.post(complete, headers=headers)

    assert completed.status_code == 201, completed.json
    [photo] = photo_rows(session)
    assert completed.json["id"] == photo.id
    assert storage.get(photo.storage_key) == data
