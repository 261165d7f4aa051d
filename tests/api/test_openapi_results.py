"""/openapi.json describes nearest and along-route results as they are answered: a bus
(流动驿站) placed at its stop, a fixed station with an event on, the station record's
``mobile`` and ``stops``."""

from __future__ import annotations

import pytest

from tests.api.cases_helpers import YUZHONG, two_stations
from tests.api.clients import bearer
from tests.api.test_events import body, soon
from tests.builders import JIEFANGBEI, make_bus

# Parts of an answer only the travel=walk|ebike example has (documented apart).
ROUTED = {"route_m", "duration_s"}


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def _ok(spec, path, method="get"):
    return spec["paths"][path][method]["responses"]["200"]["content"]["application/json"]


@pytest.fixture
def answered(client, store, districts):
    """A real nearest answer: a fixed station with an event on, a bus standing at a stop."""
    yz, _ = two_stations(store, districts)
    stop = {"name": "较场口", "lon": JIEFANGBEI[0] - 0.004, "lat": JIEFANGBEI[1], "hours": "24/7"}
    bus = store.create(make_bus(districts, stops=[stop]), actor="t")
    start, end = soon(-1)
    made = client.post(
        "/v1/events",
        json=body(yz.id, start=start, end=end),
        headers=bearer(store, "district", YUZHONG),
    )
    assert made.status_code == 201, made.text
    r = client.get("/v1/stations/nearest", params={"lon": yz.lon, "lat": yz.lat, "k": 5})
    assert r.status_code == 200, r.text
    by_id = {res["id"]: res for res in r.json()["results"]}
    return by_id[yz.id], by_id[bus.id]


def test_the_nearest_example_has_a_bus_at_its_stop_and_a_fixed_station_with_an_event(
    client, answered
):
    spec = client.get("/openapi.json").json()
    fixed, bus = answered
    example = _ok(spec, "/v1/stations/nearest")["example"]
    ex_fixed, ex_bus = example["results"]
    assert ex_fixed["mobile"] is False and ex_fixed["event"]["kind_label"]
    assert ex_bus["mobile"] is True and ex_bus["stop_name"] and ex_bus["stop_until"]
    # The example's results have the fields of real ones, no more, no fewer.
    assert set(ex_fixed) - ROUTED == set(fixed)
    assert set(ex_bus) - ROUTED == set(bus)
    assert set(ex_fixed["event"]) == set(fixed["event"])
    assert example["count"] == len(example["results"]) <= example["query"]["k"]


def test_the_result_schema_documents_every_placed_and_event_field(client, answered):
    spec = client.get("/openapi.json").json()
    fixed, bus = answered
    for path in ("/v1/stations/nearest", "/v1/stations/along-route"):
        methods = ("get",) if path.endswith("nearest") else ("get", "post")
        for method in methods:
            item = _ok(spec, path, method)["schema"]["properties"]["results"]["items"]
            props = item["properties"]
            assert {"mobile", "stop_name", "stop_until", "event", "next_event"} <= set(props)
            assert set(props["event"]["required"]) == set(fixed["event"])
            assert set(item["required"]) <= set(fixed) & set(bus)
    assert bus["mobile"] is True and bus["stop_name"] == "较场口"
    assert (
        fixed["event"]["kind"]
        in _ok(spec, "/v1/stations/nearest")["schema"]["properties"]["results"]["items"][
            "properties"
        ]["event"]["properties"]["kind"]["enum"]
    )


def test_the_record_schema_documents_mobile_and_stops(client, store, districts):
    bus = store.create(make_bus(districts), actor="t")
    record = client.get(f"/v1/stations/{bus.id}").json()
    spec = client.get("/openapi.json").json()
    props = _ok(spec, "/v1/stations/{station_id}")["schema"]["properties"]
    assert props["mobile"]["type"] == "boolean" and record["mobile"] is True
    stop_props = props["stops"]["items"]["properties"]
    assert set(stop_props) == set(record["stops"][0])
