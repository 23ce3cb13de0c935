"""Small builders of test data: keyword defaults, `add` + `flush`, never commit."""

from __future__ import annotations

import itertools
from typing import Any

from geoalchemy2 import WKTElement
from sqlalchemy.orm import Session

from fieldcheck.auth.models import User
from fieldcheck.auth.service import add_user
from fieldcheck.auth.tokens import make_access_token
from fieldcheck.dispatch.models import Campaign, Courier, Territory, Visit
from fieldcheck.fieldwork.sync import number_visit_changes, record_visit_change
from fieldcheck.registry.models import Business, ImportBatch, SourceRecord

TEST_SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery"

_counter = itertools.count(1)


def make_user(
    session: Session,
    *,
    role: str = "admin",
    username: str | None = None,
    bureau: str | None = None,
    password: str | None = PASSWORD,
    **kwargs: object,
) -> User:
    if role == "official" and bureau is None:
        bureau = "tax"
    return add_user(
        session,
        username=username or f"{role}{next(_counter)}",
        role=role,
        bureau=bureau,
        password=password,
        **kwargs,
    )  # type: ignore[arg-type]


def token_for(user: User, *, secret: str = TEST_SECRET, ttl_s: int = 900) -> str:
    return make_access_token(
        user_id=user.id, role=user.role, bureau=user.bureau, secret=secret, ttl_s=ttl_s
    )


def auth(user: User) -> dict[str, str]:
    """The Authorization header of `user`."""
    return {"Authorization": f"Bearer {token_for(user)}"}


# --- campaign, territory, courier, business, visit ----------------------------------------
# (appended for fieldwork; visits are recorded in the couriers' sync feeds as dispatch does)

# A small square in Yongkang, where the test businesses are.
YONGKANG_LON, YONGKANG_LAT = 120.0425, 28.89083


def make_territory(session: Session, *, code: str | None = None, name: str = "",
                   lon: float = YONGKANG_LON, lat: float = YONGKANG_LAT,
                   half_side: float = 0.05) -> Territory:
    """A square delivery segment around (lon, lat), with its station at the centre."""
    west, east, south, north = lon - half_side, lon + half_side, lat - half_side, lat + half_side
    territory = Territory(
        code=code or f"T{next(_counter):04d}",
        name=name,
        area=WKTElement(
            f"MULTIPOLYGON((({west} {south},{east} {south},{east} {north},{west} {north},"
            f"{west} {south})))",
            srid=4326,
        ),
        station=WKTElement(f"POINT({lon} {lat})", srid=4326),
    )
    session.add(territory)
    session.flush()
    return territory


def make_courier(session: Session, *, username: str | None = None,
                 territory: Territory | None = None, name: str = "快递员") -> Courier:
    """A courier: a user with role courier and its Courier row (`courier_user` gives the user)."""
    # Couriers enrol with a code rather than a password (and hashing one costs half a second).
    user = make_user(session, role="courier", username=username, password=None)
    courier = Courier(
        user_id=user.id,
        staff_no=f"YK{next(_counter):05d}",
        name=name,
        territory_id=territory.id if territory else None,
    )
    session.add(courier)
    session.flush()
    return courier


def courier_user(session: Session, courier: Courier) -> User:
    user = session.get(User, courier.user_id)
    assert user is not None
    return user


def make_business(session: Session, *, name: str | None = None,
                  address: str = "浙江省金华市永康市古山镇胜利路8号", town: str | None = "古山镇",
                  uscc: str | None = None, lon: float | None = YONGKANG_LON,
                  lat: float | None = YONGKANG_LAT, origin: str = "registry",
                  precision: str = "address") -> Business:
    """A business with a point (None lon/lat: unlocated)."""
    located = lon is not None and lat is not None
    business = Business(
        origin=origin,
        name=name or f"永康市古山测试五金经营部{next(_counter)}",
        address=address,
        town=town,
        uscc=uscc,
        location=WKTElement(f"POINT({lon} {lat})", srid=4326) if located else None,
        location_precision=precision if located else "unlocated",
        location_source="gazetteer" if located else None,
    )
    session.add(business)
    session.flush()
    return business


def make_source_record(session: Session, business: Business, *, bureau: str = "tax",
                       operator: str | None = "张三", phones: list[str] | None = None,
                       reg_status: str = "active", status_raw: str = "正常") -> SourceRecord:
    """A current record of `business` in a bureau list (with its import batch)."""
    batch = ImportBatch(kind=bureau, filename=f"{bureau}.csv", sha256="0" * 64,
                        state="succeeded")
    session.add(batch)
    session.flush()
    raw = {"name": business.name, "legal_rep_name": operator, "reg_status_raw": status_raw,
           "legal_rep_id_no": "330784197001010010"}
    record = SourceRecord(
        batch_id=batch.id,
        bureau=bureau,
        row_number=1,
        source_key=business.uscc or f"nk:{next(_counter)}",
        raw=raw,
        fields={"phones": phones if phones is not None else ["13800000000"],
                "established_on": "2010-05-01"},
        content_hash="0" * 64,
        uscc=business.uscc,
        name=business.name,
        name_key=business.name,
        address=business.address,
        town=business.town,
        reg_status=reg_status,
        business_id=business.id,
        link_reason="same_code" if business.uscc else "new",
    )
    session.add(record)
    session.flush()
    return record


