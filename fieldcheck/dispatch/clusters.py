"""Splitting points into spatially compact groups of exact sizes (couriers' areas, days)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from ortools.graph.python import min_cost_flow

# Beyond this many groups each point only considers its nearest few centroids (plus the group
# it is in, which keeps the problem feasible), so the flow stays small for couriers with
# many days.
_NEAREST_GROUPS = 12


def sweep_order(xy: NDArray, centre: NDArray) -> NDArray:
    """Indices of the points by angle around `centre`, starting after the widest empty gap.

    Starting in the widest gap keeps a natural group of points from being cut in two at the
    arbitrary angle where atan2 wraps around. Ties (same bearing) go nearest first.
    """
    if len(xy) == 0:
        return np.zeros(0, dtype=np.int64)
    d = xy - centre
    angle = np.arctan2(d[:, 1], d[:, 0])
    radius = np.hypot(d[:, 0], d[:, 1])
    order = np.lexsort((np.arange(len(xy)), radius, angle))
    sorted_angle = angle[order]
    gaps = np.diff(np.concatenate((sorted_angle, [sorted_angle[0] + 2 * np.pi])))
    start = (int(np.argmax(gaps)) + 1) % len(order)
    return np.roll(order, -start)


def balanced_clusters(
    xy: NDArray,
    sizes: Sequence[int],
    centre: NDArray,
    *,
    forbidden: NDArray | None = None,
    iterations: int = 6,
) -> NDArray:
    """Label each point with a group 0..k-1 so that group g holds exactly `sizes[g]` points.

    Starts from a sweep around `centre` (pie slices of the right sizes), then alternates
    between moving each centroid to the mean of its group and reassigning points to
    centroids by a min-cost flow that keeps the sizes exact (capacitated k-means).
    `forbidden[i]` is a group point i may not join, or -1. Deterministic.
    """
    n = len(xy)
    k = len(sizes)
    if sum(sizes) != n:
        raise ValueError("group sizes must add up to the number of points")
    if k == 0:
        return np.zeros(0, dtype=np.int64)
    labels = np.empty(n, dtype=np.int64)
    order = sweep_order(xy, centre)
    bounds = np.cumsum([0, *sizes])
    for g in range(k):
        labels[order[bounds[g] : bounds[g + 1]]] = g
    if k == 1:
        return labels
    has_forbidden = forbidden is not None and bool((forbidden >= 0).any())
    # The sweep ignores `forbidden`: one reassignment at least puts such points right.
    for _ in range(max(iterations, 1 if has_forbidden else 0)):
        centroids = np.zeros((k, 2))
        for g in range(k):
            members = xy[labels == g]
            centroids[g] = members.mean(axis=0) if len(members) else centre
        new = _assign_exact(xy, centroids, sizes, labels, forbidden if has_forbidden else None)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _assign_exact(
    xy: NDArray,
    centroids: NDArray,
    sizes: Sequence[int],
    current: NDArray,
    forbidden: NDArray | None,
) -> NDArray:
    """Points to centroids at least total distance, group g receiving exactly sizes[g]."""
    n = len(xy)
    k = len(centroids)
    dist = np.hypot(xy[:, None, 0] - centroids[None, :, 0], xy[:, None, 1] - centroids[None, :, 1])
    allowed = np.ones((n, k), dtype=bool)
    if k > _NEAREST_GROUPS:
        allowed[:] = False
        nearest = np.argpartition(dist, _NEAREST_GROUPS - 1, axis=1)[:, :_NEAREST_GROUPS]
        np.put_along_axis(allowed, nearest, True, axis=1)
        allowed[np.arange(n), current] = True
    if forbidden is not None:
        marked = forbidden >= 0
        # A point now in its forbidden group may go to any other, so a way out exists.
        allowed[marked & (current == forbidden)] = True
        allowed[np.flatnonzero(marked), forbidden[marked]] = False
    return assign_with_sizes(dist, sizes, allowed)


def assign_with_sizes(
    cost: NDArray, sizes: Sequence[int], allowed: NDArray | None = None
) -> NDArray:
    """Rows to columns at least total cost, column b receiving exactly sizes[b] rows.

    A transportation problem solved as a min-cost flow; `allowed[i, b]` False forbids
    row i in column b. Costs are rounded to integers (use metres, not kilometres).
    """
    n, k = cost.shape
    if allowed is None:
        rows = np.repeat(np.arange(n), k)
        cols = np.tile(np.arange(k), n)
    else:
        rows, cols = np.nonzero(allowed)
    flow = min_cost_flow.SimpleMinCostFlow()
    # Nodes: rows 0..n-1, columns n..n+k-1.
    flow.add_arcs_with_capacity_and_unit_cost(
        rows.astype(np.int32),
        (n + cols).astype(np.int32),
        np.ones(len(rows), dtype=np.int64),
        np.rint(cost[rows, cols]).astype(np.int64),
    )
    supplies = np.concatenate((np.ones(n, dtype=np.int64), -np.asarray(sizes, dtype=np.int64)))
    flow.set_nodes_supplies(np.arange(n + k, dtype=np.int32), supplies)
    status = flow.solve()
    if status != flow.OPTIMAL:
        raise RuntimeError(f"assignment with fixed sizes failed with status {status}")
    used = flow.flows(np.arange(len(rows), dtype=np.int32)) > 0
    labels = np.empty(n, dtype=np.int64)
    labels[rows[used]] = cols[used]
    return labels
