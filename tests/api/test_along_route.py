"""Along-route search over HTTP, on both stores: order, pages, filters, arrival, crs, errors."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest

from geodata.crs import from_wgs84
from geodata.distance import wgs84_geod
from tests.builders import JIEFANGBEI, make_station

G = wgs84_geod()
URL = "/v1/stations/along-route"
# A route due east from 解放碑, 12 km, in three legs.
EAST = [G.fwd(*JIEFANGBEI, 90.0, d)[:2] for d in (0.0, 4000.0, 8000.0, 12000.0)]
ROUTE = "LINESTRING(" + ", ".join(f"{x} {y}" for x, y in EAST) + ")"


@pytest.fixture
def store(any_store):
    return any_store


def beside(along_m: float, offset_m: float) -> tuple[float, float]:
    """A point ``offset_m`` left of (north of) the route, ``along_m`` from its start: on
    the geodesic at right angles to the route there."""
    x, y, back = G.fwd(*JIEFANGBEI, 90.0, along_m)
    lon, lat, _ = G.fwd(x, y, back + 180.0 - 90.0, offset_m)
    return lon, lat


def add(store, districts, n, along_m, offset_m, **fields):
    lon, lat = beside(along_m, offset_m)
    station = make_station(
        districts,
        owner="industry:transport",
        external_id=f"S{n}",
        name=f"驿站{n}",
        lon=lon,
        lat=lat,
        **fields,
    )
    return store.create(station, actor="t")


def get(client, **params):
    r = client.get(URL, params={"route": ROUTE, **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_stations_come_in_order_along_the_route_with_their_metres(client, store, districts):
    made = {
        n: add(store, districts, n, along, off, hours="24小时")
        for n, along, off in [(1, 9000, 120), (2, 300, 40), (3, 5000, 480), (4, 5000, 520)]
    }
    body = get(client, distance_m=500, at="2025-09-30T10:00")
    assert [s["name"] for s in body["stations"]] == ["驿站2", "驿站3", "驿站1"]
    assert body["total"] == body["count"] == 3 and body["next"] is None
    expected = [(300, 40), (5000, 480), (9000, 120)]
    for s, (along, off) in zip(body["stations"], expected, strict=True):
        # The foot of a perpendicular geodesic from a point north of an eastward geodesic
        # is within millimetres of where it was measured from.
        assert s["along_m"] == pytest.approx(along, abs=0.05)
        assert s["offset_m"] == pytest.approx(off, abs=0.01)
        assert s["distance_m"] == s["offset_m"]
        assert s["bearing_deg"] < 0.5 or s["bearing_deg"] > 359.5  # north of the route
    # Every field of a nearest result, and the along-route ones.
    near = client.get(
        "/v1/stations/nearest", params={"lon": made[2].lon, "lat": made[2].lat, "k": 1}
    ).json()["results"][0]
    extra = {"along_m", "offset_m", "arrival", "open_on_arrival", "mobile"}  # mobile: false
    assert set(body["stations"][0]) == set(near) | extra
    assert body["query"]["route"] == {"vertices": 4, "length_m": pytest.approx(12000, abs=0.1)}


def test_pages_cover_every_station_exactly_once_in_order(client, store, districts):
    for n in range(23):
        add(store, districts, n, along_m=500 * (n % 12) + 7, offset_m=10 + 17 * n)
    whole = get(client, distance_m=1000, limit=1000, at="2025-09-30T10:00")
    assert whole["total"] == 23
    seen, token, pages = [], None, 0
    while True:
        params = {"distance_m": 1000, "limit": 5}
        if token is not None:
            params["next"] = token
        else:
            params["at"] = "2025-09-30T10:00"  # later pages take it from the token
        page = get(client, **params)
        seen += [s["id"] for s in page["stations"]]
        pages += 1
        token = page["next"]
        if token is None:
            break
    assert pages == 5
    assert seen == [s["id"] for s in whole["stations"]]
    assert len(set(seen)) == 23
    keys = [(s["along_m"], s["id"]) for s in whole["stations"]]
    assert keys == sorted(keys)


def test_a_token_for_another_request_is_refused(client, store, districts):
    for n in range(3):
        add(store, districts, n, along_m=1000 * n, offset_m=50)
    first = get(client, distance_m=500, limit=1, at="2025-09-30T10:00")
    token = first["next"]
    assert token
    other_route = ROUTE.replace("LINESTRING(", "LINESTRING(106.5 29.5, ")
    for params in (
        {"route": other_route},
        {"distance_m": 400},
        {"amenity": "toilet"},
        {"at": "2025-09-30T11:00"},
        {"speed_kmh": 20},
        {"next": token[:-3] + "xyz"},
        {"next": "garbage"},
    ):
        q = {"route": ROUTE, "distance_m": 500, "limit": 1, "next": token, **params}
        r = client.get(URL, params=q)
        assert r.status_code == 400, (params, r.text)
        assert r.json()["type"] == "/problems/bad_page_token"
    # The same instant written another way is the same request.
    same_at = {"route": ROUTE, "distance_m": 500, "at": "2025-09-30T02:00:00Z", "next": token}
    assert client.get(URL, params=same_at).status_code == 200
    # The same request with another page size and output system is the same request.
    r = client.get(URL, params={"route": ROUTE, "next": token, "limit": 2, "out_crs": "gcj02"})
    assert r.status_code == 200 and [s["name"] for s in r.json()["stations"]] == ["驿站1", "驿站2"]


def test_every_filter_of_nearest_applies(client, store, districts):
    add(store, districts, 1, 1000, 50, amenities="热水")
    add(store, districts, 2, 2000, 50, amenities="微波炉")
    add(store, districts, 3, 3000, 50, status="planned")
    add(
        store,
        districts,
        4,
        4000,
        50,
        hours="24小时",
        self_service_24h="是",
        entry_methods="扫码",
        amenities="热水",
    )

    def names(**params):
        return [s["name"] for s in get(client, at="2025-09-30T10:00", **params)["stations"]]

    assert names() == ["驿站1", "驿站2", "驿站4"]  # active only by default
    assert names(status="any") == ["驿站1", "驿站2", "驿站3", "驿站4"]
    assert names(amenity="microwave") == ["驿站2"]
    assert names(self_service="true") == ["驿站4"]
    assert get(client, at="2025-09-30T02:00", open_now="true")["stations"][0]["name"] == "驿站4"
    assert names(amenity="aed") == []
    assert "没有符合条件的驿站" in get(client, amenity="aed")["hint"]


def test_open_on_arrival_follows_the_hours_holidays_and_make_up_days(client, store, districts):
    # 10 km along at 1 km/h: ten hours after setting off.
    add(store, districts, 1, 10_000, 30, hours="周一至周五 9:00-17:00")

    def arrival(at, **params):
        body = get(client, at=at, speed_kmh=1, **params)
        return body["stations"]

    before_national_day = arrival("2025-09-29T23:30")[0]
    assert before_national_day["arrival"] == "2025-09-30T09:30:00+08:00"
    assert before_national_day["open_on_arrival"] is True
    national_day = arrival("2025-09-30T23:30")[0]  # arrives on 1 October: a holiday
    assert national_day["arrival"] == "2025-10-01T09:30:00+08:00"
    assert national_day["open_on_arrival"] is False
    make_up_sunday = arrival("2025-09-27T23:30")[0]  # 28 September 2025: 调休, worked
    assert make_up_sunday["open_on_arrival"] is True
    # Open when setting off, closed by the time the rider gets there.
    late = arrival("2025-09-30T16:00")[0]
    assert late["open_now"] is True and late["open_on_arrival"] is False
    assert late["arrival"] == "2025-10-01T02:00:00+08:00"
    assert arrival("2025-09-30T16:00", open_on_arrival="true") == []
    assert len(arrival("2025-09-29T23:30", open_on_arrival="true")) == 1


def test_positions_in_and_out_in_gcj02(client, store, districts):
    made = add(store, districts, 1, 6000, 200)
    glon, glat = from_wgs84([x for x, _ in EAST], [y for _, y in EAST], crs="gcj02")
    pairs = zip(glon.tolist(), glat.tolist(), strict=True)
    gcj_route = "LINESTRING(" + ", ".join(f"{x} {y}" for x, y in pairs) + ")"
    wgs = get(client)["stations"][0]
    gcj = get(client, route=gcj_route, crs="gcj02")
    station = gcj["stations"][0]
    assert gcj["query"]["crs"] == "gcj02"
    slon, slat = from_wgs84(made.lon, made.lat, crs="gcj02")
    assert (station["lon"], station["lat"]) == pytest.approx((slon, slat), abs=1e-9)
    assert station["crs"] == "gcj02"
    # The route converted back is the same route (to the conversion's precision).
    assert station["offset_m"] == pytest.approx(wgs["offset_m"], abs=0.05)
    assert station["along_m"] == pytest.approx(wgs["along_m"], abs=0.05)
    out = get(client, route=gcj_route, crs="gcj02", out_crs="wgs84")["stations"][0]
    assert (out["lon"], out["lat"], out["crs"]) == (made.lon, made.lat, "wgs84")
    # Had the GCJ-02 route been read as WGS-84, the station would be ~500 m off it.
    mixed = get(client, route=gcj_route, distance_m=100)
    assert mixed["stations"] == [] or abs(mixed["stations"][0]["offset_m"] - 200) > 50


def test_post_with_a_geojson_route_is_the_get_answer(client, store, districts):
    for n in range(4):
        add(store, districts, n, along_m=2500 * n + 100, offset_m=60)
    params = {"distance_m": 300, "limit": 3, "at": "2025-09-30T10:00", "amenity": ["hot_water"]}
    got = get(client, **params)
    posted = client.post(
        URL,
        json={"route": {"type": "LineString", "coordinates": [list(p) for p in EAST]}, **params},
    )
    assert posted.status_code == 200, posted.text
    assert posted.json() == got
    # Its token pages the GET form too (the same request, whichever way it came).
    follow = {"route": ROUTE, "distance_m": 300, "amenity": "hot_water", "next": got["next"]}
    r = client.get(URL, params=follow)
    assert r.status_code == 200 and r.json()["count"] == 1
    feature = {"type": "Feature", "geometry": {"type": "LineString", "coordinates": EAST}}
    r = client.post(URL, json={"route": feature, "distance_m": 300, "f": "geojson"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    assert len(r.json()["features"]) == 4
    as_wkt = client.post(URL, json={"route": ROUTE, **params})
    assert as_wkt.status_code == 200 and as_wkt.json() == got


def test_the_path_is_not_taken_for_a_station_id(client):
    r = client.get(URL, params={"route": ROUTE})
    assert r.status_code == 200, r.text
    assert r.json()["stations"] == []
    across = client.get(URL, params={"route": "LINESTRING(179.99 -16.75, -179.99 -16.75)"})
    assert across.status_code == 200 and across.json()["query"]["route"]["length_m"] < 2200
    r = client.get(URL)  # no route: a parameter problem, not "no station with this id"
    assert r.status_code == 422 and r.json()["type"] == "/problems/invalid_parameter"
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths[URL]) == {"get", "post"}


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"route": "LINESTRING(106.5 29.5"}, 422, "bad_route"),
        ({"route": "POINT(106.5 29.5)"}, 422, "bad_route"),
        ({"route": "LINESTRING(106.5 29.5)"}, 422, "bad_route"),
        ({"route": "LINESTRING(106.5 29.5, 106.5 29.5)"}, 422, "bad_route"),
        ({"route": "LINESTRING(106.5 29.5, 106.6 95)"}, 422, "bad_route"),
        ({"route": "LINESTRING(80 30, 110 30, 80 30)"}, 422, "route_too_long"),
        ({"distance_m": 0}, 422, "out_of_range"),
        ({"distance_m": 10_001}, 422, "out_of_range"),
        ({"distance_m": "nan"}, 422, "invalid_parameter"),
        ({"limit": 1001}, 422, "out_of_range"),
        ({"speed_kmh": 0.5}, 422, "out_of_range"),
        ({"speed_kmh": 121}, 422, "out_of_range"),
        ({"crs": "epsg:3857"}, 422, "bad_crs"),
        ({"out_crs": "mars"}, 422, "bad_crs"),
        ({"f": "csv"}, 422, "bad_format"),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else ",".join(map(str, v.values()))[:40],
)
def test_errors_are_problems_in_chinese(client, params, status, code):
    r = client.get(URL, params={"route": ROUTE, **params})
    assert r.status_code == status, r.text
    body = r.json()
    assert r.headers["content-type"] == "application/problem+json"
    assert body["type"] == f"/problems/{code}"
    if code not in ("invalid_parameter", "bad_crs"):
        assert any("\u4e00" <= ch <= "\u9fff" for ch in body["detail"]), body["detail"]


def test_post_errors(client):
    line = {"type": "LineString", "coordinates": [[106.5, 29.5], [106.6, 29.5]]}
    many = {"type": "LineString", "coordinates": [[106 + i * 1e-5, 29.5] for i in range(10_001)]}
    cases = [
        (b"{", 400, "bad_request"),
        (orjson.dumps([1, 2]), 400, "bad_request"),
        (orjson.dumps({"distance_m": 100}), 422, "invalid_parameter"),
        (orjson.dumps({"route": line, "distanse_m": 100}), 422, "invalid_parameter"),
        (orjson.dumps({"route": line, "distance_m": "100"}), 422, "invalid_parameter"),
        (orjson.dumps({"route": line, "open_now": "yes"}), 422, "invalid_parameter"),
        (orjson.dumps({"route": {"type": "Point", "coordinates": [1, 2]}}), 422, "bad_route"),
        (orjson.dumps({"route": {**line, "coordinates": [[106.5, "x"]]}}), 422, "bad_route"),
        (orjson.dumps({"route": many}), 422, "route_too_long"),
        (b'{"route": ' + b" " * (3 * 1024 * 1024) + b"}", 413, "payload_too_large"),
    ]
    for raw, status, code in cases:
        r = client.post(URL, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == status, (raw[:60], r.text)
        assert r.json()["type"] == f"/problems/{code}", raw[:60]
    ok = client.post(URL, json={"route": line, "amenity": "toilet", "status": ["any"]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["query"]["status"] == [
        "active",
        "temporarily_closed",
        "planned",
        "closed",
    ]


def test_a_search_over_its_work_bound_is_refused(client, store, districts, monkeypatch):
    add(store, districts, 1, 1000, 50)
    monkeypatch.setattr("geodata.along_route.MAX_CANDIDATE_HITS", 0)
    r = client.get(URL, params={"route": ROUTE})
    assert r.status_code == 422
    assert r.json()["type"] == "/problems/too_much_work"
    assert "缩短路线" in r.json()["detail"]


def test_arrival_past_the_last_year_still_answers(client, store, districts):
    add(store, districts, 1, 10_000, 30, hours="24小时")
    body = get(client, at="2099-12-31T23:00", speed_kmh=1)
    assert body["stations"][0]["arrival"] == "2100-01-01T09:00:00+08:00"
    assert isinstance(body["stations"][0]["open_on_arrival"], bool)


def test_writes_between_pages_neither_repeat_nor_skip_what_follows(client, store, districts):
    made = [add(store, districts, n, along_m=1000 * n + 100, offset_m=40) for n in range(6)]
    first = get(client, limit=3, at="2025-09-30T10:00")
    assert [s["name"] for s in first["stations"]] == ["驿站0", "驿站1", "驿站2"]
    # Meanwhile: a station renamed, one closed for good, one new before the page's end.
    renamed = made[4]
    store.update(replace(renamed, name="改名驿站"), expected_version=renamed.version, actor="t")
    store.delete(made[3].id, expected_version=made[3].version, actor="t")
    add(store, districts, 9, along_m=500, offset_m=40)
    rest = get(client, limit=10, next=first["next"])
    assert [s["name"] for s in rest["stations"]] == ["改名驿站", "驿站5"]
    assert rest["next"] is None


def test_a_bus_is_listed_at_its_stop_when_the_rider_gets_there(client, store, districts):
    from stations.domain.model import Stop

    fixed = add(store, districts, 1, 2000, 50, hours="24小时")
    # Based far off the route; stands 4 km along it on Wednesdays 10:00-14:00.
    base = make_station(
        districts, owner="industry:transport", external_id="BUS", name="流动驿站一号"
    )
    stop = Stop("精武镇市场", *beside(4000, 80), "We 10:00-14:00", "周三 10:00-14:00")
    bus = store.create(replace(base, mobile=True, stops=(stop,)), actor="t")
    # 4 km at 16 km/h: 15 minutes after setting off.
    body = get(client, at="2026-12-02T09:50", speed_kmh=16, distance_m=200)
    names = [s["name"] for s in body["stations"]]
    assert names == [fixed.name, bus.name]
    found, placed = body["stations"]
    assert found["mobile"] is False and "stop_name" not in found
    assert placed["mobile"] is True and placed["stop_name"] == "精武镇市场"
    assert placed["stop_until"] == "2026-12-02T14:00:00+08:00"
    assert (placed["lon"], placed["lat"]) == pytest.approx((stop.lon, stop.lat), abs=1e-9)
    assert placed["open_on_arrival"] is True and placed["open_now"] is False
    assert placed["offset_m"] == pytest.approx(80, abs=0.5)
    # Setting off at 13:50 it has left when the rider comes; a Thursday it is not there.
    assert [s["name"] for s in get(client, at="2026-12-02T13:50", speed_kmh=16)["stations"]] == [
        fixed.name
    ]
    assert bus.name not in str(get(client, at="2026-12-03T09:50", speed_kmh=16))
    # In GCJ-02 out, and as GeoJSON, at the stop.
    gcj = get(client, at="2026-12-02T09:50", speed_kmh=16, out_crs="gcj02")["stations"][1]
    glon, glat = from_wgs84(stop.lon, stop.lat, crs="gcj02")
    assert (gcj["lon"], gcj["lat"]) == pytest.approx((glon, glat), abs=1e-9)
    geo = get(client, at="2026-12-02T09:50", speed_kmh=16, f="geojson")["features"][1]
    assert geo["geometry"]["coordinates"] == pytest.approx([stop.lon, stop.lat], abs=1e-9)
