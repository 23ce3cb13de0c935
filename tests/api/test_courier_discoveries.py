"""POST /api/v1/courier/discoveries: operating businesses that no list has."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from geoalchemy2.shape import to_shape

from fieldcheck.fieldwork.models import Discovery
from fieldcheck.geo.crs import wgs84_to_gcj02
from fieldcheck.registry.models import Business
from tests.photos import jpeg, new_id, sha256

URL = "/api/v1/courier/discoveries"


def discovery_body(**fields):
    gcj_lon, gcj_lat = wgs84_to_gcj02(120.05, 28.9)
    body = {
        "discovery_id": new_id(),
        "name": "无名小吃店",
        "address": "永康市江南街道园周村128号",
        "operator": "王五",
        "phone": "13700000000",
        "position": {"lon": gcj_lon, "lat": gcj_lat, "crs": "gcj02", "accuracy_m": 12},
        "captured_at": "2026-11-28T11:00:00+08:00",
        "photos": [],
        "notes": "没有营业执照",
    }
    body.update(fields)
    return body


def discoveries(session):
    return list(session.scalars(sa.select(Discovery)))


def test_discovery_becomes_a_business_found_in_the_field(client, session, headers):
    response = client.post(URL, json=discovery_body(), headers=headers)

    assert response.status_code == 201
    business = session.get(Business, response.json["business_id"])
    point = to_shape(business.location)
    assert (business.origin, business.name, business.town, business.location_precision) == (
        "field",
        "无名小吃店",
        "江南街道",
        "visit",
    )
    assert (point.x, point.y) == (pytest.approx(120.05, abs=1e-7), pytest.approx(28.9, abs=1e-7))


def test_resending_a_discovery_returns_the_same_answer_and_stores_nothing(client, session, headers):
    body = discovery_body()
    first = client.post(URL, json=body, headers=headers)

    again = client.post(URL, json=body, headers=headers)

    assert (again.status_code, again.json) == (201, first.json)
    assert len(discoveries(session)) == 1


def test_discovery_id_reused_for_another_report_returns_409(client, session, headers):
    body = discovery_body()
    client.post(URL, json=body, headers=headers)

    response = client.post(URL, json={**body, "name": "另一家店"}, headers=headers)

    assert (response.status_code, response.json["code"]) == (409, "id_reused")
    assert len(discoveries(session)) == 1


def test_discovery_waits_for_its_photos_and_completes_when_they_arrive(client, session, headers):
    photo = jpeg()
    body = discovery_body(photos=[{"kind": "storefront", "sha256": sha256(photo)}])
    waiting = client.post(URL, json=body, headers=headers).json

    client.post(
        "/api/v1/courier/photos",
        headers=headers,
        content_type="multipart/form-data",
        data={"file": (io.BytesIO(photo), "p.jpg", "image/jpeg")},
    )

    discovery = discoveries(session)[0]
    assert waiting["status"] == "evidence_pending"
    assert (discovery.evidence_pending, discovery.evidence_complete_at is not None) == (False, True)


def test_discovery_with_a_blank_name_returns_422(client, session, headers):
    response = client.post(URL, json=discovery_body(name=" "), headers=headers)

    assert response.status_code == 422
    assert list(response.json["errors"]["json"]) == ["name"]
    assert discoveries(session) == []
