"""Photo uploads to the server (local folder storage) and reading photos back."""

from __future__ import annotations

import dataclasses
import io
import random

import pytest
import sqlalchemy as sa
from PIL import Image

from fieldcheck.evidence.models import Photo
from fieldcheck.evidence.storage import S3Storage, StorageUnavailableError, key_for
from tests.builders import auth, courier_user, make_courier, make_user
from tests.photos import (
    huge_png,
    jpeg,
    jpeg_with_malformed_gps,
    png,
    sha256,
)

URL = "/api/v1/courier/photos"


@pytest.fixture
def storage(app):
    return app.extensions["fieldcheck"].storage


def upload(client, headers, data, *, filename="photo.jpg", content_type="image/jpeg", **form):
    return client.post(
        URL,
        data={"file": (io.BytesIO(data), filename, content_type), **form},
        headers=headers,
        content_type="multipart/form-data",
    )


def photo_count(session):
    return session.scalar(sa.select(sa.func.count()).select_from(Photo))


def test_upload_returns_the_facts_read_from_the_photo(client, headers):
    data = jpeg(
        seed=1,
        size=(320, 240),
        lat=(28, 54, 36.0),
        lat_ref="S",
        lon=(120, 2, 24.0),
        lon_ref="W",
        alt=85.5,
        taken="2026:11:28 10:15:30",
        offset="+08:00",
        orientation=6,
        make="HUAWEI",
        model="P60",
    )

    response = upload(client, headers, data)

    assert response.status_code == 201
    body = response.json
    photo_id = body.pop("id")
    assert body.pop("uploaded_at")
    assert len(body.pop("phash")) == 16
    assert body == {
        "sha256": sha256(data),
        "mime_type": "image/jpeg",
        "size_bytes": len(data),
        "width": 240,
        "height": 320,
        "exif": {
            "lat": pytest.approx(-28.91),
            "lon": pytest.approx(-120.04),
            "altitude": 85.5,
            "local_time": "2026-11-28T10:15:30",
            "taken_at": "2026-11-28T02:15:30+00:00",
            "time_offset": "+08:00",
            "orientation": 6,
            "make": "HUAWEI",
            "model": "P60",
        },
        "warnings": [],
        "original_url": f"/api/v1/courier/photos/{photo_id}/original",
        "thumbnail_url": f"/api/v1/courier/photos/{photo_id}/thumbnail",
    }


def test_upload_keeps_the_original_unmodified_under_its_sha256(client, headers, storage):
    data = jpeg(orientation=6)

    upload(client, headers, data)

    assert storage.get(key_for(sha256(data), ".jpg")) == data


def test_a_large_upload_keeps_every_byte_and_the_field_after_it(
    client, headers, storage
):
    # Noise compresses badly: a JPEG of several read steps, its end and the sha256 field
    # after it arriving in later reads than its start.
    noise = Image.frombytes("RGB", (1600, 1200), random.Random(5).randbytes(1600 * 1200 * 3))
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=95)
    data = out.getvalue()
    assert len(data) > 1 << 20  # many of the server's read steps

    response = upload(client, headers, data, sha256=sha256(data))

    assert response.status_code == 201, response.json
    assert (response.json["sha256"], response.json["size_bytes"]) == (sha256(data), len(data))
    assert storage.get(key_for(sha256(data), ".jpg")) == data


def test_upload_with_a_wrong_sha256_field_after_a_large_file_returns_422(client, session, headers):
    noise = Image.frombytes("RGB", (800, 600), random.Random(6).randbytes(800 * 600 * 3))
    out = io.BytesIO()
    noise.save(out, format="JPEG", quality=95)
    data = out.getvalue()

    response = upload(client, headers, data, sha256=sha256(data[:-1]))

    assert response.status_code == 422
    assert response.json["reason"] == "sha256_mismatch"
    assert photo_count(session) == 0


def test_upload_stores_a_thumbnail_with_the_orientation_applied(client, headers, storage):
    data = jpeg(size=(320, 240), orientation=6)

    upload(client, headers, data)

    thumbnail = Image.open(io.BytesIO(storage.get(key_for(sha256(data), ".thumb.jpg"))))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (240, 320))


def test_uploading_the_same_photo_twice_gives_one_photo(client, session, headers):
    data = jpeg()

    first = upload(client, headers, data)
    second = upload(client, headers, data)

    assert second.status_code == 201
    assert second.json == first.json
    assert photo_count(session) == 1


def test_upload_without_exif_time_offset_keeps_only_the_camera_clock(client, headers):
    response = upload(client, headers, jpeg(offset=None))

    exif = response.json["exif"]
    assert (exif["local_time"], exif["taken_at"], exif["time_offset"]) == (
        "2026-11-28T10:15:30",
        None,
        None,
    )


def test_upload_with_a_malformed_gps_block_keeps_the_photo_without_position(client, headers):
    response = upload(client, headers, jpeg_with_malformed_gps())

    assert response.status_code == 201
    assert (response.json["exif"]["lat"], response.json["exif"]["lon"]) == (None, None)
    assert "GPSLatitude 95 is beyond 90 degrees" in response.json["warnings"][0]


