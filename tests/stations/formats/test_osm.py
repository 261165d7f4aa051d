"""The OpenStreetMap reader: the river city (what each profile keeps, one-way, steps,
lengths), pyrosm's real extracts (clipped ways, counts), and files it must refuse."""

from __future__ import annotations

import bz2
import gzip
import itertools
import os
import re
from pathlib import Path

import networkx as nx
import numpy as np
import pyrosm
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod

from geodata.network import Network
from stations.domain.travel import NetworkFileError, Travel
from stations.formats.osm import PROFILES, WayRule, read_network, way_rule
from tests import osm_city

DATA = Path(os.path.dirname(pyrosm.__file__)) / "data"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return osm_city.write_city(tmp_path_factory.mktemp("city") / "river_city.osm")


def _ways(network: Network) -> set[int]:
    return {int(network.way_ids[w]) for w in network.edge_way}


def _edges_of_way(
    network: Network, way_id: int
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    src = network.edge_sources()
    (w,) = np.flatnonzero(network.way_ids == way_id)
    out: list[tuple[tuple[float, float], tuple[float, float]]] = []
    for e in np.flatnonzero(network.edge_way == w):
        u, v = int(src[e]), int(network.indices[e])
        a = (float(network.lon[u]), float(network.lat[u]))
        out.append((a, (float(network.lon[v]), float(network.lat[v]))))
    return out


def test_city_counts_per_profile(city: Path) -> None:
    walk, walk_stats = read_network(city, Travel.WALK)
    ebike, ebike_stats = read_network(city, Travel.EBIKE)
    # 5 columns x 10 blocks + 11 rows x 4 blocks per bank, 2 x 94 segments, + the bridge.
    assert walk_stats.segments == 189 and walk.edges == 2 * 189
    # E-bike: no staircase (1), no footway (4); the one-way street (10 segments) one way.
    assert ebike_stats.segments == 184 and ebike.edges == 2 * 184 - 10
    assert walk.nodes == ebike.nodes == 110
    assert walk_stats.ways_by_highway == {
        "residential": 30,
        "tertiary": 1,
        "secondary": 1,
        "footway": 1,
        "steps": 1,
    }
    assert ebike_stats.skipped["highway=steps"] == 1
    assert ebike_stats.skipped["highway=footway"] == 1


def test_motorway_and_private_road_in_neither(city: Path) -> None:
    for travel in Travel:
        network, stats = read_network(city, travel)
        ways = _ways(network)
        assert osm_city.MOTORWAY_WAY not in ways
        assert osm_city.PRIVATE_WAY not in ways
        assert osm_city.BRIDGE_WAY in ways
        assert stats.skipped["highway=motorway"] == 1
        assert stats.skipped["access=private"] == 1


def test_steps_only_in_walk_and_flagged(city: Path) -> None:
    walk, _ = read_network(city, Travel.WALK)
    ebike, _ = read_network(city, Travel.EBIKE)
    assert osm_city.STEPS_WAY in _ways(walk) and osm_city.STEPS_WAY not in _ways(ebike)
    (w,) = np.flatnonzero(walk.way_ids == osm_city.STEPS_WAY)
    assert np.array_equal(walk.steps, walk.edge_way == w)
    assert walk.steps.sum() == 2  # both ways up and down the one flight
    assert not ebike.steps.any()
    seconds = walk.seconds(4.5, 0.4)
    flat = seconds[~walk.steps] / walk.length_m[~walk.steps]
    stair = seconds[walk.steps] / walk.length_m[walk.steps]
    assert stair.min() == pytest.approx(flat.max() / 0.4, rel=1e-6)


def test_one_way_street_one_direction_in_ebike_both_in_walk(city: Path) -> None:
    walk, _ = read_network(city, Travel.WALK)
    ebike, _ = read_network(city, Travel.EBIKE)
    walk_edges = _edges_of_way(walk, osm_city.ONEWAY_WAY)
    ebike_edges = _edges_of_way(ebike, osm_city.ONEWAY_WAY)
    assert len(walk_edges) == 20 and len(ebike_edges) == 10
    # E-bike only southward (the nodes' order), the latitude falling along every edge.
    assert all(b[1] < a[1] for a, b in ebike_edges)
    assert {(a, b) for a, b in walk_edges} >= {(b, a) for a, b in ebike_edges}
    (s,) = np.flatnonzero(ebike.way_ids == osm_city.ONEWAY_WAY)
    segs = ebike.edge_seg[ebike.edge_way == s]
    assert (ebike.seg_back[segs] == -1).all() and (ebike.seg_fwd[segs] >= 0).all()


@pytest.mark.parametrize("name", ["river", "test.osm.pbf", "Helsinki.osm.pbf"])
@pytest.mark.parametrize("travel", list(Travel))
def test_lengths_geodesic_and_at_least_the_chord(city: Path, name: str, travel: Travel) -> None:
    network, _ = read_network(city if name == "river" else DATA / name, travel)
    src = network.edge_sources()
    dst = network.indices
    _, _, ref = GEOD.inv(network.lon[src], network.lat[src], network.lon[dst], network.lat[dst])
    assert np.allclose(network.length_m, ref, rtol=1e-3)
    # The chord through the earth is shorter than any path on its surface.
    chord = _chord_m(network.lon[src], network.lat[src], network.lon[dst], network.lat[dst])
    assert (network.length_m >= chord * (1 - 1e-6)).all()
    assert (network.length_m > 0).all()


def _chord_m(lon0, lat0, lon1, lat1) -> np.ndarray:
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)

    def ecef(lon, lat):
        lo, la = np.radians(lon), np.radians(lat)
        n = a / np.sqrt(1 - e2 * np.sin(la) ** 2)
        return np.stack(
            [n * np.cos(la) * np.cos(lo), n * np.cos(la) * np.sin(lo), n * (1 - e2) * np.sin(la)]
        )

    return np.linalg.norm(ecef(lon0, lat0) - ecef(lon1, lat1), axis=0)


