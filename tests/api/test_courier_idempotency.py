"""Every mobile POST is idempotent: a client id in the body, or the Idempotency-Key header
standing in for it; the same key with the same body is the same answer, another body 409."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fieldcheck.fieldwork.models import Discovery, ResultAmendment, VisitResult
from fieldcheck.registry.models import Business
from tests.photos import new_id, result_body

RESULTS = "/api/v1/courier/results"
DISCOVERIES = "/api/v1/courier/discoveries"


def keyed(headers, key):
    return {**headers, "Idempotency-Key": key}


def count(session, model, *where):
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def result_without_id(visit_id, **fields):
    body = result_body(visit_id, **fields)
    del body["submission_id"]
    return body


def discovery_without_id(**fields):
    body = {
        "name": "无名修车铺",
        "address": "永康市东城街道九铃东路18号",
        "captured_at": "2026-11-28T11:00:00+08:00",
        "position": {"lon": 120.05, "lat": 28.9, "accuracy_m": 10},
    }
    body.update(fields)
    return body


# --- results ---------------------------------------------------------------------------------


def test_idempotency_key_is_the_submission_id_of_a_result_without_one(
    client, session, headers, visit
):
    key = new_id()

    response = client.post(RESULTS, json=result_without_id(visit.id), headers=keyed(headers, key))

    assert response.status_code == 201
    assert response.json["submission_id"] == key
    assert client.get(f"{RESULTS}/{key}", headers=headers).json["id"] == response.json["id"]


def test_same_idempotency_key_and_body_returns_the_same_answer_and_stores_nothing(
    client, session, headers, visit
):
    key, body = new_id(), result_without_id(visit.id)
    first = client.post(RESULTS, json=body, headers=keyed(headers, key))

    again = client.post(RESULTS, json=body, headers=keyed(headers, key))

    assert (again.status_code, again.json) == (201, first.json)
    assert count(session, VisitResult) == 1


def test_same_idempotency_key_with_another_body_returns_409_and_stores_nothing(
    client, session, headers, visit
):
    key = new_id()
    client.post(RESULTS, json=result_without_id(visit.id), headers=keyed(headers, key))

    response = client.post(
        RESULTS, json=result_without_id(visit.id, notes="另一个结果"), headers=keyed(headers, key)
    )

    assert (response.status_code, response.json["code"]) == (409, "id_reused")
    assert key in response.json["detail"] and "different content" in response.json["detail"]
    assert count(session, VisitResult) == 1
    assert session.scalar(sa.select(VisitResult.notes)) is None


def test_submission_id_in_the_body_and_the_same_idempotency_key_are_one_id(
    client, session, headers, visit
):
    body = result_body(visit.id)
    first = client.post(RESULTS, json=body, headers=keyed(headers, body["submission_id"]))

    without = {k: v for k, v in body.items() if k != "submission_id"}
    again = client.post(RESULTS, json=without, headers=keyed(headers, body["submission_id"]))

    assert first.status_code == 201
    # The body without its id but with the same key is the same submission.
    assert (again.status_code, again.json) == (201, first.json)
    assert count(session, VisitResult) == 1


def test_submission_id_and_a_different_idempotency_key_return_422_naming_the_header(
    client, session, headers, visit
):
    response = client.post(RESULTS, json=result_body(visit.id), headers=keyed(headers, new_id()))

    assert response.status_code == 422
    assert "submission_id" in response.json["errors"]["headers"]["Idempotency-Key"][0]
    assert count(session, VisitResult) == 0


def test_result_without_submission_id_or_idempotency_key_returns_422(
    client, session, headers, visit
):
    response = client.post(RESULTS, json=result_without_id(visit.id), headers=headers)

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]["json"]["submission_id"][0]
    assert count(session, VisitResult) == 0


@pytest.mark.parametrize("key", ["short", "has spaces in it", "x" * 65])
def test_malformed_idempotency_key_returns_422_naming_the_header(client, headers, visit, key):
    response = client.post(RESULTS, json=result_without_id(visit.id), headers=keyed(headers, key))

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["errors"]["headers"]


# --- amendments -----------------------------------------------------------------------------


def test_amendment_with_idempotency_key_is_applied_once(client, session, headers, visit):
    body = result_body(visit.id)
    client.post(RESULTS, json=body, headers=headers)
    url = f"{RESULTS}/{body['submission_id']}/amendments"
    key, edit = new_id(), {"base_version": 1, "notes": "补拍了门牌"}

    first = client.post(url, json=edit, headers=keyed(headers, key))
    again = client.post(url, json=edit, headers=keyed(headers, key))
    other = client.post(url, json={**edit, "notes": "别的修改"}, headers=keyed(headers, key))

    assert (first.status_code, first.json["version"]) == (200, 2)
    assert (again.status_code, again.json) == (200, first.json)
    assert (other.status_code, other.json["code"]) == (409, "id_reused")
    assert count(session, ResultAmendment, ResultAmendment.client_id == key) == 1
    assert session.scalar(sa.select(VisitResult.notes)) == "补拍了门牌"


# --- discoveries ----------------------------------------------------------------------------


def test_discovery_with_idempotency_key_is_stored_once_with_one_business(client, session, headers):
    key, body = new_id(), discovery_without_id()

    first = client.post(DISCOVERIES, json=body, headers=keyed(headers, key))
    again = client.post(DISCOVERIES, json=body, headers=keyed(headers, key))

    assert (first.status_code, first.json["discovery_id"]) == (201, key)
    assert (again.status_code, again.json) == (201, first.json)
    assert count(session, Discovery) == 1
    assert count(session, Business, Business.origin == "field") == 1


def test_discovery_idempotency_key_reused_for_another_report_returns_409_and_adds_nothing(
    client, session, headers
):
    key = new_id()
    client.post(DISCOVERIES, json=discovery_without_id(), headers=keyed(headers, key))

    response = client.post(
        DISCOVERIES, json=discovery_without_id(name="另一家店"), headers=keyed(headers, key)
    )

    assert (response.status_code, response.json["code"]) == (409, "id_reused")
    assert count(session, Discovery) == 1
    assert count(session, Business, Business.origin == "field") == 1


def test_discovery_without_discovery_id_or_idempotency_key_returns_422(client, session, headers):
    response = client.post(DISCOVERIES, json=discovery_without_id(), headers=headers)

    assert response.status_code == 422
    assert "discovery_id" in response.json["errors"]["json"]
    assert count(session, Discovery) == 0