def make_campaign(session: Session, *, name: str | None = None, state: str = "active",
                  rules: dict[str, Any] | None = None) -> Campaign:
    campaign = Campaign(name=name or f"campaign {next(_counter)}", state=state,
                        rules=rules or {}, scope={})
    session.add(campaign)
    session.flush()
    return campaign


def make_visit(session: Session, *, courier: Courier | None, business: Business | None = None,
               campaign: Campaign | None = None, state: str = "assigned", kind: str = "first",
               planned_day: int | None = 1, route_order: int | None = 1) -> Visit:
    """A visit, put into its courier's sync feed as dispatch would."""
    visit = Visit(
        campaign_id=(campaign or make_campaign(session)).id,
        business_id=(business or make_business(session)).id,
        courier_id=courier.id if courier else None,
        kind=kind,
        state=state,
        planned_day=planned_day,
        route_order=route_order,
    )
    session.add(visit)
    session.flush()
    record_visit_change(session, visit)
    number_visit_changes(session)
    return visit


def change_visit(session: Session, visit: Visit, **changes: Any) -> Visit:
    """Change a visit (courier, state, day…) and record it in the feeds, as dispatch would."""
    previous = visit.courier_id
    if "courier" in changes:
        courier = changes.pop("courier")
        visit.courier_id = courier.id if courier else None
    for name, value in changes.items():
        setattr(visit, name, value)
    session.flush()
    record_visit_change(session, visit, previous_courier_id=previous)
    number_visit_changes(session)
    return visit


# --- results, findings, photos, discoveries -----------------------------------------------
# (appended for exports; rows as review and fieldwork leave them, without their workflows)


def make_accepted_result(session: Session, *, visit: Visit, outcome: str = "operating",
                         corrections: dict[str, Any] | None = None) -> Any:
    """A result of `visit` as its courier sent it, for findings to rest on (no review decision
    is recorded, and the visit itself is unchanged)."""
    from datetime import UTC, datetime

    from fieldcheck.fieldwork.models import VisitResult

    assert visit.courier_id is not None
    result = VisitResult(
        visit_id=visit.id,
        courier_id=visit.courier_id,
        client_id=f"r{next(_counter)}",
        body_hash="0" * 64,
        outcome=outcome,
        not_found_reason="unknown_at_address" if outcome == "not_found" else None,
        captured_at=datetime(2026, 10, 12, 2, 0, tzinfo=UTC),
        corrections=corrections or {},
    )
    session.add(result)
    session.flush()
    return result


def make_finding(session: Session, *, campaign: Campaign, business: Business,
                 verdict: str = "operating", results: list[Any] | None = None,
                 photos: list[Any] | None = None, reviewers: list[User] | None = None,
                 corrections: dict[str, Any] | None = None, basis: str = "",
                 verified_at: tuple[float, float] | None = None,
                 first_visit_on: Any = None, last_visit_on: Any = None,
                 decided_at: Any = None, settled: bool = True) -> Any:
    """The campaign's verdict on `business`, resting on `results`, `photos`, `reviewers`."""
    from datetime import UTC, date, datetime

    from fieldcheck.review.models import Finding

    finding = Finding(
        campaign_id=campaign.id,
        business_id=business.id,
        verdict=verdict,
        basis=basis,
        settled=settled,
        result_ids=[r.id for r in results or []],
        photo_ids=[p.id for p in photos or []],
        reviewer_ids=[u.id for u in reviewers or []],
        corrections=corrections or {},
        verified_location=(WKTElement(f"POINT({verified_at[0]} {verified_at[1]})", srid=4326)
                           if verified_at else None),
        first_visit_on=first_visit_on or date(2026, 10, 12),
        last_visit_on=last_visit_on or date(2026, 10, 12),
        decided_at=decided_at or datetime(2026, 10, 13, 4, 0, tzinfo=UTC),
    )
    session.add(finding)
    session.flush()
    return finding


def make_photo(session: Session, *, uploader: User, data: bytes = b"photo bytes",
               storage: Any = None) -> Any:
    """A photo row whose bytes are put in `storage` when one is given."""
    import hashlib

    from fieldcheck.evidence.models import Photo
    from fieldcheck.evidence.storage import key_for

    digest = hashlib.sha256(data + str(next(_counter)).encode()).hexdigest()
    photo = Photo(sha256=digest, storage_key=key_for(digest, ".jpg"), mime_type="image/jpeg",
                  size_bytes=len(data), width=4, height=3, uploaded_by_id=uploader.id)
    if storage is not None:
        storage.put(photo.storage_key, data, "image/jpeg")
    session.add(photo)
    session.flush()
    return photo


