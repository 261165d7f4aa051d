"""geodata.routing: snapping to the nearest piece, the k nearest stations by route, service
times and reach counts, against brute force (networkx on the graph with every point inserted
by splitting its piece; dense geodesic sampling for the snaps)."""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import dataclass

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

import geodata.routing as routing
from geodata.network import Network
from geodata.routing import PointOffNetworkError, Router, Routes, Snapper, Snaps

GEOD = Geod(ellps="WGS84")
LON0, LAT0 = 106.55, 29.56  # Yuzhong
DEG = 0.01  # about 1 km: the random graphs' extent
SPEED = 4.5
STEPS = 0.4
SNAP = 60.0


@dataclass
class City:
    network: Network
    snapper: Snapper
    station_lon: np.ndarray
    station_lat: np.ndarray
    query: tuple[float, float]
    k: int
    mask: np.ndarray
    max_route_m: float | None


def _on_piece(net: Network, p: int, t: float, side: float) -> tuple[float, float]:
    """A point near piece ``p`` at fraction ``t`` (linear in degrees), ``side`` degrees off."""
    u, v = int(net.seg_u[p]), int(net.seg_v[p])
    lon = net.lon[u] + t * (net.lon[v] - net.lon[u])
    lat = net.lat[u] + t * (net.lat[v] - net.lat[u])
    return float(lon + side), float(lat - side)


@st.composite
def cities(draw: st.DrawFn) -> City:
    n = draw(st.integers(2, 25))
    xy = draw(st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=n, max_size=n))
    if draw(st.booleans()):  # some nodes on one spot: zero-length pieces
        xy[-1] = xy[0]
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda p: p[0] != p[1]),
            min_size=1,
            max_size=3 * n,
        )
    )
    ways = draw(
        st.lists(
            st.sampled_from(["both", "both", "both", "fwd", "back"]),
            min_size=len(pairs),
            max_size=len(pairs),
        )
    )
    steps = draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    # A piece between two nodes on one spot goes both ways (a point on it is at both ends).
    ways = [w if xy[a] != xy[b] else "both" for w, (a, b) in zip(ways, pairs, strict=True)]
    lon = LON0 + DEG * np.array([p[0] for p in xy])
    lat = LAT0 + DEG * np.array([p[1] for p in xy])
    net = Network.from_segments(
        "walk",
        lon,
        lat,
        [p[0] for p in pairs],
        [p[1] for p in pairs],
        forward=[w != "back" for w in ways],
        backward=[w != "fwd" for w in ways],
        steps=[s and draw(st.integers(0, 4)) == 0 for s in steps],
    )
    pieces = net.seg_u.size

    def point() -> tuple[float, float]:
        kind = draw(st.sampled_from(["piece", "piece", "node", "free"]))
        if kind == "free":
            return (
                LON0 + DEG * draw(st.floats(-0.05, 1.05)),
                LAT0 + DEG * draw(st.floats(-0.05, 1.05)),
            )
        p = draw(st.integers(0, pieces - 1))
        t = draw(st.sampled_from([0.0, 1.0])) if kind == "node" else draw(st.floats(0, 1))
        side = draw(st.sampled_from([0.0, 0.0, 1e-4, -2e-4]))
        return _on_piece(net, p, t, side)

    query = point()
    stations = [point() for _ in range(draw(st.integers(1, 8)))]
    if draw(st.booleans()):
        stations.append(stations[0])  # two stations on one spot: ties by position
    mask = np.array(draw(st.lists(st.booleans(), min_size=len(stations), max_size=len(stations))))
    if draw(st.booleans()):
        mask[:] = True
    max_route = draw(st.one_of(st.none(), st.floats(50, 3000)))
    return City(
        network=net,
        snapper=Snapper(net),
        station_lon=np.array([s[0] for s in stations]),
        station_lat=np.array([s[1] for s in stations]),
        query=query,
        k=draw(st.integers(1, 4)),
        mask=mask,
        max_route_m=max_route,
    )


def _router(city: City, steps_factor: float = STEPS) -> Router:
    return Router(
        city.network,
        city.snapper,
        city.station_lon,
        city.station_lat,
        snap_max_m=SNAP,
        speed_kmh=SPEED,
        steps_factor=steps_factor,
    )


