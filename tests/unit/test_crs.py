"""WGS-84 / GCJ-02 / BD-09 conversions against published test vectors."""

import itertools

import pytest

from fieldcheck.geo import crs
from fieldcheck.geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

YONGKANG_CENTRE = (120.0425, 28.89083)  # Wikipedia, 永康市

# googollee/eviltransform, python/test.py `TESTS`: (wgsLat, wgsLng, gcjLat, gcjLng).
# Upstream asserts 1e-6 degrees forward and 0.5 m for its exact inverse. Its `TESTS_bd`
# vectors come from a buggy BD-09 formula (10-40 m off) and are deliberately not used.
EVILTRANSFORM_TESTS = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # beijing
]
EVILTRANSFORM_TOLERANCE_M = 0.1

# wandergis/coordtransform, README.md "result" block, all computed at (116.404, 39.915).
WANDERGIS_INPUT = (116.404, 39.915)
WANDERGIS_WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
WANDERGIS_GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
WANDERGIS_BD09_TO_GCJ02 = (116.39762729119315, 39.90865673957631)  # one-step inverse
WANDERGIS_GCJ02_TO_WGS84 = (116.39775550083061, 39.91359571849836)  # one-step inverse
WANDERGIS_TOLERANCE_M = 0.01

# sshuair/coord-convert, README.md: wgs2gcj(120, 40) "should be" this.
COORD_CONVERT_WGS84 = (120.0, 40.0)
COORD_CONVERT_GCJ02 = (120.00567568355486, 40.0013047896019)
COORD_CONVERT_TOLERANCE_M = 0.01

# hujiulong/gcoord, test/unit/crs/{WGS84,GCJ02,BD09}.spec.ts, all from (123, 45);
# upstream uses toBeCloseTo(x, 5), i.e. 5e-6 degrees.
GCOORD_INPUT = (123.0, 45.0)
GCOORD_SPECS = [
    ("WGS84 to GCJ02", wgs84_to_gcj02, (123.00607541, 45.00197815)),
    ("WGS84 to BD09", wgs84_to_bd09, (123.0124491, 45.0083293)),
    ("GCJ02 to WGS84", gcj02_to_wgs84, (122.99395597, 44.99804071)),
    ("GCJ02 to BD09", gcj02_to_bd09, (123.00636499, 45.00636899)),
    ("BD09 to GCJ02", bd09_to_gcj02, (122.99363304, 44.99365430)),
    ("BD09 to WGS84", bd09_to_wgs84, (122.98762210, 44.99171540)),
]
GCOORD_SPEC_TOLERANCE_M = 0.6

# hujiulong/gcoord, test/fixtures/china-cities.json: the eleven Zhejiang cities,
# (WGS84, GCJ02, BD09) as [lon, lat]. The fixture's GCJ-02 points sit about 0.7 m from
# the formula (they look like geocoder output), hence the looser WGS/GCJ tolerance.
ZHEJIANG_CITIES = {
    "杭州市": ((120.1503589, 30.2764043), (120.1550722, 30.274088), (120.1616149, 30.2799982)),
    "宁波市": ((121.6175008, 29.8621392), (121.6216018, 29.859518), (121.628174, 29.8651502)),
    "温州市": ((120.6953127, 27.9971173), (120.6993688, 27.9938322), (120.7058483, 28.0000072)),
    "嘉兴市": ((120.7511656, 30.7484263), (120.755491, 30.746132), (120.7620361, 30.7520341)),
    "湖州市": ((120.0819509, 30.8963939), (120.0868281, 30.8943522), (120.093349, 30.9002941)),
    "绍兴市": ((120.5761439, 30.032385), (120.580236, 30.0297572), (120.5867094, 30.0359468)),
    "金华市": ((119.6427465, 29.0820414), (119.6474509, 29.0790641), (119.6538875, 29.0854003)),
    "衢州市": ((118.8546562, 28.9731547), (118.859464, 28.9700833), (118.8660605, 28.9757292)),
    "舟山市": ((122.2030477, 29.9876906), (122.207219, 29.9852981), (122.213776, 29.9910073)),
    "台州市": ((121.4163207, 28.6593304), (121.4207579, 28.6563892), (121.4271936, 28.6625793)),
    "丽水市": ((119.9183933, 28.4710386), (119.922803, 28.467634), (119.9293754, 28.4734151)),
}
CITIES_GCJ_TOLERANCE_M = 1.0
CITIES_BD_TOLERANCE_M = 0.05

ROUND_TRIP_TOLERANCE_M = 0.05

# A 5 x 5 grid over Yongkang (28.7-29.1 N, 119.9-120.3 E) and a coarse one over China.
YONGKANG_GRID = [
    (119.9 + 0.1 * i, 28.7 + 0.1 * j) for i, j in itertools.product(range(5), range(5))
]
CHINA_GRID = [(75.0 + 7.5 * i, 18.0 + 4.5 * j) for i, j in itertools.product(range(8), range(8))]


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    return haversine_m(a[0], a[1], b[0], b[1])


