"""Importing delivery segments (GeoJSON) and the courier roster (CSV), row by row.

A bad feature or roster row is reported with its number, field and reason; the good ones
are imported all the same. Segments and couriers are keyed by their codes, so a repeated
import updates them instead of duplicating them.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from shapely import geometry as shp
from shapely.validation import explain_validity
from sqlalchemy.orm import Session

from fieldcheck.audit.service import record_event
from fieldcheck.auth.models import EnrolmentCode, User
from fieldcheck.auth.service import ENROLMENT_ALPHABET, add_user
from fieldcheck.auth.tokens import hash_opaque_token
from fieldcheck.config import Settings
from fieldcheck.dispatch.models import Courier, Territory
from fieldcheck.errors import InputFileError
from fieldcheck.registry.normalize import normalize_text
from fieldcheck.registry.reading import (
    Profile,
    RowIssue,
    iter_records,
    map_headers,
    open_table,
)

# A delivery segment of this county lies inside this box; anything else is a data error.
LON_RANGE = (118.0, 122.0)
LAT_RANGE = (27.0, 31.0)
WGS84_NAMES = {"urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "EPSG:4326"}

ROSTER_FIELDS = {
    "staff_no": ("工号", "员工号", "staff_no"),
    "name": ("姓名", "name"),
    "phone": ("手机号", "手机", "联系电话", "phone"),
    "segment": ("投递段", "段道", "segment"),
    "station_lon": ("网点经度", "station_lon"),
    "station_lat": ("网点纬度", "station_lat"),
}


@dataclass
class IntakeReport:
    created: int = 0
    updated: int = 0
    rejected: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    enrolment_codes: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "rejected": self.rejected,
            "issues": [issue.__dict__ for issue in self.issues],
            "enrolment_codes": self.enrolment_codes,
        }


def _in_county(lon: float, lat: float) -> bool:
    return LON_RANGE[0] <= lon <= LON_RANGE[1] and LAT_RANGE[0] <= lat <= LAT_RANGE[1]


def _geometry_problem(geom: shp.base.BaseGeometry) -> str | None:
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        return f"geometry is a {geom.geom_type}, not a Polygon or MultiPolygon"
    if geom.is_empty:
        return "geometry is empty"
    xs, ys = zip(
        *(c for poly in getattr(geom, "geoms", [geom]) for c in poly.exterior.coords), strict=True
    )
    if all(_in_county(y, x) for x, y in zip(xs, ys, strict=True)):
        return "coordinates look like latitude, longitude: GeoJSON wants longitude first"
    if not all(_in_county(x, y) for x, y in zip(xs, ys, strict=True)):
        if max(map(abs, xs)) > 360 or max(map(abs, ys)) > 90:
            return (
                "coordinates are not degrees (a projected CRS?): "
                "segments must be WGS-84 longitude/latitude"
            )
        return "polygon lies outside the county"
    if not geom.is_valid:
        return f"invalid polygon: {explain_validity(geom)}"
    return None


def import_territories(session: Session, *, path: Path, actor_id: int | None) -> IntakeReport:
    """Create or update delivery segments from a GeoJSON FeatureCollection (committed)."""
    try:
        data = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path.name} is not GeoJSON: {exc}") from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise InputFileError(f"{path.name} is not a GeoJSON FeatureCollection")
    crs_name = (data.get("crs") or {}).get("properties", {}).get("name")
    if crs_name and crs_name not in WGS84_NAMES:
        raise InputFileError(
            f"{path.name} declares the CRS {crs_name}; segments must be WGS-84 (EPSG:4326)"
        )
    report = IntakeReport()
    for number, feature in enumerate(data.get("features") or [], start=1):
        props = (feature or {}).get("properties") or {}
        code = str(props.get("code") or "").strip()
        if not code:
            report.issues.append(RowIssue(number, "code", None, "feature has no code"))
            report.rejected += 1
            continue
        try:
            geom = shp.shape(feature.get("geometry") or {})
        except (ValueError, TypeError, AttributeError, KeyError) as exc:
            report.issues.append(RowIssue(number, "geometry", code, f"unreadable geometry: {exc}"))
            report.rejected += 1
            continue
        problem = _geometry_problem(geom)
        if problem:
            report.issues.append(RowIssue(number, "geometry", code, problem))
            report.rejected += 1
            continue
        if geom.geom_type == "Polygon":
            geom = shp.MultiPolygon([geom])
        station = None
        try:
            slon, slat = float(props["station_lon"]), float(props["station_lat"])
            if _in_county(slon, slat):
                station = f"SRID=4326;POINT({slon} {slat})"
            else:
                raise ValueError
        except (KeyError, TypeError, ValueError):
            report.issues.append(
                RowIssue(
                    number,
                    "station",
                    code,
                    "no usable station point; routes start at the segment's centre",
                    "warning",
                )
            )
            centre = geom.representative_point()
            station = f"SRID=4326;POINT({centre.x} {centre.y})"
        territory = session.scalar(sa.select(Territory).where(Territory.code == code))
        values = {
            "name": str(props.get("name") or code),
            "area": f"SRID=4326;{geom.wkt}",
            "station": station,
        }
        if territory is None:
            session.add(Territory(code=code, **values))
            report.created += 1
        else:
            for key, value in values.items():
                setattr(territory, key, value)
            report.updated += 1
    record_event(
        session,
        action="territories.imported",
        actor_id=actor_id,
        details={
            "file": path.name,
            "created": report.created,
            "updated": report.updated,
            "rejected": report.rejected,
        },
    )
    session.commit()
    return report


def _new_enrolment_code(
    session: Session, user: User, settings: Settings, actor_id: int | None
) -> str:
    code = "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(10))
    session.add(
        EnrolmentCode(
            user_id=user.id,
            code_hash=hash_opaque_token(code),
            created_by_id=actor_id,
            expires_at=datetime.now(UTC) + timedelta(seconds=settings.enrolment_code_ttl_s),
        )
    )
    return code


def import_couriers(
    session: Session, *, path: Path, settings: Settings, actor_id: int | None
) -> IntakeReport:
    """Create or update couriers (accounts without passwords, with enrolment codes)."""
    table = open_table(path, filename=path.name)
    profile = Profile("roster", ROSTER_FIELDS, required=(("staff_no",), ("name",), ("segment",)))
    header_map = map_headers(table.headers, profile, header_row_number=table.header_row_number)
    territories = {t.code: t for t in session.scalars(sa.select(Territory))}
    report = IntakeReport()
    with table:
        for item in iter_records(table, header_map):
            if isinstance(item, RowIssue):
                report.issues.append(item)
                if item.severity == "error":
                    report.rejected += 1
                continue
            values = item.values
            row = item.row_number
            staff_no = normalize_text(values.get("staff_no") or "")
            segment = normalize_text(values.get("segment") or "")
            name = normalize_text(values.get("name") or "")
            if not staff_no or not name:
                report.issues.append(
                    RowIssue(
                        row,
                        "工号" if not staff_no else "姓名",
                        None,
                        "staff number and name are required",
                    )
                )
                report.rejected += 1
                continue
            territory = territories.get(segment)
            if territory is None:
                report.issues.append(
                    RowIssue(
                        row,
                        "投递段",
                        segment or None,
                        f"unknown delivery segment {segment!r}; import "
                        "the segments first or correct the code",
                    )
                )
                report.rejected += 1
                continue
            station = territory.station
            try:
                slon = float(values.get("station_lon") or "")
                slat = float(values.get("station_lat") or "")
                if _in_county(slon, slat):
                    station = f"SRID=4326;POINT({slon} {slat})"
            except ValueError:
                pass
            courier = session.scalar(sa.select(Courier).where(Courier.staff_no == staff_no))
            if courier is None:
                user = add_user(
                    session,
                    username=staff_no.lower(),
                    role="courier",
                    password=None,
                    display_name=name,
                    phone=values.get("phone"),
                    actor_id=actor_id,
                )
                session.add(
                    Courier(
                        user_id=user.id,
                        staff_no=staff_no,
                        name=name,
                        phone=values.get("phone"),
                        territory_id=territory.id,
                        station=station,
                    )
                )
                report.enrolment_codes[staff_no] = _new_enrolment_code(
                    session, user, settings, actor_id
                )
                report.created += 1
            else:
                courier.name = name
                courier.phone = values.get("phone")
                courier.territory_id = territory.id
                courier.station = station
                report.updated += 1
    record_event(
        session,
        action="couriers.imported",
        actor_id=actor_id,
        details={
            "file": path.name,
            "created": report.created,
            "updated": report.updated,
            "rejected": report.rejected,
        },
    )
    session.commit()
    return report
