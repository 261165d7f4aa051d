"""Tests for geodata.coverage: area coverage, cross coverage, demand coverage, greedy gaps."""

from __future__ import annotations

import itertools
import math
import threading
from datetime import datetime

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod
from shapely.geometry import Polygon, box

from geodata.coverage import (
    area_gaps,
    candidate_grid,
    coverage,
    coverage_by_area,
    coverage_work_estimate,
    demand_coverage,
    greedy_gaps,
    local_projection,
    open_mask,
)
from geodata.districts import chongqing_districts
from geodata.hours import TZ

GEOD = Geod(ellps="WGS84")
CENTRE = (106.55, 29.56)  # 重庆 main urban area, WGS-84
# Metres per degree of latitude and of longitude at 29.56° N on WGS-84.
DEG_LAT_M = 111_132.95 - 559.82 * math.cos(math.radians(2 * CENTRE[1]))
DEG_LON_M = 111_412.84 * math.cos(math.radians(CENTRE[1])) - 93.5 * math.cos(
    math.radians(3 * CENTRE[1])
)


def square(side_km: float, centre: tuple[float, float] = CENTRE) -> Polygon:
    """A lon/lat box about side_km wide around centre."""
    hx = side_km * 500 / DEG_LON_M
    hy = side_km * 500 / DEG_LAT_M
    return box(centre[0] - hx, centre[1] - hy, centre[0] + hx, centre[1] + hy)


def offset(east_m: float, north_m: float, centre: tuple[float, float] = CENTRE):
    """The WGS-84 point east_m, north_m metres from centre (geodesic)."""
    lon, lat, _ = GEOD.fwd(centre[0], centre[1], 90.0, east_m)
    lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north_m)
    return lon, lat


def scattered(n: int, *, seed: int, side_km: float = 6.0):
    rng = np.random.default_rng(seed)
    e = rng.uniform(-side_km * 500, side_km * 500, n)
    north = rng.uniform(-side_km * 500, side_km * 500, n)
    return (
        CENTRE[0] + e / DEG_LON_M,
        CENTRE[1] + north / DEG_LAT_M,
    )


# --------------------------------------------------------------------------- projection


def test_local_projection_keeps_a_kilometre_within_a_tenth_of_a_per_mille_80_km_out():
    from pyproj import Transformer

    crs = local_projection(*CENTRE)
    to_m = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    for bearing in (0.0, 45.0, 90.0, 200.0):
        lon, lat, _ = GEOD.fwd(CENTRE[0], CENTRE[1], bearing, 80_000.0)
        lon2, lat2, _ = GEOD.fwd(lon, lat, bearing + 90.0, 1000.0)
        x1, y1 = to_m.transform(lon, lat)
        x2, y2 = to_m.transform(lon2, lat2)
        assert math.hypot(x2 - x1, y2 - y1) == pytest.approx(1000.0, rel=1e-4)


def test_the_internal_pipeline_matches_the_local_projection():
    from pyproj import Transformer

    from geodata.coverage import _local_transformer

    lon, lat = np.array([106.2, 106.55, 107.1]), np.array([29.1, 29.56, 30.0])
    by_crs = Transformer.from_crs("EPSG:4326", local_projection(*CENTRE), always_xy=True)
    pipeline = _local_transformer((CENTRE[0], CENTRE[1], CENTRE[0], CENTRE[1]))
    np.testing.assert_allclose(pipeline.transform(lon, lat), by_crs.transform(lon, lat), atol=1e-6)


# --------------------------------------------------------------------------- area coverage


def test_one_station_in_a_big_square_covers_a_disc():
    area = square(10.0)
    result = coverage(area, [CENTRE[0]], [CENTRE[1]], radius_m=1000.0)
    assert result.covered_area_m2 == pytest.approx(math.pi * 1000.0**2, rel=0.005)
    assert result.share == pytest.approx(math.pi * 1e6 / result.area_m2, rel=0.005)
    assert result.n_stations == 1
    # The covered part, back in lon/lat, is a disc of ~1 km around the station.
    lon, lat = shapely.get_coordinates(shapely.get_exterior_ring(result.covered)).T
    _, _, dist = GEOD.inv(np.full(lon.size, CENTRE[0]), np.full(lon.size, CENTRE[1]), lon, lat)
    assert np.all(np.abs(dist - 1000.0) < 2.0)
    assert result.covered.union(result.uncovered).area == pytest.approx(area.area, rel=1e-9)


