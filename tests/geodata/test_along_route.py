"""Along-route search: exact against a brute force that shares none of its steps."""

from __future__ import annotations

import gc
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.along_route import (
    MAX_DISTANCE_M,
    BallTree,
    RouteError,
    along_route,
    check_distance,
    check_route,
    normalise_lon,
)
from geodata.distance import wgs84_geod
from geodata.nearest import ecef

G = wgs84_geod()


# -- the brute force: every point against every segment, by Geod alone --------------------


def _segment_minima(px, py, a, b, c, d):
    """For each point (arrays ``px``, ``py``): the least geodesic distance to the geodesic
    segment (a, b)–(c, d) and how far along it that is; a 65-point scan of ``Geod.fwd``
    then golden-section search on ``Geod.inv`` (unimodal near the minimum)."""
    n = len(px)
    az, _, length = G.inv(a, b, c, d)

    def dist(s):
        x, y, _ = G.fwd(np.full(len(s), a), np.full(len(s), b), np.full(len(s), az), s)
        return np.asarray(G.inv(px, py, x, y)[2])

    ss = np.linspace(0.0, length, 65)
    scan = np.stack([dist(np.full(n, s)) for s in ss], axis=1)
    j = np.argmin(scan, axis=1)
    lo, hi = ss[np.maximum(j - 1, 0)], ss[np.minimum(j + 1, 64)]
    g = (5**0.5 - 1) / 2
    for _ in range(60):
        m1, m2 = hi - g * (hi - lo), lo + g * (hi - lo)
        left = dist(m1) < dist(m2)
        hi = np.where(left, m2, hi)
        lo = np.where(left, lo, m1)
    s = (lo + hi) / 2
    return dist(s), s, length


def brute_force(px, py, rx, ry):
    """Per point, per segment: (offset, along) of the segment's nearest position."""
    offsets, alongs = [], []
    cum = 0.0
    for i in range(len(rx) - 1):
        off, s, length = _segment_minima(px, py, rx[i], ry[i], rx[i + 1], ry[i + 1])
        offsets.append(off)
        alongs.append(cum + s)
        cum += length
    return np.stack(offsets, axis=1), np.stack(alongs, axis=1)


# -- routes and points --------------------------------------------------------------------


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(["plain", "across_180", "loop", "out_and_back", "lat_70"]))
    length = 10 ** draw(st.floats(0, 6))  # 1 m to 1,000 km in all
    parts = draw(st.integers(1, 5))
    if kind == "across_180":
        lon0, lat0, az0 = (
            180 - draw(st.floats(0, 0.5)) * length / 100_000,
            draw(st.floats(-60, 60)),
            draw(st.floats(45, 135)),
        )
    elif kind == "lat_70":
        lon0, lat0, az0 = (
            draw(st.floats(-180, 180)),
            draw(st.floats(69, 71)),
            draw(st.floats(0, 360)),
        )
    else:
        lon0, lat0 = draw(st.floats(70, 135)), draw(st.floats(18, 53))
        az0 = draw(st.floats(0, 360))
    weights = [draw(st.floats(0.2, 1.0)) for _ in range(parts)]
    xs, ys, az = [lon0], [lat0], az0
    for i, w in enumerate(weights):
        if kind == "loop":
            az += 360 / parts + draw(st.floats(-10, 10))
        elif kind == "out_and_back" and i == parts - 1 and i > 0:
            az = G.inv(xs[-1], ys[-1], xs[-2], ys[-2])[0]
        else:
            az += draw(st.floats(-60, 60))
        x, y, _ = G.fwd(xs[-1], ys[-1], az, length * w / sum(weights))
        xs.append(x)
        ys.append(y)
    if kind == "out_and_back" and parts == 1:
        xs.append(lon0)
        ys.append(lat0)
    distance_m = min(MAX_DISTANCE_M, max(1.0, length * draw(st.floats(0.01, 2.0))))
    # Points near the route: from a random position along a random segment, a random
    # bearing and up to 1.5 times the distance away.
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = 50
    seg = rng.integers(0, len(xs) - 1, n)
    az_s, _, len_s = G.inv(
        np.take(xs, seg), np.take(ys, seg), np.take(xs, seg + 1), np.take(ys, seg + 1)
    )
    fx, fy, _ = G.fwd(np.take(xs, seg), np.take(ys, seg), az_s, rng.uniform(0, 1, n) * len_s)
    px, py, _ = G.fwd(fx, fy, rng.uniform(0, 360, n), rng.uniform(0, 1.5, n) * distance_m)
    return kind, np.array(xs), np.array(ys), distance_m, np.asarray(px), np.asarray(py)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_along_route_is_the_brute_force(case):
    kind, rx, ry, d, px, py = case
    px = normalise_lon(px)
    route = check_route(rx, ry)
    found = along_route(route, px, py, ecef(px, py), distance_m=d)
    offsets, alongs = brute_force(px, py, route.lon, route.lat)
    best = offsets.min(axis=1)
    inside = set(np.flatnonzero(best <= d - 0.01).tolist())
    band = set(np.flatnonzero(np.abs(best - d) <= 0.01).tolist())
    got = found.index.tolist()
    assert inside <= set(got), f"{kind}: missed {sorted(inside - set(got))}"
    assert set(got) <= inside | band, f"{kind}: extra {sorted(set(got) - inside - band)}"
    for i, along, offset in zip(got, found.along_m, found.offset_m, strict=True):
        assert offset == pytest.approx(best[i], abs=0.01)
        # Where two parts of the route are about as near (out and back, a loop), either
        # foot is right: the along value is one of the nearly best.
        candidates = alongs[i][offsets[i] <= best[i] + 0.01]
        assert np.abs(candidates - along).min() <= 0.05, (
            kind,
            d,
            offset,
            list(rx),
            list(ry),
            px[i],
            py[i],
        )
    assert list(zip(found.along_m, found.index, strict=True)) == sorted(
        zip(found.along_m, found.index, strict=True)
    )


