"""Campaign planner and its baseline on small synthetic counties."""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from itertools import pairwise

import numpy as np
import pytest
from shapely.geometry import box

from fieldcheck.dispatch.baseline import plan_baseline
from fieldcheck.dispatch.clusters import balanced_clusters
from fieldcheck.dispatch.distance import haversine_m, tour_km
from fieldcheck.dispatch.planner import (
    Courier,
    Plan,
    PlanInput,
    Stop,
    UnassignedReason,
    plan,
)
from fieldcheck.dispatch.routing import round_trip_order
from fieldcheck.dispatch.territories import neighbours_from_polygons
from fieldcheck.errors import ValidationError

# Segments are 0.02° squares (about 2 km) in a row along the equator-ish latitude of Yongkang.
LAT0 = 28.9
LON0 = 120.0
SIZE = 0.02


def square(col: int) -> tuple[float, float, float, float]:
    """(min lon, min lat, max lon, max lat) of the segment in column `col`."""
    return (LON0 + col * SIZE, LAT0, LON0 + (col + 1) * SIZE, LAT0 + SIZE)


def station(col: int) -> tuple[float, float]:
    x0, y0, x1, y1 = square(col)
    return ((x0 + x1) / 2, (y0 + y1) / 2)


def make_stops(
    col: int, n: int, *, first_id: int, seed: int, segment: str | None = None, **extra
) -> list[Stop]:
    rng = random.Random(seed)
    x0, y0, x1, y1 = square(col)
    return [
        Stop(
            id=first_id + k,
            lon=rng.uniform(x0, x1),
            lat=rng.uniform(y0, y1),
            segment=segment if segment is not None else f"S{col}",
            **extra,
        )
        for k in range(n)
    ]


def make_couriers(col: int, ids: list[int]) -> list[Courier]:
    lon, lat = station(col)
    return [Courier(id=i, segment=f"S{col}", station_lon=lon, station_lat=lat) for i in ids]


def row_neighbours(n: int) -> dict[str, set[str]]:
    """Segments S0..S{n-1} in a row, each touching the next."""
    return neighbours_from_polygons({f"S{c}": box(*square(c)) for c in range(n)})


def loads(result: Plan) -> dict[int, int]:
    return {c.courier_id: c.visits for c in result.couriers}


def day_routes(result: Plan) -> dict[tuple[int, int], list[int]]:
    """(courier, day) -> stop ids in route order."""
    routes: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for stop_id, a in result.assignments.items():
        routes[(a.courier_id, a.day)].append((a.order, stop_id))
    return {key: [s for _, s in sorted(v)] for key, v in routes.items()}


@pytest.fixture
def county() -> PlanInput:
    """Three segments in a row: S0 overloaded, S1 light, S2 with two couriers; capacity 10."""
    stops = (
        make_stops(0, 150, first_id=1, seed=1)
        + make_stops(1, 20, first_id=1001, seed=2)
        + make_stops(2, 60, first_id=2001, seed=3)
    )
    couriers = make_couriers(0, [1]) + make_couriers(1, [2]) + make_couriers(2, [3, 4])
    return PlanInput(stops, couriers, row_neighbours(3), daily_capacity=10)


def test_plan_splits_a_segment_evenly_between_its_couriers():
    # Loads of couriers of one segment differ by at most one visit (no neighbours, no
    # re-checks): 100 visits over 3 couriers are 34 + 33 + 33.
    plan_input = PlanInput(
        make_stops(0, 100, first_id=1, seed=4),
        make_couriers(0, [1, 2, 3]),
        {},
        daily_capacity=10,
    )

    result = plan(plan_input)

    assert sorted(loads(result).values()) == [33, 33, 34]
    assert result.finish_day == 4


