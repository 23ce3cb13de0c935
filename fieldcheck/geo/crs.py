"""WGS-84, GCJ-02 and BD-09 conversions, all in (lon, lat) order.

Phones report GPS in WGS-84, AMap/Tencent/WeChat maps use GCJ-02 and Baidu uses BD-09.
Every coordinate entering the system goes through `to_wgs84`, and everything stored is
WGS-84. The forward GCJ-02 shift is the public formula with the Krasovsky 1940 ellipsoid
(as PRCoords and gcoord use it); the inverses are solved by fixed-point iteration instead
of the usual one-step approximation, which can be a few metres off.
"""

from __future__ import annotations

import math
from collections.abc import Callable

LonLat = tuple[float, float]

CRS_NAMES = ("wgs84", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as the GCJ-02 formula uses it (not the WGS-84 axis).
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323

# BD-09 is a second, small polar distortion on top of GCJ-02.
_BD_X_PI = math.pi * 3000.0 / 180.0
_BD_LON_OFFSET = 0.0065
_BD_LAT_OFFSET = 0.006

# Inverse iterations stop once a correction is below this (about 1 cm); each step
# shrinks the error by roughly a thousand, so the residual left is far smaller.
_INVERSE_PRECISION_DEG = 1e-7
_INVERSE_MAX_ITERATIONS = 30

# The rectangle PRCoords, gcoord and eviltransform call "China": no GCJ-02 shift outside.
_CHINA_MIN_LON, _CHINA_MAX_LON = 72.004, 137.8347
_CHINA_MIN_LAT, _CHINA_MAX_LAT = 0.8293, 55.8271

# IUGG mean Earth radius.
_EARTH_RADIUS_M = 6371008.8


def out_of_china(lon: float, lat: float) -> bool:
    """Whether a point lies outside the rectangle where GCJ-02 applies its shift."""
    return not (_CHINA_MIN_LON <= lon <= _CHINA_MAX_LON and _CHINA_MIN_LAT <= lat <= _CHINA_MAX_LAT)


def _shift_lat_m(x: float, y: float) -> float:
    """Northward GCJ-02 offset in metres, x and y relative to (105 E, 35 N)."""
    shift = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    waves = 20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)
    waves += 20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)
    waves += 160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y / 30.0 * math.pi)
    return shift + waves * 2.0 / 3.0


def _shift_lon_m(x: float, y: float) -> float:
    """Eastward GCJ-02 offset in metres, x and y relative to (105 E, 35 N)."""
    shift = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    waves = 20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)
    waves += 20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)
    waves += 150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)
    return shift + waves * 2.0 / 3.0


def _gcj_forward(lon: float, lat: float) -> LonLat:
    """The GCJ-02 shift without the China test, so iterations near the edge stay smooth."""
    x, y = lon - 105.0, lat - 35.0
    phi = lat / 180.0 * math.pi
    m = 1.0 - _KRASOVSKY_EE * math.sin(phi) ** 2
    sqrt_m = math.sqrt(m)
    # Metres to degrees with the Krasovsky meridian and parallel radii at this latitude.
    meridian_radius = _KRASOVSKY_A * (1.0 - _KRASOVSKY_EE) / (m * sqrt_m)
    parallel_radius = _KRASOVSKY_A / sqrt_m * math.cos(phi)
    dlat = _shift_lat_m(x, y) * 180.0 / (meridian_radius * math.pi)
    dlon = _shift_lon_m(x, y) * 180.0 / (parallel_radius * math.pi)
    return lon + dlon, lat + dlat


def _bd_forward(lon: float, lat: float) -> LonLat:
    z = math.hypot(lon, lat) + 0.00002 * math.sin(lat * _BD_X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _BD_X_PI)
    return z * math.cos(theta) + _BD_LON_OFFSET, z * math.sin(theta) + _BD_LAT_OFFSET


def _bd_inverse_one_step(lon: float, lat: float) -> LonLat:
    x, y = lon - _BD_LON_OFFSET, lat - _BD_LAT_OFFSET
    z = math.hypot(x, y) - 0.00002 * math.sin(y * _BD_X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _BD_X_PI)
    return z * math.cos(theta), z * math.sin(theta)


def _invert(forward: Callable[[float, float], LonLat], target: LonLat, start: LonLat) -> LonLat:
    """Solve forward(p) == target by p <- p - (forward(p) - target).

    Converges because both distortions change by millimetres per metre moved.
    """
    lon, lat = start
    for _ in range(_INVERSE_MAX_ITERATIONS):
        fwd_lon, fwd_lat = forward(lon, lat)
        dlon, dlat = fwd_lon - target[0], fwd_lat - target[1]
        lon, lat = lon - dlon, lat - dlat
        if abs(dlon) < _INVERSE_PRECISION_DEG and abs(dlat) < _INVERSE_PRECISION_DEG:
            break
    return lon, lat


def wgs84_to_gcj02(lon: float, lat: float) -> LonLat:
    """GPS coordinates to the ones AMap, Tencent and WeChat maps display."""
    if out_of_china(lon, lat):
        return lon, lat
    return _gcj_forward(lon, lat)


def gcj02_to_wgs84(lon: float, lat: float) -> LonLat:
    """Exact inverse of `wgs84_to_gcj02` (iterated, residual well under a centimetre)."""
    if out_of_china(lon, lat):
        return lon, lat
    return _invert(_gcj_forward, (lon, lat), (lon, lat))


def gcj02_to_bd09(lon: float, lat: float) -> LonLat:
    """GCJ-02 to Baidu's BD-09."""
    return _bd_forward(lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> LonLat:
    """Exact inverse of `gcj02_to_bd09` (the textbook one-step formula, then iterated)."""
    return _invert(_bd_forward, (lon, lat), _bd_inverse_one_step(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> LonLat:
    """GPS coordinates to Baidu's BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: float, lat: float) -> LonLat:
    """Baidu's BD-09 to GPS coordinates."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def _identity(lon: float, lat: float) -> LonLat:
    return lon, lat


_TO_WGS84: dict[str, Callable[[float, float], LonLat]] = {
    "wgs84": _identity,
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}
_FROM_WGS84: dict[str, Callable[[float, float], LonLat]] = {
    "wgs84": _identity,
    "gcj02": wgs84_to_gcj02,
    "bd09": wgs84_to_bd09,
}


def _convert(
    table: dict[str, Callable[[float, float], LonLat]], lon: float, lat: float, crs: str
) -> LonLat:
    try:
        convert = table[crs]
    except (KeyError, TypeError):
        raise ValueError(f"unknown crs {crs!r}; expected one of {', '.join(CRS_NAMES)}") from None
    lon, lat = float(lon), float(lat)
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(f"coordinates must be finite numbers, got ({lon}, {lat})")
    return convert(lon, lat)


def to_wgs84(lon: float, lat: float, crs: str) -> LonLat:
    """Convert a point given in `crs` ("wgs84", "gcj02" or "bd09") to WGS-84.

    The single way in for coordinates: call it once, where input is parsed, and store
    the result, so that nothing is ever converted twice.
    """
    return _convert(_TO_WGS84, lon, lat, crs)


def from_wgs84(lon: float, lat: float, crs: str) -> LonLat:
    """Convert a stored WGS-84 point to `crs` for a Chinese map (exports, map layers)."""
    return _convert(_FROM_WGS84, lon, lat, crs)


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two points given in the same CRS."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(lon2 - lon1)
    h = math.sin(dphi / 2.0) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2.0) ** 2
    return 2.0 * _EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))