def test_city_block_is_100_m(city: Path) -> None:
    walk, _ = read_network(city, Travel.WALK)
    lengths = walk.seg_length_m
    # every grid block 100 m, the bridge 300 m (within 0.1 %: the flat conversion)
    assert np.allclose(np.sort(lengths)[:-1], 100.0, rtol=1e-3)
    assert lengths.max() == pytest.approx(300.0, rel=1e-3)


# -- real extracts (pyrosm ships them) ----------------------------------------------------

EXPECTED = {
    # (nodes, edges, ways, clipped ways) on pyrosm 0.25's files
    ("test.osm.pbf", Travel.WALK): (1397, 3064, 318, 48),
    ("test.osm.pbf", Travel.EBIKE): (1205, 2560, 277, 38),
    ("Helsinki.osm.pbf", Travel.WALK): (5445, 12890, 2246, 163),
    # 24 service roads tagged vehicle=no are not ridden (2794, 4834, 1114 before).
    ("Helsinki.osm.pbf", Travel.EBIKE): (2767, 4801, 1090, 85),
}


@pytest.mark.parametrize(("name", "travel"), list(EXPECTED))
def test_real_extract(name: str, travel: Travel) -> None:
    network, stats = read_network(DATA / name, travel)
    assert (network.nodes, network.edges, network.way_ids.size, stats.clipped_ways) == EXPECTED[
        (name, travel)
    ]
    assert np.isfinite(network.lon).all() and np.isfinite(network.lat).all()
    assert (np.abs(network.lon) <= 180).all() and (np.abs(network.lat) <= 90).all()
    # every node is used by an edge (ids compacted to what the kept ways use)
    used = np.zeros(network.nodes, bool)
    used[network.seg_u] = used[network.seg_v] = True
    assert used.all()


def test_clipped_ways_are_split_not_dropped() -> None:
    """test.osm.pbf's 48 ways cut at the extract's edge keep their pieces (8 of them have
    no two consecutive nodes in the file: nothing to keep)."""
    network, stats = read_network(DATA / "test.osm.pbf", Travel.WALK)
    assert stats.clipped_ways == 48 and stats.missing_nodes > 0
    assert stats.clipped_dropped == 8
    # deferred: only this test reads the raw ways, with pyosmium directly
    import osmium

    clipped = set()
    kept = set(network.way_ids.tolist())
    for way in osmium.FileProcessor(str(DATA / "test.osm.pbf")).with_locations():
        if not isinstance(way, osmium.osm.Way):
            continue
        if way.id in kept and not all(n.location.valid() for n in way.nodes):
            clipped.add(way.id)
    # Every other clipped way is in the network (by its pieces).
    assert len(clipped) == 40


def test_helsinki_steps_flagged_walk_only() -> None:
    walk, stats = read_network(DATA / "Helsinki.osm.pbf", Travel.WALK)
    ebike, _ = read_network(DATA / "Helsinki.osm.pbf", Travel.EBIKE)
    assert stats.ways_by_highway["steps"] == 140
    assert walk.steps.sum() > 200 and not ebike.steps.any()


