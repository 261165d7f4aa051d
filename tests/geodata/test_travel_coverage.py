"""Coverage by travel time on cells (geodata.travel_coverage): the cells a station reaches
within the time are exactly those a brute-force per-cell shortest path says, more minutes
or more stations never cover less, and the drawn area is the covered cells."""

from __future__ import annotations

import math
import threading
import time

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata import travel_coverage
from geodata.network import Network
from geodata.routing import Router, Snapper
from geodata.travel_coverage import (
    CellGrid,
    cell_grid,
    cell_seconds,
    covered_area,
    cross_covered,
    reach_work_estimate,
    subset,
)

LON0, LAT0 = 106.56, 29.56
SPEED = 4.5  # km/h
STEPS = 0.4


def grid_network(n: int = 7, spacing_m: float = 100.0, seed: int = 1) -> Network:
    """A jittered ``n`` x ``n`` street grid near Yuzhong: some blocks missing, some ways
    one-way, some staircases."""
    rng = np.random.default_rng(seed)
    dlat = spacing_m / 110_574.0
    dlon = spacing_m / (111_320.0 * math.cos(math.radians(LAT0)))
    jj, ii = np.meshgrid(np.arange(n), np.arange(n))
    lon = LON0 + jj.ravel() * dlon + rng.normal(0, dlon / 10, n * n)
    lat = LAT0 + ii.ravel() * dlat + rng.normal(0, dlat / 10, n * n)
    u, v = [], []
    for i in range(n):
        for j in range(n):
            a = i * n + j
            if j + 1 < n:
                u.append(a)
                v.append(a + 1)
            if i + 1 < n:
                u.append(a)
                v.append(a + n)
    m = len(u)
    keep = rng.random(m) > 0.1
    one_way = rng.random(m) < 0.2
    backward = ~one_way
    steps = rng.random(m) < 0.1
    return Network.from_segments(
        "walk",
        lon,
        lat,
        np.array(u)[keep],
        np.array(v)[keep],
        forward=np.ones(int(keep.sum()), bool),
        backward=backward[keep],
        steps=steps[keep],
    )


NET = grid_network()
SNAPPER = Snapper(NET)
GRID = cell_grid(NET, SNAPPER, cell_m=40.0, walk_in_m=60.0)


