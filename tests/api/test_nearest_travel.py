"""GET /v1/stations/nearest?travel=walk|ebike: nearest by route on the river city.

The river city (tests/osm_city.py): A is across the river from the query point, ~340 m in a
straight line but ~1.8 km on foot by the one bridge; B is on the query's bank, ~480 m
straight and ~720 m along the streets; C is 400 m from any way (unreachable).
"""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.builders import make_station
from tests.osm_city import (
    EBIKE_ROUTE_M,
    QUERY,
    WALK_ROUTE_M,
    A,
    B,
    C,
    import_city,
    xy_to_lonlat,
)

# A Tuesday, no holiday: B (08:00-12:00) is closed at 15:00, A (24/7) open.
AFTERNOON = "2026-03-03T15:00:00+08:00"
MORNING = "2026-03-03T09:00:00+08:00"


@pytest.fixture
def store(any_store):
    return any_store


def _station(store, districts, code, point, **extra):
    return store.create(
        make_station(
            districts,
            owner="industry:transport",
            external_id=code,
            name=f"河城驿站{code}",
            lon=point[0],
            lat=point[1],
            **extra,
        ),
        actor="t",
    )


@pytest.fixture
def stations(store, districts):
    """A (24/7, microwave), B (mornings, no microwave), C (unreachable), by name."""
    return {
        "A": _station(store, districts, "A", A, hours="24/7", amenities="热水、微波炉"),
        "B": _station(store, districts, "B", B, hours="Mo-Su 08:00-12:00", amenities="热水"),
        "C": _station(store, districts, "C", C, hours="24/7", amenities="热水、微波炉"),
    }


@pytest.fixture
def walk(store, tmp_path):
    return import_city(store, tmp_path, "walk")


def nearest(client, point=QUERY, status=200, **params):
    params.setdefault("at", MORNING)
    r = client.get("/v1/stations/nearest", params={"lon": point[0], "lat": point[1], **params})
    assert r.status_code == status, r.text
    return r.json()


def names(body):
    return [r["name"][-1] for r in body["results"]]


def test_across_the_river_is_first_by_the_straight_line_but_not_on_foot(client, stations, walk):
    straight = nearest(client)
    assert names(straight) == ["A", "B", "C"]
    assert "travel" not in straight and "unreachable" not in straight
    assert "travel" not in straight["query"] and "route_m" not in straight["results"][0]
    assert nearest(client, travel="straight") == straight

    body = nearest(client, travel="walk")
    assert names(body) == ["B", "A"]
    assert body["travel"] == "walk" and body["travel_label"] == "步行"
    assert body["query"]["travel"] == "walk"
    by_name = {r["name"][-1]: r for r in body["results"]}
    for name, expected in WALK_ROUTE_M.items():
        assert by_name[name]["route_m"] == pytest.approx(expected, rel=0.01)
    # 4.5 km/h, no steps on these routes.
    assert by_name["B"]["duration_s"] == pytest.approx(720 / (4.5 / 3.6), rel=0.02)
    assert isinstance(by_name["B"]["duration_s"], int)
    # distance_m stays the straight line: the same as the straight answer's.
    straight_m = {r["id"]: r["distance_m"] for r in straight["results"]}
    for r in body["results"]:
        assert r["distance_m"] == pytest.approx(straight_m[r["id"]], abs=0.01)
        assert r["route_m"] >= r["distance_m"]
    assert [r["route_m"] for r in body["results"]] == sorted(r["route_m"] for r in body["results"])


def test_a_station_far_from_any_way_is_reported_not_dropped(client, stations, walk):
    body = nearest(client, travel="walk")
    assert "C" not in names(body)
    assert [u["id"] for u in body["unreachable"]] == [stations["C"].id]
    (c,) = body["unreachable"]
    assert c["name"] == "河城驿站C" and set(c) == {"id", "name", "distance_m", "snap_m"}
    assert c["distance_m"] > B[1] and c["distance_m"] == pytest.approx(
        nearest(client, k=3)["results"][2]["distance_m"], abs=0.01
    )
    assert c["snap_m"] == pytest.approx(400.0, abs=1.0)  # C is 400 m from its nearest way
    # Beyond the last route returned (k=1: B at ~720 m; C is ~650 m straight): still named,
    # since it is nearer in a straight line than B's route.
    one = nearest(client, travel="walk", k=1)
    assert names(one) == ["B"]
    assert [u["id"] for u in one["unreachable"]] == [stations["C"].id]
    # Within a radius smaller than C's straight distance: not.
    assert nearest(client, travel="walk", radius_m=600)["unreachable"] == []


