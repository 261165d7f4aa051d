"""A mobile station (流动驿站) in nearest answers: at its stop, in the asked crs, or absent."""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from geodata.crs import CoordinateSystem, from_wgs84
from stations.domain.model import Stop
from tests.api.clients import make_app
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station

WEDNESDAY_11 = "2026-12-02T11:00:00+08:00"
WEDNESDAY_15 = "2026-12-02T15:00:00+08:00"
STOP = Stop("较场口站", 106.5750, 29.5530, "Mo-Fr 10:00-14:00", "周一至周五 10:00-14:00")


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def client(store, districts, db_path):
    lon, lat = GUANYINQIAO
    fixed = make_station(
        districts, owner="district:500105", external_id="F1", name="固定驿站", lon=lon, lat=lat
    )
    # The bus is based right at the query point: never found there.
    lon, lat = JIEFANGBEI
    bus = make_station(districts, external_id="BUS", name="流动驿站一号", lon=lon, lat=lat)
    bus = replace(bus, mobile=True, stops=(STOP,))
    for s in (fixed, bus):
        store.create(s, actor="test")
    with TestClient(make_app(store, districts, db_path)) as c:
        yield c


def nearest(client, **params):
    query = {"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], **params}
    r = client.get("/v1/stations/nearest", params=query)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_bus_is_found_at_its_stop_with_its_stop_and_until_when(client):
    got = nearest(client, at=WEDNESDAY_11)["results"]
    assert [r["name"] for r in got] == ["流动驿站一号", "固定驿站"]
    bus, fixed = got
    assert (bus["lon"], bus["lat"]) == (STOP.lon, STOP.lat)
    assert bus["mobile"] is True and bus["stop_name"] == "较场口站"
    assert bus["stop_until"] == bus["next_change"] == "2026-12-02T14:00:00+08:00"
    assert bus["open_now"] is True
    assert "stops" not in bus
    assert bus["stop_hours"] == "周一至周五 10:00-14:00"  # as the union wrote it
    assert fixed["mobile"] is False and "stop_name" not in fixed


def test_between_stops_the_bus_is_left_out_not_shown_at_its_base(client):
    got = nearest(client, at=WEDNESDAY_15)["results"]
    assert [r["name"] for r in got] == ["固定驿站"]
    # Only the bus within 500 m, and it is between stops: the hint says how far the fixed one is.
    body = nearest(client, at=WEDNESDAY_15, radius_m=500)
    assert body["results"] == [] and body["nearest_m"] > 500


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_the_stop_is_given_in_the_asked_crs_and_navigation_leads_to_it(client, crs):
    system = CoordinateSystem(crs)
    qlon, qlat = from_wgs84(JIEFANGBEI[0], JIEFANGBEI[1], crs=system)
    got = nearest(client, at=WEDNESDAY_11, crs=crs, lon=float(qlon), lat=float(qlat), k=1)
    bus = got["results"][0]
    slon, slat = from_wgs84(STOP.lon, STOP.lat, crs=system)
    assert (bus["lon"], bus["lat"]) == pytest.approx((float(slon), float(slat)), abs=1e-9)
    glon, glat = from_wgs84(STOP.lon, STOP.lat, crs=CoordinateSystem.GCJ02)
    assert (
        f"to={float(glon):.6f}%2C{float(glat):.6f}%2C{quote('流动驿站一号', safe='')}"
        in (bus["navigation"]["amap"])
    )


def test_geojson_puts_the_bus_at_its_stop(client):
    r = client.get(
        "/v1/stations/nearest",
        params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1], "at": WEDNESDAY_11, "f": "geojson"},
    )
    first = r.json()["features"][0]
    assert first["geometry"]["coordinates"] == [STOP.lon, STOP.lat]
    assert first["properties"]["stop_name"] == "较场口站"


def test_filters_apply_to_a_placed_bus(client):
    assert nearest(client, at=WEDNESDAY_11, self_service="true")["results"] == []
    got = nearest(client, at=WEDNESDAY_11, open_now="true", status="planned")["results"]
    assert got == []  # a placed bus is active: not a planned station


def test_by_route_a_bus_is_never_routed_to_at_its_base(districts):
    from datetime import datetime

    from geodata.hours import TZ
    from stations.readmodel.index import StationIndex
    from stations.services.nearest import _passing

    bus = replace(make_station(districts, external_id="B"), id=1, mobile=True, stops=(STOP,))
    fixed = replace(make_station(districts, external_id="F"), id=2)
    index = StationIndex([bus, fixed], 1)

    class Q:
        at = datetime(2026, 12, 2, 11, tzinfo=TZ)
        statuses = ()
        self_service = None
        amenities = ()

    assert _passing(index, Q, open_now=False).tolist() == [False, True]  # type: ignore[arg-type]
