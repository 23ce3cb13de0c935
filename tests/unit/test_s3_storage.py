"""S3 photo storage against moto's S3 server over real HTTP."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fieldcheck.errors import NotFoundError
from fieldcheck.evidence.storage import (
    PhotoStorage,
    S3Storage,
    StorageUnavailableError,
    key_for,
    make_s3_client,
    storage_from_url,
)

REGION = "us-east-1"
PHOTO = b"\xff\xd8\xff\xe0 not really a jpeg, but bytes are bytes"
KEY = key_for("ab" * 32, ".jpg")


pytestmark = pytest.mark.usefixtures("aws_test_credentials")


@pytest.fixture(scope="module")
def s3_client(s3_server: str) -> Any:
    """One client for the module, as in production: building one takes ~0.1 s."""
    return make_s3_client(endpoint_url=s3_server, region=REGION)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"photos-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def storage(s3_client: Any, bucket: str) -> S3Storage:
    return S3Storage(bucket, "evidence", client=s3_client)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_endpoint() -> Iterator[str]:
    """An endpoint that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    listener.close()


def test_s3_storage_is_a_photo_storage(storage: S3Storage) -> None:
    assert isinstance(storage, PhotoStorage)


def test_put_then_get_returns_the_bytes(storage: S3Storage) -> None:
    storage.put(KEY, PHOTO, "image/jpeg")

    assert storage.get(KEY) == PHOTO


def test_put_stores_a_private_object_under_the_prefix_with_its_content_type(
    storage: S3Storage, bucket: str
) -> None:
    storage.put(KEY, PHOTO, "image/jpeg")

    head = storage.client.head_object(Bucket=bucket, Key=f"evidence/{KEY}")
    assert head["ContentType"] == "image/jpeg"
    assert head["ContentLength"] == len(PHOTO)
    grants = storage.client.get_object_acl(Bucket=bucket, Key=f"evidence/{KEY}")["Grants"]
    assert [grant["Permission"] for grant in grants] == ["FULL_CONTROL"]


def test_exists_follows_put_and_delete(storage: S3Storage) -> None:
    assert storage.exists(KEY) is False
    storage.put(KEY, PHOTO, "image/jpeg")
    assert storage.exists(KEY) is True
    storage.delete(KEY)
    assert storage.exists(KEY) is False


def test_get_missing_key_raises_not_found(storage: S3Storage) -> None:
    with pytest.raises(NotFoundError):
        storage.get(KEY)


def test_delete_missing_key_is_harmless(storage: S3Storage) -> None:
    storage.delete(KEY)

    assert storage.exists(KEY) is False


def test_presigned_get_url_downloads_the_bytes_without_credentials(storage: S3Storage) -> None:
    storage.put(KEY, PHOTO, "image/jpeg")

    url = storage.presigned_get_url(KEY, 60)

    assert url is not None
    assert "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read() == PHOTO


def test_presigned_post_upload_lands_the_object(storage: S3Storage) -> None:
    upload = storage.presigned_put(KEY, "image/jpeg", 300, 1_000_000)

    assert upload is not None
    assert upload["method"] == "POST"
    response = requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("storefront.jpg", PHOTO, "image/jpeg")},
        timeout=5,
    )
    assert response.status_code == 204, response.text
    assert storage.get(KEY) == PHOTO


def test_presigned_post_policy_caps_size_and_content_type(storage: S3Storage) -> None:
    upload = storage.presigned_put(KEY, "image/heic", 300, 5_000)

    assert upload is not None
    policy = json.loads(base64.b64decode(upload["fields"]["policy"]))
    assert ["content-length-range", 1, 5_000] in policy["conditions"]
    assert {"Content-Type": "image/heic"} in policy["conditions"]
    assert upload["fields"]["key"] == f"evidence/{KEY}"


def test_unreachable_endpoint_raises_storage_unavailable_quickly() -> None:
    storage = S3Storage(
        "photos", "", endpoint_url=f"http://127.0.0.1:{closed_port()}", region=REGION
    )
    started = time.monotonic()

    with pytest.raises(StorageUnavailableError) as excinfo:
        storage.put(KEY, PHOTO, "image/jpeg")

    assert time.monotonic() - started < 5
    assert excinfo.value.code == "storage_unavailable"
    assert excinfo.value.retry_after == excinfo.value.details["retry_after"] > 0
    assert excinfo.value.reason == "unreachable"
    assert excinfo.value.message == (
        "Photo storage cannot be reached. The photo was not kept. Try again later."
    )


@pytest.mark.parametrize("action", ["get", "exists", "delete"])
def test_unreachable_endpoint_raises_storage_unavailable_for_every_call(action: str) -> None:
    storage = S3Storage(
        "photos", "", endpoint_url=f"http://127.0.0.1:{closed_port()}", region=REGION
    )

    with pytest.raises(StorageUnavailableError):
        getattr(storage, action)(KEY)


def test_silent_endpoint_raises_storage_unavailable_after_read_timeout(
    silent_endpoint: str,
) -> None:
    storage = S3Storage(
        "photos", "", endpoint_url=silent_endpoint, region=REGION, read_timeout=0.5, max_attempts=1
    )
    started = time.monotonic()

    with pytest.raises(StorageUnavailableError) as excinfo:
        storage.get(KEY)

    assert time.monotonic() - started < 3
    assert excinfo.value.reason == "timeout"
    assert excinfo.value.message == "Photo storage did not answer in time. Try again later."


def test_client_is_built_with_timeouts_and_bounded_retries(s3_server: str) -> None:
    storage = S3Storage("photos", "", endpoint_url=s3_server, region=REGION)
    config = storage.client.meta.config

    assert storage.client.meta.endpoint_url == s3_server
    assert (config.connect_timeout, config.read_timeout) == (3.0, 15.0)
    assert config.retries == {"total_max_attempts": 3, "mode": "standard"}


def test_storage_from_s3_url_takes_the_timeouts_and_attempts(s3_server: str) -> None:
    storage = storage_from_url(
        "s3://photos",
        s3_endpoint_url=s3_server,
        s3_connect_timeout=0.5,
        s3_read_timeout=2.5,
        s3_max_attempts=1,
    )
    config = storage.client.meta.config

    assert (config.connect_timeout, config.read_timeout) == (0.5, 2.5)
    assert config.retries == {"total_max_attempts": 1, "mode": "standard"}


def test_storage_from_s3_url_uses_bucket_prefix_and_endpoint(
    s3_server: str,
    bucket: str,
) -> None:
    storage = storage_from_url(f"s3://{bucket}/campaign-1/photos/", s3_endpoint_url=s3_server)

    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == (bucket, "campaign-1/photos")
    storage.put(KEY, PHOTO, "image/jpeg")
    stored = storage.client.get_object(Bucket=bucket, Key=f"campaign-1/photos/{KEY}")
    assert stored["Body"].read() == PHOTO