def test_the_ebike_obeys_the_one_way_street(client, store, stations, walk, tmp_path):
    (tmp_path / "ebike").mkdir()
    import_city(store, tmp_path / "ebike", "ebike")
    walk_body = nearest(client, travel="walk")
    ebike = nearest(client, travel="ebike")
    assert ebike["travel"] == "ebike" and ebike["travel_label"] == "电动车"
    assert names(ebike) == ["B", "A"]
    walk_m = {r["name"][-1]: r["route_m"] for r in walk_body["results"]}
    ebike_m = {r["name"][-1]: r["route_m"] for r in ebike["results"]}
    for name in ("A", "B"):
        # The query's street is one-way southbound: the e-bike leaves it going south.
        assert ebike_m[name] == pytest.approx(EBIKE_ROUTE_M[name], rel=0.01)
        assert ebike_m[name] > walk_m[name] + 90
    # 15 km/h: faster than walking although longer.
    walk_s = {r["name"][-1]: r["duration_s"] for r in walk_body["results"]}
    assert all(r["duration_s"] < walk_s[r["name"][-1]] for r in ebike["results"])


def test_without_a_network_the_problem_says_how_to_load_one(client, stations):
    r = client.get(
        "/v1/stations/nearest", params={"lon": QUERY[0], "lat": QUERY[1], "travel": "walk"}
    )
    assert r.status_code == 409
    problem = r.json()
    assert problem["code"] == "network_not_loaded"
    assert "yizhan network import FILE --profile walk" in problem["detail"]
    assert "步行" in problem["detail"]
    assert r.headers["content-type"].startswith("application/problem+json")


def test_only_the_imported_profile_routes(client, stations, walk):
    r = client.get(
        "/v1/stations/nearest", params={"lon": QUERY[0], "lat": QUERY[1], "travel": "ebike"}
    )
    assert r.status_code == 409
    assert "--profile ebike" in r.json()["detail"]


def test_a_point_off_the_network_is_a_clear_problem(client, stations, walk):
    off = xy_to_lonlat(200, -700)  # 700 m south of the city's southern streets
    r = client.get("/v1/stations/nearest", params={"lon": off[0], "lat": off[1], "travel": "walk"})
    assert r.status_code == 422
    problem = r.json()
    assert problem["code"] == "point_off_network"
    assert problem["max_m"] == 200
    assert problem["snap_m"] == pytest.approx(700, abs=15)
    # Says how far the nearest way is, against the most it may be.
    detail = problem["detail"]
    assert f"离最近的步行可走的道路 {problem['snap_m']:.0f} 米，超过了 200 米" in detail
    assert "去掉 travel" in detail
    # Without travel, the same point is answered by the straight line.
    assert names(nearest(client, off)) == ["C", "A", "B"]


def test_radius_bounds_the_route(client, stations, walk):
    body = nearest(client, travel="walk", radius_m=1000)
    assert names(body) == ["B"]  # A is ~340 m away in a straight line, ~1.8 km on foot
    assert all(r["route_m"] <= 1000 for r in body["results"])
    empty = nearest(client, travel="walk", radius_m=500)
    assert empty["results"] == []
    assert empty["nearest_m"] == pytest.approx(WALK_ROUTE_M["B"], rel=0.01)
    assert "步行 500 米内没有" in empty["hint"] and "去掉 radius_m" in empty["hint"]


