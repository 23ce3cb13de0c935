"""Campaign planning: visits to couriers, each courier's visits to days, each day to a route."""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from fieldcheck.dispatch.balance import LoadClass, assign_stops, earliest_finish_day
from fieldcheck.dispatch.clusters import balanced_clusters, sweep_order
from fieldcheck.dispatch.distance import matrix_m, project_m, tour_km
from fieldcheck.dispatch.routing import round_trip_order
from fieldcheck.errors import ValidationError

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]

# What a visit must save in distance from the station before it goes to a neighbouring
# segment's courier when its own courier has room: territories stay as drawn unless the
# finish day needs otherwise or the other station is clearly nearer.
MOVE_PENALTY_M = 1000.0


class UnassignedReason(StrEnum):
    """Why a stop is left out of the plan."""

    NO_LOCATION = "no_location"
    NO_SEGMENT = "no_segment"
    NO_COURIER = "no_courier"
    BEYOND_WORKING_DAYS = "beyond_working_days"


@dataclass(frozen=True)
class Stop:
    """One visit to plan: where, in which delivery segment, and who must not make it."""

    id: int
    lon: float
    lat: float
    segment: str | None
    # A re-check names the courier of the visit it checks: anyone but them.
    exclude_courier: int | None = None
    # Located only to the township centre: planned there, and marked in the plan.
    coarse: bool = False


@dataclass(frozen=True)
class Courier:
    """A courier, the segment they serve and the station their days start and end at."""

    id: int
    segment: str
    station_lon: float
    station_lat: float


@dataclass
class PlanInput:
    """Everything the planner needs; visits already submitted are simply not passed."""

    stops: Sequence[Stop]
    couriers: Sequence[Courier]
    # Segments whose couriers may help each other; treated as symmetric.
    neighbours: Mapping[str, Set[str]]
    daily_capacity: int
    speed_kmh: float = 15.0
    # When set, no courier is planned beyond this day; what does not fit is left unassigned.
    working_days: int | None = None


@dataclass(frozen=True)
class Assignment:
    """Who makes a visit, on which day (1-based) and in which place of that day's route."""

    courier_id: int
    day: int
    order: int
    coarse: bool = False


@dataclass(frozen=True)
class CourierSummary:
    """One courier's share of the plan."""

    courier_id: int
    visits: int
    days: int
    km: float
    finish_day: int
    travel_hours: float = 0.0
    coarse_visits: int = 0
    # Visits taken over from a neighbouring segment.
    borrowed_visits: int = 0


@dataclass
class Plan:
    """The result: per-visit assignments, per-courier figures and the campaign's totals."""

    assignments: dict[int, Assignment]
    couriers: list[CourierSummary]
    finish_day: int
    # ceil(visits / (couriers × daily capacity)): no plan can finish earlier.
    lower_bound_days: int
    total_km: float
    unassigned: dict[int, UnassignedReason] = field(default_factory=dict)
    # The earliest finish day that the neighbour relation (and re-check exclusions) allow;
    # the planner always reaches it unless `working_days` is shorter.
    neighbour_bound_days: int = 0