def test_area_is_geodesic_to_a_hundred_thousandth():
    district = chongqing_districts().get("500103")
    result = coverage(district.geometry, [], [])
    assert result.area_m2 == pytest.approx(district.area_m2, rel=1e-5)


def test_no_stations_or_far_stations_cover_nothing():
    area = square(4.0)
    assert coverage(area, [], []).share == 0.0
    far = offset(5000.0, 0.0)
    result = coverage(area, [far[0]], [far[1]])
    assert result.share == 0.0
    assert result.n_stations == 0
    assert result.uncovered.area == pytest.approx(area.area, rel=1e-9)


def test_a_station_outside_the_area_covers_the_part_it_reaches():
    area = square(4.0)
    edge = offset(2500.0, 0.0)  # 500 m beyond the east edge: reaches 500 m in
    result = coverage(area, [edge[0]], [edge[1]])
    # Circular segment of a 1 km circle cut 500 m from its centre.
    d, r = 500.0, 1000.0
    segment = r * r * math.acos(d / r) - d * math.sqrt(r * r - d * d)
    assert result.covered_area_m2 == pytest.approx(segment, rel=0.01)


def test_two_stations_at_one_point_count_twice_for_cross_coverage():
    area = square(6.0)
    lon, lat = [CENTRE[0]] * 2, [CENTRE[1]] * 2
    single = coverage(area, lon[:1], lat[:1])
    cross = coverage(area, lon, lat, min_stations=2)
    assert cross.covered_area_m2 == pytest.approx(single.covered_area_m2, rel=1e-9)
    assert coverage(area, lon[:1], lat[:1], min_stations=2).share == 0.0


def test_cross_coverage_of_two_discs_is_their_lens():
    area = square(8.0)
    a, b = offset(-500.0, 0.0), offset(500.0, 0.0)
    cross = coverage(area, [a[0], b[0]], [a[1], b[1]], min_stations=2)
    d, r = 1000.0, 1000.0
    lens = 2 * r * r * math.acos(d / (2 * r)) - d / 2 * math.sqrt(4 * r * r - d * d)
    assert cross.covered_area_m2 == pytest.approx(lens, rel=0.005)


@pytest.mark.parametrize("min_stations", [2, 3], ids=["cross", "triple"])
def test_deeper_coverage_never_exceeds_shallower(min_stations):
    area = square(6.0)
    lon, lat = scattered(25, seed=3)
    shallow = coverage(area, lon, lat, min_stations=min_stations - 1)
    deep = coverage(area, lon, lat, min_stations=min_stations)
    assert 0 < deep.share <= shallow.share
    # Back in lon/lat the two differ only by centimetre slivers along the area's edges,
    # whose vertices each result places differently.
    assert deep.covered.difference(shallow.covered).area < 1e-6 * shallow.covered.area


def test_cross_coverage_matches_a_point_count():
    area = square(5.0)
    lon, lat = scattered(12, seed=11, side_km=5.0)
    cross = coverage(area, lon, lat, min_stations=2)
    # Monte Carlo over the area: the share of points with ≥2 stations within 1 km.
    rng = np.random.default_rng(0)
    minx, miny, maxx, maxy = area.bounds
    px, py = rng.uniform(minx, maxx, 20_000), rng.uniform(miny, maxy, 20_000)
    sampled = demand_coverage(px, py, np.ones(px.size), lon, lat, min_stations=2)
    assert cross.share == pytest.approx(sampled, abs=0.015)


