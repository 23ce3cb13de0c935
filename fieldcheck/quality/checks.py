"""The quality checks, one function per check, each returning the flags it raises.

A check reads the facts of one result (`ResultFacts`) and the campaign's thresholds
(`QualityRules`); the checks that compare a result with other results also read the
database. Each flag carries what was measured, the threshold it broke and the unit.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from fieldcheck.dispatch.distance import haversine_m
from fieldcheck.quality.rules import QualityRules

FAR_FROM_ADDRESS = "far_from_address"
LOCATION_COARSE = "location_coarse"
NO_POSITION = "no_position"
POOR_ACCURACY = "poor_accuracy"
PHOTO_FAR = "photo_far"
PHOTO_OLD = "photo_old"
PHOTO_AFTER_RESULT = "photo_after_result"
PHOTO_DUPLICATE = "photo_duplicate"
PHOTO_SIMILAR = "photo_similar"
IMPOSSIBLE_SPEED = "impossible_speed"
SHORT_VISIT = "short_visit"
PHOTO_MISSING = "photo_missing"
OUTSIDE_TERRITORY = "outside_territory"
POSITION_CLUSTER = "position_cluster"

# Every kind `run_checks` owns (and replaces when it runs again on a result).
KINDS = (
    FAR_FROM_ADDRESS,
    LOCATION_COARSE,
    NO_POSITION,
    POOR_ACCURACY,
    PHOTO_FAR,
    PHOTO_OLD,
    PHOTO_AFTER_RESULT,
    PHOTO_DUPLICATE,
    PHOTO_SIMILAR,
    IMPOSSIBLE_SPEED,
    SHORT_VISIT,
    PHOTO_MISSING,
    OUTSIDE_TERRITORY,
    POSITION_CLUSTER,
)

# Precisions under which a business's point is its door (a visit's point counts too).
PRECISE_LOCATIONS = ("address", "visit")
# Two businesses this close share a door plate: one photo of it is evidence for both.
SAME_DOOR_M = 30.0
# Outcomes whose shop front photo shows the building, not a shop of the business's own.
NO_OWN_FRONT = ("closed", "shell", "not_found", "relocated")


@dataclass(frozen=True)
class PhotoFacts:
    photo_id: int
    kind: str
    sha256: str
    phash: str | None
    exif_lon: float | None
    exif_lat: float | None
    exif_taken_at: datetime | None
    exif_local_time: datetime | None


@dataclass(frozen=True)
class ResultFacts:
    """One result as the checks see it; positions are WGS-84 lon/lat."""

    result_id: int
    visit_id: int
    campaign_id: int
    business_id: int
    courier_id: int
    courier_territory_id: int | None
    outcome: str
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    started_at: datetime | None
    captured_at: datetime
    business_lon: float | None
    business_lat: float | None
    business_precision: str
    business_town: str | None
    business_address: str | None
    photos: tuple[PhotoFacts, ...] = ()

    @property
    def has_position(self) -> bool:
        return self.lon is not None and self.lat is not None


@dataclass(frozen=True)
class FlagSpec:
    """A flag to store: `details` may name other results it also concerns."""

    kind: str
    message: str
    measured: float | None = None
    threshold: float | None = None
    unit: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    return float(haversine_m(lon1, lat1, lon2, lat2))


def _describe_m(value: float) -> str:
    return f"{value / 1000:.1f} km" if value >= 1000 else f"{value:.0f} m"


# --- position -----------------------------------------------------------------------------


def check_position_present(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """A result without a device position cannot be placed anywhere."""
    if facts.has_position:
        return []
    return [FlagSpec(NO_POSITION, "the result has no device position; where it was made is "
                     "unknown")]


def check_far_from_address(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """Device far from the business's registered point; for a business located only to its
    township (or not at all) the flag says so rather than judging a distance."""
    if not facts.has_position:
        return []
    assert facts.lon is not None and facts.lat is not None
    located = facts.business_lon is not None and facts.business_lat is not None
    if located and facts.business_precision in PRECISE_LOCATIONS:
        assert facts.business_lon is not None and facts.business_lat is not None
        distance = metres(facts.lon, facts.lat, facts.business_lon, facts.business_lat)
        if distance <= rules.gps_tolerance_m:
            return []
        return [FlagSpec(
            FAR_FROM_ADDRESS,
            f"the device was {_describe_m(distance)} from the business's registered address "
            f"(tolerance {rules.gps_tolerance_m:.0f} m)",
            measured=round(distance, 1), threshold=rules.gps_tolerance_m, unit="m",
        )]
    place = facts.business_town or "its township"
    if located and facts.business_precision == "township":
        assert facts.business_lon is not None and facts.business_lat is not None
        distance = metres(facts.lon, facts.lat, facts.business_lon, facts.business_lat)
        return [FlagSpec(
            LOCATION_COARSE,
            f"the business is located only to the centre of {place}, so the device position "
            f"cannot be compared with its address ({_describe_m(distance)} from that centre, "
            "not judged)",
            measured=round(distance, 1), unit="m",
            details={"precision": "township"},
        )]
    return [FlagSpec(
        LOCATION_COARSE,
        "the business has no point of its own (its address could not be located), so the "
        "device position cannot be compared with it",
        details={"precision": facts.business_precision},
    )]


def check_gps_accuracy(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """A fix whose accuracy is worse than the campaign accepts proves little."""
    if not facts.has_position or facts.accuracy_m is None:
        return []
    if facts.accuracy_m <= rules.accuracy_max_m:
        return []
    return [FlagSpec(
        POOR_ACCURACY,
        f"the GPS fix was accurate to {facts.accuracy_m:.0f} m only "
        f"(at most {rules.accuracy_max_m:.0f} m accepted)",
        measured=facts.accuracy_m, threshold=rules.accuracy_max_m, unit="m",
    )]


def check_time_on_site(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """A visit recorded in less time than a look at the shop front takes."""
    if facts.started_at is None:
        return []
    seconds = (facts.captured_at - facts.started_at).total_seconds()
    if seconds >= rules.min_time_on_site_s:
        return []
    return [FlagSpec(
        SHORT_VISIT,
        f"the visit took {seconds:.0f} s from start to result "
        f"(at least {rules.min_time_on_site_s:.0f} s expected)",
        measured=seconds, threshold=rules.min_time_on_site_s, unit="s",
    )]


# --- photos -------------------------------------------------------------------------------


def check_required_photos(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """Photo kinds the campaign requires for this outcome that the result lacks."""
    required = rules.required_photos_by_outcome.get(facts.outcome, [])
    present = {p.kind for p in facts.photos}
    missing = [kind for kind in dict.fromkeys(required) if kind not in present]
    if not missing:
        return []
    return [FlagSpec(
        PHOTO_MISSING,
        f"a {facts.outcome} result needs photos of kind {', '.join(required)}; "
        f"missing: {', '.join(missing)}",
        measured=len(missing), threshold=0, unit="photos",
        details={"missing": missing},
    )]


def check_photo_position(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """Photos whose EXIF position is far from where the device said it was."""
    if not facts.has_position:
        return []
    assert facts.lon is not None and facts.lat is not None
    far = []
    for photo in facts.photos:
        if photo.exif_lon is None or photo.exif_lat is None:
            continue
        distance = metres(facts.lon, facts.lat, photo.exif_lon, photo.exif_lat)
        if distance > rules.photo_distance_m:
            far.append((distance, photo))
    if not far:
        return []
    worst, photo = max(far, key=lambda item: item[0])
    return [FlagSpec(
        PHOTO_FAR,
        f"the {photo.kind} photo was taken {_describe_m(worst)} from the device position "
        f"(at most {rules.photo_distance_m:.0f} m accepted)",
        measured=round(worst, 1), threshold=rules.photo_distance_m, unit="m",
        details={"photos": [{"photo_id": p.photo_id, "kind": p.kind, "distance_m": round(d, 1)}
                            for d, p in far]},
    )]


def photo_instant(photo: PhotoFacts, timezone: str) -> tuple[datetime | None, bool]:
    """When the photo was taken, and whether the county's clock had to be assumed."""
    if photo.exif_taken_at is not None:
        return photo.exif_taken_at, False
    if photo.exif_local_time is not None:
        return photo.exif_local_time.replace(tzinfo=ZoneInfo(timezone)), True
    return None, False