def test_plan_gives_each_courier_of_a_segment_a_compact_area():
    # Two couriers at one station: each one's area is a slice, not every other stop, so
    # each courier's visits lie nearer their own centroid than the other courier's.
    plan_input = PlanInput(
        make_stops(0, 80, first_id=1, seed=5), make_couriers(0, [1, 2]), {}, daily_capacity=10
    )

    result = plan(plan_input)

    by_courier = defaultdict(list)
    stops = {s.id: s for s in plan_input.stops}
    for stop_id, a in result.assignments.items():
        by_courier[a.courier_id].append(stops[stop_id])
    centroid = {
        c: (sum(s.lon for s in v) / len(v), sum(s.lat for s in v) / len(v))
        for c, v in by_courier.items()
    }
    misplaced = 0
    for c, members in by_courier.items():
        other = centroid[2 if c == 1 else 1]
        for s in members:
            own_d = haversine_m(s.lon, s.lat, *centroid[c])
            misplaced += int(own_d > haversine_m(s.lon, s.lat, *other))
    assert misplaced <= 4


def test_plan_sends_overflow_to_an_idle_neighbouring_segment():
    plan_input = PlanInput(
        make_stops(0, 200, first_id=1, seed=6),
        make_couriers(0, [1]) + make_couriers(1, [2]),
        row_neighbours(2),
        daily_capacity=10,
    )

    result = plan(plan_input)

    assert loads(result) == {1: 100, 2: 100}
    assert result.finish_day == result.lower_bound_days == 10
    helper = next(c for c in result.couriers if c.courier_id == 2)
    assert helper.borrowed_visits == 100


def test_plan_never_sends_visits_to_a_segment_that_is_not_a_neighbour():
    # S0 is overloaded, S1 touches it, S2 touches only S1: S2's courier stays idle.
    plan_input = PlanInput(
        make_stops(0, 300, first_id=1, seed=7),
        make_couriers(0, [1]) + make_couriers(1, [2]) + make_couriers(2, [3]),
        row_neighbours(3),
        daily_capacity=10,
    )

    result = plan(plan_input)

    assert loads(result)[3] == 0
    assert result.finish_day == result.neighbour_bound_days == 15
    assert result.lower_bound_days == 10


def test_plan_keeps_visits_in_their_segment_when_its_couriers_have_room():
    plan_input = PlanInput(
        make_stops(0, 30, first_id=1, seed=18) + make_stops(1, 30, first_id=101, seed=19),
        make_couriers(0, [1]) + make_couriers(1, [2]),
        row_neighbours(2),
        daily_capacity=10,
    )

    result = plan(plan_input)

    assert all(c.borrowed_visits == 0 for c in result.couriers)
    assert loads(result) == {1: 30, 2: 30}


def test_plan_moves_the_visits_nearest_the_receiving_station(county):
    result = plan(county)

    # S0 (150 visits, one courier) lends to S1's courier; the visits S1 takes from S0 lie
    # on S0's side nearer S1, so they average east of those S0 keeps.
    stops = {s.id: s for s in county.stops}
    lent = [stops[i].lon for i, a in result.assignments.items() if a.courier_id == 2 and i < 1000]
    kept = [stops[i].lon for i, a in result.assignments.items() if a.courier_id == 1]
    assert lent
    assert sum(lent) / len(lent) > sum(kept) / len(kept)


def test_plan_reaches_the_earliest_finish_day_the_neighbours_allow(county):
    result = plan(county)

    # 230 visits, 4 couriers, 10 a day: 6 days at best; but only S0's and S1's couriers may
    # take S0's 150 visits, so 75 each, 8 days.
    assert result.lower_bound_days == 6
    assert result.finish_day == result.neighbour_bound_days == 8


def test_plan_with_two_hop_neighbours_reaches_the_lower_bound(county):
    wider = neighbours_from_polygons({f"S{c}": box(*square(c)) for c in range(3)}, hops=2)
    result = plan(PlanInput(county.stops, county.couriers, wider, daily_capacity=10))

    assert result.finish_day == result.lower_bound_days == 6


