"""The OpenStreetMap reader: the river city (what each profile keeps, one-way, steps,
lengths), pyrosm's real extracts (clipped ways, counts), and files it must refuse."""

from __future__ import annotations

import bz2
import gzip
import os
import re
from pathlib import Path

import numpy as np
import pyrosm
import pytest
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
    ("Helsinki.osm.pbf", Travel.EBIKE): (2794, 4834, 1114, 85),
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
