"""Nearest answers say when nothing is near: how far the nearest is, or that none is."""

from __future__ import annotations

import pytest

from geodata.distance import distance_m
from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station

BEIJING = (116.3975, 39.9087)  # 天安门, WGS-84
NEARBY = (JIEFANGBEI[0] + 0.001, JIEFANGBEI[1])  # about 97 m east
TWO_KM = (JIEFANGBEI[0] + 2000 / 96_900, JIEFANGBEI[1])


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


@pytest.fixture
def one_station(store, districts):
    return store.create(
        make_station(
            districts,
            owner="industry:transport",
            lon=TWO_KM[0],
            lat=TWO_KM[1],
            hours="Mo-Su 08:00-20:00",
            amenities="热水",
        ),
        actor="t",
    )


def nearest(client, point, **params):
    r = client.get("/v1/stations/nearest", params={"lon": point[0], "lat": point[1], **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_station_a_thousand_km_away_comes_with_how_far_it_is(client, one_station):
    body = nearest(client, BEIJING, k=3)
    assert body["count"] == 1
    far = distance_m(*BEIJING, one_station.lon, one_station.lat)
    assert body["nearest_m"] == pytest.approx(far, abs=1)
    assert far > 1_000_000
    assert f"{far / 1000:,.0f} 公里外" in body["hint"]


def test_an_empty_radius_says_how_far_the_nearest_is(client, one_station):
    body = nearest(client, JIEFANGBEI, radius_m=300)
    assert body["results"] == []
    assert body["nearest_m"] == pytest.approx(2000, abs=30)
    assert "300 米内没有" in body["hint"] and "2.0 公里外" in body["hint"]


def test_when_no_station_passes_the_filters_the_hint_says_so(client, one_station):
    body = nearest(client, JIEFANGBEI, amenity="aed")
    assert body["results"] == [] and body["nearest_m"] is None
    assert "没有符合" in body["hint"]
    night = nearest(client, JIEFANGBEI, open_now="true", at="2026-03-03T23:00:00")
    assert night["results"] == [] and night["nearest_m"] is None
    assert "现在没有开放" in night["hint"] and "2.0 公里外" in night["hint"]


def test_a_near_answer_has_no_hint(client, store, districts, one_station):
    store.create(
        make_station(
            districts, owner="industry:transport", external_id="N", lon=NEARBY[0], lat=NEARBY[1]
        ),
        actor="t",
    )
    body = nearest(client, JIEFANGBEI)
    assert body["count"] == 2
    assert "hint" not in body and "nearest_m" not in body
    fc = nearest(client, JIEFANGBEI, f="geojson", radius_m=10)
    assert fc["features"] == [] and "10 米内没有" in fc["hint"] and fc["nearest_m"] > 90


def test_the_query_echoes_every_filter(client, one_station):
    query = nearest(
        client, JIEFANGBEI, amenity=["hot_water", "microwave"], self_service="false", status="any"
    )["query"]
    assert query["amenity"] == ["hot_water", "microwave"]
    assert query["self_service"] is False
    assert query["status"] == ["active", "temporarily_closed", "planned", "closed"]
    plain = nearest(client, JIEFANGBEI)["query"]
    assert plain["amenity"] == [] and plain["self_service"] is None
    assert plain["status"] == ["active"]
