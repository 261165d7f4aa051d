"""geodata.nearest: exact k nearest on the ellipsoid, and bearings, against pyproj Geod."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from geodata.nearest import NearestIndex, bearings_deg, ecef

GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(5)
    return rng.uniform(105.5, 108.5, 3000), rng.uniform(28.5, 31.5, 3000)


@pytest.mark.parametrize("where", [(106.55, 29.56), (107.0, 30.0), (100.0, 40.0)])
def test_k_nearest_equal_brute_force_geod(points, where):
    lon, lat = points
    index = NearestIndex(lon, lat)
    found = index.query(*where, k=10)
    _, _, dist = GEOD.inv(np.full(len(lon), where[0]), np.full(len(lat), where[1]), lon, lat)
    order = np.argsort(dist)[:10]
    assert list(found.index) == list(order)
    assert found.distance_m == pytest.approx(dist[order], abs=1e-3)  # far ones via Geod too


@pytest.mark.parametrize("n", [3, 10, 100])  # the plain-float path and the numpy path
def test_bearings_match_geod_azimuths(points, n):
    lon, lat = points[0][:n], points[1][:n]
    q = (106.9, 29.9)
    got = bearings_deg(*q, ecef(lon, lat).reshape(-1, 3))
    az, _, dist = GEOD.inv(np.full(n, q[0]), np.full(n, q[1]), lon, lat)
    near = dist < 100_000
    assert got[near] == pytest.approx(np.mod(az[near], 360), abs=1e-3)
    assert ((got >= 0) & (got < 360)).all()