def test_compressed_xml_reads_the_same(city: Path, tmp_path: Path) -> None:
    text = city.read_bytes()
    (tmp_path / "c.osm.bz2").write_bytes(bz2.compress(text))
    (tmp_path / "c.osm.gz").write_bytes(gzip.compress(text))
    plain, _ = read_network(city, Travel.WALK)
    for name in ("c.osm.bz2", "c.osm.gz"):
        network, _ = read_network(tmp_path / name, Travel.WALK)
        assert network.edges == plain.edges
        assert np.array_equal(network.length_m, plain.length_m)


# -- the profile rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("travel", "tags", "expected"),
    [
        (Travel.WALK, {"highway": "motorway"}, "highway=motorway"),
        (Travel.WALK, {"highway": "trunk", "foot": "yes"}, WayRule(True, True)),
        (Travel.WALK, {"highway": "primary", "foot": "no"}, "foot=no"),
        (Travel.WALK, {"highway": "footway", "footway": "crossing"}, WayRule(True, True)),
        (Travel.WALK, {"highway": "residential", "oneway": "yes"}, WayRule(True, True)),
        (Travel.WALK, {"highway": "footway", "oneway:foot": "yes"}, WayRule(True, False)),
        (Travel.WALK, {"highway": "service", "access": "private"}, "access=private"),
        (Travel.WALK, {"highway": "service", "access": "no", "foot": "yes"}, WayRule(True, True)),
        (Travel.WALK, {"highway": "pedestrian", "area": "yes"}, "area=yes"),
        (Travel.WALK, {"highway": "cycleway"}, WayRule(True, True)),
        (Travel.EBIKE, {"highway": "steps"}, "highway=steps"),
        (Travel.EBIKE, {"highway": "motorway", "bicycle": "yes"}, "highway=motorway"),
        (Travel.EBIKE, {"highway": "footway"}, "highway=footway"),
        (Travel.EBIKE, {"highway": "footway", "bicycle": "yes"}, WayRule(True, True)),
        (Travel.EBIKE, {"highway": "path", "bicycle": "designated"}, WayRule(True, True)),
        (Travel.EBIKE, {"highway": "residential", "bicycle": "no"}, "bicycle=no"),
        (Travel.EBIKE, {"highway": "residential", "oneway": "yes"}, WayRule(True, False)),
        (Travel.EBIKE, {"highway": "residential", "oneway": "1"}, WayRule(True, False)),
        (Travel.EBIKE, {"highway": "residential", "oneway": "true"}, WayRule(True, False)),
        (Travel.EBIKE, {"highway": "residential", "oneway": "-1"}, WayRule(False, True)),
        (Travel.EBIKE, {"highway": "residential", "oneway": "no"}, WayRule(True, True)),
        (
            Travel.EBIKE,
            {"highway": "primary", "oneway": "yes", "oneway:bicycle": "no"},
            WayRule(True, True),
        ),
        (Travel.EBIKE, {"highway": "primary", "junction": "roundabout"}, WayRule(True, False)),
        (
            Travel.EBIKE,
            {"highway": "primary", "junction": "roundabout", "oneway": "no"},
            WayRule(True, True),
        ),
        (Travel.EBIKE, {"highway": "service", "access": "private"}, "access=private"),
        # Motor vehicles only (an elevated 快速路 tagged primary): neither walks nor rides.
        (Travel.WALK, {"highway": "primary", "motorroad": "yes"}, "motorroad=yes"),
        (Travel.EBIKE, {"highway": "primary", "motorroad": "yes"}, "motorroad=yes"),
        (
            Travel.WALK,
            {"highway": "primary", "motorroad": "yes", "foot": "yes"},
            WayRule(True, True),
        ),
        # No vehicles (a pedestrianised street): walk yes, e-bike no (unless bicycles may).
        (Travel.WALK, {"highway": "residential", "vehicle": "no"}, WayRule(True, True)),
        (Travel.EBIKE, {"highway": "residential", "vehicle": "no"}, "vehicle=no"),
        (
            Travel.EBIKE,
            {"highway": "residential", "vehicle": "no", "bicycle": "yes"},
            WayRule(True, True),
        ),
    ],
)
def test_way_rules(travel: Travel, tags: dict[str, str], expected: WayRule | str) -> None:
    assert way_rule(PROFILES[travel], tags) == expected