@pytest.mark.parametrize("wgs_lat, wgs_lon, gcj_lat, gcj_lon", EVILTRANSFORM_TESTS)
def test_wgs84_to_gcj02_matches_eviltransform_vectors(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    result = wgs84_to_gcj02(wgs_lon, wgs_lat)

    assert distance_m(result, (gcj_lon, gcj_lat)) < EVILTRANSFORM_TOLERANCE_M


@pytest.mark.parametrize("wgs_lat, wgs_lon, gcj_lat, gcj_lon", EVILTRANSFORM_TESTS)
def test_gcj02_to_wgs84_matches_eviltransform_vectors(wgs_lat, wgs_lon, gcj_lat, gcj_lon):
    result = gcj02_to_wgs84(gcj_lon, gcj_lat)

    assert distance_m(result, (wgs_lon, wgs_lat)) < EVILTRANSFORM_TOLERANCE_M


def test_wgs84_to_gcj02_matches_wandergis_readme():
    result = wgs84_to_gcj02(*WANDERGIS_INPUT)

    assert distance_m(result, WANDERGIS_WGS84_TO_GCJ02) < WANDERGIS_TOLERANCE_M


def test_gcj02_to_bd09_matches_wandergis_readme():
    result = gcj02_to_bd09(*WANDERGIS_INPUT)

    assert distance_m(result, WANDERGIS_GCJ02_TO_BD09) < WANDERGIS_TOLERANCE_M


def test_bd09_to_gcj02_is_within_centimetres_of_wandergis_one_step_result():
    # wandergis prints the one-step inverse, which is itself about 5 cm from exact.
    result = bd09_to_gcj02(*WANDERGIS_INPUT)

    assert distance_m(result, WANDERGIS_BD09_TO_GCJ02) < 0.1


def test_forward_formula_reproduces_wandergis_one_step_gcj02_to_wgs84():
    # The README value is the rough inverse w = g - (f(g) - g): it checks f at g.
    g = WANDERGIS_INPUT
    f = wgs84_to_gcj02(*g)
    rough = (2 * g[0] - f[0], 2 * g[1] - f[1])

    assert distance_m(rough, WANDERGIS_GCJ02_TO_WGS84) < WANDERGIS_TOLERANCE_M


def test_gcj02_to_wgs84_is_exact_where_the_one_step_inverse_is_a_metre_off():
    gcj = YONGKANG_CENTRE
    shifted = wgs84_to_gcj02(*gcj)
    one_step = (2 * gcj[0] - shifted[0], 2 * gcj[1] - shifted[1])

    assert distance_m(wgs84_to_gcj02(*gcj02_to_wgs84(*gcj)), gcj) < 0.001
    assert distance_m(wgs84_to_gcj02(*one_step), gcj) > 1.0


def test_wgs84_to_gcj02_matches_coord_convert_readme():
    result = wgs84_to_gcj02(*COORD_CONVERT_WGS84)

    assert distance_m(result, COORD_CONVERT_GCJ02) < COORD_CONVERT_TOLERANCE_M


@pytest.mark.parametrize(
    "convert, expected", [(c, e) for _, c, e in GCOORD_SPECS], ids=[n for n, _, _ in GCOORD_SPECS]
)
def test_conversions_match_gcoord_specs(convert, expected):
    result = convert(*GCOORD_INPUT)

    assert distance_m(result, expected) < GCOORD_SPEC_TOLERANCE_M


@pytest.mark.parametrize("city", ZHEJIANG_CITIES)
def test_wgs84_to_gcj02_matches_gcoord_zhejiang_cities(city):
    wgs, gcj, _ = ZHEJIANG_CITIES[city]

    assert distance_m(wgs84_to_gcj02(*wgs), gcj) < CITIES_GCJ_TOLERANCE_M


@pytest.mark.parametrize("city", ZHEJIANG_CITIES)
def test_gcj02_to_wgs84_matches_gcoord_zhejiang_cities(city):
    wgs, gcj, _ = ZHEJIANG_CITIES[city]

    assert distance_m(gcj02_to_wgs84(*gcj), wgs) < CITIES_GCJ_TOLERANCE_M


@pytest.mark.parametrize("city", ZHEJIANG_CITIES)
def test_gcj02_to_bd09_matches_gcoord_zhejiang_cities(city):
    _, gcj, bd = ZHEJIANG_CITIES[city]

    assert distance_m(gcj02_to_bd09(*gcj), bd) < CITIES_BD_TOLERANCE_M


@pytest.mark.parametrize("city", ZHEJIANG_CITIES)
def test_bd09_to_gcj02_matches_gcoord_zhejiang_cities(city):
    _, gcj, bd = ZHEJIANG_CITIES[city]

    assert distance_m(bd09_to_gcj02(*bd), gcj) < CITIES_BD_TOLERANCE_M


@pytest.mark.parametrize("point", YONGKANG_GRID + CHINA_GRID)
def test_wgs84_gcj02_round_trip_is_well_under_a_metre(point):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(*point))

    assert distance_m(back, point) < ROUND_TRIP_TOLERANCE_M