def check_photo_time(facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """Photos taken long before the visit started, or after the result was recorded."""
    start = facts.started_at or facts.captured_at
    earliest = start - timedelta(minutes=rules.photo_max_age_min)
    latest = facts.captured_at + timedelta(minutes=rules.photo_after_result_min)
    old, after = [], []
    for photo in facts.photos:
        taken, assumed = photo_instant(photo, rules.timezone)
        if taken is None:
            continue
        entry = {"photo_id": photo.photo_id, "kind": photo.kind, "taken_at": taken.isoformat(),
                 "clock_assumed": assumed}
        if taken < earliest:
            old.append(((start - taken).total_seconds() / 60, entry))
        elif taken > latest:
            after.append(((taken - facts.captured_at).total_seconds() / 60, entry))
    flags = []
    if old:
        minutes, entry = max(old, key=lambda item: item[0])
        flags.append(FlagSpec(
            PHOTO_OLD,
            f"the {entry['kind']} photo was taken {_describe_minutes(minutes)} before the visit "
            f"started (at most {rules.photo_max_age_min:.0f} min accepted)",
            measured=round(minutes, 1), threshold=rules.photo_max_age_min, unit="min",
            details={"photos": [e for _, e in old]},
        ))
    if after:
        minutes, entry = max(after, key=lambda item: item[0])
        flags.append(FlagSpec(
            PHOTO_AFTER_RESULT,
            f"the {entry['kind']} photo was taken {_describe_minutes(minutes)} after the result "
            f"was recorded (at most {rules.photo_after_result_min:.0f} min accepted)",
            measured=round(minutes, 1), threshold=rules.photo_after_result_min, unit="min",
            details={"photos": [e for _, e in after]},
        ))
    return flags


def _describe_minutes(minutes: float) -> str:
    if minutes >= 2 * 24 * 60:
        return f"{minutes / (24 * 60):.0f} days"
    if minutes >= 120:
        return f"{minutes / 60:.0f} h"
    return f"{minutes:.0f} min"


def _same_door(facts: ResultFacts, address: str | None, lon: float | None,
               lat: float | None, precision: str | None) -> bool:
    if address and facts.business_address and address == facts.business_address:
        return True
    if (lon is None or lat is None or facts.business_lon is None or facts.business_lat is None
            or precision not in PRECISE_LOCATIONS
            or facts.business_precision not in PRECISE_LOCATIONS):
        return False
    return metres(lon, lat, facts.business_lon, facts.business_lat) <= SAME_DOOR_M


def _shared_door_photo(facts: ResultFacts, kind: str, row: Any) -> bool:
    """Whether one photo may honestly serve both businesses: they are behind the same door,
    and it shows the door plate, or a front where no business of its own was found (the
    building that shells and vanished businesses are registered at)."""
    if kind != row.kind or kind not in ("doorplate", "storefront"):
        return False
    if kind == "storefront" and not (facts.outcome in NO_OWN_FRONT
                                     or row.outcome in NO_OWN_FRONT):
        return False
    return _same_door(facts, row.address, row.lon, row.lat, row.precision)


def check_photo_duplicate(session: Session, facts: ResultFacts,
                          rules: QualityRules) -> list[FlagSpec]:
    """The same file (SHA-256) already named as evidence for another business (by a result
    not rejected: rejected evidence is evidence of nothing)."""
    kinds = {p.sha256: p.kind for p in facts.photos}
    if not kinds:
        return []
    rows = session.execute(
        sa.text("""
        SELECT u.sha256, u.kind, u.outcome, u.result_id, u.discovery_id, u.business_id,
               b.address, b.location_precision AS precision, ST_X(b.location) AS lon,
               ST_Y(b.location) AS lat
        FROM (
            SELECT rp.photo_sha256 AS sha256, rp.kind, r.outcome, r.id AS result_id,
                   NULL::int AS discovery_id, v.business_id
            FROM result_photos rp
            JOIN visit_results r ON r.id = rp.result_id
            JOIN visits v ON v.id = r.visit_id
            WHERE rp.photo_sha256 = ANY(:shas) AND rp.result_id <> :result
              AND NOT EXISTS (SELECT 1 FROM review_decisions d WHERE d.result_id = r.id
                              AND d.superseded_by_id IS NULL AND d.decision = 'reject')
            UNION ALL
            SELECT dp.photo_sha256, dp.kind, 'operating', NULL, d.id, d.business_id
            FROM discovery_photos dp JOIN discoveries d ON d.id = dp.discovery_id
            WHERE dp.photo_sha256 = ANY(:shas)
        ) u JOIN businesses b ON b.id = u.business_id
        WHERE u.business_id <> :business
        ORDER BY u.result_id NULLS LAST, u.discovery_id
    """),
        {"shas": list(kinds), "result": facts.result_id, "business": facts.business_id},
    ).all()
    uses = [row for row in rows if not _shared_door_photo(facts, kinds[row.sha256], row)]
    if not uses:
        return []
    businesses = sorted({row.business_id for row in uses})
    first = uses[0]
    return [FlagSpec(
        PHOTO_DUPLICATE,
        f"the {kinds[first.sha256]} photo {first.sha256[:12]}… is also evidence for "
        f"{len(businesses)} other business{'es' if len(businesses) > 1 else ''} "
        f"(business {businesses[0]})",
        measured=0, threshold=0, unit="bits",
        details={"uses": [
            {"sha256": row.sha256, "result_id": row.result_id, "discovery_id": row.discovery_id,
             "business_id": row.business_id} for row in uses[:20]
        ], "businesses": businesses[:50]},
    )]


# A perceptual hash is four 16-bit bands (`Photo.phash_band0..3`, each under a btree index).
# Two hashes at most r bits apart differ by at most r // 4 bits in at least one band, so every
# match has, in some band, a value within r // 4 bits of the wanted hash's: for the default
# 10 bits, 137 values per band, about 1% of random photos to compare. From
# PHASH_BAND_SCAN_BITS bits per band (r >= 16) the values are too many to pay and every
# stored hash is compared.
PHASH_BANDS = 4
PHASH_BAND_BITS = 16
PHASH_BAND_SCAN_BITS = 4
_HEX64 = re.compile(r"[0-9a-fA-F]{16}")


def phash_bits(phash: str) -> int:
    """A 16-hex-digit hash as PostgreSQL's `('x' || phash)::bit(64)::bigint`: signed 64 bits."""
    value = int(phash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def phash_band_values(phash: str, max_distance: int) -> list[list[int]]:
    """Per band, the values within `max_distance // 4` bits of this hash's: a hash within
    `max_distance` bits of `phash` has one of them in at least one band."""
    if max_distance < 0:
        return [[] for _ in range(PHASH_BANDS)]
    flips = min(max_distance // PHASH_BANDS, PHASH_BAND_BITS)
    values = []
    for band in range(PHASH_BANDS):
        value = int(phash[4 * band:4 * band + 4], 16)
        near = []
        for count in range(flips + 1):
            for bits in combinations(range(PHASH_BAND_BITS), count):
                flipped = value
                for bit in bits:
                    flipped ^= 1 << bit
                near.append(flipped)
        values.append(near)
    return values


def find_similar_photos(session: Session, facts: ResultFacts, max_distance: int,
                        *, limit: int = 50) -> Sequence[sa.Row[Any]]:
    """The photos of other businesses of the campaign (results not rejected) whose perceptual
    hash is within `max_distance` bits of one of this result's, closest first: per pair, this
    result's hash (`mine`), the other photo, its result and business, and the `distance`."""
    hashes = sorted({p.phash for p in facts.photos if p.phash and _HEX64.fullmatch(p.phash)})
    if not hashes or max_distance < 0:
        return []
    params: dict[str, Any] = {
        "max": max_distance, "campaign": facts.campaign_id, "business": facts.business_id,
        "shas": [p.sha256 for p in facts.photos], "limit": limit,
    }
    # One branch per hash of this result, so that the planner sees each hash's own band
    # values (few enough for the band indexes to win over a scan).
    branches = []
    for i, phash in enumerate(hashes):
        params[f"hash{i}"], params[f"bits{i}"] = phash, phash_bits(phash)
        if max_distance // PHASH_BANDS < PHASH_BAND_SCAN_BITS:
            values = phash_band_values(phash, max_distance)
            for band in range(PHASH_BANDS):
                params[f"hash{i}_band{band}"] = values[band]
            candidates = "(" + " OR ".join(
                f"p.phash_band{band} = ANY(CAST(:hash{i}_band{band} AS integer[]))"
                for band in range(PHASH_BANDS)) + ")"
        else:
            candidates = "p.phash_bits IS NOT NULL"
        distance = f"bit_count((p.phash_bits # CAST(:bits{i} AS bigint))::bit(64))"
        branches.append(
            f"SELECT CAST(:hash{i} AS text) AS mine, p.id, p.sha256, {distance} AS distance "
            f"FROM photos p WHERE {candidates} AND {distance} <= :max")
    near = "\n            UNION ALL ".join(branches)
    return session.execute(
        sa.text(f"""
        SELECT n.mine, n.id AS photo_id, rp.kind, r.outcome, r.id AS result_id,
               v.business_id,
               b.address, b.location_precision AS precision, ST_X(b.location) AS lon,
               ST_Y(b.location) AS lat, n.distance
        FROM ({near}) AS n
        JOIN result_photos rp ON rp.photo_id = n.id
        JOIN visit_results r ON r.id = rp.result_id
        JOIN visits v ON v.id = r.visit_id
        JOIN businesses b ON b.id = v.business_id
        WHERE v.campaign_id = :campaign AND v.business_id <> :business
          AND n.sha256 <> ALL(:shas)
          AND NOT EXISTS (SELECT 1 FROM review_decisions d WHERE d.result_id = r.id
                          AND d.superseded_by_id IS NULL AND d.decision = 'reject')
        ORDER BY n.distance, r.id, n.id
        LIMIT :limit
    """),
        params,
    ).all()


def check_photo_similar(session: Session, facts: ResultFacts,
                        rules: QualityRules) -> list[FlagSpec]:
    """A near-identical picture (perceptual hash within the campaign's distance) already used
    for another business of the campaign: the same photo re-saved, resized or cropped."""
    hashes = {p.phash: p for p in facts.photos if p.phash}
    rows = find_similar_photos(session, facts, rules.phash_max_distance)
    uses = [row for row in rows if not _shared_door_photo(facts, hashes[row.mine].kind, row)]
    if not uses:
        return []
    closest = uses[0]
    mine = hashes[closest.mine]
    return [FlagSpec(
        PHOTO_SIMILAR,
        f"the {mine.kind} photo is near-identical to a {closest.kind} photo of business "
        f"{closest.business_id} (perceptual hashes {closest.distance} bits apart, "
        f"at most {rules.phash_max_distance} counts as the same picture)",
        measured=float(closest.distance), threshold=float(rules.phash_max_distance),
        unit="bits",
        details={"uses": [
            {"photo_id": hashes[row.mine].photo_id, "other_photo_id": row.photo_id,
             "result_id": row.result_id, "business_id": row.business_id,
             "distance": row.distance} for row in uses[:20]
        ]},
    )]


# --- movement -----------------------------------------------------------------------------


def travel_speed_kmh(distance_m: float, seconds: float, accuracies: Sequence[float | None],
                     min_jump_m: float) -> float | None:
    """The speed two fixes imply, giving each fix its accuracy; None for a jump within noise."""
    effective = distance_m - sum(a or 0.0 for a in accuracies)
    if effective <= min_jump_m:
        return None
    # Two results within the same second still need some time between them.
    return effective / max(seconds, 1.0) * 3.6


def check_travel_speed(session: Session, facts: ResultFacts,
                       rules: QualityRules) -> list[FlagSpec]:
    """An impossible speed between this result and the courier's result just before or after
    it (by the time each was recorded)."""
    if not facts.has_position:
        return []
    assert facts.lon is not None and facts.lat is not None
    # The neighbour just before and the one just after, in one statement.
    neighbours = session.execute(
        sa.text("""
        (SELECT id, captured_at, accuracy_m, ST_X(position) AS lon, ST_Y(position) AS lat
         FROM visit_results
         WHERE courier_id = :courier AND id <> :result AND position IS NOT NULL
           AND captured_at <= :at
         ORDER BY captured_at DESC, id DESC LIMIT 1)
        UNION ALL
        (SELECT id, captured_at, accuracy_m, ST_X(position) AS lon, ST_Y(position) AS lat
         FROM visit_results
         WHERE courier_id = :courier AND id <> :result AND position IS NOT NULL
           AND captured_at >= :at
         ORDER BY captured_at ASC, id ASC LIMIT 1)
    """),
        {"courier": facts.courier_id, "result": facts.result_id, "at": facts.captured_at},
    ).all()
    worst: tuple[float, Any, float] | None = None
    for row in neighbours:
        distance = metres(facts.lon, facts.lat, row.lon, row.lat)
        seconds = abs((facts.captured_at - row.captured_at).total_seconds())
        speed = travel_speed_kmh(distance, seconds, (facts.accuracy_m, row.accuracy_m),
                                 rules.speed_min_jump_m)
        if speed is not None and speed > rules.max_speed_kmh and (
                worst is None or speed > worst[0]):
            worst = (speed, row, distance)
    if worst is None:
        return []
    speed, row, distance = worst
    minutes = abs((facts.captured_at - row.captured_at).total_seconds()) / 60
    return [FlagSpec(
        IMPOSSIBLE_SPEED,
        f"{_describe_m(distance)} from the courier's result {row.id} in {minutes:.0f} min: "
        f"{speed:.0f} km/h (at most {rules.max_speed_kmh:.0f} km/h possible)",
        measured=round(speed, 1), threshold=rules.max_speed_kmh, unit="km/h",
        details={"other_result_id": row.id, "distance_m": round(distance, 1),
                 "seconds": round(minutes * 60)},
    )]


def check_territory(session: Session, facts: ResultFacts, rules: QualityRules) -> list[FlagSpec]:
    """Device outside both the courier's delivery segment and the segment of the business
    (a visit lent to a neighbouring segment is in the second)."""
    if not facts.has_position or facts.courier_territory_id is None:
        return []
    distance = session.scalar(
        sa.text("""
        SELECT min(ST_Distance(t.area::geography,
                               ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography))
        FROM territories t
        WHERE t.id = :own
           OR (CAST(:blon AS float8) IS NOT NULL AND ST_Contains(
                   t.area, ST_SetSRID(ST_MakePoint(:blon, :blat), 4326)))
    """),
        {"lon": facts.lon, "lat": facts.lat, "own": facts.courier_territory_id,
         "blon": facts.business_lon, "blat": facts.business_lat},
    )
    if distance is None or distance <= rules.gps_tolerance_m:
        return []
    return [FlagSpec(
        OUTSIDE_TERRITORY,
        f"the device was {_describe_m(distance)} outside the courier's segment and the "
        f"business's segment (tolerance {rules.gps_tolerance_m:.0f} m)",
        measured=round(distance, 1), threshold=rules.gps_tolerance_m, unit="m",
    )]


def check_position_cluster(session: Session, facts: ResultFacts,
                           rules: QualityRules) -> list[FlagSpec]:
    """Many of the courier's results from nearly this spot, for businesses spread far wider:
    a home base. The flag names the other results of the cluster."""
    if not facts.has_position:
        return []
    rows = session.execute(
        sa.text("""
        SELECT r.id, v.business_id, b.location_precision AS precision,
               ST_X(b.location) AS lon, ST_Y(b.location) AS lat
        FROM visit_results r
        JOIN visits v ON v.id = r.visit_id
        JOIN businesses b ON b.id = v.business_id
        WHERE r.courier_id = :courier AND v.campaign_id = :campaign AND r.position IS NOT NULL
          AND ST_DWithin(r.position::geography,
                         ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :radius)
        ORDER BY r.id
    """),
        {"courier": facts.courier_id, "campaign": facts.campaign_id, "lon": facts.lon,
         "lat": facts.lat, "radius": rules.cluster_radius_m},
    ).all()
    businesses = {row.business_id: row for row in rows}
    if len(businesses) < rules.cluster_min_results:
        return []
    assert facts.lon is not None and facts.lat is not None
    # Only businesses with a point of their own say how spread out the claims are.
    spread = [metres(facts.lon, facts.lat, row.lon, row.lat) for row in businesses.values()
              if row.lon is not None and row.precision in PRECISE_LOCATIONS]
    if len(spread) < rules.cluster_min_results:
        return []
    median = statistics.median(spread)
    if median <= rules.cluster_spread_m:
        return []
    return [FlagSpec(
        POSITION_CLUSTER,
        f"{len(businesses)} results of this courier were made within "
        f"{rules.cluster_radius_m:.0f} m of this spot, for businesses a median "
        f"{_describe_m(median)} away from it (at most {rules.cluster_min_results - 1} "
        f"such results accepted)",
        measured=float(len(businesses)), threshold=float(rules.cluster_min_results - 1),
        unit="results",
        details={"result_ids": [row.id for row in rows], "median_business_distance_m":
                 round(median, 1)},
    )]


PURE_CHECKS = (
    check_position_present,
    check_far_from_address,
    check_gps_accuracy,
    check_time_on_site,
    check_required_photos,
    check_photo_position,
    check_photo_time,
)
DATABASE_CHECKS = (
    check_photo_duplicate,
    check_photo_similar,
    check_travel_speed,
    check_territory,
    check_position_cluster,
)
