"""The query of an evidence photo behind a registry file's link: `thumbnail` is a documented
boolean, and anything else in the query string is refused with 422."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from fieldcheck.evidence.storage import key_for
from tests.api.test_official_exports import Scene, build_scene
from tests.builders import auth, make_user

ORIGINAL = b"\xff\xd8 empty shop"
THUMBNAIL = b"\xff\xd8 small empty shop"


@pytest.fixture
def photo_path(client: FlaskClient, session: Session, app: Flask) -> str:
    """The path of the scene's evidence photo, from the link in the official's file."""
    storage = app.extensions["fieldcheck"].storage
    scene: Scene = build_scene(session, storage)
    scene.photo.thumbnail_key = key_for(scene.photo.sha256, ".thumb.jpg")
    storage.put(scene.photo.thumbnail_key, THUMBNAIL, "image/jpeg")
    session.flush()
    official = make_user(session, role="official", bureau="tax", password=None)
    data = client.get("/api/v1/official/registries/tax?format=csv", headers=auth(official)).data
    rows = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    link = next(row["证据照片链接"] for row in rows if row["证据照片链接"])
    return f"{link.removeprefix('http://localhost')}/photos/{scene.photo.id}"


@pytest.mark.parametrize("query, expected", [
    ("", ORIGINAL),
    ("?thumbnail=1", THUMBNAIL),
    ("?thumbnail=true", THUMBNAIL),
    ("?thumbnail=0", ORIGINAL),
    ("?thumbnail=false", ORIGINAL),
])
def test_thumbnail_chooses_the_variant(client, photo_path, query, expected):
    response = client.get(photo_path + query)
    assert (response.status_code, response.data) == (200, expected)


def test_a_thumbnail_value_that_is_not_a_boolean_is_422(client, photo_path):
    response = client.get(f"{photo_path}?thumbnail=small")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert set(response.json["errors"]["query"]) == {"thumbnail"}


def test_an_unknown_query_parameter_is_422(client, photo_path):
    response = client.get(f"{photo_path}?size=small")
    assert response.status_code == 422
    assert set(response.json["errors"]["query"]) == {"size"}


def test_the_openapi_document_describes_thumbnail_as_a_boolean(client):
    spec = client.get("/api/v1/openapi.json").json
    path = "/api/v1/official/evidence/{token}/{business_id}/photos/{photo_id}"
    operation = spec["paths"][path]["get"]
    (parameter,) = [p for p in operation["parameters"] if p["in"] == "query"]
    assert (parameter["name"], parameter["schema"]["type"]) == ("thumbnail", "boolean")
    assert "422" in operation["responses"]