# -- files it refuses ----------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetworkFileError, match=re.escape("找不到文件 nowhere.osm.pbf")):
        read_network(tmp_path / "nowhere.osm.pbf", Travel.WALK)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "empty.osm.pbf").write_bytes(b"")
    with pytest.raises(NetworkFileError, match=re.escape("文件 empty.osm.pbf 是空的")):
        read_network(tmp_path / "empty.osm.pbf", Travel.WALK)


def test_broken_pbf(tmp_path: Path) -> None:
    good = (DATA / "test.osm.pbf").read_bytes()
    path = tmp_path / "cut.osm.pbf"
    path.write_bytes(good[:20] + b"\xff" * 64 + good[84:5000])
    with pytest.raises(
        NetworkFileError, match=re.escape("cut.osm.pbf 不是可读的 OpenStreetMap 文件（")
    ) as e:
        read_network(path, Travel.WALK)
    assert "\n" not in str(e.value)


def test_not_osm(tmp_path: Path) -> None:
    path = tmp_path / "notes.osm"
    path.write_text("这不是地图\n", encoding="utf-8")
    with pytest.raises(
        NetworkFileError, match=re.escape("notes.osm 不是可读的 OpenStreetMap 文件")
    ):
        read_network(path, Travel.WALK)
    other = tmp_path / "stations.csv"
    other.write_text("id,name\n", encoding="utf-8")
    with pytest.raises(NetworkFileError, match=re.escape("只能导入 .osm.pbf")):
        read_network(other, Travel.WALK)


def test_no_usable_way(tmp_path: Path) -> None:
    path = tmp_path / "motorways.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="29.56" lon="106.55"/><node id="2" lat="29.561" lon="106.55"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="motorway"/></way></osm>',
        encoding="utf-8",
    )
    with pytest.raises(NetworkFileError, match=re.escape("motorways.osm 里没有步行可走的道路")):
        read_network(path, Travel.WALK)


def test_too_large_checked_before_reading(city: Path) -> None:
    with pytest.raises(NetworkFileError, match=re.escape("超过上限")):
        read_network(city, Travel.WALK, max_bytes=1000)


def test_progress_reported(city: Path) -> None:
    seen: list[tuple[str, float]] = []
    read_network(city, Travel.WALK, progress=lambda what, done: seen.append((what, done)))
    dones = [d for _, d in seen]
    assert dones == sorted(dones) and dones[0] == 0.0 and dones[-1] == 1.0


# -- the river city's documented answers, by brute force -----------------------------------