def station_points(network: Network, pieces: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Stations at the middle of the given pieces (on the way: no snap leg)."""
    u, v = network.seg_u[pieces], network.seg_v[pieces]
    return (network.lon[u] + network.lon[v]) / 2, (network.lat[u] + network.lat[v]) / 2


def router_for(pieces: list[int]) -> Router:
    lon, lat = station_points(NET, pieces)
    return Router(NET, SNAPPER, lon, lat, snap_max_m=60.0, speed_kmh=SPEED, steps_factor=STEPS)


def brute_seconds(network: Network, pieces: list[int], grid_snaps: tuple) -> np.ndarray:
    """Each cell's seconds to the nearest station along the network (networkx on the graph
    with every cell spot and station inserted on its piece), walk-in leg included."""
    segment, t, snap_m = grid_snaps
    secs = network.seconds(SPEED, STEPS)
    graph = nx.DiGraph()
    src = network.edge_sources()
    for e in range(network.edges):
        graph.add_edge(int(src[e]), int(network.indices[e]), w=float(secs[e]))
    # Stations: virtual node ("s", i) reachable from its piece's ends.
    stations = []
    for i, p in enumerate(pieces):
        node = ("s", i)
        stations.append(node)
        for edge, frac in ((network.seg_fwd[p], 0.5), (network.seg_back[p], 0.5)):
            if edge >= 0:
                a = int(src[edge])
                graph.add_edge(a, node, w=float(secs[edge]) * frac)
    # Reverse search from a super-target: time from every node to its nearest station.
    rev = graph.reverse(copy=True)
    rev.add_node("T")
    for node in stations:
        rev.add_edge("T", node, w=0.0)
    to_station = nx.single_source_dijkstra_path_length(rev, "T", weight="w")
    out = np.full(segment.size, np.inf)
    for c in range(segment.size):
        p, frac = int(segment[c]), float(t[c])
        best = math.inf
        for edge, part in ((network.seg_fwd[p], 1 - frac), (network.seg_back[p], frac)):
            if edge < 0:
                continue
            end = int(network.indices[edge])
            best = min(best, float(secs[edge]) * part + to_station.get(end, math.inf))
        # A station on the cell's own piece, ahead of it in an allowed direction.
        if p in pieces:
            if network.seg_fwd[p] >= 0 and frac <= 0.5:
                best = min(best, float(secs[network.seg_fwd[p]]) * (0.5 - frac))
            if network.seg_back[p] >= 0 and frac >= 0.5:
                best = min(best, float(secs[network.seg_back[p]]) * (frac - 0.5))
        out[c] = best + float(snap_m[c]) / (SPEED / 3.6)
    return out


def test_grid_keeps_cells_near_ways_only() -> None:
    assert len(GRID) > 100
    assert np.all(GRID.snaps.snap_m <= GRID.walk_in_m + 1e-6)
    # The same grid object for the same network: computed once per network.
    assert cell_grid(NET, SNAPPER, cell_m=40.0, walk_in_m=60.0) is GRID


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.integers(0, int(NET.seg_u.size) - 1), min_size=1, max_size=4, unique=True),
    minutes=st.integers(1, 8),
)
def test_cells_covered_match_brute_force(pieces: list[int], minutes: int) -> None:
    router = router_for(pieces)
    limit_s = minutes * 60.0
    got = cell_seconds(router, GRID, None, limit_s=limit_s)
    want = brute_seconds(NET, pieces, (GRID.snaps.segment, GRID.snaps.t, GRID.snaps.snap_m))
    near_limit = np.abs(want - limit_s) < 0.05
    assert np.array_equal(np.isfinite(got)[~near_limit], (want <= limit_s)[~near_limit])
    both = np.isfinite(got) & np.isfinite(want) & (want <= limit_s)
    np.testing.assert_allclose(got[both], want[both], rtol=1e-4, atol=0.05)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(st.integers(0, int(NET.seg_u.size) - 1), min_size=2, max_size=6, unique=True),
    minutes=st.integers(1, 10),
    more=st.integers(1, 10),
)
def test_more_minutes_or_stations_never_cover_less(
    pieces: list[int], minutes: int, more: int
) -> None:
    router = router_for(pieces)
    fewer = np.zeros(len(pieces), bool)
    fewer[: len(pieces) // 2] = True
    base = np.isfinite(cell_seconds(router, GRID, fewer, limit_s=minutes * 60.0))
    longer = np.isfinite(cell_seconds(router, GRID, fewer, limit_s=(minutes + more) * 60.0))
    everyone = np.isfinite(cell_seconds(router, GRID, None, limit_s=minutes * 60.0))
    assert not np.any(base & ~longer)
    assert not np.any(base & ~everyone)
    cross = cross_covered(
        router, GRID.snaps, everyone, None, limit_s=minutes * 60.0, min_stations=2
    )
    assert not np.any(cross & ~everyone)  # cross coverage is never more than coverage


def test_covered_area_is_the_covered_cells() -> None:
    router = router_for([0, 40])
    covered = np.flatnonzero(np.isfinite(cell_seconds(router, GRID, None, limit_s=240.0)))
    assert 0 < covered.size < len(GRID)
    area = covered_area(GRID, covered)
    assert area.is_valid
    assert area.area == pytest.approx(covered.size * GRID.cell_m**2, rel=1e-9)
    # Every covered cell's centre is inside, every other kept cell's outside.
    centres = shapely.points(
        GRID.x0 + (GRID.ix + 0.5) * GRID.cell_m, GRID.y0 + (GRID.iy + 0.5) * GRID.cell_m
    )
    inside = shapely.contains(area, centres)
    mask = np.zeros(len(GRID), bool)
    mask[covered] = True
    assert np.array_equal(inside, mask)
    # Runs of a row are one box: far fewer vertices than four per cell.
    assert shapely.get_num_coordinates(area) < 4 * covered.size
    # Back in WGS-84, around the network.
    lon_min, lat_min, lon_max, lat_max = GRID.wgs84(area).bounds
    assert NET.bbox[0] - 0.001 < lon_min < lon_max < NET.bbox[2] + 0.001
    assert NET.bbox[1] - 0.001 < lat_min < lat_max < NET.bbox[3] + 0.001


def test_area_cells_clip_to_the_area() -> None:
    # Half of the network's extent, cut through cells: the weights sum to the part of the
    # kept cells inside it, each at most a cell.
    lon_mid = (NET.bbox[0] + NET.bbox[2]) / 2
    half = shapely.box(NET.bbox[0] - 0.01, NET.bbox[1] - 0.01, lon_mid, NET.bbox[3] + 0.01)
    cells = GRID.area_cells("west", half)
    assert np.all(cells.area_m2 > 0)
    assert np.all(cells.area_m2 <= GRID.cell_m**2 * (1 + 1e-9))
    kept = shapely.union_all(GRID.boxes(np.arange(len(GRID))))
    expected = shapely.intersection(kept, GRID.local(half)).area
    assert cells.area_m2.sum() == pytest.approx(expected, rel=1e-6)
    assert GRID.area_cells("west", half) is cells  # kept


def test_reach_work_grows_with_stations_and_minutes() -> None:
    one = reach_work_estimate(NET, 10, speed_kmh=SPEED, limit_s=300.0)
    assert reach_work_estimate(NET, 20, speed_kmh=SPEED, limit_s=300.0) == pytest.approx(2 * one)
    assert reach_work_estimate(NET, 10, speed_kmh=SPEED, limit_s=60.0) <= one
    # Never more than every node per station.
    assert reach_work_estimate(NET, 10, speed_kmh=SPEED, limit_s=1e6) == 10 * NET.nodes


@settings(max_examples=60, deadline=None)
@given(
    cells=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 9)), min_size=1, unique=True),
    side=st.sampled_from([10.0, 50.0, 37.5]),
)
def test_covered_area_is_valid_for_any_pattern(cells: list[tuple[int, int]], side: float) -> None:
    ix = np.array([c[0] for c in cells], np.int64)
    iy = np.array([c[1] for c in cells], np.int64)
    grid = CellGrid(
        cell_m=side,
        walk_in_m=0.0,
        pipeline=GRID.pipeline,
        x0=-1234.5,
        y0=876.25,
        nx=13,
        ny=10,
        ix=ix,
        iy=iy,
        lon=np.zeros(ix.size),
        lat=np.zeros(ix.size),
        snaps=subset(GRID.snaps, np.zeros(ix.size, np.int64)),
    )
    area = covered_area(grid, np.arange(ix.size))
    assert area.is_valid
    assert area.area == pytest.approx(len(cells) * side**2, rel=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), density=st.floats(0.05, 0.98), size=st.integers(2, 40))
def test_covered_area_is_exact_for_noisy_patterns(seed: int, density: float, size: int) -> None:
    # Noise has every awkward case: holes, islands in holes, cells touching at one corner
    # (where GEOS's coverage union fails with "found two shells").
    covered = np.random.default_rng(seed).random((size, size)) < density
    iy, ix = np.nonzero(covered)
    if ix.size == 0:
        return
    grid = CellGrid(
        cell_m=50.0,
        walk_in_m=0.0,
        pipeline=GRID.pipeline,
        x0=100.0,
        y0=-200.0,
        nx=size,
        ny=size,
        ix=ix.astype(np.int64),
        iy=iy.astype(np.int64),
        lon=np.zeros(ix.size),
        lat=np.zeros(ix.size),
        snaps=subset(GRID.snaps, np.zeros(ix.size, np.int64)),
    )
    area = covered_area(grid, np.arange(ix.size))
    assert area.is_valid
    assert area.area == pytest.approx(ix.size * 2500.0, rel=1e-12)
    for row in range(size):
        y = -200.0 + (row + 0.5) * 50.0
        centres = shapely.points(100.0 + (np.arange(size) + 0.5) * 50.0, np.full(size, y))
        assert np.array_equal(shapely.contains(area, centres), covered[row])


def test_requests_arriving_together_build_the_grid_once(monkeypatch) -> None:
    """The warm-up and a first planner (or two tabs) asking for a network's grid at once:
    one snaps the cells, the other waits for it and gets the same grid."""
    net = grid_network(5, seed=7)
    snapper = Snapper(net)
    builds: list[int] = []
    started = threading.Event()
    real = travel_coverage._build_grid

    def slow_build(*args, **kwargs):
        builds.append(1)
        started.set()
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(travel_coverage, "_build_grid", slow_build)
    got: list[CellGrid] = []
    threads = [
        threading.Thread(
            target=lambda: got.append(cell_grid(net, snapper, cell_m=40.0, walk_in_m=60.0))
        )
        for _ in range(3)
    ]
    threads[0].start()
    assert started.wait(5)
    for t in threads[1:]:
        t.start()
    for t in threads:
        t.join(10)
    assert len(builds) == 1
    assert len(got) == 3 and got[0] is got[1] is got[2]