def _split_graph(net: Network, named: dict[object, tuple[int, float]]) -> nx.DiGraph:
    """The network in networkx with each named point (piece, t) inserted as a node by
    splitting its piece; edges carry metres and seconds."""
    flat = SPEED / 3.6
    seg_steps = np.zeros(net.seg_u.size, dtype=bool)
    seg_steps[net.edge_seg] = net.steps
    on: dict[int, list[tuple[float, object]]] = {}
    for name, (p, t) in named.items():
        on.setdefault(p, []).append((t, name))
    g = nx.DiGraph()
    g.add_nodes_from(range(net.nodes))

    def add(a: object, b: object, m: float, s: float) -> None:
        if not g.has_edge(a, b) or (g[a][b]["weight"], g[a][b]["sec"]) > (m, s):
            g.add_edge(a, b, weight=m, sec=s)

    for p in range(net.seg_u.size):
        length = float(net.seg_length_m[p])
        speed = flat * (STEPS if seg_steps[p] else 1.0)
        chain = [(0.0, int(net.seg_u[p])), *sorted(on.get(p, []), key=lambda x: x[0])]
        chain.append((1.0, int(net.seg_v[p])))
        for (t1, a), (t2, b) in itertools.pairwise(chain):
            m = (t2 - t1) * length
            if net.seg_fwd[p] >= 0 or m == 0:  # two points on one spot reach each other
                add(a, b, m, m / speed)
            if net.seg_back[p] >= 0 or m == 0:
                add(b, a, m, m / speed)
    return g


def _quickest_of_shortest(g: nx.DiGraph, dist: dict, source: object) -> dict:
    """Seconds along the quickest of the shortest paths (in metres) from the source."""
    tight = [
        (a, b, data["sec"])
        for a, b, data in g.edges(data=True)
        if a in dist and abs(dist[a] + data["weight"] - dist[b]) <= 1e-9 * max(1.0, dist[b])
    ]
    sec = dict.fromkeys(dist, math.inf)
    sec[source] = 0.0
    for _ in range(len(dist) + 1):  # Bellman-Ford on the tight edges (zero-length cycles)
        changed = False
        for a, b, s in tight:
            if sec[a] + s < sec[b] - 1e-12:
                sec[b] = sec[a] + s
                changed = True
        if not changed:
            break
    return sec


def _brute_force(city: City, router: Router, q: Snaps) -> list[tuple[int, float, float]]:
    sn = router.station_snaps
    named: dict[object, tuple[int, float]] = {"q": (int(q.segment[0]), float(q.t[0]))}
    for i in np.flatnonzero(sn.snapped):
        named[("s", int(i))] = (int(sn.segment[i]), float(sn.t[i]))
    g = _split_graph(city.network, named)
    dist = nx.single_source_dijkstra_path_length(g, "q", weight="weight")
    sec = _quickest_of_shortest(g, dist, "q")
    q_snap = float(q.snap_m[0])
    flat = SPEED / 3.6
    out = []
    for i in np.flatnonzero(sn.snapped & city.mask):
        name = ("s", int(i))
        if name not in dist:
            continue
        leg = float(sn.snap_m[i])
        out.append((dist[name] + q_snap + leg, int(i), sec[name] + (q_snap + leg) / flat))
    out.sort()
    if city.max_route_m is not None:
        out = [o for o in out if o[0] <= city.max_route_m]
    return [(i, m, s) for m, i, s in out[: city.k]]


def _triples(found: Routes) -> list[tuple[int, float, float]]:
    return list(
        zip(found.index.tolist(), found.route_m.tolist(), found.duration_s.tolist(), strict=True)
    )