def test_plan_never_exceeds_the_daily_capacity(county):
    result = plan(county)

    per_day = Counter((a.courier_id, a.day) for a in result.assignments.values())
    assert max(per_day.values()) <= county.daily_capacity
    for summary in result.couriers:
        days = {a.day for a in result.assignments.values() if a.courier_id == summary.courier_id}
        assert days == set(range(1, summary.days + 1))
        assert summary.finish_day == summary.days


def test_plan_numbers_each_days_route_from_one(county):
    result = plan(county)

    orders: dict[tuple[int, int], list[int]] = defaultdict(list)
    for a in result.assignments.values():
        orders[(a.courier_id, a.day)].append(a.order)
    for values in orders.values():
        assert sorted(values) == list(range(1, len(values) + 1))


def test_plan_kilometres_include_the_rides_from_and_back_to_the_station(county):
    result = plan(county)

    stops = {s.id: s for s in county.stops}
    couriers = {c.id: c for c in county.couriers}
    expected: dict[int, float] = defaultdict(float)
    for (courier_id, _day), route in day_routes(result).items():
        c = couriers[courier_id]
        points = [(c.station_lon, c.station_lat)]
        points += [(stops[i].lon, stops[i].lat) for i in route]
        points += [(c.station_lon, c.station_lat)]
        metres = sum(float(haversine_m(*a, *b)) for a, b in pairwise(points))
        expected[courier_id] += metres / 1000
    for summary in result.couriers:
        assert summary.km == pytest.approx(expected[summary.courier_id], abs=0.01)
    assert result.total_km == pytest.approx(sum(expected.values()), abs=0.05)


def test_plan_counts_both_legs_of_a_single_visit_day():
    lon, lat = station(0)
    stop = Stop(id=1, lon=lon + 0.01, lat=lat, segment="S0")
    result = plan(PlanInput([stop], make_couriers(0, [1]), {}, daily_capacity=10))

    one_way_km = float(haversine_m(lon, lat, lon + 0.01, lat)) / 1000
    assert result.total_km == pytest.approx(2 * one_way_km, abs=0.001)
    assert result.assignments[1].order == 1


def test_plan_routes_are_shorter_than_visiting_in_id_order(county):
    result = plan(county)

    stops = {s.id: s for s in county.stops}
    couriers = {c.id: c for c in county.couriers}
    for (courier_id, _day), route in day_routes(result).items():
        c = couriers[courier_id]
        planned = tour_km(
            c.station_lon,
            c.station_lat,
            [stops[i].lon for i in route],
            [stops[i].lat for i in route],
        )
        by_id = tour_km(
            c.station_lon,
            c.station_lat,
            [stops[i].lon for i in sorted(route)],
            [stops[i].lat for i in sorted(route)],
        )
        assert planned <= by_id + 1e-9


def test_plan_gives_a_recheck_to_another_courier_of_the_segment():
    stops = make_stops(0, 40, first_id=1, seed=8, exclude_courier=1)
    stops += make_stops(0, 40, first_id=101, seed=9, exclude_courier=2)
    result = plan(PlanInput(stops, make_couriers(0, [1, 2]), {}, daily_capacity=10))

    for stop in stops:
        assert result.assignments[stop.id].courier_id != stop.exclude_courier
    assert loads(result) == {1: 40, 2: 40}


def test_plan_gives_a_recheck_to_a_neighbour_when_the_segment_has_one_courier():
    stops = make_stops(0, 10, first_id=1, seed=10, exclude_courier=1)
    stops += make_stops(0, 10, first_id=101, seed=11)
    result = plan(
        PlanInput(
            stops,
            make_couriers(0, [1]) + make_couriers(1, [2]),
            row_neighbours(2),
            daily_capacity=40,
        )
    )

    assert {result.assignments[i].courier_id for i in range(1, 11)} == {2}
    assert {result.assignments[i].courier_id for i in range(101, 111)} == {1}


