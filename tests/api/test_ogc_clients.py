"""OGC API – Features read by real clients none of us wrote: GDAL's OAPIF driver.

Two GDALs: Debian's ``ogrinfo`` (what a GIS user has) and the one inside pyogrio (what a
geopandas notebook uses). Both must list and read both collections, paging through
``next`` links, from a running ``yizhan serve``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pyogrio
import pytest
import shapely

from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, WANZHOU, make_station
from tests.live import Server, serve

pytestmark = pytest.mark.slow

N_STATIONS = 23  # more than one page at the page size the tests ask for


def position(i: int) -> tuple[float, float]:
    """Odd stations around 解放碑, even ones in 万州."""
    lon, lat = JIEFANGBEI if i % 2 else WANZHOU
    return lon + i * 1e-4, lat


@pytest.fixture(scope="module")
def server(tmp_path_factory, districts) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("ogc") / "r.sqlite3"
    with SQLiteStore(db) as store:
        for i in range(N_STATIONS):
            lon, lat = position(i)
            store.create(
                make_station(
                    districts,
                    owner="industry:transport",
                    external_id=f"S{i:02d}",
                    name=f"驿站{i:02d} <b>&",
                    lon=lon,
                    lat=lat,
                ),
                actor="test",
            )
    with serve(f"sqlite:///{db}") as s:
        yield s


def oapif(server: Server) -> str:
    return f"OAPIF:{server.base}/"


def test_pyogrio_lists_both_collections(server):
    layers = {name for name, _ in pyogrio.list_layers(oapif(server))}
    assert layers == {"stations", "districts"}


def test_pyogrio_reads_every_station_across_pages(server):
    df = pyogrio.read_dataframe(oapif(server), layer="stations", PAGE_SIZE=5)
    assert len(df) == N_STATIONS
    assert sorted(df["name"]) == sorted(f"驿站{i:02d} <b>&" for i in range(N_STATIONS))
    first = df[df["name"] == "驿站01 <b>&"].iloc[0]
    assert (first.geometry.x, first.geometry.y) == pytest.approx(position(1), abs=1e-9)


def test_pyogrio_reads_districts_with_real_polygons(server, districts):
    df = pyogrio.read_dataframe(oapif(server), layer="districts")
    assert len(df) == len(districts) == 38
    row = df[df["adcode"] == "500103"].iloc[0]
    assert row["name"] == "渝中区"
    lons, lats = zip(*(position(i) for i in range(N_STATIONS)), strict=True)
    assert row["stations"] == list(districts.lookup(lons, lats)).count("500103") > 0
    assert shapely.equals_exact(row.geometry, districts.get("500103").geometry, 1e-9)


def test_pyogrio_filters_by_bbox(server):
    box = (JIEFANGBEI[0] - 0.01, JIEFANGBEI[1] - 0.01, JIEFANGBEI[0] + 0.05, JIEFANGBEI[1] + 0.01)
    df = pyogrio.read_dataframe(oapif(server), layer="stations", bbox=box)
    assert len(df) == sum(1 for i in range(N_STATIONS) if i % 2)


@pytest.mark.needs_binary("ogrinfo")
def test_ogrinfo_lists_and_reads_both_collections(server, tmp_path: Path):
    def ogrinfo(*args: str) -> str:
        out = subprocess.run(
            ["ogrinfo", "-ro", *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={"GDAL_HTTP_TIMEOUT": "20", "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": "none"},
        )
        return out.stdout

    listing = ogrinfo(oapif(server))
    assert "stations" in listing
    assert "districts" in listing
    stations = ogrinfo("-oo", "PAGE_SIZE=4", "-so", oapif(server), "stations")
    assert f"Feature Count: {N_STATIONS}" in stations
    assert "Geometry: Point" in stations
    full = ogrinfo("-oo", "PAGE_SIZE=4", "-q", oapif(server), "stations")
    assert full.count("OGRFeature(stations)") == N_STATIONS
    assert "驿站22 <b>&" in full
    districts = ogrinfo("-so", oapif(server), "districts")
    assert "Feature Count: 38" in districts