def test_a_route_across_180_degrees_finds_both_sides():
    rx, ry = [179.99, -179.99], [-16.75, -16.75]
    px = np.array([179.995, -179.995, 179.5, -179.5])
    py = np.array([-16.751, -16.749, -16.75, -16.75])
    found = along_route(check_route(rx, ry), px, py, ecef(px, py), distance_m=500)
    assert found.index.tolist() == [0, 1]
    length = check_route(rx, ry).length_m
    assert 0 < found.along_m[0] < found.along_m[1] < length < 2200


def test_a_loop_orders_by_the_first_pass_and_out_and_back_by_the_nearer_leg():
    # Out 1 km east and back: a point beside the start is nearest at along 0 (the
    # smaller along of a tie), a point beside the far end at 1 km.
    x1, y1, _ = G.fwd(106.5, 29.5, 90, 1000)
    route = check_route([106.5, x1, 106.5], [29.5, y1, 29.5])
    px, py, _ = G.fwd(np.array([106.5, x1]), np.array([29.5, y1]), [0, 0], [30, 30])
    found = along_route(route, np.asarray(px), np.asarray(py), ecef(px, py), distance_m=50)
    assert found.index.tolist() == [0, 1]
    assert found.along_m[0] == pytest.approx(0, abs=1e-6)
    assert found.along_m[1] == pytest.approx(1000, abs=0.01)
    assert found.offset_m == pytest.approx([30, 30], abs=1e-4)


def test_a_mask_keeps_only_the_points_it_marks():
    px, py = np.array([106.5, 106.5001, 106.5002]), np.array([29.5, 29.5, 29.5])
    route = check_route([106.49, 106.51], [29.5, 29.5])
    xyz = ecef(px, py)
    mask = np.array([True, False, True])
    assert along_route(route, px, py, xyz, distance_m=10, mask=mask).index.tolist() == [0, 2]
    assert along_route(route, px, py, xyz, distance_m=10, mask=~mask).index.tolist() == [1]


def test_the_ball_tree_is_built_once_per_array_of_points():
    xyz = ecef(np.array([106.5, 106.6]), np.array([29.5, 29.6]))
    assert BallTree.of(xyz) is BallTree.of(xyz)
    assert BallTree.of(xyz.copy()) is not BallTree.of(xyz)
    key = id(xyz)
    assert key in BallTree._trees
    del xyz
    gc.collect()
    assert key not in BallTree._trees  # dropped with its points: no snapshot leaks


@pytest.mark.parametrize(
    ("lon", "lat", "code"),
    [
        ([106.5], [29.5], "bad_route"),
        ([106.5, 106.5], [29.5, 29.5], "bad_route"),
        ([106.5, math.nan], [29.5, 29.6], "bad_route"),
        ([106.5, 106.6], [29.5, 91.0], "bad_route"),
        ([80.0, 110.0], [30.0, 30.0], "too_long"),  # about 2,890 km: fine; 3 legs: not
        (list(np.linspace(100, 107, 10_001)), [30.0] * 10_001, "too_long"),
    ],
    ids=["one point", "two equal points", "nan", "latitude 91", "too long", "vertices"],
)
def test_routes_that_cannot_be_searched_say_why(lon, lat, code):
    if code == "too_long" and len(lon) == 2:
        check_route(lon, lat)  # one long leg is within the limit
        lon, lat = [*lon, 80.0, 110.0], [*lat, 30.0, 30.0]
    with pytest.raises(RouteError) as err:
        check_route(lon, lat)
    assert err.value.code == code


def test_longitudes_are_normalised_and_repeated_vertices_dropped():
    route = check_route([186.5, 186.5, -173.4], [29.5, 29.5, 29.5])
    assert route.lon.tolist() == pytest.approx([-173.5, -173.4])
    assert len(route.segment_m) == 1


@pytest.mark.parametrize("distance_m", [0.0, 0.5, 10_000.5, math.inf])
def test_distance_out_of_range_is_refused(distance_m):
    with pytest.raises(RouteError) as err:
        check_distance(distance_m)
    assert err.value.code == "bad_distance"


def test_a_route_out_and_back_thousands_of_times_is_refused_in_well_under_a_second():
    """9,999 vertices 300 m apart, back and forth over one street (2,999 km, under the
    length cap), 10 km either side of a city of stations: the refinement measured millions
    of feet on the ellipsoid (7 s of CPU per request). Its work is bounded now: refused,
    fast; the same street passed ten times is still answered."""
    import time

    from geodata.along_route import TooMuchWorkError

    rng = np.random.default_rng(3)
    lon = 106.55 + rng.uniform(-0.08, 0.08, 1500)
    lat = 29.556 + rng.uniform(-0.08, 0.08, 1500)
    xyz = ecef(lon, lat)

    def zigzag(n: int):
        x = np.where(np.arange(n) % 2 == 1, 106.553, 106.55)
        return check_route(x, np.full(n, 29.556))

    started = time.process_time()
    with pytest.raises(TooMuchWorkError):
        along_route(zigzag(9999), lon, lat, xyz, distance_m=10_000)
    assert time.process_time() - started < 1.5  # 7 s before
    found = along_route(zigzag(20), lon, lat, xyz, distance_m=10_000)
    assert len(found.index) > 100 and (found.offset_m <= 10_000).all()