def make_discovery(session: Session, *, courier: Courier, name: str = "实地发现小吃店",
                   town: str = "古山镇", photos: list[Any] | None = None,
                   lon: float = YONGKANG_LON, lat: float = YONGKANG_LAT) -> Any:
    """An unlisted business a courier reported, with its business of origin `field`."""
    from datetime import UTC, datetime

    from fieldcheck.fieldwork.models import Discovery, DiscoveryPhoto

    business = make_business(session, name=name, town=town, origin="field", lon=lon, lat=lat,
                             precision="visit")
    discovery = Discovery(
        courier_id=courier.id, client_id=f"d{next(_counter)}", body_hash="0" * 64,
        business_id=business.id, name=name, address=business.address, operator="王五",
        phone="13700000000", position=WKTElement(f"POINT({lon} {lat})", srid=4326),
        position_crs="wgs84", captured_at=datetime(2026, 10, 14, 3, 0, tzinfo=UTC),
    )
    session.add(discovery)
    session.flush()
    for photo in photos or []:
        session.add(DiscoveryPhoto(discovery_id=discovery.id, kind="storefront",
                                   photo_sha256=photo.sha256, photo_id=photo.id))
    session.flush()
    return discovery


# --- supervisors, results with their evidence -----------------------------------------------
# (appended for review: results as fieldwork stores them, photos with the facts checks read)


def make_supervisor(session: Session, *, campaigns: tuple[Campaign, ...] = ()) -> User:
    """A supervisor (no password: tests use tokens) who reviews `campaigns`."""
    from fieldcheck.review.models import CampaignSupervisor

    user = make_user(session, role="supervisor", password=None)
    for campaign in campaigns:
        session.add(CampaignSupervisor(user_id=user.id, campaign_id=campaign.id))
    session.flush()
    return user


def make_evidence_photo(session: Session, *, uploader: User, phash: str | None = None,
                        exif_at: tuple[float, float] | None = None,
                        taken_at: Any = None, local_time: Any = None) -> Any:
    """A stored photo with the facts the quality checks read (EXIF position and time, phash).

    Without `phash`, one unlike every other photo's.
    """
    import hashlib

    from fieldcheck.evidence.models import Photo

    n = next(_counter)
    digest = hashlib.sha256(f"evidence photo {n}".encode()).hexdigest()
    photo = Photo(
        sha256=digest, phash=phash or f"{(n * 0x9E3779B97F4A7C15) % (1 << 64):016x}",
        storage_key=f"{digest[:2]}/{digest}.jpg", mime_type="image/jpeg", size_bytes=1000,
        width=320, height=240,
        exif_location=WKTElement(f"POINT({exif_at[0]} {exif_at[1]})", srid=4326)
        if exif_at else None,
        exif_taken_at=taken_at, exif_local_time=local_time,
        exif_time_offset="+08:00" if taken_at else None, uploaded_by_id=uploader.id,
    )
    session.add(photo)
    session.flush()
    return photo


def make_result(session: Session, *, visit: Visit, courier: Courier | None = None,
                outcome: str = "operating", at: tuple[float, float] | None = None,
                no_position: bool = False, accuracy_m: float | None = 8.0,
                started_at: Any = None, captured_at: Any = None,
                photos: tuple[tuple[str, Any], ...] = (), late: bool = False,
                corrections: dict[str, Any] | None = None) -> Any:
    """A complete result of `visit` (by its courier unless `courier`), at the business's point
    unless `at`, 6 minutes on site, naming `photos` as (kind, Photo) pairs. No check runs."""
    from datetime import datetime, timedelta

    import sqlalchemy as sa

    from fieldcheck.fieldwork.models import ResultPhoto, VisitResult

    courier_id = courier.id if courier else visit.courier_id
    assert courier_id is not None
    if at is None and not no_position:
        business = session.get(Business, visit.business_id)
        assert business is not None and business.location is not None
        point = session.execute(
            sa.select(sa.func.ST_X(business.location), sa.func.ST_Y(business.location))
        ).one()
        at = (point[0], point[1])
    captured_at = captured_at or datetime.fromisoformat("2026-11-28T10:16:00+08:00")
    result = VisitResult(
        visit_id=visit.id, courier_id=courier_id, client_id=f"r{next(_counter)}",
        body_hash="0" * 64, outcome=outcome,
        not_found_reason="unknown_at_address" if outcome == "not_found" else None,
        position=WKTElement(f"POINT({at[0]} {at[1]})", srid=4326) if at else None,
        position_crs="wgs84" if at else None, reported_lon=at[0] if at else None,
        reported_lat=at[1] if at else None, accuracy_m=accuracy_m if at else None,
        started_at=started_at or captured_at - timedelta(minutes=6), captured_at=captured_at,
        received_at=captured_at + timedelta(minutes=1), corrections=corrections or {},
        late=late, late_reason="reassigned" if late else None,
        evidence_pending=False, evidence_complete_at=captured_at + timedelta(minutes=1),
    )
    session.add(result)
    session.flush()
    for kind, photo in photos:
        session.add(ResultPhoto(result_id=result.id, kind=kind, photo_sha256=photo.sha256,
                                photo_id=photo.id))
    if visit.state in ("assigned", "rejected") and not late:
        change_visit(session, visit, state="submitted")
    session.flush()
    return result
