"""WGS-84 ⇄ GCJ-02 ⇄ BD-09 and CGCS2000: round trips within a centimetre, checked
against an independent implementation (prcoords)."""

from __future__ import annotations

import math

import numpy as np
import prcoords
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.crs import (
    CoordinateSystem,
    bd09_to_gcj02,
    bd09_to_wgs84,
    from_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    outside_china_shift_area,
    parse_crs,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geodata.distance import distance_m

JIEFANGBEI = (106.5772, 29.5570)
china_lon = st.floats(73.5, 135.0)
china_lat = st.floats(18.0, 53.5)


@given(china_lon, china_lat)
def test_gcj02_round_trip_within_a_centimetre(lon, lat):
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    assert distance_m(lon, lat, *back) < 0.01


@given(china_lon, china_lat)
def test_bd09_round_trip_within_a_centimetre(lon, lat):
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert distance_m(lon, lat, *back) < 0.01
    g = wgs84_to_gcj02(lon, lat)
    assert distance_m(*g, *bd09_to_gcj02(*gcj02_to_bd09(*g))) < 0.01


def test_round_trips_on_arrays_of_ten_thousand_points():
    rng = np.random.default_rng(7)
    lon, lat = rng.uniform(73.5, 135, 10_000), rng.uniform(18, 53.5, 10_000)
    for crs in ("gcj02", "bd09", "cgcs2000"):
        x, y = from_wgs84(lon, lat, crs=crs)
        assert x.shape == lon.shape
        bx, by = to_wgs84(x, y, crs=crs)
        assert float(np.max(distance_m(lon, lat, bx, by))) < 0.01, crs


@settings(max_examples=300)
@given(china_lon, china_lat)
def test_forward_transforms_agree_with_prcoords(lon, lat):
    ref_g = prcoords.wgs_gcj(prcoords.Coords(lat, lon), check_china=False)
    assert distance_m(*wgs84_to_gcj02(lon, lat), ref_g.lon, ref_g.lat) < 0.01
    ref_b = prcoords.wgs_bd(prcoords.Coords(lat, lon), check_china=False)
    assert distance_m(*wgs84_to_bd09(lon, lat), ref_b.lon, ref_b.lat) < 0.01


@settings(max_examples=300)
@given(china_lon, china_lat)
def test_precise_inverses_agree_with_prcoords(lon, lat):
    # prcoords' iterative ("bored") inverses stop at about a centimetre; ours go further.
    g = wgs84_to_gcj02(lon, lat)
    ours = gcj02_to_wgs84(*g)
    ref = prcoords.gcj_wgs_bored(prcoords.Coords(g[1], g[0]), check_china=False)
    assert distance_m(*ours, ref.lon, ref.lat) < 0.03
    assert distance_m(lon, lat, *ours) <= max(distance_m(lon, lat, ref.lon, ref.lat), 0.001)
    b = wgs84_to_bd09(lon, lat)
    ours = bd09_to_wgs84(*b)
    ref = prcoords.bd_wgs_bored(prcoords.Coords(b[1], b[0]), check_china=False)
    assert distance_m(*ours, ref.lon, ref.lat) < 0.03
    assert distance_m(lon, lat, *ours) <= max(distance_m(lon, lat, ref.lon, ref.lat), 0.001)


def test_the_one_step_inverse_is_not_good_enough_but_ours_is():
    # The common one-step inverse (prcoords.gcj_wgs) is off by metres; ours by < 1 mm.
    rng = np.random.default_rng(3)
    worst_naive = worst_ours = 0.0
    for lon, lat in zip(rng.uniform(73.5, 135, 500), rng.uniform(18, 53.5, 500), strict=True):
        g = wgs84_to_gcj02(lon, lat)
        naive = prcoords.gcj_wgs(prcoords.Coords(g[1], g[0]), check_china=False)
        worst_naive = max(worst_naive, distance_m(lon, lat, naive.lon, naive.lat))
        worst_ours = max(worst_ours, distance_m(lon, lat, *gcj02_to_wgs84(*g)))
    assert worst_naive > 0.5
    assert worst_ours < 0.001


def test_known_offsets_in_chongqing():
    g = wgs84_to_gcj02(*JIEFANGBEI)
    assert 300 < distance_m(*JIEFANGBEI, *g) < 700
    b = gcj02_to_bd09(*g)
    assert 500 < distance_m(*g, *b) < 1300


@pytest.mark.parametrize(
    "point",
    [(139.69, 35.69), (-0.1276, 51.5072), (151.2, -33.87)],
    ids=["tokyo", "london", "sydney"],
)
def test_points_outside_china_are_not_shifted_by_gcj02(point):
    assert outside_china_shift_area(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_scalars_give_floats_arrays_keep_shape_and_nan_passes():
    x, y = wgs84_to_gcj02(*JIEFANGBEI)
    assert type(x) is float and type(y) is float
    arr = np.full((2, 3), JIEFANGBEI[0]), np.full((2, 3), JIEFANGBEI[1])
    x, y = to_wgs84(*arr, crs="bd09")
    assert x.shape == (2, 3)
    x, y = gcj02_to_wgs84(np.array([math.nan, 106.5]), np.array([29.5, 29.5]))
    assert math.isnan(x[0]) and not math.isnan(x[1])


def test_inputs_are_not_modified():
    lon, lat = np.array([106.5]), np.array([29.5])
    to_wgs84(lon, lat, crs="gcj02")
    x, _ = to_wgs84(lon, lat, crs="wgs84")
    x[0] = 0
    assert lon[0] == 106.5


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("WGS-84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("GCJ02", "gcj02"),
        ("高德", "gcj02"),
        ("amap", "gcj02"),
        ("tencent", "gcj02"),
        ("Baidu", "bd09"),
        ("百度", "bd09"),
        ("bd09ll", "bd09"),
        ("EPSG:4490", "cgcs2000"),
        (CoordinateSystem.BD09, "bd09"),
    ],
)
def test_crs_names(name, expected):
    assert parse_crs(name).value == expected


def test_unknown_crs_lists_the_accepted_ones():
    with pytest.raises(ValueError, match=r"wgs84.*gcj02.*bd09"):
        parse_crs("utm50")


def test_cgcs2000_moves_a_point_by_less_than_a_metre():
    assert distance_m(*JIEFANGBEI, *to_wgs84(*JIEFANGBEI, crs="cgcs2000")) < 1.0
