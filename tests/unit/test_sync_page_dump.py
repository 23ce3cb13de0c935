"""The sync page body, built from stored payloads, says exactly what the documented
SyncPageSchema says."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from api.courier.schemas import SyncPageSchema, sync_page_body
from fieldcheck.fieldwork.sync import (
    BusinessSnapshot,
    FeedItem,
    RegisteredRecord,
    SyncPage,
    VisitSnapshot,
    render_visit,
)


def visit(visit_id: int, *, located: bool, records: int) -> VisitSnapshot:
    record = RegisteredRecord(
        bureau="tax",
        name="永康市古山胜利五金经营部",
        uscc="92330784MA2E0TEST1",
        tin=None,
        reg_no=None,
        address="永康市古山镇胜利路8号",
        operator="李四",
        phones=["13900000001"],
        status="active",
        status_raw="正常",
        established_on="2010-05-01",
    )
    business = BusinessSnapshot(
        id=visit_id * 10,
        origin="registry",
        name="永康市古山胜利五金经营部",
        address="永康市古山镇胜利路8号",
        town="古山镇",
        uscc=None,
        lon=120.0425 if located else None,
        lat=28.89 if located else None,
        gcj02_lon=120.0472 if located else None,
        gcj02_lat=28.8871 if located else None,
        location_precision="address" if located else "unlocated",
        registered=[record] * records,
    )
    return VisitSnapshot(
        id=visit_id,
        campaign_id=1,
        state="assigned",
        kind="first",
        planned_day=2,
        route_order=visit_id,
        coarse_location=not located,
        required_photo_kinds=("storefront", "doorplate"),
        business=business,
    )


def documented(page: SyncPage, visits: dict[int, VisitSnapshot]) -> dict[str, Any]:
    """What the documented schema dumps for `page`, given the visits its payloads render."""
    view = SimpleNamespace(
        items=[
            SimpleNamespace(
                visit_id=item.visit_id, withdrawn=item.withdrawn, visit=visits.get(item.visit_id)
            )
            for item in page.items
        ],
        last_seq=page.last_seq,
        has_more=page.has_more,
        reset=page.reset,
    )
    return SyncPageSchema().dump(view)


def test_sync_page_body_matches_the_schema_for_every_kind_of_item() -> None:
    visits = {1: visit(1, located=True, records=2), 2: visit(2, located=False, records=0)}
    page = SyncPage(
        items=[
            FeedItem(1, False, render_visit(visits[1])),
            FeedItem(2, False, render_visit(visits[2])),
            FeedItem(3, True, None),
        ],
        last_seq=42,
        has_more=True,
        reset=True,
    )

    body = sync_page_body(page)

    assert json.loads(body) == documented(page, visits)
    assert "永康市古山胜利五金经营部" in body  # UTF-8, not \u escapes


def test_sync_page_body_matches_the_schema_for_an_empty_page() -> None:
    page = SyncPage(items=[], last_seq=7, has_more=False)

    assert json.loads(sync_page_body(page)) == documented(page, {})


def test_a_payload_reads_back_as_the_visit_it_renders() -> None:
    snapshot = visit(5, located=True, records=1)

    item = FeedItem(5, False, render_visit(snapshot))

    assert item.visit is not None
    assert (item.visit.route_order, item.visit.business.registered[0].operator) == (5, "李四")
    assert FeedItem(6, True, None).visit is None