def _assert_same(got, want) -> None:
    assert [i for i, _, _ in got] == [i for i, _, _ in want]
    assert [m for _, m, _ in got] == pytest.approx([m for _, m, _ in want], rel=1e-6, abs=1e-6)


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(cities())
def test_nearest_by_route_equals_networkx_on_split_graph(city: City) -> None:
    router = _router(city)
    q = city.snapper.snap([city.query[0]], [city.query[1]], max_m=SNAP)
    if q.segment[0] < 0:
        with pytest.raises(PointOffNetworkError) as err:
            router.nearest(*city.query, k=city.k, mask=city.mask, max_route_m=city.max_route_m)
        assert err.value.snap_m is not None and err.value.snap_m > SNAP
        return
    found = router.nearest(*city.query, k=city.k, mask=city.mask, max_route_m=city.max_route_m)
    got = _triples(found)
    want = _brute_force(city, router, q)
    _assert_same(got, want)
    # The long searches' path (scipy, bound doubled) gives the same.
    ok = router.reachable & city.mask
    limit = math.inf if city.max_route_m is None else city.max_route_m - float(q.snap_m[0])
    if limit >= 0:
        p, t = int(q.segment[0]), float(q.t[0])
        long = router._search_scipy(p, t, city.k, ok, limit, reach=50.0)  # doubled a few times
        assert [a for _, a, _ in long] == [i for i, _, _ in want]
        assert [m for m, _, _ in long] == pytest.approx(
            [m - float(q.snap_m[0]) for _, m, _ in want], rel=1e-6, abs=1e-6
        )
        # Seconds along one of the shortest paths (scipy's pick where several are equally
        # short): never quicker than the quickest of them.
        leg_s = float(q.snap_m[0]) / (SPEED / 3.6)
        for (_, _, s), (_, _, w) in zip(long, want, strict=True):
            assert s >= (w - leg_s) * (1 - 1e-6) - 1e-6
    # Seconds along the same path: the quickest of the shortest.
    assert [s for _, _, s in got] == pytest.approx([s for _, _, s in want], rel=1e-6, abs=1e-6)
    assert found.snap_m == pytest.approx(float(q.snap_m[0]))
    # Never shorter than the straight line on the ellipsoid (float32 lengths: 1e-6).
    if found.index.size:
        _, _, straight = GEOD.inv(
            np.full(found.index.size, city.query[0]),
            np.full(found.index.size, city.query[1]),
            city.station_lon[found.index],
            city.station_lat[found.index],
        )
        assert (found.route_m >= np.asarray(straight) * (1 - 1e-6) - 1e-6).all()


def _brute_times(city: City, router: Router, points: Snaps, mask: np.ndarray) -> np.ndarray:
    """Seconds from each point (no snap leg) to each station of the mask: (points, stations)."""
    sn = router.station_snaps
    named: dict[object, tuple[int, float]] = {}
    for j in np.flatnonzero(points.snapped):
        named[("p", int(j))] = (int(points.segment[j]), float(points.t[j]))
    for i in np.flatnonzero(sn.snapped):
        named[("s", int(i))] = (int(sn.segment[i]), float(sn.t[i]))
    g = _split_graph(city.network, named)
    flat = SPEED / 3.6
    out = np.full((len(points), sn.segment.size), np.inf)
    for j in np.flatnonzero(points.snapped):
        d = nx.single_source_dijkstra_path_length(g, ("p", int(j)), weight="sec")
        for i in np.flatnonzero(sn.snapped & mask):
            if ("s", int(i)) in d:
                out[j, i] = d[("s", int(i))] + float(sn.snap_m[i]) / flat
    return out


@st.composite
def cities_with_points(draw: st.DrawFn) -> tuple[City, Snaps, float]:
    city = draw(cities())
    net = city.network
    pts = []
    for _ in range(draw(st.integers(1, 6))):
        p = draw(st.integers(0, net.seg_u.size - 1))
        pts.append(_on_piece(net, p, draw(st.floats(0, 1)), draw(st.sampled_from([0.0, 1e-4]))))
    pts.append((LON0 - 0.1, LAT0))  # far off: not snapped
    snaps = city.snapper.snap([p[0] for p in pts], [p[1] for p in pts], max_m=SNAP)
    limit = draw(st.floats(10, 900))
    return city, snaps, limit


@PROPERTY
@given(cities_with_points())
def test_service_times_and_reach_counts_equal_brute_force(case) -> None:
    city, points, limit = case
    router = _router(city)
    brute = _brute_times(city, router, points, city.mask)
    want = brute.min(axis=1)
    want[want > limit] = np.inf
    got = router.service_times(city.mask, limit_s=limit).at(points)
    assert np.isinf(got[-1])  # the point that is not snapped
    assert np.isinf(got).tolist() == np.isinf(want).tolist()
    fin = np.isfinite(want)
    assert got[fin] == pytest.approx(want[fin], rel=1e-6, abs=1e-6)
    for cap in (1, 2, 10):
        counts = router.reach_counts(city.mask, points, limit_s=limit, cap=cap)
        expected = np.minimum((brute <= limit).sum(axis=1), cap)
        # Equal unless a time sits on the limit itself (float order of additions).
        close = np.abs(brute - limit) < 1e-6 * max(1.0, limit)
        sure = ~close.any(axis=1)
        assert counts[sure].tolist() == expected[sure].tolist()
        assert counts.dtype == np.int32


# -- snapping -----------------------------------------------------------------------------


