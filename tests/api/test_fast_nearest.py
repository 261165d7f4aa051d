"""The fast nearest handler (api/fast_nearest.py) against the FastAPI route behind it.

The same app is built twice on the same store: as served (the handler answers
``GET /v1/stations/nearest`` by the straight line) and without the handler (the FastAPI
route answers everything, as before). Every answer must be the same to the byte: status,
headers, body; errors included.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.datastructures import QueryParams

from api.app import create_app
from api.fast_nearest import FastNearest
from api.params import RawQuery
from stations.config import Settings
from stations.domain.changes import Update
from stations.domain.errors import DatabaseUnavailableError
from stations.readmodel.index import IndexHolder
from stations.storage.open import open_store
from tests.api.clients import make_app
from tests.builders import JIEFANGBEI, make_station

SNAPSHOT = Path(__file__).parent / "snapshots" / "openapi_nearest.json"
AT = "2026-10-01T14:30:00+08:00"  # a holiday afternoon: open_now differs by hours


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def without_fast_path(app: FastAPI) -> FastAPI:
    """``app`` with the FastAPI route answering nearest, as before the handler."""
    app.user_middleware = [m for m in app.user_middleware if m.cls is not FastNearest]
    return app


def seed(store, districts, n: int = 24) -> list[int]:
    hours = ["24/7", "Mo-Fr 08:00-20:00; PH off", "09:00-17:00", "Mo-Sa 07:30-22:00"]
    amenities = ["热水", "热水、微波炉", "toilet、phone_charging", ""]
    statuses = ["active", "active", "active", "temporarily_closed", "planned"]
    ids = []
    for i in range(n):
        lon, lat = JIEFANGBEI[0] + (i % 6 - 3) * 0.004, JIEFANGBEI[1] + (i // 6 - 2) * 0.003
        station = make_station(
            districts,
            external_id=f"F{i}",
            name=f'驿站 {i} "引号" <b>',
            lon=lon,
            lat=lat,
            hours=hours[i % 4],
            amenities=amenities[i % 4],
            status=statuses[i % 5],
        )
        ids.append(store.create(station, actor="test").id)
    return ids


@pytest.fixture
def pair(store, districts, db_path):
    """(served, route only) clients on one seeded store."""
    seed(store, districts)
    served = TestClient(make_app(store, districts, db_path), raise_server_exceptions=False)
    route = TestClient(
        without_fast_path(make_app(store, districts, db_path)), raise_server_exceptions=False
    )
    with served, route:
        yield served, route


def same_answer(pair, query: str) -> None:
    served, route = pair
    a = served.get(f"/v1/stations/nearest?{query}")
    b = route.get(f"/v1/stations/nearest?{query}")
    assert a.status_code == b.status_code, query
    assert a.headers == b.headers, query
    assert a.content == b.content, query


# -- random queries: every parameter, good and bad values ----------------------------------

NUMBER = st.one_of(
    st.floats(105.0, 110.5).map(lambda x: f"{x:.6f}"),
    st.sampled_from(["106.5772", "29.557", "-200", "nan", "inf", "1e400", "", "abc", " 106.5 "]),
)
VALUES = {
    "crs": st.sampled_from(["wgs84", "gcj02", "bd09", "cgcs2000", "GCJ02", "mars", ""]),
    "out_crs": st.sampled_from(["wgs84", "gcj02", "bd09", "baidu", ""]),
    "k": st.one_of(st.integers(-2, 120).map(str), st.sampled_from(["1.5", "x", ""])),
    "radius_m": st.sampled_from(["50", "400", "3000.5", "0", "-1", "600000", "x"]),
    "open_now": st.sampled_from(["true", "false", "1", "no", "maybe"]),
    "at": st.sampled_from([AT, "2026-10-08T09:00", "2026-10-10T21:59:00", "1999-01-01", "x"]),
    "self_service": st.sampled_from(["true", "false", "x"]),
    "amenity": st.sampled_from(["hot_water", "microwave,toilet", "toilet", "spa", ""]),
    "status": st.sampled_from(["active", "planned", "any", "temporarily_closed,planned", "x"]),
    "f": st.sampled_from(["json", "geojson", "csv"]),
    "travel": st.sampled_from(["straight", "fly", ""]),
}


@st.composite
def queries(draw) -> str:
    pairs = [("lon", draw(NUMBER)), ("lat", draw(NUMBER))]
    if draw(st.booleans()):  # most queries are good ones: the point in Chongqing
        pairs = [("lon", f"{draw(st.floats(106.55, 106.6)):.6f}"), ("lat", "29.557")]
    names = draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=6))
    pairs += [(name, draw(VALUES[name])) for name in names]
    if not any(name == "at" for name, _ in pairs):
        pairs.append(("at", AT))  # "now" would differ between the two requests
    pairs = draw(st.permutations(pairs))
    encode = draw(st.booleans())  # as a browser would: %xx for ',' ':' '+'
    return "&".join(f"{n}={quote(v, safe='') if encode else v}" for n, v in pairs)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries())
def test_the_fast_path_answers_as_the_route_does(pair, query):
    same_answer(pair, query)


@pytest.mark.parametrize(
    "query",
    [
        "",  # lon and lat missing
        "lon=106.5772",
        "lon=29.557&lat=106.5772",  # swapped
        "lon=2.35&lat=48.85",  # Paris
        "lon=106.5772&lat=29.557&k=0",
        "lon=106.5772&lat=29.557&k=5&k=200",  # the last one counts
        "lon=106.5772&lat=29.557&travel=walk",  # by route: no network (409)
        "lon=106.5772&lat=29.557&at=2150-01-01T00:00",
        "lon=106.5772&lat=29.557&amenity=hot_water&amenity=toilet&at=" + quote(AT),
        "lon=106.5772&lat=29.557&radius_m=1&at=" + quote(AT),  # none within: the hint
        "lon=%31%30%36.5772&lat=29.557&f=geojson&at=" + quote(AT),
        "lon=106.5772&lat=29.557&crs=bd09&out_crs=gcj02&at=" + AT.replace("+", "%2B"),
        "lon=106.5772&&lat=29.557&=&flag&at=" + quote(AT),
    ],
)
def test_errors_and_odd_queries_are_answered_alike(pair, query):
    same_answer(pair, query)


def test_an_error_is_problem_json_in_the_same_words(pair):
    served, _ = pair
    r = served.get("/v1/stations/nearest?lon=106.5772&lat=29.557&k=1000")
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == "out_of_range"
    assert body["type"] == "/problems/out_of_range"
    assert body["instance"] == "/v1/stations/nearest"
    assert "k=1000" in body["detail"]


def test_the_default_time_is_now_on_both(pair):
    served, route = pair
    q = "/v1/stations/nearest?lon=106.5772&lat=29.557&k=3"
    a, b = served.get(q).json(), route.get(q).json()
    assert (
        abs(
            time.mktime(time.strptime(a["query"]["at"][:19], "%Y-%m-%dT%H:%M:%S"))
            - time.mktime(time.strptime(b["query"]["at"][:19], "%Y-%m-%dT%H:%M:%S"))
        )
        < 60
    )
    a["query"].pop("at"), b["query"].pop("at")
    assert a == b


def test_head_and_a_trailing_slash_go_to_the_router(pair):
    served, route = pair
    for method, path in [
        ("HEAD", "/v1/stations/nearest?lon=106.5772&lat=29.557"),
        ("POST", "/v1/stations/nearest?lon=106.5772&lat=29.557"),
        ("GET", "/v1/stations/nearest/?lon=106.5772&lat=29.557"),
    ]:
        a = served.request(method, path, follow_redirects=False)
        b = route.request(method, path, follow_redirects=False)
        assert (a.status_code, a.headers, a.content) == (b.status_code, b.headers, b.content)


def test_an_unexpected_error_is_a_logged_500_problem(pair, monkeypatch, caplog):
    served, _ = pair

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("api.fast_nearest.straight_answer", broken)
    r = served.get("/v1/stations/nearest?lon=106.5772&lat=29.557")
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "internal_error"
    assert "boom" not in r.text
    assert any("unexpected error on GET /v1/stations/nearest" in m for m in caplog.messages)


# -- the OpenAPI document -------------------------------------------------------------------


def test_the_openapi_of_nearest_is_unchanged(client):
    """The nearest operation, byte for byte as before the fast path (snapshot of main
    f26508a); the route stays declared. Only this operation is snapshotted: other work
    adds operations to the document."""
    doc = client.get("/openapi.json").json()
    got = json.dumps(doc["paths"]["/v1/stations/nearest"], ensure_ascii=False, indent=1)
    assert got + "\n" == SNAPSHOT.read_text(encoding="utf-8")


# -- a write by another worker --------------------------------------------------------------


def test_a_write_by_another_worker_is_seen(store, store_url, districts):
    """Two workers (two apps, each with its store, as uvicorn --workers makes them): one
    changes a station, the other's fast path answers with the change within the bound
    the index keeps today: at once on SQLite (the version is asked per request), within
    the watcher's interval on PostgreSQL (``index_check_interval_s``)."""
    ids = seed(store, districts, n=3)
    cfg = Settings(database_url=store_url)
    reader_store, writer_store = open_store(store_url), open_store(store_url)
    reader = TestClient(create_app(cfg, store=reader_store, districts=districts))
    q = f"/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}&k=1&status=any"
    with reader:
        first = reader.get(q).json()["results"][0]
        station = writer_store.get(first["id"])
        assert station is not None and first["id"] in ids
        writer_store.apply(
            [Update(replace(station, name="改了名的驿站"), expected_version=station.version)],
            actor="other worker",
        )
        bound_s = cfg.index_check_interval_s
        deadline = time.monotonic() + bound_s + 2.0  # + the update, on a shared machine
        polls, seen = 0, False
        while not seen and time.monotonic() < deadline:
            polls += 1
            seen = reader.get(q).json()["results"][0]["name"] == "改了名的驿站"
            if not seen:
                time.sleep(0.02)
    reader_store.close()
    writer_store.close()
    assert seen, "the other worker's write was never seen"
    if bound_s == 0:
        assert polls == 1  # the very next request has it


# -- the query string, read as Starlette reads it -------------------------------------------


@settings(max_examples=400)
@given(
    raw=st.one_of(
        st.binary(max_size=60),
        st.lists(
            st.tuples(
                st.text(alphabet="abk=&+%2C0é", max_size=6),
                st.text(alphabet="ab1=&+%2C0E9é;", max_size=8),
            ),
            max_size=5,
        ).map(lambda ps: "&".join(f"{n}={v}" for n, v in ps).encode()),
    )
)
def test_raw_query_reads_as_query_params(raw):
    ours, theirs = RawQuery(raw), QueryParams(raw)
    for name in {*theirs.keys(), "a", "b", "k", ""}:
        assert ours.get(name) == theirs.get(name)
        assert ours.getlist(name) == theirs.getlist(name)


def test_a_database_outage_is_the_same_503(pair, monkeypatch):
    served, _ = pair

    def down(self):
        raise DatabaseUnavailableError("connection refused (host db.example)")

    monkeypatch.setattr(IndexHolder, "current", down)
    query = "lon=106.5772&lat=29.557&at=" + quote(AT)
    same_answer(pair, query)
    r = served.get(f"/v1/stations/nearest?{query}")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert "db.example" not in r.text  # the cause is for the operator's log only