@pytest.mark.parametrize("point", YONGKANG_GRID + CHINA_GRID)
def test_gcj02_bd09_round_trip_is_well_under_a_metre(point):
    back = bd09_to_gcj02(*gcj02_to_bd09(*point))

    assert distance_m(back, point) < ROUND_TRIP_TOLERANCE_M


@pytest.mark.parametrize("point", YONGKANG_GRID)
def test_wgs84_bd09_round_trip_is_well_under_a_metre(point):
    back = bd09_to_wgs84(*wgs84_to_bd09(*point))

    assert distance_m(back, point) < ROUND_TRIP_TOLERANCE_M


def test_gcj02_shift_at_yongkang_centre_is_about_555_m():
    shift = distance_m(wgs84_to_gcj02(*YONGKANG_CENTRE), YONGKANG_CENTRE)

    assert 550 < shift < 560


def test_gcj02_shift_moves_yongkang_north_east_then_south():
    lon, lat = wgs84_to_gcj02(*YONGKANG_CENTRE)

    # Δlon ≈ +0.00467°, Δlat ≈ -0.00287° at the centre.
    assert lon - YONGKANG_CENTRE[0] == pytest.approx(0.00467, abs=5e-5)
    assert lat - YONGKANG_CENTRE[1] == pytest.approx(-0.00287, abs=5e-5)


@pytest.mark.parametrize("point", YONGKANG_GRID)
def test_gcj02_shift_stays_between_520_and_570_m_across_the_county(point):
    assert 520 < distance_m(wgs84_to_gcj02(*point), point) < 570


def test_bd09_shift_at_yongkang_centre_is_about_1137_m():
    shift = distance_m(wgs84_to_bd09(*YONGKANG_CENTRE), YONGKANG_CENTRE)

    assert 1130 < shift < 1145


@pytest.mark.parametrize(
    "point, outside",
    [
        (YONGKANG_CENTRE, False),
        ((183.0, 45.0), True),  # gcoord's "not in China" case
        ((139.69, 35.69), True),  # Tokyo
        ((2.35, 48.86), True),  # Paris
        ((121.47, 31.23), False),  # Shanghai
    ],
)
def test_out_of_china_uses_the_prcoords_rectangle(point, outside):
    assert out_of_china(*point) is outside


@pytest.mark.parametrize(
    "convert", [wgs84_to_gcj02, gcj02_to_wgs84], ids=["wgs84_to_gcj02", "gcj02_to_wgs84"]
)
def test_gcj02_conversions_leave_points_outside_china_unchanged(convert):
    assert convert(183.0, 45.0) == (183.0, 45.0)
    assert convert(2.35, 48.86) == (2.35, 48.86)


def test_to_wgs84_leaves_wgs84_unchanged():
    assert to_wgs84(120.05, 28.9, "wgs84") == (120.05, 28.9)


@pytest.mark.parametrize("crs_name, forward", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_to_wgs84_undoes_the_map_sdk_offset(crs_name, forward):
    shown_on_map = forward(*YONGKANG_CENTRE)

    assert distance_m(to_wgs84(*shown_on_map, crs_name), YONGKANG_CENTRE) < 0.001


@pytest.mark.parametrize("crs_name", crs.CRS_NAMES)
def test_from_wgs84_is_the_inverse_of_to_wgs84(crs_name):
    on_map = from_wgs84(*YONGKANG_CENTRE, crs_name)

    assert distance_m(to_wgs84(*on_map, crs_name), YONGKANG_CENTRE) < 0.001


def test_to_wgs84_returns_a_lon_lat_tuple_of_floats():
    result = to_wgs84(120, 29, "gcj02")

    assert isinstance(result, tuple)
    assert all(isinstance(value, float) for value in result)


@pytest.mark.parametrize("crs_name", ["WGS84", "epsg:4326", "bd09mc", "", None])
def test_to_wgs84_rejects_unknown_crs(crs_name):
    with pytest.raises(ValueError, match="unknown crs"):
        to_wgs84(120.0, 29.0, crs_name)


@pytest.mark.parametrize("crs_name", ["gcj-02", "baidu"])
def test_from_wgs84_rejects_unknown_crs(crs_name):
    with pytest.raises(ValueError, match="unknown crs"):
        from_wgs84(120.0, 29.0, crs_name)


@pytest.mark.parametrize("lon, lat", [(float("nan"), 29.0), (120.0, float("inf"))])
def test_to_wgs84_rejects_non_finite_coordinates(lon, lat):
    with pytest.raises(ValueError, match="finite"):
        to_wgs84(lon, lat, "gcj02")


def test_haversine_one_degree_of_latitude_is_about_111_km():
    assert haversine_m(120.0, 28.0, 120.0, 29.0) == pytest.approx(111_195, abs=1)


def test_haversine_is_zero_for_the_same_point_and_symmetric():
    a, b = (120.0425, 28.89083), (120.1, 28.95)

    assert haversine_m(*a, *a) == 0.0
    assert haversine_m(*a, *b) == pytest.approx(haversine_m(*b, *a))