def test_plan_leaves_a_recheck_unassigned_when_only_the_excluded_courier_could_go():
    stop = make_stops(0, 1, first_id=1, seed=12, exclude_courier=1)[0]
    result = plan(PlanInput([stop], make_couriers(0, [1]), {}, daily_capacity=10))

    assert result.unassigned == {1: UnassignedReason.NO_COURIER}
    assert result.assignments == {}


def test_plan_reports_stops_without_segment_courier_or_location():
    stops = make_stops(0, 5, first_id=1, seed=13)
    stops.append(Stop(id=100, lon=120.01, lat=28.91, segment=None))
    stops.append(Stop(id=101, lon=120.5, lat=28.91, segment="S9"))  # nobody serves S9
    stops.append(Stop(id=102, lon=math.nan, lat=28.91, segment="S0"))
    result = plan(PlanInput(stops, make_couriers(0, [1]), {}, daily_capacity=10))

    assert result.unassigned == {
        100: UnassignedReason.NO_SEGMENT,
        101: UnassignedReason.NO_COURIER,
        102: UnassignedReason.NO_LOCATION,
    }
    assert set(result.assignments) == {1, 2, 3, 4, 5}
    assert result.lower_bound_days == 1


def test_plan_stops_at_the_working_days_and_reports_the_rest():
    plan_input = PlanInput(
        make_stops(0, 50, first_id=1, seed=14),
        make_couriers(0, [1]),
        {},
        daily_capacity=10,
        working_days=3,
    )

    result = plan(plan_input)

    assert result.finish_day == 3
    assert len(result.assignments) == 30
    assert set(result.unassigned.values()) == {UnassignedReason.BEYOND_WORKING_DAYS}
    assert len(result.unassigned) == 20


def test_plan_marks_visits_located_to_a_township_centre():
    stops = make_stops(0, 3, first_id=1, seed=15)
    stops += make_stops(0, 2, first_id=11, seed=16, coarse=True)
    result = plan(PlanInput(stops, make_couriers(0, [1]), {}, daily_capacity=10))

    assert {i for i, a in result.assignments.items() if a.coarse} == {11, 12}
    assert result.couriers[0].coarse_visits == 2


def test_plan_is_the_same_for_the_same_input(county):
    first = plan(county)
    shuffled = list(county.stops)
    random.Random(0).shuffle(shuffled)
    second = plan(PlanInput(shuffled, county.couriers, county.neighbours, daily_capacity=10))

    assert first == plan(county)
    assert second == first


def test_plan_reports_progress(county):
    calls = []
    plan(county, progress=lambda phase, done, total: calls.append((phase, done, total)))

    phases = [c[0] for c in calls]
    assert {"balance", "route"} <= set(phases)
    assert calls[-1] == ("route", len(county.couriers), len(county.couriers))
    assert all(0 <= done <= total for _, done, total in calls)


def test_plan_with_no_stops_is_empty():
    result = plan(PlanInput([], make_couriers(0, [1]), {}, daily_capacity=10))

    assert result.assignments == {}
    assert result.finish_day == result.lower_bound_days == 0
    assert result.couriers[0].visits == 0


def test_plan_without_couriers_leaves_every_stop_unassigned():
    result = plan(PlanInput(make_stops(0, 3, first_id=1, seed=0), [], {}, daily_capacity=10))

    assert result.unassigned == dict.fromkeys([1, 2, 3], UnassignedReason.NO_COURIER)
    assert result.couriers == []
    assert result.finish_day == result.lower_bound_days == 0


def test_plan_rejects_a_courier_without_a_station():
    courier = Courier(id=1, segment="S0", station_lon=math.nan, station_lat=28.9)
    with pytest.raises(ValidationError) as raised:
        plan(PlanInput(make_stops(0, 1, first_id=1, seed=0), [courier], {}, 10))

    assert "couriers" in raised.value.errors


def test_plan_rejects_a_daily_capacity_below_one():
    with pytest.raises(ValidationError) as raised:
        plan(PlanInput(make_stops(0, 1, first_id=1, seed=0), make_couriers(0, [1]), {}, 0))

    assert "daily_capacity" in raised.value.errors