def _dense_nearest(net: Network, lon: float, lat: float) -> float:
    """The geodesic distance from a point to the nearest piece, sampled every ~0.5 m."""
    best = math.inf
    for p in range(net.seg_u.size):
        u, v = int(net.seg_u[p]), int(net.seg_v[p])
        npts = max(2, int(float(net.seg_length_m[p]) / 0.5))
        spots = GEOD.npts(net.lon[u], net.lat[u], net.lon[v], net.lat[v], npts)
        lons = np.r_[net.lon[u], [s[0] for s in spots], net.lon[v]]
        lats = np.r_[net.lat[u], [s[1] for s in spots], net.lat[v]]
        _, _, d = GEOD.inv(np.full(lons.size, lon), np.full(lons.size, lat), lons, lats)
        best = min(best, float(np.min(d)))
    return best


@settings(max_examples=40, deadline=None)
@given(cities())
def test_snap_is_the_nearest_piece_on_the_ellipsoid(city: City) -> None:
    lon = np.r_[city.station_lon, city.query[0]]
    lat = np.r_[city.station_lat, city.query[1]]
    snaps = city.snapper.snap(lon, lat, max_m=math.inf)
    for i in range(lon.size):
        assert snaps.segment[i] >= 0
        assert 0.0 <= snaps.t[i] <= 1.0
        brute = _dense_nearest(city.network, lon[i], lat[i])
        # Our spot is on a piece, so never nearer than the truth; sampling is 0.5 m apart.
        assert snaps.snap_m[i] <= brute + 1e-3
        assert snaps.snap_m[i] >= brute - 0.3
    for i in range(lon.size):  # one point at a time (the query's path): the same numbers
        one = city.snapper.snap_one(float(lon[i]), float(lat[i]), max_m=math.inf)
        assert one == (int(snaps.segment[i]), float(snaps.t[i]), float(snaps.snap_m[i]))
    bounded = city.snapper.snap(lon, lat, max_m=SNAP)
    inside = snaps.snap_m <= SNAP
    assert bounded.snapped.tolist() == inside.tolist()
    assert bounded.segment[inside].tolist() == snaps.segment[inside].tolist()
    assert np.isinf(bounded.snap_m[~inside]).all()


# -- hand cases ---------------------------------------------------------------------------


def _line(forward=(True, True, True), backward=(True, True, True), steps=None) -> Network:
    """Four nodes 100 m apart along a parallel, pieces 0-1, 1-2, 2-3."""
    _, _, _ = GEOD.inv(LON0, LAT0, LON0 + 0.001, LAT0)
    lon, lat, _ = GEOD.fwd(
        np.full(4, LON0), np.full(4, LAT0), np.full(4, 90.0), 100.0 * np.arange(4)
    )
    return Network.from_segments(
        "ebike", lon, lat, [0, 1, 2], [1, 2, 3], forward=forward, backward=backward, steps=steps
    )


def _at(net: Network, node_a: int, node_b: int, t: float, north_m: float = 0.0):
    lon, lat, _ = GEOD.fwd(net.lon[node_a], net.lat[node_a], 90.0, 100.0 * t * (node_b - node_a))
    lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north_m)
    return float(lon), float(lat)


def _line_router(net: Network, stations, snap_max_m: float = 50.0) -> Router:
    return Router(
        net,
        Snapper(net),
        [s[0] for s in stations],
        [s[1] for s in stations],
        snap_max_m=snap_max_m,
        speed_kmh=15.0,
        steps_factor=0.5,
    )


def test_one_way_piece_makes_the_station_behind_unreachable_by_that_way() -> None:
    net = _line(forward=(True, False, True), backward=(True, True, True))  # 1 -> 2 forbidden
    stations = [_at(net, 0, 3, 0.9), _at(net, 0, 3, 0.1)]  # 270 m east, 30 m east
    router = _line_router(net, stations)
    found = router.nearest(*_at(net, 0, 3, 0.2), k=2)  # 60 m east, on piece 0-1
    assert found.index.tolist() == [1]  # the far one lies beyond the forbidden way
    assert found.route_m[0] == pytest.approx(30.0, abs=0.01)
    back = router.nearest(*_at(net, 0, 3, 0.95), k=2)  # coming west is allowed
    assert back.index.tolist() == [0, 1]
    assert back.route_m.tolist() == pytest.approx([15.0, 255.0], abs=0.01)