def test_upload_of_a_truncated_jpeg_returns_422(client, session, headers):
    data = jpeg()

    response = upload(client, headers, data[: len(data) // 2])

    assert response.status_code == 422
    assert (response.json["code"], response.json["reason"]) == ("bad_image", "truncated")
    assert photo_count(session) == 0


def test_upload_of_a_png_named_jpg_returns_422(client, headers):
    response = upload(
        client, headers, png(), filename="photo.jpg", content_type="application/octet-stream"
    )

    assert response.status_code == 422
    assert response.json["reason"] == "type_mismatch"
    assert response.json["detail"] == "The file was sent as image/jpeg but is really PNG."


def test_upload_of_a_20000_square_image_returns_422(client, headers):
    response = upload(client, headers, huge_png(), filename="photo.png", content_type="image/png")

    assert response.status_code == 422
    assert response.json["reason"] == "too_many_pixels"


def test_upload_over_the_size_limit_returns_422(client, headers, app):
    services = app.extensions["fieldcheck"]
    services.settings = dataclasses.replace(services.settings, max_photo_bytes=1000)

    response = upload(client, headers, jpeg())

    assert response.status_code == 422
    assert response.json["reason"] == "too_large"


def test_upload_whose_bytes_do_not_match_the_announced_sha256_returns_422(client, session, headers):
    data = jpeg()

    response = upload(client, headers, data[:-100], sha256=sha256(data))

    assert response.status_code == 422
    assert response.json["reason"] == "sha256_mismatch"
    assert photo_count(session) == 0


def test_upload_cut_off_half_way_returns_422_and_stores_nothing(client, session, headers):
    data = jpeg()
    boundary = "fieldcheck-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode() + data[: len(data) // 2]  # no closing boundary: the connection dropped

    response = client.post(
        URL, data=body, headers=headers, content_type=f"multipart/form-data; boundary={boundary}"
    )

    # The unfinished part is dropped by the form parser: the file is missing, not half kept.
    assert response.status_code == 422
    assert response.json["errors"] == {"files": {"file": ["Missing data for required field."]}}
    assert photo_count(session) == 0


def test_upload_of_a_photo_another_courier_uploaded_returns_409(client, session, headers):
    data = jpeg()
    upload(client, auth(courier_user(session, make_courier(session))), data)

    response = upload(client, headers, data)

    assert response.status_code == 409
    assert response.json["code"] == "photo_of_another_user"


def test_upload_of_a_heic_photo_is_accepted(client, headers):
    pillow_heif = pytest.importorskip("pillow_heif")
    if not pillow_heif.libheif_info()["encoders"].get("x265"):
        pytest.skip("libheif here has no HEVC encoder to write HEIC with")
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(out, format="HEIF")

    response = upload(
        client, headers, out.getvalue(), filename="IMG_0001.HEIC", content_type="image/heic"
    )

    assert response.status_code == 201
    assert response.json["mime_type"] == "image/heic"


def test_courier_reads_the_original_of_their_photo(client, headers):
    data = jpeg()
    photo = upload(client, headers, data).json

    response = client.get(photo["original_url"], headers=headers)

    assert response.status_code == 200
    assert (response.mimetype, response.data) == ("image/jpeg", data)
    assert response.headers["Cache-Control"] == "private, no-store"


def test_courier_cannot_read_another_couriers_photo(client, session, headers):
    other = auth(courier_user(session, make_courier(session)))
    photo = upload(client, other, jpeg()).json

    assert client.get(f"{URL}/{photo['id']}", headers=headers).status_code == 404
    assert client.get(photo["original_url"], headers=headers).status_code == 404


def test_admin_reads_any_photos_thumbnail(client, session, headers):
    photo = upload(client, headers, jpeg()).json
    # Admins review every campaign, so any photo (supervisors: those of their campaigns).
    supervisor = auth(make_user(session, role="admin", password=None))

    meta = client.get(f"/api/v1/supervisor/photos/{photo['id']}", headers=supervisor)
    thumbnail = client.get(meta.json["thumbnail_url"], headers=supervisor)

    assert meta.json["uploaded_by_id"] is not None
    assert thumbnail.status_code == 200
    assert Image.open(io.BytesIO(thumbnail.data)).format == "JPEG"


def test_official_cannot_read_photos(client, session, headers):
    photo = upload(client, headers, jpeg()).json
    official = auth(make_user(session, role="official", password=None))

    response = client.get(f"/api/v1/supervisor/photos/{photo['id']}/original", headers=official)

    assert response.status_code == 403


def test_direct_upload_is_refused_when_photos_are_kept_locally(client, headers):
    data = jpeg()

    response = client.post(
        "/api/v1/courier/photo-uploads",
        headers=headers,
        json={"sha256": sha256(data), "content_type": "image/jpeg", "size_bytes": len(data)},
    )

    assert response.status_code == 409
    assert response.json["code"] == "direct_upload_unavailable"


def test_storage_down_returns_503_with_retry_after(client, session, headers, app):
    class DownStorage(S3Storage):
        def put(self, key, data, content_type):
            raise StorageUnavailableError()

    app.extensions["fieldcheck"].storage = DownStorage("bucket", client=object())

    response = upload(client, headers, jpeg())

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert photo_count(session) == 0