def test_plan_rejects_duplicate_stop_ids():
    stops = make_stops(0, 2, first_id=1, seed=0)
    with pytest.raises(ValidationError):
        plan(PlanInput([stops[0], stops[0]], make_couriers(0, [1]), {}, 10))


def test_neighbours_from_polygons_joins_touching_segments_including_corners():
    grid = {f"{r}{c}": box(c, r, c + 1, r + 1) for r in range(3) for c in range(3)}

    neighbours = neighbours_from_polygons(grid)

    assert neighbours["11"] == set(grid) - {"11"}
    assert neighbours["00"] == {"01", "10", "11"}
    assert all(code not in others for code, others in neighbours.items())


def test_neighbours_from_polygons_with_two_hops_reaches_one_segment_further():
    row = {f"S{c}": box(c, 0, c + 1, 1) for c in range(4)}

    assert neighbours_from_polygons(row)["S0"] == {"S1"}
    assert neighbours_from_polygons(row, hops=2)["S0"] == {"S1", "S2"}


def test_neighbours_from_polygons_tolerance_bridges_a_sliver():
    pair = {"A": box(0, 0, 1, 1), "B": box(1.0001, 0, 2, 1)}

    assert neighbours_from_polygons(pair) == {"A": set(), "B": set()}
    assert neighbours_from_polygons(pair, tolerance=0.001) == {"A": {"B"}, "B": {"A"}}


def test_baseline_keeps_visits_in_their_segment_and_days_within_capacity(county):
    result = plan_baseline(county)

    segment_of = {c.id: c.segment for c in county.couriers}
    for stop in county.stops:
        assert segment_of[result.assignments[stop.id].courier_id] == stop.segment
    per_day = Counter((a.courier_id, a.day) for a in result.assignments.values())
    assert max(per_day.values()) <= county.daily_capacity
    # S0's one courier carries all 150 visits: 15 days, against the planner's 6.
    assert result.finish_day == 15


def test_baseline_goes_to_the_nearest_stop_first():
    lon, lat = station(0)
    stops = [
        Stop(id=1, lon=lon + 0.003, lat=lat, segment="S0"),
        Stop(id=2, lon=lon + 0.001, lat=lat, segment="S0"),
        Stop(id=3, lon=lon + 0.002, lat=lat, segment="S0"),
    ]
    result = plan_baseline(PlanInput(stops, make_couriers(0, [1]), {}, daily_capacity=10))

    assert [result.assignments[i].order for i in (2, 3, 1)] == [1, 2, 3]


def test_planner_rides_less_than_the_baseline_on_one_segment():
    # Same territory, no balancing needed: what is left is clustering and routing.
    plan_input = PlanInput(
        make_stops(0, 200, first_id=1, seed=17),
        make_couriers(0, [1, 2]),
        {},
        daily_capacity=20,
    )

    assert plan(plan_input).total_km < plan_baseline(plan_input).total_km


def test_balanced_clusters_keep_exact_sizes_and_forbidden_groups():
    rng = random.Random(20)
    xy = np.array([(rng.uniform(0, 1000), rng.uniform(0, 1000)) for _ in range(50)])
    forbidden = np.array([1 if k < 10 else -1 for k in range(50)])

    labels = balanced_clusters(xy, [20, 17, 13], np.array([500.0, 500.0]), forbidden=forbidden)

    assert np.bincount(labels, minlength=3).tolist() == [20, 17, 13]
    assert not (labels[:10] == 1).any()


def test_round_trip_order_visits_points_on_a_line_in_order():
    # Station at 0, stops at 3, 1, 2 (km) along a line: out 1, 2, 3 and back (or reverse).
    position = [0, 3, 1, 2]
    matrix = np.array([[abs(a - b) * 1000 for b in position] for a in position])

    assert round_trip_order(matrix) in ([2, 3, 1], [1, 3, 2])