def plan(
    plan_input: PlanInput,
    /,
    *,
    progress: Progress | None = None,
    route_improve: int = 0,
    move_penalty_m: float = MOVE_PENALTY_M,
) -> Plan:
    """Assign, balance, split into days and route every stop of `plan_input`.

    (1) The earliest finish day the neighbour relation and re-check exclusions allow, by
    max flow over groups of interchangeable stops. (2) Each stop's courier, by a min-cost
    flow under that many days' capacity: it minimises the total distance from the couriers'
    stations (what the daily rides out and back add up to) plus `move_penalty_m` per visit
    that leaves its segment, so visits move only where the finish day needs it, the ones
    nearest the receiving station first; even loads within a segment are its tie-break.
    (3) Couriers of one segment and station share their stops again as compact areas.
    (4) Each courier's stops become days of at most `daily_capacity`, compact groups of
    even sizes numbered around the station. (5) Each day is ordered as a round trip from the
    station with OR-Tools; `route_improve` adds a guided local search of that many
    solutions per day. `progress(phase, done, total)` is called as the work advances.
    The same input (in any order) always gives the same plan.
    """
    report = progress or (lambda phase, done, total: None)
    capacity = plan_input.daily_capacity
    _validate(plan_input)

    couriers = sorted(plan_input.couriers, key=lambda c: c.id)
    courier_index = {c.id: j for j, c in enumerate(couriers)}
    by_segment: dict[str, list[int]] = defaultdict(list)
    for j, c in enumerate(couriers):
        by_segment[c.segment].append(j)
    neighbours = _symmetric(plan_input.neighbours)

    stops = sorted(plan_input.stops, key=lambda s: s.id)
    unassigned: dict[int, UnassignedReason] = {}
    lon = np.array([s.lon for s in stops], dtype=float)
    lat = np.array([s.lat for s in stops], dtype=float)
    located = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)
    station_lon = np.array([c.station_lon for c in couriers], dtype=float)
    station_lat = np.array([c.station_lat for c in couriers], dtype=float)
    lon0, lat0 = _origin(lon[located], lat[located], station_lon, station_lat)
    xy = project_m(np.where(located, lon, lon0), np.where(located, lat, lat0), lon0, lat0)
    station_xy = project_m(station_lon, station_lat, lon0, lat0)

    # (1) Who may take each stop: couriers of its segment and of the neighbouring ones,
    # less the excluded courier. Stops with the same candidates form one load class.
    report("balance", 0, 1)
    pair_stop: list[NDArray] = []
    pair_courier: list[NDArray] = []
    pair_foreign: list[NDArray] = []
    class_members: dict[tuple[int, ...], list[int]] = defaultdict(list)
    home_of: dict[str, list[int]] = {}
    for i, stop in enumerate(stops):
        if not located[i]:
            unassigned[stop.id] = UnassignedReason.NO_LOCATION
            continue
        if stop.segment is None:
            unassigned[stop.id] = UnassignedReason.NO_SEGMENT
            continue
        if stop.segment not in home_of:
            home_of[stop.segment] = [
                j
                for seg in (stop.segment, *sorted(neighbours.get(stop.segment, ())))
                for j in by_segment.get(seg, ())
            ]
        excluded = _excluded_index(stop, courier_index)
        candidates = tuple(j for j in home_of[stop.segment] if j != excluded)
        if not candidates:
            unassigned[stop.id] = UnassignedReason.NO_COURIER
            continue
        class_members[candidates].append(i)
    for candidates, idx_list in sorted(class_members.items()):
        idx = np.asarray(idx_list, dtype=np.int64)
        cand = np.asarray(candidates, dtype=np.int64)
        pair_stop.append(np.repeat(idx, len(cand)))
        pair_courier.append(np.tile(cand, len(idx)))
        segs = np.array([stops[i].segment for i in idx_list], dtype=object)
        own = np.array([couriers[j].segment for j in candidates], dtype=object)
        pair_foreign.append((segs[:, None] != own[None, :]).ravel())
    classes = [LoadClass(len(idx), cand) for cand, idx in sorted(class_members.items())]
    n_couriers = len(couriers)
    total = sum(cls.count for cls in classes)
    lower_bound = math.ceil(total / (n_couriers * capacity)) if total and n_couriers else 0
    best_days = earliest_finish_day(classes, n_couriers, capacity)
    limit_days = best_days
    if plan_input.working_days is not None:
        limit_days = min(best_days, plan_input.working_days)

    # (2) Which courier takes each stop: least total distance from the stations, within
    # the finish day found above.
    chosen = np.full(len(stops), -1, dtype=np.int64)
    if total:
        p_stop = np.concatenate(pair_stop)
        p_courier = np.concatenate(pair_courier)
        chosen = assign_stops(
            p_stop,
            p_courier,
            np.hypot(*(xy[p_stop] - station_xy[p_courier]).T),
            np.concatenate(pair_foreign),
            n_stops=len(stops),
            n_couriers=n_couriers,
            limit=limit_days * capacity,
            move_penalty_m=move_penalty_m,
        )
        for i in np.flatnonzero(chosen < 0).tolist():
            if stops[i].id not in unassigned:
                unassigned[stops[i].id] = UnassignedReason.BEYOND_WORKING_DAYS
    report("balance", 1, 1)

    # (3) Couriers sharing a segment and a station are interchangeable: share their stops
    # again as compact areas of the same sizes.
    per_courier = [np.flatnonzero(chosen == j) for j in range(n_couriers)]
    teams: dict[tuple[str, float, float], list[int]] = defaultdict(list)
    for j, c in enumerate(couriers):
        if len(per_courier[j]):
            teams[(c.segment, c.station_lon, c.station_lat)].append(j)
    for team in teams.values():
        if len(team) < 2:
            continue
        pool = np.sort(np.concatenate([per_courier[j] for j in team]))
        local = {j: g for g, j in enumerate(team)}
        forbidden = np.array(
            [local.get(_excluded_index(stops[i], courier_index), -1) for i in pool.tolist()],
            dtype=np.int64,
        )
        labels = balanced_clusters(
            xy[pool], [len(per_courier[j]) for j in team], station_xy[team[0]], forbidden=forbidden
        )
        for g, j in enumerate(team):
            per_courier[j] = pool[labels == g]

    # (4) and (5): days, then routes.
    assignments: dict[int, Assignment] = {}
    summaries: list[CourierSummary] = []
    for j, courier in enumerate(couriers):
        idx = per_courier[j]
        days = _split_days(idx, xy, station_xy[j], capacity)
        km = 0.0
        for day_number, day in enumerate(days, start=1):
            order = _route(day, lon, lat, courier, route_improve)
            km += tour_km(courier.station_lon, courier.station_lat, lon[order], lat[order])
            for position, i in enumerate(order, start=1):
                stop = stops[i]
                assignments[stop.id] = Assignment(courier.id, day_number, position, stop.coarse)
        coarse = sum(1 for i in idx if stops[i].coarse)
        borrowed = sum(1 for i in idx if stops[i].segment != courier.segment)
        summaries.append(
            CourierSummary(
                courier_id=courier.id,
                visits=len(idx),
                days=len(days),
                km=round(km, 3),
                finish_day=len(days),
                travel_hours=round(km / plan_input.speed_kmh, 2),
                coarse_visits=coarse,
                borrowed_visits=borrowed,
            )
        )
        report("route", j + 1, n_couriers)

    finish = max((s.finish_day for s in summaries), default=0)
    total_km = round(sum(s.km for s in summaries), 3)
    log.info(
        "planned %s visits for %s couriers: finish day %s (lower bound %s, neighbour bound %s),"
        " %.1f km, %s unassigned",
        len(assignments),
        n_couriers,
        finish,
        lower_bound,
        best_days,
        total_km,
        len(unassigned),
    )
    return Plan(
        assignments=assignments,
        couriers=summaries,
        finish_day=finish,
        lower_bound_days=lower_bound,
        total_km=total_km,
        unassigned=dict(sorted(unassigned.items())),
        neighbour_bound_days=best_days,
    )


