"""Locating businesses with the postal gazetteer.

A business takes the gazetteer point of its address (road and door number, in the township
its address names). The tax list's production address is tried first, as the place a
courier should go. A road and number found in several townships, with no township named,
is marked ambiguous and left without a point rather than guessed. Otherwise the business
falls back to the centre of its township (precision `township`) or stays `unlocated`.
Businesses located by a verified visit are never moved.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.registry.loader import copy_rows, create_stage, driver_connection


def _ewkt(lon: float, lat: float) -> str:
    return f"SRID=4326;POINT({lon:.7f} {lat:.7f})"


class GazetteerPoint(NamedTuple):
    town: str
    lon: float
    lat: float
    address: str
    ewkt: str  # the point as written to the database, formatted once


# (bureau, town, road, number, row number, township of the tax office, township in the name)
RecordAddress = tuple[str, str | None, str | None, str | None, int, str | None, str | None]


class Located(NamedTuple):
    precision: str
    lon: float | None
    lat: float | None
    town: str | None
    source: str
    ewkt: str | None = None


class Gazetteer:
    """The gazetteer in memory, indexed by (road, number), with township centres."""

    def __init__(self, points: Iterable[tuple[str, str, str, str, float, float]]) -> None:
        self.by_door: dict[tuple[str, str], list[GazetteerPoint]] = defaultdict(list)
        sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
        for town, road, number, address, lon, lat in points:
            self.by_door[(road, number)].append(
                GazetteerPoint(town, lon, lat, address, _ewkt(lon, lat))
            )
            acc = sums[town]
            acc[0] += lon
            acc[1] += lat
            acc[2] += 1
        self.centres = {town: (s[0] / s[2], s[1] / s[2]) for town, s in sums.items()}
        self.centre_ewkt = {town: _ewkt(lon, lat) for town, (lon, lat) in self.centres.items()}

    @classmethod
    def load(cls, session: Session) -> Gazetteer:
        rows = session.execute(
            sa.text(
                "SELECT town, road, number, address, ST_X(location), ST_Y(location) "
                "FROM gazetteer_addresses"
            )
        )
        return cls((r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)

    def locate(self, records: list[RecordAddress]) -> Located:
        """Records are given tax first: its production address is where couriers go."""
        ambiguous: list[GazetteerPoint] = []
        ambiguous_door = ""
        for bureau, town, road, number, row, *_ in records:
            if not (road and number):
                continue
            candidates = self.by_door.get((road, number), [])
            if town:
                candidates = [c for c in candidates if c.town == town]
            if len(candidates) == 1:
                point = candidates[0]
                return Located(
                    "address",
                    point.lon,
                    point.lat,
                    point.town,
                    f"gazetteer {point.address} ({bureau} row {row})",
                    point.ewkt,
                )
            if len(candidates) > 1:
                ambiguous, ambiguous_door = candidates, f"{road}{number}号"
        if ambiguous:
            # Registry facts that name the township settle which of the same-named doors is
            # meant: the serving tax office (one per township), else the township an
            # individual business's registered name begins with.
            for hint_index, what in ((5, "the tax office"), (6, "the registered name")):
                hinted = {r[hint_index] for r in records if r[hint_index]}
                served = [c for c in ambiguous if c.town in hinted]
                if len(served) == 1:
                    point = served[0]
                    return Located("address", point.lon, point.lat, point.town,
                                   f"gazetteer {point.address} (township from {what})",
                                   point.ewkt)
            towns = sorted({c.town for c in ambiguous})
            return Located(
                "ambiguous",
                None,
                None,
                None,
                f"{ambiguous_door} exists in {', '.join(towns)}; the address names no township",
            )
        town = next((t for _, t, *_ in records if t), None)
        if town and town in self.centres:
            lon, lat = self.centres[town]
            return Located(
                "township", lon, lat, town,
                f"centre of {town}: the address is not in the gazetteer", self.centre_ewkt[town],
            )
        return Located("unlocated", None, None, town, "no township and no gazetteer match")


def _records_by_business(
    session: Session, everything: bool, again: str | None
) -> Iterator[tuple[int, list[RecordAddress]]]:
    if everything:
        scope = "businesses"
    else:
        scope = "(SELECT id FROM businesses WHERE location_precision = 'unlocated'"
        scope += f" UNION SELECT id FROM {again})" if again else ")"
    # A server-side cursor of the driver: plain tuples, fetched 10,000 at a time.
    with driver_connection(session).cursor(name="locate_records") as cursor:
        cursor.itersize = 10_000
        cursor.execute(f"""
            SELECT r.business_id, r.bureau, r.town, r.road, r.number, r.row_number,
                   r.fields ->> 'office_town', r.fields ->> 'name_town'
            FROM source_records r JOIN businesses b ON b.id = r.business_id
            JOIN {scope} t ON t.id = b.id
            WHERE r.is_current AND b.location_precision <> 'visit'
            ORDER BY r.business_id, (r.bureau = 'tax') DESC, r.id
        """)
        for business_id, group in itertools.groupby(cursor, key=itemgetter(0)):
            yield business_id, [r[1:] for r in group]


def locate_businesses(
    session: Session, *, everything: bool = False, again: str | None = None
) -> dict[str, int]:
    """Locate businesses not yet located (all but visit-located ones when `everything`).

    `again` names a temporary table of business ids (`id`) to locate again as well. Only
    businesses whose point, precision, source or township changes are written.
    """
    gazetteer = Gazetteer.load(session)
    counts: dict[str, int] = defaultdict(int)

    def results() -> Iterator[tuple[object, ...]]:
        for business_id, records in _records_by_business(session, everything, again):
            found = gazetteer.locate(records)
            counts[found.precision] += 1
            yield business_id, found.ewkt, found.precision, found.source, found.town

    create_stage(
        session,
        "locate_result",
        "business_id integer, location geometry(Point, 4326), precision text, "
        "source text, town text",
    )
    # The query streams while COPY writes: both run on one connection, so buffer in batches.
    batch: list[tuple[object, ...]] = []
    for row in results():
        batch.append(row)
        if len(batch) >= 50_000:
            copy_rows(
                session,
                "locate_result",
                ("business_id", "location", "precision", "source", "town"),
                batch,
            )
            batch.clear()
    copy_rows(
        session, "locate_result", ("business_id", "location", "precision", "source", "town"), batch
    )
    session.execute(
        sa.text("""
        UPDATE businesses b SET location = l.location, location_precision = l.precision,
            location_source = l.source, town = COALESCE(l.town, b.town), updated_at = now()
        FROM locate_result l WHERE b.id = l.business_id
          AND (b.location_precision IS DISTINCT FROM l.precision
               OR b.location_source IS DISTINCT FROM l.source
               OR b.town IS DISTINCT FROM COALESCE(l.town, b.town)
               OR b.location IS DISTINCT FROM l.location)
    """)
    )
    return dict(counts)
