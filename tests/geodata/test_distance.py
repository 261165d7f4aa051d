"""Distances and bearings on the WGS-84 ellipsoid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata.distance import bearing_deg, distance_bearing, distance_m

lon = st.floats(73.5, 135.0)
lat = st.floats(18.0, 53.5)


def test_one_degree_of_latitude_at_the_equator_is_the_ellipsoidal_value():
    # 110,574 m on WGS-84 (a sphere would say 111,195 m).
    assert distance_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(110_574.4, abs=0.5)


def test_bearings_point_the_right_way():
    assert bearing_deg(106.5, 29.5, 106.5, 29.6) == pytest.approx(0.0, abs=1e-6)
    assert bearing_deg(106.5, 29.5, 106.6, 29.5) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg(106.5, 29.5, 106.5, 29.4) == pytest.approx(180.0, abs=1e-6)
    assert bearing_deg(106.5, 29.5, 106.4, 29.5) == pytest.approx(270.0, abs=0.1)


def test_arrays_broadcast_and_keep_shape():
    d, b = distance_bearing(np.array([[106.5, 106.6]]), 29.5, 106.5, 29.5)
    assert d.shape == (1, 2) and d[0, 0] == 0.0 and d[0, 1] > 9_000
    assert b.shape == (1, 2)


@given(lon, lat, lon, lat)
def test_distance_is_symmetric_and_non_negative(x1, y1, x2, y2):
    assert distance_m(x1, y1, x2, y2) == pytest.approx(distance_m(x2, y2, x1, y1), abs=1e-6)
    assert 0 <= bearing_deg(x1, y1, x2, y2) < 360


def test_a_bearing_a_hair_west_of_north_is_zero_not_360():
    # np.mod(-1e-15, 360) is 360.0; found by hypothesis on (73.50000000000001, 18) -> (73.5, 41).
    assert bearing_deg(73.50000000000001, 18.0, 73.5, 41.0) == 0.0