def test_filters_apply_by_route(client, stations, walk):
    micro = nearest(client, travel="walk", amenity="microwave")
    assert names(micro) == ["A"]  # B has none; C is unreachable
    assert [u["id"] for u in micro["unreachable"]] == [stations["C"].id]
    later = nearest(client, travel="walk", open_now="true", at=AFTERNOON)
    assert names(later) == ["A"]  # B is closed in the afternoon
    assert later["query"]["open_now"] is True
    morning = nearest(client, travel="walk", open_now="true", at=MORNING)
    assert names(morning) == ["B", "A"]


def test_none_reachable_has_its_own_hint(client, store, districts, walk):
    _station(store, districts, "C", C)
    body = nearest(client, travel="walk")
    assert body["results"] == [] and body["nearest_m"] is None
    assert "按步行路网到不了" in body["hint"] and "去掉 travel" in body["hint"]
    assert len(body["unreachable"]) == 1


def test_k_beyond_the_stations_gives_every_reachable_one(client, stations, walk):
    body = nearest(client, travel="walk", k=100)
    assert body["count"] == 2 and names(body) == ["B", "A"]


def test_geojson_and_other_systems(client, stations, walk):
    fc = nearest(client, travel="walk", f="geojson")
    assert fc["type"] == "FeatureCollection" and fc["travel"] == "walk"
    props = [f["properties"] for f in fc["features"]]
    assert [p["name"][-1] for p in props] == ["B", "A"]
    assert all(p["route_m"] >= p["distance_m"] and "duration_s" in p for p in props)
    assert [u["name"] for u in fc["unreachable"]] == ["河城驿站C"]
    plain = nearest(client, travel="walk")
    gcj = nearest(client, travel="walk", out_crs="gcj02")
    assert names(gcj) == ["B", "A"]
    for w, g in zip(plain["results"], gcj["results"], strict=True):
        assert g["crs"] == "gcj02" and g["route_m"] == w["route_m"]
        assert abs(g["lon"] - w["lon"]) > 1e-4  # GCJ-02 is shifted in Chongqing


def test_an_unknown_travel_is_refused_in_chinese(client, stations):
    r = client.get(
        "/v1/stations/nearest", params={"lon": QUERY[0], "lat": QUERY[1], "travel": "car"}
    )
    assert r.status_code == 422
    assert r.json()["code"] == "invalid_parameter" and "步行" in r.json()["detail"]


def test_openapi_documents_travel(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/stations/nearest"]["get"]
    (travel,) = [p for p in op["parameters"] if p["name"] == "travel"]
    assert travel["schema"]["enum"] == ["walk", "ebike", "straight"]
    example = op["responses"]["200"]["content"]["application/json"]["example"]
    assert {"travel", "travel_label", "unreachable"} <= set(example)
    assert {"route_m", "duration_s"} <= set(example["results"][0])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(x=st.floats(-50, 1150), y=st.floats(-50, 1050))
def test_every_route_is_at_least_the_straight_line_and_sorted(client, stations, walk, x, y):
    lon, lat = xy_to_lonlat(x, y)
    r = client.get(
        "/v1/stations/nearest",
        params={"lon": lon, "lat": lat, "travel": "walk", "at": MORNING},
    )
    if r.status_code == 422:  # off the network (between the banks, mid-river)
        assert r.json()["code"] == "point_off_network"
        return
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert len(results) == 2  # both A and B reachable from anywhere on the city's streets
    routes = [res["route_m"] for res in results]
    assert routes == sorted(routes)
    for res in results:
        assert res["route_m"] >= res["distance_m"]


def test_a_slow_route_does_not_hold_up_other_requests(client, stations, walk):
    # The first request after an import loads the network (seconds for a city): it must not
    # stop the worker's event loop, which answers every other request.
    holder = client.app.state.networks
    real = holder.router

    def slow_router(travel, index):
        time.sleep(1.0)
        return real(travel, index)

    holder.router = slow_router
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        by_route = pool.submit(nearest, client, travel="walk")
        time.sleep(0.2)  # the route request is in its wait now
        started = time.perf_counter()
        straight = nearest(client)
        waited = time.perf_counter() - started
        assert names(by_route.result()) == ["B", "A"]
    assert names(straight) == ["A", "B", "C"]
    assert waited < 0.5, f"a straight-line request waited {waited:.2f} s for a route"