def test_station_on_the_same_piece_is_reached_along_it() -> None:
    net = _line()
    router = _line_router(net, [_at(net, 1, 2, 0.7, north_m=10.0), _at(net, 0, 1, 0.0)])
    found = router.nearest(*_at(net, 1, 2, 0.2, north_m=5.0), k=2)
    assert found.index.tolist() == [0, 1]
    assert found.route_m.tolist() == pytest.approx([5.0 + 50.0 + 10.0, 5.0 + 120.0], abs=0.01)
    assert found.snap_m == pytest.approx(5.0, abs=0.01)
    # Durations: 15 km/h everywhere (no steps), the snap legs too.
    assert found.duration_s.tolist() == pytest.approx(
        [65.0 / (15 / 3.6), 125.0 / (15 / 3.6)], abs=1e-3
    )


def test_same_piece_one_way_goes_round_or_not_at_all() -> None:
    net = _line(forward=(True, True, True), backward=(True, False, True))  # 2 -> 1 forbidden
    router = _line_router(net, [_at(net, 1, 2, 0.2)])
    assert router.nearest(*_at(net, 1, 2, 0.7), k=1).index.size == 0  # no way back west
    assert router.nearest(*_at(net, 1, 2, 0.1), k=1).route_m[0] == pytest.approx(10.0, abs=0.01)


def test_station_at_a_node_and_ties_by_position() -> None:
    net = _line()
    spot = _at(net, 0, 2, 1.0)  # node 2
    router = _line_router(net, [_at(net, 0, 1, 0.0), spot, spot, _at(net, 2, 3, 0.5)])
    found = router.nearest(*_at(net, 1, 2, 0.5), k=2)  # 50 m from node 2 and from node 1
    assert found.index.tolist() == [1, 2]  # the two at node 2, lower position first
    assert found.route_m.tolist() == pytest.approx([50.0, 50.0], abs=0.01)
    found = router.nearest(*_at(net, 1, 2, 0.5), k=4)
    assert found.index.tolist() == [1, 2, 3, 0]
    assert found.route_m.tolist() == pytest.approx([50.0, 50.0, 100.0, 150.0], abs=0.01)


def test_steps_are_slower_and_durations_follow_the_shortest_path() -> None:
    net = _line(steps=[False, True, False])
    router = _line_router(net, [_at(net, 2, 3, 0.5)])
    found = router.nearest(*_at(net, 0, 1, 0.5), k=1)
    assert found.route_m[0] == pytest.approx(200.0, abs=0.01)
    flat = 15 / 3.6
    assert found.duration_s[0] == pytest.approx(100 / flat + 100 / (flat * 0.5), abs=0.01)


def test_unreachable_station_and_disconnected_component() -> None:
    lon, lat, _ = GEOD.fwd(np.full(4, LON0), np.full(4, LAT0), np.full(4, 90.0), [0, 100, 500, 600])
    net = Network.from_segments("walk", lon, lat, [0, 2], [1, 3], forward=[1, 1], backward=[1, 1])
    far = GEOD.fwd(LON0, LAT0, 0.0, 300.0)[:2]
    island = GEOD.fwd(lon[2], lat[2], 90.0, 50.0)[:2]
    router = _line_router(net, [far, island, (lon[1], lat[1])])
    assert router.reachable.tolist() == [False, True, True]
    assert np.isinf(router.station_snaps.snap_m[0])
    found = router.nearest(LON0, LAT0, k=3)
    assert found.index.tolist() == [2]  # the island's station is never reached
    times = router.service_times(None, limit_s=3600).node_s
    assert np.isfinite(times[[0, 1, 2, 3]]).all()  # the island has its own station
    only = np.array([True, False, True])
    times = router.service_times(only, limit_s=3600).node_s
    assert np.isinf(times[[2, 3]]).all() and np.isfinite(times[[0, 1]]).all()


def test_point_off_network_raises_with_its_distance() -> None:
    net = _line()
    router = _line_router(net, [_at(net, 0, 1, 0.5)])
    with pytest.raises(PointOffNetworkError) as err:
        router.nearest(*_at(net, 1, 2, 0.5, north_m=80.0), k=1)
    assert err.value.max_m == 50.0
    assert err.value.snap_m == pytest.approx(80.0, abs=0.01)


def test_max_route_bounds_the_answer_and_k_zero_is_empty() -> None:
    net = _line()
    router = _line_router(net, [_at(net, 0, 1, 0.5), _at(net, 2, 3, 0.5)])
    found = router.nearest(*_at(net, 0, 1, 0.0), k=5, max_route_m=100.0)
    assert found.index.tolist() == [0]
    assert router.nearest(*_at(net, 0, 1, 0.0), k=0).index.size == 0