@pytest.mark.parametrize("min_stations", [4, 6, 8])
def test_deep_coverage_of_many_wide_overlapping_discs_matches_a_point_count(min_stations):
    # 70 discs of 2 km around a 6 km square: each meets a dozen others or more, the case
    # where noding the whole arrangement once took minutes and gigabytes.
    area = square(6.0)
    lon, lat = scattered(70, seed=5, side_km=12.0)
    deep = coverage(area, lon, lat, radius_m=2000.0, min_stations=min_stations)
    rng = np.random.default_rng(1)
    minx, miny, maxx, maxy = area.bounds
    px, py = rng.uniform(minx, maxx, 20_000), rng.uniform(miny, maxy, 20_000)
    sampled = demand_coverage(
        px, py, np.ones(px.size), lon, lat, radius_m=2000.0, min_stations=min_stations
    )
    assert 0.02 < deep.share < 0.98
    assert deep.share == pytest.approx(sampled, abs=0.01)


def test_coverage_work_grows_with_radius_depth_and_stations_and_is_capped_by_overlaps():
    area = square(6.0)
    lon, lat = scattered(200, seed=2, side_km=6.0)

    def work(n=200, radius_m=1000.0, k=2):
        return coverage_work_estimate(area, lon[:n], lat[:n], radius_m=radius_m, min_stations=k)

    assert work(k=1) == 200  # a union: one unit a disc
    assert work(k=1) < work(k=2) < work(k=10)
    assert work(n=50) < work(n=200)
    far = scattered(200, seed=2, side_km=200.0)
    assert coverage_work_estimate(area, *far, radius_m=1000.0, min_stations=2) < work()
    # Five stations that barely meet cannot make depth 10 cost ten times depth 2.
    few = coverage_work_estimate(area, lon[:5], lat[:5], radius_m=300.0, min_stations=10)
    assert few < 5 * 2


settings.register_profile("coverage", deadline=None, max_examples=40)
positions = st.lists(
    st.tuples(st.floats(-3500, 3500), st.floats(-3500, 3500)), min_size=0, max_size=12
)


def _lonlat(points):
    lon = np.array([CENTRE[0] + e / DEG_LON_M for e, _ in points])
    lat = np.array([CENTRE[1] + n / DEG_LAT_M for _, n in points])
    return lon, lat


@settings(deadline=None, max_examples=40)
@given(positions, st.floats(100, 1500), st.floats(1.0, 600.0), st.integers(1, 2))
def test_coverage_grows_with_radius(points, radius_m, extra_m, k):
    area = square(5.0)
    lon, lat = _lonlat(points)
    small = coverage(area, lon, lat, radius_m=radius_m, min_stations=k)
    large = coverage(area, lon, lat, radius_m=radius_m + extra_m, min_stations=k)
    assert 0.0 <= small.share <= 1.0
    assert small.covered_area_m2 <= large.covered_area_m2 * (1 + 1e-9) + 1e-6


@settings(deadline=None, max_examples=40)
@given(positions, st.tuples(st.floats(-3500, 3500), st.floats(-3500, 3500)), st.integers(1, 2))
def test_coverage_grows_with_a_station(points, new, k):
    area = square(5.0)
    lon, lat = _lonlat(points)
    more_lon, more_lat = _lonlat([*points, new])
    before = coverage(area, lon, lat, min_stations=k)
    after = coverage(area, more_lon, more_lat, min_stations=k)
    assert before.covered_area_m2 <= after.covered_area_m2 * (1 + 1e-9) + 1e-6
    assert 0.0 <= after.share <= 1.0


@settings(deadline=None, max_examples=30)
@given(positions, st.randoms(use_true_random=False), st.integers(1, 3))
def test_station_order_does_not_matter(points, rnd, k):
    area = square(5.0)
    lon, lat = _lonlat(points)
    order = list(range(len(points)))
    rnd.shuffle(order)
    a = coverage(area, lon, lat, min_stations=k)
    b = coverage(area, lon[order], lat[order], min_stations=k)
    assert a.share == pytest.approx(b.share, abs=1e-9)