def _to_xy(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    x0, y0 = osm_city.xy_to_lonlat(0, 0)
    x1, y1 = osm_city.xy_to_lonlat(1000, 1000)
    return np.stack([(lon - x0) / (x1 - x0) * 1000, (lat - y0) / (y1 - y0) * 1000], axis=1)


def _snap(network: Network, xy: np.ndarray, point: tuple[float, float]) -> tuple[int, float, float]:
    """The nearest undirected piece to ``point`` (local metres): piece, fraction, distance."""
    a, b = xy[network.seg_u], xy[network.seg_v]
    p = np.asarray(point)
    d = b - a
    t = np.clip(((p - a) * d).sum(axis=1) / (d * d).sum(axis=1), 0, 1)
    dist = np.linalg.norm(a + t[:, None] * d - p, axis=1)
    i = int(dist.argmin())
    return i, float(t[i]), float(dist[i])


def _routes(network: Network, origin: tuple[float, float], targets: dict[str, tuple]) -> dict:
    """Shortest route_m from ``origin`` to each target (snap legs included), networkx
    Dijkstra on the network with every point inserted by splitting its piece."""

    xy = _to_xy(network.lon, network.lat)
    graph = nx.DiGraph()
    src = network.edge_sources()
    for e in range(network.edges):
        graph.add_edge(int(src[e]), int(network.indices[e]), w=float(network.length_m[e]))
    legs = {}
    for name, point in {"Q": origin, **targets}.items():
        seg, t, snap = _snap(network, xy, point)
        length = float(network.seg_length_m[seg])
        u, v = int(network.seg_u[seg]), int(network.seg_v[seg])
        if network.seg_fwd[seg] >= 0:
            graph.add_edge(u, name, w=t * length)
            graph.add_edge(name, v, w=(1 - t) * length)
        if network.seg_back[seg] >= 0:
            graph.add_edge(v, name, w=(1 - t) * length)
            graph.add_edge(name, u, w=t * length)
        legs[name] = snap
    dist = nx.single_source_dijkstra_path_length(graph, "Q", weight="w")
    return {n: legs["Q"] + dist[n] + legs[n] for n in targets} | {"snap": legs}


@pytest.mark.parametrize(
    ("travel", "expected"),
    [(Travel.WALK, osm_city.WALK_ROUTE_M), (Travel.EBIKE, osm_city.EBIKE_ROUTE_M)],
)
def test_city_routes_as_documented(city: Path, travel: Travel, expected: dict) -> None:
    network, _ = read_network(city, travel)
    routes = _routes(network, osm_city.QUERY_XY, {"A": osm_city.A_XY, "B": osm_city.B_XY})
    assert routes["A"] == pytest.approx(expected["A"], abs=2.0)
    assert routes["B"] == pytest.approx(expected["B"], abs=2.0)
    # straight line: A nearer; by the network: B
    straight = {n: GEOD.inv(*osm_city.QUERY, *getattr(osm_city, n))[2] for n in ("A", "B", "C")}
    assert straight["A"] == pytest.approx(340, abs=1) and straight["B"] == pytest.approx(484, abs=1)
    assert straight["A"] < straight["B"] and routes["B"] < routes["A"]
    _, _, c_snap = _snap(network, _to_xy(network.lon, network.lat), osm_city.C_XY)
    assert c_snap == pytest.approx(400, abs=1)


# -- property: the network is exactly the kept ways' pieces --------------------------------

_HIGHWAYS = ("residential", "footway", "steps", "motorway", "path", "primary", "cycleway")
_TAG_VALUES = {
    "oneway": ("yes", "-1", "no", "1"),
    "foot": ("no", "yes"),
    "bicycle": ("no", "yes", "designated"),
    "access": ("private", "no"),
    "junction": ("roundabout",),
    "oneway:bicycle": ("no",),
}


@st.composite
def _osm_files(draw: st.DrawFn) -> tuple[str, dict[int, tuple[float, float]], list]:
    """A small OSM XML file: nodes on a jittered 6 x 6 grid near Yuzhong (ids 1..36, some
    left out of the file as if cut at its edge), and ways of random refs and tags."""
    absent = draw(st.sets(st.integers(1, 36), max_size=6))
    nodes = {
        i: (106.55 + (i - 1) % 6 * 0.001, 29.56 + (i - 1) // 6 * 0.001)
        for i in range(1, 37)
        if i not in absent
    }
    ways = []
    for wid in range(1, draw(st.integers(1, 12)) + 1):
        refs = draw(st.lists(st.integers(1, 36), min_size=1, max_size=7))
        tags = {"highway": draw(st.sampled_from(_HIGHWAYS))}
        for key, values in _TAG_VALUES.items():
            if draw(st.booleans()) and draw(st.booleans()):
                tags[key] = draw(st.sampled_from(values))
        ways.append((wid, refs, tags))
    lines = ['<?xml version="1.0"?>', '<osm version="0.6">']
    lines += [
        f'<node id="{i}" lat="{lat:.7f}" lon="{lon:.7f}"/>' for i, (lon, lat) in nodes.items()
    ]
    for wid, refs, tags in ways:
        lines.append(f'<way id="{wid}">')
        lines += [f'<nd ref="{r}"/>' for r in refs]
        lines += [f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()]
        lines.append("</way>")
    lines.append("</osm>")
    return "\n".join(lines), nodes, ways


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=_osm_files(), travel=st.sampled_from(list(Travel)))
def test_network_is_exactly_the_kept_pieces(tmp_path: Path, data, travel: Travel) -> None:
    text, nodes, ways = data
    path = tmp_path / "random.osm"
    path.write_text(text, encoding="utf-8")
    expected = []  # directed edges (from, to, way id, steps), by node coordinates
    for wid, refs, tags in ways:
        rule = way_rule(PROFILES[travel], tags)
        if isinstance(rule, str) or len(refs) < 2:
            continue
        for a, b in itertools.pairwise(refs):
            if a == b or a not in nodes or b not in nodes:
                continue
            steps = tags["highway"] == "steps"
            if rule.forward:
                expected.append((nodes[a], nodes[b], wid, steps))
            if rule.backward:
                expected.append((nodes[b], nodes[a], wid, steps))
    if not expected:
        with pytest.raises(NetworkFileError, match=r"没有.*可走的道路"):
            read_network(path, travel)
        return
    network, stats = read_network(path, travel)
    src = network.edge_sources()
    got = [
        (
            (round(float(network.lon[u]), 7), round(float(network.lat[u]), 7)),
            (round(float(network.lon[v]), 7), round(float(network.lat[v]), 7)),
            int(network.way_ids[network.edge_way[e]]),
            bool(network.steps[e]),
        )
        for e, (u, v) in enumerate(zip(src, network.indices, strict=True))
    ]
    rounded = [
        ((round(a[0], 7), round(a[1], 7)), (round(b[0], 7), round(b[1], 7)), w, s)
        for a, b, w, s in expected
    ]
    assert sorted(got) == sorted(rounded)
    # every node is used, once; lengths are pyproj's geodesic
    assert len({(x, y) for x, y in zip(network.lon, network.lat, strict=True)}) == network.nodes
    _, _, ref = GEOD.inv(
        network.lon[src],
        network.lat[src],
        network.lon[network.indices],
        network.lat[network.indices],
    )
    assert np.allclose(network.length_m, ref, rtol=1e-6)
    assert stats.missing_nodes == len(
        {
            r
            for _, refs, t in ways
            for r in refs
            if r not in nodes
            and not isinstance(way_rule(PROFILES[travel], t), str)
            and len(refs) >= 2
        }
    )


def test_truncated_download_is_refused(city: Path, tmp_path: Path) -> None:
    """An interrupted download: half an XML file, and half a PBF."""
    text = city.read_bytes()
    half = tmp_path / "half.osm"
    half.write_bytes(text[: len(text) // 2])
    with pytest.raises(
        NetworkFileError, match=re.escape("half.osm 不是可读的 OpenStreetMap 文件（XML")
    ):
        read_network(half, Travel.WALK)
    pbf = (DATA / "test.osm.pbf").read_bytes()
    cut = tmp_path / "cut.osm.pbf"
    cut.write_bytes(pbf[: len(pbf) // 2])
    with pytest.raises(
        NetworkFileError, match=re.escape("cut.osm.pbf 不是可读的 OpenStreetMap 文件（")
    ):
        read_network(cut, Travel.WALK)


_CITY_WAY = (
    '<?xml version="1.0"?><osm version="0.6">{nodes}'
    '<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/>{tag}</way></osm>'
)


@pytest.mark.parametrize(
    ("nodes", "tag", "detail"),
    [
        (
            '<node id="1" lat="29.56" lon="500"/><node id="2" lat="29.561" lon="106.55"/>',
            "",
            "wrong format for coordinate",
        ),
        (
            '<node id="1" lat="29.56" lon="106.55"/><node id="2" lat="29.561" lon="106.55"/>',
            '<tag k="name" v="' + "长" * 2000 + '"/>',
            "too long",
        ),
    ],
    ids=["lon-500", "tag-2000-chars"],
)
def test_hostile_xml_values_are_a_file_error(
    tmp_path: Path, nodes: str, tag: str, detail: str
) -> None:
    """A coordinate osmium cannot hold, or a tag longer than OSM allows: a Chinese one-line
    error (before: osmium's InvalidLocationError / ValueError escaped as a traceback)."""
    path = tmp_path / "odd.osm"
    path.write_text(_CITY_WAY.format(nodes=nodes, tag=tag), encoding="utf-8")
    with pytest.raises(
        NetworkFileError, match=re.escape("odd.osm 不是可读的 OpenStreetMap 文件（")
    ) as e:
        read_network(path, Travel.WALK)
    assert detail in str(e.value)
    assert "\n" not in str(e.value)


def test_xml_entities_are_refused(tmp_path: Path) -> None:
    """Billion laughs and external entities: osmium's expat refuses any entity declaration."""
    lol = "".join(f'<!ENTITY e{i} "{f"&e{i - 1};" * 10 if i else "ha"}">' for i in range(9))
    for name, doctype in (
        ("lol.osm", f"<!DOCTYPE osm [{lol}]>"),
        ("xxe.osm", '<!DOCTYPE osm [<!ENTITY x SYSTEM "file:///etc/passwd">]>'),
    ):
        path = tmp_path / name
        entity = "&e8;" if name == "lol.osm" else "&x;"
        path.write_text(
            f'<?xml version="1.0"?>{doctype}<osm version="0.6">'
            '<node id="1" lat="29.56" lon="106.55"/><node id="2" lat="29.561" lon="106.55"/>'
            f'<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/>'
            f'<tag k="name" v="{entity}"/></way></osm>',
            encoding="utf-8",
        )
        with pytest.raises(NetworkFileError, match="XML entities are not supported"):
            read_network(path, Travel.WALK)