def _validate(plan_input: PlanInput) -> None:
    errors: dict[str, list[str]] = {}
    if plan_input.daily_capacity < 1:
        errors["daily_capacity"] = ["Must be at least 1."]
    if not plan_input.speed_kmh > 0:
        errors["speed_kmh"] = ["Must be positive."]
    if plan_input.working_days is not None and plan_input.working_days < 1:
        errors["working_days"] = ["Must be at least 1."]
    if len({c.id for c in plan_input.couriers}) != len(plan_input.couriers):
        errors["couriers"] = ["Courier ids must be unique."]
    if not all(
        math.isfinite(c.station_lon) and math.isfinite(c.station_lat) for c in plan_input.couriers
    ):
        errors.setdefault("couriers", []).append("Every courier needs a station location.")
    if len({s.id for s in plan_input.stops}) != len(plan_input.stops):
        errors["stops"] = ["Stop ids must be unique."]
    if errors:
        raise ValidationError("invalid planning input", errors=errors)


def _symmetric(neighbours: Mapping[str, Set[str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for seg, others in neighbours.items():
        for other in others:
            if other != seg:
                out[seg].add(other)
                out[other].add(seg)
    return out


def _origin(
    lon: NDArray, lat: NDArray, station_lon: NDArray, station_lat: NDArray
) -> tuple[float, float]:
    """Centre of the local projection: the mean of everything there is to place."""
    all_lon = np.concatenate((lon, station_lon))
    all_lat = np.concatenate((lat, station_lat))
    if len(all_lon) == 0:
        return 0.0, 0.0
    return float(all_lon.mean()), float(all_lat.mean())


def _excluded_index(stop: Stop, courier_index: Mapping[int, int]) -> int:
    if stop.exclude_courier is None:
        return -1
    return courier_index.get(stop.exclude_courier, -1)


def _split_days(idx: NDArray, xy: NDArray, station: NDArray, capacity: int) -> list[NDArray]:
    """A courier's stops as days of at most `capacity`, compact, numbered around the station."""
    n = len(idx)
    if n == 0:
        return []
    n_days = math.ceil(n / capacity)
    # Even days (e.g. 39 + 39 + 38 rather than 40 + 40 + 36): same finish day, fairer days.
    sizes = [n // n_days + (1 if d < n % n_days else 0) for d in range(n_days)]
    labels = balanced_clusters(xy[idx], sizes, station)
    centroids = np.array([xy[idx[labels == d]].mean(axis=0) for d in range(n_days)])
    return [np.sort(idx[labels == d]) for d in sweep_order(centroids, station).tolist()]


def _route(day: NDArray, lon: NDArray, lat: NDArray, courier: Courier, improve: int) -> list[int]:
    """Stop indices of one day in visiting order, from the courier's station and back."""
    node_lon = np.concatenate(([courier.station_lon], lon[day]))
    node_lat = np.concatenate(([courier.station_lat], lat[day]))
    matrix = np.rint(matrix_m(node_lon, node_lat)).astype(np.int64)
    return [int(day[node - 1]) for node in round_trip_order(matrix, improve_solutions=improve)]
