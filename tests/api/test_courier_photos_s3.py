"""Photos kept in S3 (moto's server over real HTTP): multipart uploads, presigned direct
uploads with their completion call, and presigned reads."""

from __future__ import annotations

import dataclasses
import io
import uuid
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from api.app import create_app
from fieldcheck.evidence.models import Photo
from fieldcheck.evidence.storage import S3Storage, key_for, make_s3_client
from tests.builders import auth, courier_user, make_courier, make_user
from tests.photos import jpeg, png, sha256

REGION = "us-east-1"


pytestmark = pytest.mark.usefixtures("aws_test_credentials")


@pytest.fixture(scope="module")
def s3_client(s3_server: str) -> Any:
    return make_s3_client(endpoint_url=s3_server, region=REGION)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"photos-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def storage(app, s3_client, bucket) -> S3Storage:
    storage = S3Storage(bucket, "evidence", client=s3_client)
    app.extensions["fieldcheck"].storage = storage
    return storage


@pytest.fixture
def headers(session):
    return auth(courier_user(session, make_courier(session)))


def photo_count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Photo))


def start(client, headers, data, content_type="image/jpeg", size=None):
    return client.post(
        "/api/v1/courier/photo-uploads",
        headers=headers,
        json={
            "sha256": sha256(data),
            "content_type": content_type,
            "size_bytes": len(data) if size is None else size,
        },
    )


def send_form(upload: dict[str, Any], data: bytes) -> requests.Response:
    return requests.post(
        upload["url"],
        data=upload["fields"],
        files={"file": ("photo.jpg", data, "image/jpeg")},
        timeout=10,
    )


def test_multipart_upload_keeps_the_original_in_the_bucket_under_its_sha256(
    client, headers, storage, bucket, s3_client
):
    data = jpeg()

    response = client.post(
        "/api/v1/courier/photos",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg")},
    )

    assert response.status_code == 201
    stored = s3_client.get_object(Bucket=bucket, Key=f"evidence/{key_for(sha256(data), '.jpg')}")
    assert (stored["ContentType"], stored["Body"].read()) == ("image/jpeg", data)


def test_direct_upload_through_the_presigned_form_then_completion_keeps_the_photo(
    client, session, headers, storage
):
    data = jpeg()
    started = start(client, headers, data).json

    sent = send_form(started["upload"], data)
    completed = client.post(
        f"/api/v1/courier/photo-uploads/{started['id']}/complete", headers=headers
    )

    assert (started["status"], sent.status_code, completed.status_code) == (
        "awaiting_upload",
        204,
        201,
    )
    assert completed.json["sha256"] == sha256(data)
    assert storage.get(key_for(sha256(data), ".jpg")) == data
    assert photo_count(session) == 1


def test_direct_upload_form_writes_a_staging_object_not_the_evidence_key(client, headers, storage):
    data = jpeg()

    upload = start(client, headers, data).json["upload"]

    assert upload["fields"]["key"].startswith("evidence/incoming/")


def test_completing_before_the_file_was_sent_returns_409(client, session, headers, storage):
    started = start(client, headers, jpeg()).json

    response = client.post(
        f"/api/v1/courier/photo-uploads/{started['id']}/complete", headers=headers
    )

    assert (response.status_code, response.json["code"]) == (409, "upload_not_received")
    assert photo_count(session) == 0


def test_completing_with_other_bytes_than_announced_returns_422_and_keeps_nothing(
    client, session, headers, storage, s3_client, bucket
):
    data = jpeg()
    started = start(client, headers, data).json
    send_form(started["upload"], data[: len(data) // 2])  # cut off half-way

    response = client.post(
        f"/api/v1/courier/photo-uploads/{started['id']}/complete", headers=headers
    )

    assert (response.status_code, response.json["reason"]) == (422, "sha256_mismatch")
    assert photo_count(session) == 0
    assert s3_client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_completing_twice_returns_the_same_photo(client, session, headers, storage):
    data = jpeg()
    started = start(client, headers, data).json
    send_form(started["upload"], data)
    url = f"/api/v1/courier/photo-uploads/{started['id']}/complete"
    first = client.post(url, headers=headers)

    again = client.post(url, headers=headers)

    assert (again.status_code, again.json) == (201, first.json)
    assert photo_count(session) == 1


def test_direct_upload_of_a_png_announced_as_jpeg_returns_422(client, headers, storage):
    data = png()
    started = start(client, headers, data, content_type="image/jpeg").json
    send_form(started["upload"], data)

    response = client.post(
        f"/api/v1/courier/photo-uploads/{started['id']}/complete", headers=headers
    )

    assert (response.status_code, response.json["reason"]) == (422, "type_mismatch")


def test_another_courier_cannot_complete_my_upload(client, session, headers, storage):
    data = jpeg()
    started = start(client, headers, data).json
    send_form(started["upload"], data)
    other = auth(courier_user(session, make_courier(session)))

    response = client.post(f"/api/v1/courier/photo-uploads/{started['id']}/complete", headers=other)

    assert response.status_code == 404


def test_starting_an_upload_of_a_photo_the_server_has_says_received(client, headers, storage):
    data = jpeg()
    client.post(
        "/api/v1/courier/photos",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg")},
    )

    response = start(client, headers, data)

    assert (response.json["status"], response.json["upload"]) == ("received", None)
    assert response.json["photo"]["sha256"] == sha256(data)


def test_reading_a_photo_redirects_to_a_short_lived_link_to_the_original(
    client, session, headers, storage
):
    data = jpeg()
    photo = client.post(
        "/api/v1/courier/photos",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg")},
    ).json
    admin = auth(make_user(session, role="admin", password=None))

    response = client.get(f"/api/v1/supervisor/photos/{photo['id']}/original", headers=admin)

    assert response.status_code == 302
    assert "X-Amz-Expires=300" in response.location
    assert requests.get(response.location, timeout=10).content == data


def test_app_configured_with_an_s3_url_keeps_uploads_in_that_bucket(
    app_config, session_factory, session, s3_server, s3_client, bucket
):
    settings = dataclasses.replace(
        app_config["SETTINGS"], storage_url=f"s3://{bucket}/ev", s3_endpoint_url=s3_server
    )
    app = create_app({**app_config, "SETTINGS": settings})
    app.extensions["fieldcheck"].sessions = session_factory
    headers = auth(courier_user(session, make_courier(session)))
    data = jpeg()

    app.test_client().post(
        "/api/v1/courier/photos",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(data), "p.jpg", "image/jpeg")},
    )

    key = f"ev/{key_for(sha256(data), '.jpg')}"
    assert s3_client.get_object(Bucket=bucket, Key=key)["Body"].read() == data
