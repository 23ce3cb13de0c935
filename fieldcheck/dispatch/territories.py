"""Neighbour relation between delivery segments, from their polygons."""

from __future__ import annotations

from collections.abc import Mapping

from shapely import STRtree
from shapely.geometry.base import BaseGeometry


def neighbours_from_polygons(
    polygons: Mapping[str, BaseGeometry], *, hops: int = 1, tolerance: float = 0.0
) -> dict[str, set[str]]:
    """Segments that touch each segment (a shared corner counts), as code -> set of codes.

    `tolerance` (in the polygons' units, degrees for WGS-84) also joins segments separated by
    a sliver, as hand-drawn boundaries often are. `hops=2` widens the relation to neighbours
    of neighbours, letting a courier help one segment further away. Every segment gets an
    entry, possibly empty; the relation is symmetric and never contains the segment itself.
    """
    if hops < 1:
        raise ValueError("hops must be at least 1")
    codes = sorted(
        code for code, geom in polygons.items() if geom is not None and not geom.is_empty
    )
    geoms = [polygons[code] for code in codes]
    direct: dict[str, set[str]] = {code: set() for code in polygons}
    if geoms:
        tree = STRtree(geoms)
        if tolerance > 0:
            left, right = tree.query(geoms, predicate="dwithin", distance=tolerance)
        else:
            left, right = tree.query(geoms, predicate="intersects")
        for i, j in zip(left.tolist(), right.tolist(), strict=True):
            if i != j:
                direct[codes[i]].add(codes[j])
                direct[codes[j]].add(codes[i])
    if hops == 1:
        return direct
    wider: dict[str, set[str]] = {}
    for code in direct:
        reached = {code}
        frontier = {code}
        for _ in range(hops):
            frontier = set().union(*(direct[c] for c in frontier)) - reached
            reached |= frontier
        wider[code] = reached - {code}
    return wider