def test_stations_key_follows_positions_and_snap_distance() -> None:
    net = _line()
    a = _line_router(net, [_at(net, 0, 1, 0.5)])
    assert a.stations_key() == _line_router(net, [_at(net, 0, 1, 0.5)]).stations_key()
    assert a.stations_key() != _line_router(net, [_at(net, 0, 1, 0.6)]).stations_key()
    assert a.stations_key() != _line_router(net, [_at(net, 0, 1, 0.5)], 60.0).stations_key()


def test_parallel_pieces_count_once_in_service_times() -> None:
    # Two ways between the same nodes: the shorter is the way, never their sum.
    lon, lat = np.array([LON0, LON0 + 0.001]), np.array([LAT0, LAT0])
    net = Network.from_segments("walk", lon, lat, [0, 0], [1, 1], forward=[1, 1], backward=[1, 1])
    router = _line_router(net, [(lon[1], lat[1])])
    times = router.service_times(None, limit_s=3600).node_s
    assert times[0] == pytest.approx(float(net.seg_length_m[0]) / (15 / 3.6), abs=1e-3)
    assert router.reach_counts(None, router.station_snaps, limit_s=60, cap=3).tolist() == [1]


# -- the lists (fast path) ----------------------------------------------------------------


@PROPERTY
@given(cities(), st.integers(1, 3), st.floats(100, 2500))
def test_lists_give_the_same_answers_as_the_search(city: City, size: int, max_m: float) -> None:
    plain = _router(city)
    fast = _router(city)
    fast.build_lists(size=size, max_m=max_m)
    again = _router(city)
    blob = fast.lists_blob()
    assert blob is not None
    again.load_lists(blob)
    for router in (fast, again):
        try:
            want = plain.nearest(
                *city.query, k=city.k, mask=city.mask, max_route_m=city.max_route_m
            )
        except PointOffNetworkError:
            with pytest.raises(PointOffNetworkError):
                router.nearest(*city.query, k=city.k, mask=city.mask)
            return
        got = router.nearest(*city.query, k=city.k, mask=city.mask, max_route_m=city.max_route_m)
        _assert_same(_triples(got), _triples(want))
        # Seconds along one of the shortest paths: the quickest of them or slower (ties).
        assert (got.duration_s >= want.duration_s * (1 - 1e-6) - 1e-6).all()


def test_lists_built_in_many_merges_equal_one_merge(monkeypatch) -> None:
    # One station per Dijkstra chunk and a merge after every chunk: the same lists.
    rng = np.random.default_rng(4)
    lon = LON0 + DEG * rng.uniform(0, 1, 60)
    lat = LAT0 + DEG * rng.uniform(0, 1, 60)
    u = rng.integers(0, 60, 150)
    v = (u + rng.integers(1, 60, 150)) % 60
    net = Network.from_segments(
        "walk", lon, lat, u, v, forward=np.ones(150, bool), backward=rng.random(150) < 0.8
    )
    snapper = Snapper(net)
    slon, slat = lon[:25] + 1e-5, lat[:25]
    one = Router(net, snapper, slon, slat, snap_max_m=SNAP, speed_kmh=SPEED)
    one.build_lists(size=4, max_m=800)
    monkeypatch.setattr(routing, "_CHUNK_CELLS", 1)
    monkeypatch.setattr(routing, "_MERGE_PAIRS", 1)
    many = Router(net, snapper, slon, slat, snap_max_m=SNAP, speed_kmh=SPEED)
    many.build_lists(size=4, max_m=800)
    a, b = one._lists, many._lists
    assert a is not None and b is not None
    assert np.array_equal(a.route_m, b.route_m)
    fin = np.isfinite(a.route_m)
    # Equal distances may list their stations in either order; the sets per node agree.
    for node in range(net.nodes):
        assert sorted(a.station[node][fin[node]]) == sorted(b.station[node][fin[node]])
    for x, y in zip(lon[25:], lat[25:], strict=True):
        _assert_same(_triples(many.nearest(x, y, k=3)), _triples(one.nearest(x, y, k=3)))


