"""Straight-line distances on the earth's surface, vectorised with numpy."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Mean earth radius (IUGG); the error against the WGS-84 ellipsoid is under 0.5 %.
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> NDArray:
    """Great-circle distance in metres between points given in degrees; arrays broadcast."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2)
    )
    a = (
        np.sin((lat2 - lat1) / 2) ** 2
        + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def matrix_m(lon: ArrayLike, lat: ArrayLike) -> NDArray:
    """Square matrix of distances in metres between every pair of the given points."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return haversine_m(lon[:, None], lat[:, None], lon[None, :], lat[None, :])


def tour_km(station_lon: float, station_lat: float, lon: ArrayLike, lat: ArrayLike) -> float:
    """Length in km of the closed tour station → points in the given order → station."""
    lon = np.concatenate(([station_lon], np.asarray(lon, dtype=float), [station_lon]))
    lat = np.concatenate(([station_lat], np.asarray(lat, dtype=float), [station_lat]))
    if len(lon) <= 2:
        return 0.0
    return float(haversine_m(lon[:-1], lat[:-1], lon[1:], lat[1:]).sum()) / 1000.0


def project_m(lon: ArrayLike, lat: ArrayLike, lon0: float, lat0: float) -> NDArray:
    """Local equirectangular projection in metres around (lon0, lat0), shape (n, 2).

    Within a county (tens of km) it is off from the great-circle distance by well under
    0.1 %, which is plenty for clustering and nearest-stop decisions.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    k = np.pi / 180.0 * EARTH_RADIUS_M
    x = (lon - lon0) * k * np.cos(np.radians(lat0))
    y = (lat - lat0) * k
    return np.column_stack((x, y))
