"""The import service on both stores: the river city stored, listed, replaced, removed; a
failed import changes nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pyrosm
import pytest

from geodata.districts import Districts
from geodata.network import Network
from stations.domain.travel import NetworkFileError, RoutingSettings, Travel
from stations.services.network import import_network, list_networks, remove_network
from tests import osm_city
from tests.osm_city import import_city, write_city, xy_to_lonlat

ROUTING = RoutingSettings(
    speed_kmh={"walk": 4.5, "ebike": 15.0},
    steps_factor=0.4,
    snap_m={"walk": 200.0, "ebike": 100.0},
    list_size=48,
    list_max_m=3000.0,
)


def test_import_city_stores_the_network_both_profiles(any_store, tmp_path: Path) -> None:
    walk = import_city(any_store, tmp_path, "walk")
    ebike = import_city(any_store, tmp_path, "ebike")
    assert walk.profile is Travel.WALK and ebike.profile is Travel.EBIKE
    assert walk.source_name == "river_city.osm" and walk.imported_by == "tests"
    assert len(walk.source_sha256) == 64
    assert (walk.nodes, walk.edges, walk.ways) == (110, 378, 34)
    assert (ebike.nodes, ebike.edges, ebike.ways) == (110, 358, 32)
    assert ebike.version != walk.version
    assert walk.stats["skipped"] == {"access=private": 1, "highway=motorway": 1}
    lon0, lat0, lon1, lat1 = walk.bbox
    assert 106.54 < lon0 < lon1 < 106.57 and 29.55 < lat0 < lat1 < 29.57
    assert [n.profile for n in list_networks(any_store)] == [Travel.EBIKE, Travel.WALK]
    stored = any_store.network_arrays(Travel.WALK)
    assert stored is not None
    network = Network.from_npz(stored[1])
    assert (network.nodes, network.edges) == (walk.nodes, walk.edges)
    assert network.profile == "walk"


def test_import_again_replaces_and_bumps_version(any_store, tmp_path: Path, districts) -> None:
    first = import_city(any_store, tmp_path, "walk")
    path = write_city(tmp_path / "again.osm")
    second = import_network(
        any_store,
        path,
        Travel.WALK,
        districts=districts,
        actor="ops",
        max_bytes=None,
        routing=ROUTING,
    )
    assert second.version > first.version
    assert second.source_name == "again.osm" and second.imported_by == "ops"
    assert second.speeds == {"speed_kmh": 4.5, "steps_factor": 0.4}
    assert [n.version for n in list_networks(any_store)] == [second.version]


def test_failed_import_keeps_the_old_network(any_store, tmp_path: Path, districts) -> None:
    before = import_city(any_store, tmp_path, "walk")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(b"\x00\x00\x00\x0dnot a pbf at all" * 20)
    with pytest.raises(
        NetworkFileError, match=re.escape("broken.osm.pbf 不是可读的 OpenStreetMap 文件")
    ):
        import_network(
            any_store, broken, Travel.WALK, districts=districts, actor="t", max_bytes=None
        )
    assert list_networks(any_store) == [before]


def test_foreign_area_is_refused(any_store, districts: Districts) -> None:
    helsinki = Path(os.path.dirname(pyrosm.__file__)) / "data" / "Helsinki.osm.pbf"
    with pytest.raises(NetworkFileError, match=r"这个文件的范围（东经 24\.935–24\.953") as e:
        import_network(
            any_store, helsinki, Travel.WALK, districts=districts, actor="t", max_bytes=None
        )
    assert "不在本系统的区县内" in str(e.value)
    assert list_networks(any_store) == []


def test_remove(any_store, tmp_path: Path) -> None:
    info = import_city(any_store, tmp_path, "ebike")
    assert remove_network(any_store, Travel.WALK) is None
    removed = remove_network(any_store, Travel.EBIKE)
    assert removed is not None and removed.version == info.version
    assert list_networks(any_store) == []


def test_progress_rises_to_done(any_store, tmp_path: Path, districts) -> None:
    seen: list[tuple[str, float]] = []
    import_network(
        any_store,
        write_city(tmp_path / "c.osm"),
        Travel.WALK,
        districts=districts,
        actor="t",
        max_bytes=None,
        progress=lambda what, done: seen.append((what, done)),
    )
    dones = [d for _, d in seen]
    assert dones == sorted(dones) and dones[0] == 0.0
    assert seen[-2:] == [("保存路网", 0.85), ("完成", 1.0)]


@pytest.mark.parametrize(("travel", "off"), [(Travel.WALK, 1), (Travel.EBIKE, 2)])
def test_stations_off_network_counted(
    any_store, tmp_path: Path, districts, travel: Travel, off: int
) -> None:
    """C is 400 m from any way (off for both); D 150 m (within walk's 200, not e-bike's 100)."""
    d = xy_to_lonlat(200, -150)
    points = [osm_city.A, osm_city.B, osm_city.C, d]
    info = import_network(
        any_store,
        write_city(tmp_path / "c.osm"),
        travel,
        districts=districts,
        actor="t",
        max_bytes=None,
        routing=ROUTING,
        stations=([p[0] for p in points], [p[1] for p in points]),
    )
    assert info.stats["stations_checked"] == 4
    assert info.stats["stations_off_network"] == off
    assert info.stats["snap_m"] == ROUTING.snap(travel)


def test_a_file_around_the_districts_but_not_in_them_is_refused(
    any_store, tmp_path: Path, districts: Districts
) -> None:
    """Two streets, in Chengdu and in Zunyi: their bbox covers western Chongqing, but no way
    is in a district (a neighbouring province's extract imported by mistake)."""
    path = tmp_path / "neighbours.osm"
    path.write_text(
        '<?xml version="1.0"?><osm version="0.6">'
        '<node id="1" lat="30.660" lon="104.060"/><node id="2" lat="30.661" lon="104.060"/>'
        '<node id="3" lat="27.700" lon="106.920"/><node id="4" lat="27.701" lon="106.920"/>'
        '<way id="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/></way>'
        '<way id="2"><nd ref="3"/><nd ref="4"/><tag k="highway" v="residential"/></way></osm>',
        encoding="utf-8",
    )
    before = import_city(any_store, tmp_path, "walk")
    with pytest.raises(NetworkFileError, match="不在本系统的区县内"):
        import_network(any_store, path, Travel.WALK, districts=districts, actor="t", max_bytes=None)
    assert list_networks(any_store) == [before]
