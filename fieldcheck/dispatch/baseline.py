"""Nearest-neighbour, territory-only plan: the yardstick the planner is measured against."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from fieldcheck.dispatch.distance import project_m, tour_km
from fieldcheck.dispatch.planner import (
    Assignment,
    CourierSummary,
    Plan,
    PlanInput,
    UnassignedReason,
)


def plan_baseline(plan_input: PlanInput, /, *, courier_of: Mapping[int, int] | None = None) -> Plan:
    """Plan the way it is done by hand, with no balancing, clustering or route solver.

    Each segment's stops are cut into equal runs in input order, one run per courier of the
    segment (a re-check whose run belongs to the excluded courier goes to the segment's next
    courier). Each day a courier leaves the station, goes to the nearest unvisited stop,
    then the nearest from there, `daily_capacity` times, and rides back. Neighbours and
    `working_days` are ignored. `courier_of` (stop id -> courier id) replaces the
    territory split, to compare day-making and routing alone on another plan's assignment.
    """
    capacity = plan_input.daily_capacity
    couriers = sorted(plan_input.couriers, key=lambda c: c.id)
    by_segment: dict[str, list[int]] = defaultdict(list)
    for j, courier in enumerate(couriers):
        by_segment[courier.segment].append(j)

    unassigned: dict[int, UnassignedReason] = {}
    segment_stops: dict[str, list[int]] = defaultdict(list)
    stops = list(plan_input.stops)
    for i, stop in enumerate(stops):
        if not (math.isfinite(stop.lon) and math.isfinite(stop.lat)):
            unassigned[stop.id] = UnassignedReason.NO_LOCATION
        elif stop.segment is None:
            unassigned[stop.id] = UnassignedReason.NO_SEGMENT
        elif not by_segment.get(stop.segment):
            unassigned[stop.id] = UnassignedReason.NO_COURIER
        else:
            segment_stops[stop.segment].append(i)

    runs: list[list[int]] = [[] for _ in couriers]
    if courier_of is not None:
        index = {c.id: j for j, c in enumerate(couriers)}
        segment_stops.clear()
        for i, stop in enumerate(stops):
            if stop.id in courier_of:
                runs[index[courier_of[stop.id]]].append(i)
                unassigned.pop(stop.id, None)
    for segment, idx in segment_stops.items():
        team = by_segment[segment]
        for part, chunk in enumerate(np.array_split(np.asarray(idx), len(team))):
            for i in chunk.tolist():
                stop = stops[i]
                for shift in range(len(team)):
                    j = team[(part + shift) % len(team)]
                    if couriers[j].id != stop.exclude_courier:
                        runs[j].append(i)
                        break
                else:
                    unassigned[stop.id] = UnassignedReason.NO_COURIER

    lon = np.array([s.lon for s in stops], dtype=float)
    lat = np.array([s.lat for s in stops], dtype=float)
    lon0 = float(np.nanmean(lon)) if len(stops) else 0.0
    lat0 = float(np.nanmean(lat)) if len(stops) else 0.0
    xy = project_m(np.nan_to_num(lon, nan=lon0), np.nan_to_num(lat, nan=lat0), lon0, lat0)

    assignments: dict[int, Assignment] = {}
    summaries: list[CourierSummary] = []
    for j, courier in enumerate(couriers):
        idx = np.asarray(runs[j], dtype=np.int64)
        station = project_m(courier.station_lon, courier.station_lat, lon0, lat0)[0]
        points = xy[idx]
        left = np.ones(len(idx), dtype=bool)
        km = 0.0
        day = 0
        while left.any():
            day += 1
            here = station
            route: list[int] = []
            for _ in range(min(capacity, int(left.sum()))):
                d = np.hypot(points[:, 0] - here[0], points[:, 1] - here[1])
                d[~left] = np.inf
                nearest = int(np.argmin(d))
                left[nearest] = False
                route.append(int(idx[nearest]))
                here = points[nearest]
            km += tour_km(courier.station_lon, courier.station_lat, lon[route], lat[route])
            for order, i in enumerate(route, start=1):
                assignments[stops[i].id] = Assignment(courier.id, day, order, stops[i].coarse)
        summaries.append(
            CourierSummary(
                courier_id=courier.id,
                visits=len(idx),
                days=day,
                km=round(km, 3),
                finish_day=day,
                travel_hours=round(km / plan_input.speed_kmh, 2),
                coarse_visits=sum(1 for i in idx.tolist() if stops[i].coarse),
            )
        )

    total = len(assignments)
    lower_bound = math.ceil(total / (len(couriers) * capacity)) if total and couriers else 0
    return Plan(
        assignments=assignments,
        couriers=summaries,
        finish_day=max((s.finish_day for s in summaries), default=0),
        lower_bound_days=lower_bound,
        total_km=round(sum(s.km for s in summaries), 3),
        unassigned=dict(sorted(unassigned.items())),
    )