def test_lists_answer_without_a_search_when_they_prove_it(monkeypatch) -> None:
    net = _line()
    stations = [_at(net, 0, 1, 0.5), _at(net, 2, 3, 0.5), _at(net, 1, 2, 0.8)]
    router = _line_router(net, stations)
    router.build_lists(size=2, max_m=1000)
    want = _line_router(net, stations).nearest(*_at(net, 1, 2, 0.2), k=2)

    def no_search(*args, **kwargs):
        raise AssertionError("searched")

    monkeypatch.setattr(router, "_search", no_search)
    monkeypatch.setattr(router, "_search_scipy", no_search)
    got = router.nearest(*_at(net, 1, 2, 0.2), k=2)
    assert got.index.tolist() == want.index.tolist() == [2, 0]
    assert got.route_m.tolist() == pytest.approx(want.route_m.tolist())
    with pytest.raises(AssertionError, match="searched"):  # 3 stations: more than a list holds
        router.nearest(*_at(net, 1, 2, 0.2), k=3)


def test_lists_of_other_stations_are_refused() -> None:
    net = _line()
    router = _line_router(net, [_at(net, 0, 1, 0.5)])
    assert router.lists_blob() is None
    router.build_lists(size=2, max_m=1000)
    blob = router.lists_blob()
    assert blob is not None
    other = _line_router(net, [_at(net, 0, 1, 0.6)])
    with pytest.raises(ValueError, match="other station positions"):
        other.load_lists(blob)
    with pytest.raises(ValueError, match="cannot be read"):
        other.load_lists(b"not an npz")
    with pytest.raises(ValueError, match="cannot be read"):
        router.load_lists(blob[: len(blob) // 2])


def _graphs_of(router: Router) -> list[tuple[np.ndarray, ...]]:
    """Every graph the Router searches on, as comparable arrays."""
    out = []
    for graph, other in (router._reversed(seconds=True), router._reversed(seconds=False)):
        out.append((graph.indptr, graph.indices, graph.data, other))
    graph, secs, keys = router._forward()
    out.append((graph.indptr, graph.indices, graph.data, secs, keys))
    return out


@PROPERTY
@given(cities(), st.data())
def test_a_router_on_a_shared_snapper_builds_the_same_graphs(city: City, data) -> None:
    first = _router(city)
    _graphs_of(first)  # fills the snapper's shared part
    n = city.station_lon.size
    moved = data.draw(st.lists(st.integers(0, n - 1), max_size=n))
    lon, lat = city.station_lon.copy(), city.station_lat.copy()
    lon[moved] = lon[moved[::-1]] if moved else lon[moved]
    lat[moved] += 1e-4
    kw = {"snap_max_m": SNAP, "speed_kmh": SPEED, "steps_factor": STEPS}
    shared = Router(city.network, city.snapper, lon, lat, **kw)
    alone = Router(city.network, Snapper(city.network), lon, lat, **kw)
    for a, b in zip(_graphs_of(shared), _graphs_of(alone), strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
    assert shared._graph_lists() is first._graph_lists()


def test_a_new_station_snapshot_sorts_its_stations_edges_only(monkeypatch) -> None:
    """A Router per station snapshot (a write): the network's edges are sorted once per
    network, not per Router (on a million edges that was ~1 s on the first requests after
    every write), and threads asking at once build a Router's graph once."""
    net = _line()
    snapper = Snapper(net)
    kw = {"snap_max_m": 50.0, "speed_kmh": 15.0, "steps_factor": 0.5}
    first = Router(net, snapper, [_at(net, 0, 1, 0.5)[0]], [_at(net, 0, 1, 0.5)[1]], **kw)
    _graphs_of(first)
    sorted_edges: list[int] = []
    real = routing._edges

    def counting(rows, *rest):
        sorted_edges.append(int(rows.size))
        return real(rows, *rest)

    monkeypatch.setattr(routing, "_edges", counting)
    stations = [_at(net, 1, 2, 0.3), _at(net, 2, 3, 0.6)]
    second = Router(net, snapper, [s[0] for s in stations], [s[1] for s in stations], **kw)
    built = []
    real_with = routing._with_stations

    def counting_with(*args, **kwargs):
        built.append(1)
        return real_with(*args, **kwargs)

    monkeypatch.setattr(routing, "_with_stations", counting_with)
    threads = [threading.Thread(target=second._forward) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    _graphs_of(second)
    assert len(built) == 3  # forward once (8 threads), reversed in seconds and in metres
    assert sorted_edges and max(sorted_edges) <= 2 * len(stations)  # never the network's
    got = second.nearest(*_at(net, 0, 1, 0.1), k=2)
    assert got.index.tolist() == [0, 1]
    assert got.route_m.tolist() == pytest.approx([120.0, 250.0], abs=0.01)


def test_lists_without_steps_follow_no_paths_for_their_seconds(monkeypatch) -> None:
    """The e-bike's network has no steps: seconds are metres at the flat speed, so the
    build skips following each route's tree (a sixth of its CPU); with steps it must."""
    stations = [_at(_line(), 0, 1, 0.5), _at(_line(), 2, 3, 0.5), _at(_line(), 1, 2, 0.8)]
    flat_net = _line()

    def no_paths(*args, **kwargs):
        raise AssertionError("followed the paths")

    monkeypatch.setattr(routing, "_path_seconds", no_paths)
    router = _line_router(flat_net, stations)
    router.build_lists(size=2, max_m=1000)
    lists = router._lists
    assert lists is not None
    fin = np.isfinite(lists.route_m)
    assert np.allclose(lists.route_s[fin], lists.route_m[fin] / (15.0 / 3.6), rtol=1e-6)
    got = router.nearest(*_at(flat_net, 1, 2, 0.2), k=2)
    assert got.index.tolist() == [2, 0]
    assert got.duration_s.tolist() == pytest.approx((got.route_m / (15.0 / 3.6)).tolist())
    stepped = _line_router(_line(steps=(False, True, False)), stations)
    with pytest.raises(AssertionError, match="followed the paths"):
        stepped.build_lists(size=2, max_m=1000)


def test_a_far_answer_is_searched_from_the_straight_line_bound(monkeypatch) -> None:
    """At night few stations pass: the long search starts near where the k-th can be
    (1.3 x its straight distance; a route is never shorter) instead of doubling from
    1.5 km (on 1 M edges, 50 of 5,000 open, k=10: 62-69 ms a query, 29-37 ms so)."""
    nodes = 1001  # a 10 km street, a node every 10 m: the heap gives up at 800 nodes
    lon, lat, _ = GEOD.fwd(
        np.full(nodes, LON0), np.full(nodes, LAT0), np.full(nodes, 90.0), 10.0 * np.arange(nodes)
    )
    both = np.ones(nodes - 1, dtype=bool)
    net = Network.from_segments(
        "walk", lon, lat, np.arange(nodes - 1), np.arange(1, nodes), forward=both, backward=both
    )
    near, far = 50, 900  # nodes: 0.5 km and 9 km east of the query
    stations = ([lon[near], lon[far]], [lat[near], lat[far]])
    router = Router(net, Snapper(net), *stations, snap_max_m=50.0, speed_kmh=4.5)
    calls = []
    real = routing.dijkstra

    def counting(*args, **kwargs):
        calls.append(kwargs.get("limit"))
        return real(*args, **kwargs)

    monkeypatch.setattr(routing, "dijkstra", counting)
    got = router.nearest(lon[0], lat[0], k=1, mask=np.array([False, True]))
    assert got.index.tolist() == [1]
    assert got.route_m[0] == pytest.approx(9000.0, rel=1e-6)
    assert len(calls) == 1  # not 1.5, 3, 6 then 12 km
    # With everything passing the nearest is near: the heap answers, no long search.
    calls.clear()
    assert router.nearest(lon[0], lat[0], k=1).index.tolist() == [0]
    assert calls == []


def test_a_one_way_piece_between_two_nodes_on_one_spot_goes_both_ways() -> None:
    # Found by the property test above: nodes 1 and 2 on one spot, the piece between them
    # one-way (2 -> 1). A point on 0-1 reaches the station on 2-3: nothing lies between 1
    # and 2, so no one-way rule can stand between them.
    lon = np.array([LON0, LON0 + DEG, LON0 + DEG, LON0 + 2 * DEG])
    lat = np.array([LAT0, LAT0, LAT0, LAT0])
    net = Network.from_segments(
        "walk",
        lon,
        lat,
        [0, 1, 2],
        [1, 2, 3],
        forward=[True, False, True],
        backward=[True, True, True],
    )
    assert net.seg_length_m[1] == 0
    station = (np.array([LON0 + 1.5 * DEG]), np.array([LAT0]))
    router = Router(net, Snapper(net), *station, snap_max_m=SNAP, speed_kmh=SPEED)
    times = router.service_times(None, limit_s=math.inf)
    point = router.snapper.snap([LON0 + DEG * 0.5], [LAT0], max_m=SNAP)
    assert np.isfinite(times.at(point)).all()