def test_open_at_night_covers_no_more_than_all_hours():
    area = square(6.0)
    a, b = offset(-800.0, 0.0), offset(800.0, 0.0)
    lon, lat = np.array([a[0], b[0]]), np.array([a[1], b[1]])
    at = datetime(2025, 3, 12, 2, 0, tzinfo=TZ)  # a Wednesday (no holiday), 02:00
    mask = open_mask(["24/7", "Mo-Fr 09:00-17:00"], at)
    assert mask.tolist() == [True, False]
    night = coverage(area, lon[mask], lat[mask])
    always = coverage(area, lon, lat)
    assert night.share < always.share
    assert night.covered_area_m2 == pytest.approx(math.pi * 1e6, rel=0.005)
    assert open_mask(["24/7", "Mo-Fr 09:00-17:00"], at.replace(hour=10)).tolist() == [True, True]


def test_coverage_by_area_gives_one_result_per_key():
    areas = {"west": square(3.0, offset(-3000.0, 0.0)), "east": square(3.0, offset(3000.0, 0.0))}
    station = offset(3000.0, 0.0)
    results = coverage_by_area(areas, [station[0]], [station[1]], radius_m=1000.0)
    assert set(results) == {"west", "east"}
    assert results["west"].share == 0.0
    assert results["east"].share == pytest.approx(math.pi / 9, rel=0.005)


def test_yuzhong_with_a_handful_of_stations_is_a_sensible_share():
    district = chongqing_districts().get("500103")  # 渝中区, ~23 km²
    lon = [106.5772, 106.5520, 106.5250, 106.4950, 106.5350]  # 解放碑 … 大坪 … 化龙桥
    lat = [29.5570, 29.5600, 29.5500, 29.5450, 29.5450]
    result = coverage(district.geometry, lon, lat)
    # Five discs of π km² would be 67 % of the district if disjoint and all inside it.
    assert 0.2 < result.share < 0.67
    assert result.covered_area_m2 <= 5 * math.pi * 1e6 * 1.001
    assert result.n_stations == 5
    cross = coverage(district.geometry, lon, lat, min_stations=2)
    assert 0 < cross.share < result.share


def test_coverage_is_safe_across_threads():
    district = chongqing_districts().get("500103")
    lon, lat = scattered(40, seed=5, side_km=8.0)
    expected = coverage(district.geometry, lon, lat).share
    results: list[float] = []
    errors: list[BaseException] = []

    def work():
        try:
            for _ in range(5):
                results.append(coverage(district.geometry, lon, lat).share)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert results == pytest.approx([expected] * 20, abs=1e-12)


def test_bad_input_is_refused():
    area = square(2.0)
    with pytest.raises(ValueError, match="radius_m"):
        coverage(area, [], [], radius_m=0.0)
    with pytest.raises(ValueError, match="min_stations"):
        coverage(area, [], [], min_stations=0)
    with pytest.raises(ValueError, match="same length"):
        coverage(area, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="finite"):
        coverage(area, [math.nan], [29.0])
    with pytest.raises(ValueError, match="split"):
        coverage(box(73.5, 18.0, 135.0, 53.5), [], [])


# --------------------------------------------------------------------------- demand


def test_demand_coverage_weighs_points():
    station = offset(0.0, 0.0)
    near, far = offset(600.0, 0.0), offset(1600.0, 0.0)
    lon, lat = [near[0], far[0]], [near[1], far[1]]
    assert demand_coverage(lon, lat, [3.0, 1.0], [station[0]], [station[1]]) == pytest.approx(0.75)
    assert demand_coverage(lon, lat, [1.0, 3.0], [station[0]], [station[1]]) == pytest.approx(0.25)
    assert demand_coverage(lon, lat, [0.0, 0.0], [station[0]], [station[1]]) == 0.0
    assert demand_coverage(lon, lat, [1.0, 1.0], [], []) == 0.0
    # Cross coverage needs two stations in reach; a duplicate station is a second one.
    two = demand_coverage(lon, lat, [3.0, 1.0], [station[0]] * 2, [station[1]] * 2, min_stations=2)
    assert two == pytest.approx(0.75)


