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
