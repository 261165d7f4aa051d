"""coverage_work_estimates: the many-areas estimate is the one-area estimate, area by area."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from geodata.coverage import coverage_work_estimate, coverage_work_estimates
from geodata.districts import Districts

coordinate = st.floats(-1.0, 1.0, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    boxes=st.lists(
        st.tuples(coordinate, coordinate, st.floats(0.001, 0.5), st.floats(0.001, 0.5)),
        min_size=1,
        max_size=12,
    ),
    seed=st.integers(0, 2**16),
    n=st.integers(0, 400),
    radius_m=st.sampled_from([1.0, 500.0, 1000.0, 10_000.0]),
    min_stations=st.integers(1, 10),
)
def test_the_same_numbers_as_one_area_at_a_time(boxes, seed, n, radius_m, min_stations):
    # Stations on a 0.01° lattice as well as anywhere: many lie exactly on an area's edge.
    rng = np.random.default_rng(seed)
    lon = 106 + np.round(rng.uniform(-1.5, 1.5, n), rng.integers(2, 8))
    lat = 29 + np.round(rng.uniform(-1.5, 1.5, n), rng.integers(2, 8))
    areas = [box(106 + x, 29 + y, 106 + x + w, 29 + y + h) for x, y, w, h in boxes]
    many = coverage_work_estimates(areas, lon, lat, radius_m=radius_m, min_stations=min_stations)
    one = [
        coverage_work_estimate(a, lon, lat, radius_m=radius_m, min_stations=min_stations)
        for a in areas
    ]
    assert many.tolist() == one


def test_real_districts_and_bad_positions(districts: Districts):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(105.3, 110.2, 5000), rng.uniform(28.2, 32.2, 5000)
    areas = [d.geometry for d in districts]
    for k in (1, 2, 10):
        many = coverage_work_estimates(areas, lon, lat, radius_m=1000, min_stations=k)
        assert many.tolist() == [
            coverage_work_estimate(a, lon, lat, radius_m=1000, min_stations=k) for a in areas
        ]
    with pytest.raises(ValueError, match="finite"):
        coverage_work_estimates(areas, [np.nan], [29.0], radius_m=1000, min_stations=1)
