"""The vector tiles read by real clients none of us wrote: GDAL's MVT driver, from a running
``yizhan serve`` over ``/vsicurl/`` (what QGIS and ``ogr2ogr`` use), and from a gzipped tile
on disk (what a tile cache keeps).

Two GDALs, as for the OGC API: Debian's ``ogrinfo`` (3.6) and the one inside pyogrio.
"""

from __future__ import annotations

import math
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pytest

from geodata.districts import chongqing_districts
from stations.storage.sqlite import SQLiteStore
from tests.api.test_tiles import tile_of
from tests.api.test_vector_tiles import add_many
from tests.builders import JIEFANGBEI, WANZHOU, make_station
from tests.live import Server, get_json, serve

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("ogrinfo")]

EARTH_M = 6378137.0  # Web Mercator's sphere
N_WANZHOU = 5


def position(i: int) -> tuple[float, float]:
    return WANZHOU[0] + i * 1e-4, WANZHOU[1] + i * 3e-5


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    districts = chongqing_districts()
    db = tmp_path_factory.mktemp("mvt") / "r.sqlite3"
    with SQLiteStore(db) as store:
        for i in range(N_WANZHOU):
            lon, lat = position(i)
            station = make_station(
                districts,
                owner="industry:transport",
                external_id=f"W{i}",
                name=f"驿站{i} <b>&",
                lon=lon,
                lat=lat,
            )
            store.create(station, actor="test")
        add_many(store, districts, 650)  # clustered below zoom 14 or so
    with serve(f"sqlite:///{db}") as s:
        yield s


def ogrinfo(source: str) -> str:
    out = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", source],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"GDAL_HTTP_TIMEOUT": "20"},
    )
    return out.stdout


def ogr_features(text: str) -> list[dict[str, str | tuple[float, float]]]:
    """ogrinfo's features: their fields (as text) and their point (EPSG:3857 metres)."""
    found = []
    for block in text.split("OGRFeature(")[1:]:
        layer, _, rest = block.partition(")")
        fields = dict(re.findall(r"^\s+(\w+) \(.*?\) = (.*)$", rest, re.MULTILINE))
        point = re.search(r"POINT \(([-\d.e]+) ([-\d.e]+)\)", rest)
        assert point is not None, rest
        found.append({"layer": layer, **fields, "xy": (float(point[1]), float(point[2]))})
    return found


def web_mercator_m(lon: float, lat: float) -> tuple[float, float]:
    return (
        EARTH_M * math.radians(lon),
        EARTH_M * math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)),
    )


def unit_m(z: int) -> float:
    """A grid unit of a zoom-z tile in Web Mercator metres (the tile's side / 4096)."""
    return 2 * math.pi * EARTH_M / 2**z / 4096


@pytest.mark.parametrize("z", [12, 16, 20])
def test_ogrinfo_reads_each_station_where_it_is(server, z):
    x, y = tile_of(*position(2), z)
    url = f"{server.base}/tiles/stations/{z}/{x}/{y}.mvt"
    stations = [f for f in ogr_features(ogrinfo(f"/vsicurl/{url}")) if f["layer"] == "stations"]
    tile = get_json(f"{server.base}/tiles/stations/{z}/{x}/{y}.json")
    assert len(stations) == tile["n"] == len(tile["p"]) > 0
    for f in stations:
        i = int(str(f["name"]).removeprefix("驿站").removesuffix(" <b>&"))
        assert f["name"] == f"驿站{i} <b>&" and f["count"] == "1"
        assert f["mvt_id"] == f["id"] and f["mapped"] == "none" and f["in_service"] == "1"
        # Within half a grid unit of the station (and GDAL puts it on the right tile).
        ex, ey = web_mercator_m(*position(i))
        gx, gy = f["xy"]
        assert abs(gx - ex) <= unit_m(z) / 2 + 1e-6 and abs(gy - ey) <= unit_m(z) / 2 + 1e-6


def test_ogrinfo_sums_the_clusters_to_the_json_tiles_count_with_filters(server):
    z = 9
    x, y = tile_of(*JIEFANGBEI, z)
    for query, expected in (("", 650), ("?mapped=none", 65), ("?mapped=partial&crs=wgs84", 585)):
        base = f"{server.base}/tiles/stations/{z}/{x}/{y}"
        found = ogr_features(ogrinfo(f"/vsicurl/{base}.mvt{query}"))
        found = [f for f in found if f["layer"] == "stations"]
        tile = get_json(f"{base}.json{query}")
        assert tile["n"] == expected and bool(tile["c"]) == (expected > 400)
        assert sum(int(str(f["count"])) for f in found) == expected
        clusters = sorted(int(str(f["count"])) for f in found if "mvt_id" not in f)
        assert clusters == sorted(c[2] for c in tile["c"])


def test_gdal_reads_a_gzipped_tile_as_a_cache_keeps_it(server, tmp_path: Path):
    z = 16
    x, y = tile_of(*JIEFANGBEI, z)
    request = urllib.request.Request(
        f"{server.base}/tiles/stations/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"}
    )
    with urllib.request.urlopen(request, timeout=20) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        packed = r.read()
    assert packed[:2] == b"\x1f\x8b"
    # A tile cache's layout, z/x/y.mvt: GDAL places the tile from its path.
    path = tmp_path / str(z) / str(x) / f"{y}.mvt"
    path.parent.mkdir(parents=True)
    path.write_bytes(packed)
    tile = get_json(f"{server.base}/tiles/stations/{z}/{x}/{y}.json")
    found = [f for f in ogr_features(ogrinfo(str(path))) if f["layer"] == "stations"]
    assert sorted(int(str(f["id"])) for f in found) == sorted(p[2] for p in tile["p"])
    # pyogrio's GDAL too, reading the same file.
    frame = pyogrio.read_dataframe(path, layer="stations")
    assert sorted(frame["id"]) == sorted(p[2] for p in tile["p"])
    assert frame.crs.to_epsg() == 3857


def test_pyogrio_reads_the_served_tile(server):
    z = 16
    x, y = tile_of(*position(0), z)
    frame = pyogrio.read_dataframe(
        f"/vsicurl/{server.base}/tiles/stations/{z}/{x}/{y}.mvt", layer="stations"
    )
    assert sorted(frame["name"]) == sorted(f"驿站{i} <b>&" for i in range(N_WANZHOU))
    first = frame[frame["name"] == "驿站0 <b>&"].iloc[0]
    ex, ey = web_mercator_m(*position(0))
    assert first.geometry.x == pytest.approx(ex, abs=unit_m(z) / 2)
    assert first.geometry.y == pytest.approx(ey, abs=unit_m(z) / 2)


def test_ogrinfo_opens_an_empty_tile(server):
    # The Atlantic: no station, still a tile GDAL opens (an empty 204 body it could not).
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", f"/vsicurl/{server.base}/tiles/stations/3/0/0.mvt"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={"GDAL_HTTP_TIMEOUT": "20"},
    ).stdout
    assert "Layer name: stations" in listing and "Feature Count: 0" in listing
