"""The fast sync page dump says exactly what the documented SyncPageSchema says."""

from __future__ import annotations

from api.courier.schemas import SyncPageSchema, dump_sync_page
from fieldcheck.fieldwork.sync import (
    BusinessSnapshot,
    FeedItem,
    RegisteredRecord,
    SyncPage,
    VisitSnapshot,
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


def test_dump_sync_page_matches_the_schema_for_every_kind_of_item() -> None:
    page = SyncPage(
        items=[
            FeedItem(1, False, visit(1, located=True, records=2)),
            FeedItem(2, False, visit(2, located=False, records=0)),
            FeedItem(3, True, None),
        ],
        last_seq=42,
        has_more=True,
        reset=True,
    )

    assert dump_sync_page(page) == SyncPageSchema().dump(page)


def test_dump_sync_page_matches_the_schema_for_an_empty_page() -> None:
    page = SyncPage(items=[], last_seq=7, has_more=False)

    assert dump_sync_page(page) == SyncPageSchema().dump(page)
