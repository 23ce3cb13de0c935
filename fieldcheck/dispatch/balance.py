"""Courier loads: the earliest finish day the neighbour rule allows, and who takes which stop."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import max_flow, min_cost_flow

# Flow costs are integers: decimetres of distance from the courier's station.
_COST_PER_M = 10
# Load steps per courier: the k-th step costs k, a convex cost that spreads a segment's
# visits evenly over its couriers. 1,000 steps stay under 100 m of distance, so evening out
# loads never sends a visit to another segment by itself.
_MAX_STEPS = 1000
# A visit that cannot fit within the working days at all.
_DROP_COST = 10**12


@dataclass(frozen=True)
class LoadClass:
    """Visits that are interchangeable for capacity: same allowed couriers."""

    count: int
    candidates: tuple[int, ...]


def _max_assignable(classes: Sequence[LoadClass], n_couriers: int, limit: int) -> int:
    """How many visits fit when no courier takes more than `limit` (a max flow)."""
    graph = max_flow.SimpleMaxFlow()
    source, sink, first_class = 0, 1, 2
    first_courier = first_class + len(classes)
    tails, heads, caps = [], [], []
    for k, cls in enumerate(classes):
        tails.append(source)
        heads.append(first_class + k)
        caps.append(cls.count)
        for j in cls.candidates:
            tails.append(first_class + k)
            heads.append(first_courier + j)
            caps.append(cls.count)
    for j in range(n_couriers):
        tails.append(first_courier + j)
        heads.append(sink)
        caps.append(limit)
    graph.add_arcs_with_capacity(
        np.asarray(tails, dtype=np.int32),
        np.asarray(heads, dtype=np.int32),
        np.asarray(caps, dtype=np.int64),
    )
    if graph.solve(source, sink) != graph.OPTIMAL:
        raise RuntimeError("max flow failed")
    return int(graph.optimal_flow())


def earliest_finish_day(classes: Sequence[LoadClass], n_couriers: int, capacity: int) -> int:
    """Smallest number of days within which every visit fits, honouring who may take what."""
    total = sum(cls.count for cls in classes)
    if total == 0:
        return 0
    low = max(1, math.ceil(total / (n_couriers * capacity)))
    high = low
    while _max_assignable(classes, n_couriers, high * capacity) < total:
        low, high = high + 1, high * 2
    while low < high:
        mid = (low + high) // 2
        if _max_assignable(classes, n_couriers, mid * capacity) >= total:
            high = mid
        else:
            low = mid + 1
    return high


def assign_stops(
    stop: NDArray,
    courier: NDArray,
    distance_m: NDArray,
    foreign: NDArray,
    *,
    n_stops: int,
    n_couriers: int,
    limit: int,
    move_penalty_m: float,
) -> NDArray:
    """Courier index for each stop (-1: does not fit), no courier above `limit` visits.

    The candidate pairs come as parallel arrays (`stop[a]` may go to `courier[a]`, whose
    station is `distance_m[a]` away; `foreign[a]` when the courier is from another segment).
    A min-cost flow minimises the total distance from the stations, which is what the
    daily rides out and back add up to, plus `move_penalty_m` for each visit leaving its
    segment: visits move only where the finish day needs it or the other station is much
    nearer. Deterministic.
    """
    sink = n_stops + n_couriers
    cost = np.rint(distance_m * _COST_PER_M).astype(np.int64)
    cost += np.where(foreign, round(move_penalty_m * _COST_PER_M), 0)
    step = max(1, math.ceil(limit / _MAX_STEPS))
    starts = np.arange(0, limit, step)
    step_caps = np.minimum(step, limit - starts)
    n_steps = len(starts)
    tails = np.concatenate(
        (stop, np.arange(n_stops), np.repeat(np.arange(n_couriers) + n_stops, n_steps))
    )
    heads = np.concatenate(
        (courier + n_stops, np.full(n_stops, sink), np.full(n_couriers * n_steps, sink))
    )
    caps = np.concatenate(
        (np.ones(len(stop) + n_stops, dtype=np.int64), np.tile(step_caps, n_couriers))
    )
    costs = np.concatenate(
        (cost, np.full(n_stops, _DROP_COST), np.tile(np.arange(1, n_steps + 1), n_couriers))
    )
    flow = min_cost_flow.SimpleMinCostFlow()
    flow.add_arcs_with_capacity_and_unit_cost(
        tails.astype(np.int32), heads.astype(np.int32), caps.astype(np.int64), costs
    )
    supplies = np.zeros(sink + 1, dtype=np.int64)
    supplies[:n_stops] = 1
    supplies[sink] = -n_stops
    flow.set_nodes_supplies(np.arange(sink + 1, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"courier assignment failed with status {status}")
    used = flow.flows(np.arange(len(stop), dtype=np.int32)) > 0
    result = np.full(n_stops, -1, dtype=np.int64)
    result[stop[used]] = courier[used]
    return result
