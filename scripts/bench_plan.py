"""Benchmark of campaign planning on a generated county: planner against the baseline.

Usage: python scripts/bench_plan.py [COUNTY_FOLDER] [--capacity 40] [--hops 0,1,2]

Loads truth.csv (registered location of every business), territories.geojson (delivery
segments and their stations) and couriers.csv, plans the nearest-neighbour territory-only
baseline and the planner in the same run, and prints time, kilometres and finish days.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np
import shapely
from ortools.graph.python import min_cost_flow
from shapely.geometry import Polygon, shape

from fieldcheck.dispatch.baseline import plan_baseline
from fieldcheck.dispatch.distance import haversine_m
from fieldcheck.dispatch.planner import Courier, Plan, PlanInput, Stop, plan
from fieldcheck.dispatch.territories import neighbours_from_polygons

DEFAULT_COUNTY = Path(__file__).resolve().parents[1].parent / "shared/data/yongkang-40k"


def _number(code: str) -> int:
    """Integer id from a code such as E0000123 or YKEMS0007."""
    return int(re.sub(r"\D", "", code))


def load_county(folder: Path, *, capacity: int) -> tuple[PlanInput, dict[str, Polygon], int]:
    """PlanInput for every registered business of the county (touching segments as
    neighbours), the segment polygons, and how many businesses were left out."""
    features = json.loads((folder / "territories.geojson").read_text(encoding="utf-8"))["features"]
    polygons = {f["properties"]["code"]: shape(f["geometry"]) for f in features}
    codes = sorted(polygons)
    tree = shapely.STRtree([polygons[c] for c in codes])

    ids, lons, lats = [], [], []
    skipped = 0
    with (folder / "truth.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            # Businesses found in the field have no registered location: nothing to visit.
            if not row["registered_lon"]:
                skipped += 1
                continue
            ids.append(_number(row["entity"]))
            lons.append(float(row["registered_lon"]))
            lats.append(float(row["registered_lat"]))
    points = shapely.points(np.array(lons), np.array(lats))
    point_idx, poly_idx = tree.query(points, predicate="intersects")
    segment: list[str | None] = [None] * len(ids)
    # A point on a shared boundary matches two segments: the first code wins.
    for i, p in sorted(zip(point_idx.tolist(), poly_idx.tolist(), strict=True), reverse=True):
        segment[i] = codes[p]
    stops = [
        Stop(id=i, lon=x, lat=y, segment=s)
        for i, x, y, s in zip(ids, lons, lats, segment, strict=True)
    ]

    with (folder / "couriers.csv").open(encoding="utf-8-sig", newline="") as fh:
        couriers = [
            Courier(
                id=_number(row["工号"]),
                segment=row["投递段"],
                station_lon=float(row["网点经度"]),
                station_lat=float(row["网点纬度"]),
            )
            for row in csv.DictReader(fh)
        ]
    neighbours = neighbours_from_polygons(polygons)
    return PlanInput(stops, couriers, neighbours, daily_capacity=capacity), polygons, skipped


def km_floor(plan_input: PlanInput, days: int) -> float:
    """Fewest kilometres any plan finishing by `days` can ride, whoever serves what.

    A day's round trip is at least twice the distance of its farthest visit from the station,
    so at least 2 × (sum of its visits' distances) / capacity. Minimising
    that sum over assignments with at most `days` × capacity visits per courier (neighbour
    rule ignored, which can only lower it) is a transportation problem.
    """
    stops = [s for s in plan_input.stops if s.segment is not None]
    couriers = plan_input.couriers
    n, k = len(stops), len(couriers)
    dist = haversine_m(
        np.array([s.lon for s in stops])[:, None],
        np.array([s.lat for s in stops])[:, None],
        np.array([c.station_lon for c in couriers])[None, :],
        np.array([c.station_lat for c in couriers])[None, :],
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        np.repeat(np.arange(n), k).astype(np.int32),
        (n + np.tile(np.arange(k), n)).astype(np.int32),
        np.ones(n * k, dtype=np.int64),
        np.rint(dist.ravel()).astype(np.int64),
    )
    sink = n + k
    flow.add_arcs_with_capacity_and_unit_cost(
        np.arange(n, n + k, dtype=np.int32),
        np.full(k, sink, dtype=np.int32),
        np.full(k, days * plan_input.daily_capacity, dtype=np.int64),
        np.zeros(k, dtype=np.int64),
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n] = 1
    supplies[sink] = -n
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int32), supplies)
    if flow.solve() != flow.OPTIMAL:
        return math.nan
    return 2 * flow.optimal_cost() / plan_input.daily_capacity / 1000


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _row(name: str, result: Plan, timing: tuple[float, float], baseline_km: float | None) -> str:
    """One line of the table; `timing` is (wall, cpu) seconds since the step began."""
    wall = time.perf_counter() - timing[0]
    cpu = time.process_time() - timing[1]
    ratio = result.finish_day / result.lower_bound_days if result.lower_bound_days else math.nan
    vs = f"{(result.total_km / baseline_km - 1) * 100:+.1f} %" if baseline_km else "—"
    return (
        f"{name:<28} {wall:>7.1f} {cpu:>6.1f} {result.total_km:>9,.0f} {result.finish_day:>7}"
        f" {result.lower_bound_days:>6} {result.neighbour_bound_days or '—':>6}"
        f" {ratio:>6.2f} {vs:>9} {len(result.unassigned):>6} {_peak_rss_mb():>8.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("county", nargs="?", type=Path, default=DEFAULT_COUNTY)
    parser.add_argument("--capacity", type=int, default=40, help="visits per courier-day")
    parser.add_argument(
        "--hops",
        default="0,1,2",
        help="neighbour reaches to plan with: 0 none, 1 touching, 2 one segment further",
    )
    parser.add_argument(
        "--route-improve", type=int, default=0, help="guided local search solutions per day"
    )
    parser.add_argument("--no-floor", action="store_true", help="skip the km floor figures")
    args = parser.parse_args(argv)

    hops_list = [int(h) for h in args.hops.split(",")]
    started = time.perf_counter()
    plan_input, polygons, skipped = load_county(args.county, capacity=args.capacity)
    load_s = time.perf_counter() - started
    print(
        f"county {args.county.name}: {len(plan_input.stops)} businesses "
        f"({skipped} unregistered left out), {len(plan_input.couriers)} couriers, "
        f"{len({c.segment for c in plan_input.couriers})} segments with couriers, "
        f"{args.capacity} visits per courier-day; loaded in {load_s:.1f} s"
    )
    header = (
        f"{'plan':<28} {'wall s':>7} {'cpu s':>6} {'total km':>9} {'finish':>7} {'lower':>6}"
        f" {'nbr':>6}"
        f" {'ratio':>6} {'km vs bl':>9} {'unasg':>6} {'RSS MB':>8}"
    )
    print(header)
    print("-" * len(header))

    started = (time.perf_counter(), time.process_time())
    base = plan_baseline(plan_input)
    print(_row("baseline (NN, territory)", base, started, None))
    finishes = {"baseline": base.finish_day}
    for hops in hops_list:
        # hops=0: no neighbours at all, each segment on its own (territory only).
        neighbours = neighbours_from_polygons(polygons, hops=hops) if hops else {}
        plan_input = dataclasses.replace(plan_input, neighbours=neighbours)
        started = (time.perf_counter(), time.process_time())
        result = plan(plan_input, route_improve=args.route_improve)
        name = {0: "planner, territory only", 1: "planner, touching segments"}.get(
            hops, f"planner, within {hops} hops"
        )
        print(_row(name, result, started, base.total_km))
        finishes[name] = result.finish_day
        # Same couriers' workloads, days and order made by nearest neighbour instead.
        courier_of = {i: a.courier_id for i, a in result.assignments.items()}
        started = (time.perf_counter(), time.process_time())
        same = plan_baseline(plan_input, courier_of=courier_of)
        print(_row("  same split, NN days", same, started, base.total_km))
    print(
        "lower = ceil(visits / (couriers × capacity)); nbr = earliest finish the neighbour"
        " relation allows; ratio = finish / lower; km vs bl = total km against the baseline;"
        " RSS = peak of the process so far"
    )
    if not args.no_floor:
        print(
            "km floor: least any plan finishing by that day can ride (2 × station distance"
            " / capacity, best assignment, neighbour rule ignored)"
        )
        for day in sorted(set(finishes.values())):
            print(f"  finish by day {day:>3}: {km_floor(plan_input, day):>9,.0f} km")
    return 0


if __name__ == "__main__":
    sys.exit(main())
