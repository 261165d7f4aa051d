"""The planners' map and its tiles with mobile stations: drawn at their stops (a layer of
their own), never at their base; at a time, the bus where it stands; coverage from the stops."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest

from geodata.crs import CoordinateSystem, from_wgs84
from geodata.tiles import TILE_PROVIDERS
from stations.readmodel.index import StationIndex
from stations.services.maps import TileFilters, station_map, station_tile
from stations.services.planning import MapOptions
from tests.builders import make_station
from tests.mobile_data import MARKET, SQUARE, WEDNESDAY_11, WEDNESDAY_15, at, make_bus


@pytest.fixture(scope="module")
def index(districts):
    fixed = make_station(districts, external_id="F1", lon=106.51, lat=29.55, hours="24小时")
    bus = make_bus(districts, name="流动驿站<b>一号</b>")
    return StationIndex([replace(fixed, id=1), replace(bus, id=2)], version=1)


def _stops(html: str) -> dict:
    found = re.search(r'var data = (\{"lon".*?"until".*?\});', html)
    assert found, "no stops layer"
    return json.loads(found.group(1))


def _points(html: str) -> dict:
    return json.loads(re.search(r'var data = (\{"lon".*?"text".*?\});', html).group(1))


def test_the_stops_are_a_layer_and_the_base_is_not_drawn(index, districts):
    html = station_map(index, districts, MapOptions(district="500103")).get_root().render()
    stops = _stops(html)
    assert stops["name"] == [MARKET.name, SQUARE.name]
    assert stops["hours"] == [MARKET.hours_text, SQUARE.hours_text]
    assert stops["vehicle"] == ["流动驿站<b>一号</b>"] * 2  # text, set with textContent
    assert stops["here"] == [False, False]
    assert (stops["lon"][0], stops["lat"][0]) == (MARKET.lon, MARKET.lat)
    points = _points(html)
    bus = index.stations[1]
    assert points["lon"] == [106.51]  # the fixed station only: no point at the bus's base
    assert round(bus.lon, 6) not in points["lon"]
    assert "流动驿站停靠点" in html


def test_at_a_time_the_bus_stands_at_its_stop(index, districts):
    html = (
        station_map(index, districts, MapOptions(district="500103", at=at(WEDNESDAY_11)))
        .get_root()
        .render()
    )
    stops = _stops(html)
    assert stops["here"] == [True, False] and stops["until"][0] == "12-02 14:00"
    assert "流动驿站（此刻所在停靠点）" in html
    later = (
        station_map(index, districts, MapOptions(district="500103", at=at(WEDNESDAY_15)))
        .get_root()
        .render()
    )
    assert _stops(later)["here"] == [False, False]


def test_on_amap_tiles_the_stops_are_in_gcj02(index, districts):
    options = MapOptions(tiles=TILE_PROVIDERS["amap"], district="500103")
    stops = _stops(station_map(index, districts, options).get_root().render())
    glon, glat = from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")
    assert (stops["lon"][0], stops["lat"][0]) == pytest.approx((float(glon), float(glat)), abs=2e-6)


def test_tiles_never_carry_a_bus_at_its_base(index):
    bus = index.stations[1]
    z = 12
    x, y = _tile_of(bus.lon, bus.lat, z)
    body = station_tile(index, z, x, y, TileFilters(), CoordinateSystem.WGS84)
    assert bus.id not in [p[2] for p in body.get("p", [])]


def _tile_of(lon, lat, z):
    n = 2**z
    lat_r = np.radians(lat)
    y = (1 - np.log(np.tan(lat_r) + 1 / np.cos(lat_r)) / np.pi) / 2 * n
    return int((lon + 180) / 360 * n), int(y)


def test_a_tile_lists_the_stops_and_where_the_bus_stands(index):
    z = 14
    x, y = _tile_of(MARKET.lon, MARKET.lat, z)
    bus = index.stations[1]
    anytime = station_tile(index, z, x, y, TileFilters(), CoordinateSystem.WGS84)["s"]
    assert [(s[2], s[3], s[4]) for s in anytime] == [(bus.id, 0, 0)]
    now = station_tile(index, z, x, y, TileFilters(at=at(WEDNESDAY_11)), CoordinateSystem.WGS84)
    assert [(s[2], s[3], s[4]) for s in now["s"]] == [(bus.id, 0, 1)]
    # On Amap's tiles the stop is where its GCJ-02 position falls.
    glon, glat = from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")
    gx, gy = _tile_of(float(glon), float(glat), z)
    gcj = station_tile(index, z, gx, gy, TileFilters(), CoordinateSystem.GCJ02)["s"]
    assert [(s[2], s[3]) for s in gcj] == [(bus.id, 0)]
