"""Coverage, gaps and the map by travel time over HTTP, on the river city
(tests/osm_city.py): what a planner asks and sees."""

from __future__ import annotations

import json

import pytest

from tests.api.clients import api_client
from tests.builders import make_station
from tests.osm_city import import_city, xy_to_lonlat

YUZHONG = "500103"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def add(store, districts, name, xy, **kw):
    lon, lat = xy_to_lonlat(*xy)
    store.create(
        make_station(districts, external_id=name, name=f"{name}工会驿站", lon=lon, lat=lat, **kw),
        actor="t",
    )


@pytest.fixture
def city_client(store, districts, db_path, tmp_path):
    import_city(store, tmp_path, "walk")
    add(store, districts, "W1", (390.0, 240.0))
    with api_client(store, districts, db_path) as c:
        yield c


def test_without_a_network_coverage_says_how_to_load_one(client, store, districts):
    add(store, districts, "W1", (390.0, 240.0))
    r = client.get("/v1/coverage", params={"travel": "walk", "district": YUZHONG})
    assert r.status_code == 409, r.text
    problem = r.json()
    assert problem["code"] == "network_not_loaded"
    assert "yizhan network import" in problem["detail"]
    r = client.get("/v1/gaps", params={"travel": "walk", "district": YUZHONG})
    assert r.status_code == 409
    r = client.get("/maps/coverage", params={"travel": "walk", "district": YUZHONG})
    assert r.status_code == 409
    # Without travel, coverage is as it was (the straight line, 1 km).
    r = client.get("/v1/coverage", params={"district": YUZHONG})
    assert r.status_code == 200 and r.json()["radius_m"] == 1000.0
    assert "travel" not in r.json()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"travel": "walk", "radius_m": 1000}, "不能同时使用"),
        ({"travel": "walk", "minutes": 0}, "1 到 60"),
        ({"travel": "walk", "minutes": 61}, "1 到 60"),
        ({"minutes": 15}, "需要与 travel"),
        ({"travel": "plane"}, "travel 只能是"),
    ],
)
def test_bad_travel_options_are_refused_in_chinese(client, params, says):
    for path in ("/v1/coverage", "/v1/gaps", "/maps/coverage"):
        r = client.get(path, params=params)
        assert r.status_code == 422, (path, r.text)
        assert says in r.json()["detail"], (path, r.json())


def test_coverage_by_walking_time(city_client):
    params = {"travel": "walk", "district": YUZHONG}
    r = city_client.get("/v1/coverage", params=params)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["travel"] == "walk" and doc["travel_label"] == "步行"
    assert doc["minutes"] == 15 and doc["cell_m"] == 50.0 and doc["radius_m"] is None
    assert doc["stations_counted"] == 1 and doc["stations_off_network"] == 0
    assert doc["city"] is None
    (yz,) = doc["districts"]
    assert yz["key"] == YUZHONG and 0 < yz["share"] < 1
    assert yz["cross_share"] == 0  # one station
    # The 1 km disc claims far more than 15 minutes on foot reach.
    disc = city_client.get("/v1/coverage", params={"district": YUZHONG}).json()
    assert disc["districts"][0]["share"] > 2 * yz["share"]
    longer = city_client.get("/v1/coverage", params={**params, "minutes": 30}).json()
    assert longer["districts"][0]["share"] > yz["share"]


def test_gaps_by_walking_time(city_client):
    r = city_client.get(
        "/v1/gaps",
        params={"travel": "walk", "district": YUZHONG, "spacing_m": 250, "n": 2},
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["travel"] == "walk" and doc["minutes"] == 15 and doc["unit"] == "km²"
    assert len(doc["sites"]) == 2
    first = doc["sites"][0]
    assert first["rank"] == 1 and first["gain"] > 0
    assert first["lon"] > xy_to_lonlat(650.0, 0.0)[0]  # across the river
    assert first["district_adcode"] == YUZHONG


def test_the_map_draws_the_service_areas(city_client):
    r = city_client.get("/maps/coverage", params={"travel": "walk", "district": YUZHONG})
    assert r.status_code == 200, r.text
    html = r.text
    # The layers (named in the layer control, JSON-escaped), the colouring and the legend.
    assert layer("步行 15 分钟内可达") in html and layer("步行 15 分钟外（未覆盖）") in html
    assert "步行 15 分钟覆盖率" in html
    assert "覆盖按 沿路网步行 15 分钟（50 米网格）计" in html
    assert layer("1000 米内可达") not in html
    disc = city_client.get("/maps/coverage", params={"district": YUZHONG}).text
    assert layer("1000 米内可达") in disc and "步行 15 分钟" not in disc


def layer(name: str) -> str:
    return json.dumps(name)