def test_demand_coverage_uses_geodesic_metres():
    station = offset(0.0, 0.0)
    inside, outside = offset(0.0, 999.5), offset(0.0, 1000.5)
    w = [1.0]
    assert demand_coverage([inside[0]], [inside[1]], w, [station[0]], [station[1]]) == 1.0
    assert demand_coverage([outside[0]], [outside[1]], w, [station[0]], [station[1]]) == 0.0


# --------------------------------------------------------------------------- greedy gaps


def _clusters():
    """Three demand clusters 5 km apart, weights 50, 30 and 10 riders, and a grid of sites."""
    rng = np.random.default_rng(7)
    lon, lat, weight = [], [], []
    for east_m, total in ((0.0, 50.0), (5000.0, 30.0), (-5000.0, 10.0)):
        for _ in range(20):
            p = offset(east_m + rng.normal(0, 200), rng.normal(0, 200))
            lon.append(p[0])
            lat.append(p[1])
            weight.append(total / 20)
    return np.array(lon), np.array(lat), np.array(weight)


def test_greedy_gaps_pick_the_heaviest_cluster_first_with_honest_gains():
    dlon, dlat, w = _clusters()
    clon, clat = candidate_grid(square(14.0), spacing_m=250.0)
    existing = offset(-5000.0, 0.0)  # already serves the lightest cluster
    slon, slat = np.array([existing[0]]), np.array([existing[1]])
    gaps = greedy_gaps(
        clon, clat, demand_lon=dlon, demand_lat=dlat, weight=w,
        station_lon=slon, station_lat=slat, n=5,
    )  # fmt: skip
    assert 1 <= len(gaps) <= 5
    gains = [g.gain for g in gaps]
    assert gains == sorted(gains, reverse=True)
    assert gains[0] == pytest.approx(50.0, rel=0.05)
    _, _, to_heaviest = GEOD.inv(gaps[0].lon, gaps[0].lat, CENTRE[0], CENTRE[1])
    assert to_heaviest < 1000.0
    before = demand_coverage(dlon, dlat, w, slon, slat)
    after = demand_coverage(
        dlon,
        dlat,
        w,
        np.append(slon, [g.lon for g in gaps]),
        np.append(slat, [g.lat for g in gaps]),
    )
    assert sum(gains) == pytest.approx((after - before) * w.sum(), rel=1e-9)
    assert gaps[-1].share == pytest.approx(after, rel=1e-9)
    shares = [g.share for g in gaps]
    assert shares == sorted(shares)


def test_greedy_gaps_stop_when_nothing_is_left_to_cover():
    dlon, dlat, w = _clusters()
    clon, clat = candidate_grid(square(14.0), spacing_m=500.0)
    gaps = greedy_gaps(
        clon, clat, demand_lon=dlon, demand_lat=dlat, weight=w,
        station_lon=[], station_lat=[], n=50,
    )  # fmt: skip
    assert len(gaps) < 50
    assert gaps[-1].share == pytest.approx(1.0)
    assert sum(g.gain for g in gaps) == pytest.approx(w.sum())


def test_candidate_grid_lies_inside_the_area_at_the_spacing():
    district = chongqing_districts().get("500103")
    lon, lat = candidate_grid(district.geometry, spacing_m=500.0)
    assert shapely.contains_xy(shapely.from_wkb(district.geometry.wkb), lon, lat).all()
    # One point per 0.25 km², give or take the edges.
    assert len(lon) == pytest.approx(district.area_m2 / 250_000.0, rel=0.15)
    # Its nearest neighbour (not necessarily the next in order: a row may skip a cove).
    _, _, steps = GEOD.inv(
        np.full(len(lon) - 1, lon[0]), np.full(len(lon) - 1, lat[0]), lon[1:], lat[1:]
    )
    assert float(np.min(steps)) == pytest.approx(500.0, rel=1e-3)


