"""Listings at a time (GET /v1/stations?at=, OGC items?datetime=): a mobile station is at
its stop, or left out between stops; without a time, every station as stored. Both stores."""

from __future__ import annotations

import pytest

from geodata.crs import from_wgs84
from tests.builders import make_station
from tests.mobile_data import MARKET, NEW_YEAR_11, WEDNESDAY_11, WEDNESDAY_15, make_bus


@pytest.fixture
def store(any_store):
    return any_store


@pytest.fixture
def made(store, districts):
    fixed = store.create(make_station(districts, external_id="F1"), actor="t")
    bus = store.create(make_bus(districts), actor="t")
    return fixed, bus


def _items(client, **params):
    r = client.get("/v1/stations", params=params)
    assert r.status_code == 200, r.text
    return {d["name"]: d for d in r.json()["items"]}


def test_at_a_time_the_bus_is_at_its_stop_with_its_fields(client, made):
    fixed, bus = made
    items = _items(client, at=WEDNESDAY_11)
    assert set(items) == {fixed.name, bus.name}
    placed = items[bus.name]
    assert (placed["lon"], placed["lat"]) == (MARKET.lon, MARKET.lat)
    assert placed["mobile"] is True and placed["stop_name"] == MARKET.name
    assert placed["stop_until"] == "2026-12-02T14:00:00+08:00"
    assert items[fixed.name]["mobile"] is False and "stop_name" not in items[fixed.name]
    # The navigation goes to the stop, not to the base.
    glon, _ = from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")
    assert f"{glon:.6f}" in placed["navigation"]["amap"]
    # In GCJ-02 too.
    gcj = _items(client, at=WEDNESDAY_11, crs="gcj02")[bus.name]
    assert (gcj["lon"], gcj["lat"]) == pytest.approx(
        tuple(float(v) for v in from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")), abs=1e-9
    )


def test_between_stops_and_on_a_holiday_it_is_left_out(client, made):
    fixed, _ = made
    assert set(_items(client, at=WEDNESDAY_15)) == {fixed.name}
    assert set(_items(client, at=NEW_YEAR_11)) == {fixed.name}
    r = client.get("/v1/stations", params={"at": WEDNESDAY_15})
    assert r.json()["total"] == 1 and r.headers["X-Total-Count"] == "1"


def test_without_a_time_every_station_as_stored(client, made):
    fixed, bus = made
    items = _items(client)
    assert set(items) == {fixed.name, bus.name}
    stored = items[bus.name]
    assert (stored["lon"], stored["lat"]) == (bus.lon, bus.lat)
    assert [s["name"] for s in stored["stops"]] == ["大坪市场", "两路口广场"]
    assert "stop_name" not in stored


def _around(lon, lat):
    return f"{lon - 0.001},{lat - 0.001},{lon + 0.001},{lat + 0.001}"


def test_bbox_reads_the_stop_when_placed(client, made):
    _, bus = made
    around_stop = _around(MARKET.lon, MARKET.lat)
    around_base = _around(bus.lon, bus.lat)
    assert set(_items(client, at=WEDNESDAY_11, bbox=around_stop)) == {bus.name}
    assert bus.name not in _items(client, at=WEDNESDAY_11, bbox=around_base)
    assert bus.name in _items(client, bbox=around_base)  # as stored


def test_geojson_and_csv_at_a_time_put_the_bus_at_its_stop(client, made):
    fixed, bus = made
    geo = client.get("/v1/stations", params={"at": WEDNESDAY_11, "f": "geojson"}).json()
    feature = next(f for f in geo["features"] if f["properties"]["name"] == bus.name)
    assert feature["geometry"]["coordinates"] == [MARKET.lon, MARKET.lat]
    csv = client.get("/v1/stations", params={"at": WEDNESDAY_15, "f": "csv"}).text
    assert fixed.name in csv and bus.name not in csv
    placed = client.get("/v1/stations", params={"at": WEDNESDAY_11, "f": "csv"}).text
    row = next(line for line in placed.splitlines() if bus.name in line)
    assert str(MARKET.lon) in row and str(bus.lon) not in row


def test_ogc_items_at_an_instant(client, made):
    fixed, bus = made

    def names(**params):
        r = client.get("/collections/stations/items", params=params)
        assert r.status_code == 200, r.text
        return {f["properties"]["name"]: f for f in r.json()["features"]}

    placed = names(datetime=WEDNESDAY_11)[bus.name]
    assert placed["geometry"]["coordinates"] == [MARKET.lon, MARKET.lat]
    assert placed["properties"]["stop_name"] == MARKET.name
    assert set(names(datetime=WEDNESDAY_15)) == {fixed.name}
    assert set(names(at=WEDNESDAY_15)) == {fixed.name}
    assert names()[bus.name]["geometry"]["coordinates"] == [bus.lon, bus.lat]
    r = client.get("/collections/stations/items", params={"datetime": "2026-12-01/2026-12-03"})
    assert r.status_code == 422 and r.json()["type"].endswith("invalid_parameter")
    # A next link keeps the instant.
    r = client.get("/collections/stations/items", params={"datetime": WEDNESDAY_11, "limit": 1})
    nxt = next(link["href"] for link in r.json()["links"] if link["rel"] == "next")
    assert "datetime=2026-12-02T11%3A00%3A00%2B08%3A00" in nxt