def test_the_reach_matrix_in_small_blocks_is_every_pair_within_reach(monkeypatch):
    # Built a block of rows at a time (here blocks of a few rows, so many boundaries): it
    # must hold exactly the pairs whose geodesic distance is within the radius.
    from geodata import coverage as cov

    monkeypatch.setattr(cov, "_BLOCK_PAIRS", 50)
    monkeypatch.setattr(cov, "_BLOCK_ROWS_MIN", 3)
    rng = np.random.default_rng(11)
    q = [offset(*rng.normal(0, 1500, 2)) for _ in range(200)]
    p = [offset(*rng.normal(0, 1500, 2)) for _ in range(150)]
    qx, qy = np.array(q).T
    px, py = np.array(p).T
    reach = cov._reach_matrix(qx, qy, px, py, 1000.0).toarray()
    _, _, dist = GEOD.inv(
        np.repeat(qx, len(px)), np.repeat(qy, len(px)), np.tile(px, len(qx)), np.tile(py, len(qx))
    )
    assert np.array_equal(reach, dist.reshape(len(qx), len(px)) <= 1000.0)
    assert np.array_equal(cov._counts_within(qx, qy, px, py, 1000.0), reach.sum(axis=1))


# --------------------------------------------------------------------------- area gaps


def geodesic_circle_m2(lon: float, lat: float, radius_m: float) -> float:
    """The area of a geodesic circle on the ellipsoid, from a 720-gon of geodesic radii."""
    az = np.linspace(0, 360, 720, endpoint=False)
    lons, lats, _ = GEOD.fwd(np.full(720, lon), np.full(720, lat), az, np.full(720, radius_m))
    return abs(GEOD.polygon_area_perimeter(lons, lats)[0])


@settings(max_examples=25, deadline=None)
@given(
    side_km=st.floats(1.5, 8.0),
    radius_m=st.floats(200.0, 1500.0),
    spacing_m=st.sampled_from([250.0, 400.0, 700.0, 1000.0]),
    n=st.integers(1, 5),
    stations=st.lists(st.tuples(st.floats(-5000, 5000), st.floats(-5000, 5000)), max_size=25),
    second_area=st.booleans(),
)
def test_area_gaps_gain_at_most_a_circle_and_shares_step_by_the_gains(
    side_km, radius_m, spacing_m, n, stations, second_area
):
    areas = [square(side_km)]
    if second_area:  # a neighbour sharing an edge, as two districts do
        east = offset(side_km * 1000, 0)
        areas.append(square(side_km, centre=east))
    slon = np.array([offset(e, north)[0] for e, north in stations])
    slat = np.array([offset(e, north)[1] for e, north in stations])
    found = area_gaps(
        areas, station_lon=slon, station_lat=slat, n=n, radius_m=radius_m, spacing_m=spacing_m
    )
    circle = geodesic_circle_m2(CENTRE[0], CENTRE[1], radius_m)
    share = found.covered_m2 / found.area_m2
    for gap in found.sites:
        assert 0 < gap.gain <= circle * 1.001  # the 64-gon has the circle's area
        # The share stops at 1: a last site that covers what is left may measure a gain a
        # rounding above it (seen: 1.2e-8 relative), and the step is then what was left.
        step = min(1.0, share + gap.gain / found.area_m2) - share
        assert gap.share - share == pytest.approx(step, rel=1e-9, abs=1e-12)
        share = gap.share
    gains = [g.gain for g in found.sites]
    assert all(a >= b * (1 - 1e-9) for a, b in itertools.pairwise(gains))
    # What the sites add is what coverage() then measures, independently.
    after = sum(
        coverage(
            a,
            np.append(slon, [g.lon for g in found.sites]),
            np.append(slat, [g.lat for g in found.sites]),
            radius_m=radius_m,
        ).covered_area_m2
        for a in areas
    )
    assert found.covered_m2 + sum(gains) == pytest.approx(after, rel=2e-4)


def test_area_gaps_over_an_empty_area_gain_a_whole_circle_each():
    found = area_gaps(
        [square(20.0)], station_lon=[], station_lat=[], n=4, radius_m=1000.0, spacing_m=500.0
    )
    assert [round(g.gain / 1e6, 4) for g in found.sites] == [3.1416] * 4
    assert found.covered_m2 == 0
    assert found.sites[-1].share == pytest.approx(4 * math.pi * 1e6 / found.area_m2, rel=1e-6)
