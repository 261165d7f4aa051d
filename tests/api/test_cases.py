"""The owning union's cases over HTTP: its own only, soonest due first, overdue, start and
resolve with compare-and-set, the refusals in Chinese."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.services.feedback import submit_report
from tests.api.cases_helpers import (
    JIANGBEI,
    YUZHONG,
    assert_problem,
    two_stations,
)
from tests.api.clients import bearer


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def stations(store, districts):
    return two_stations(store, districts)


def report(store, station, *, hours_ago=0.0, address="10.0.0.1", note="门锁着"):
    return submit_report(
        store,
        station,
        station.id,
        kind="locked",
        note=note,
        client_address=address,
        salt=b"salt",
        per_client_per_hour=100,
        per_station_per_hour=100,
        at=datetime.now(TZ) - timedelta(hours=hours_ago),
    )


def step(client, headers, case_id, to, reply=None, version=None):
    body = {"to": to}
    if reply is not None:
        body["reply"] = reply
    if version is not None:
        body["expected_version"] = version
    return client.post(f"/v1/cases/{case_id}/transition", headers=headers, json=body)


def test_a_union_sees_its_own_cases_soonest_due_first(client, store, stations):
    yz, jb = stations
    report(store, yz, hours_ago=1, note="较新")
    report(store, yz, hours_ago=30, address="10.0.0.2", note="逾期的")
    report(store, jb, note="江北的")
    mine = client.get("/v1/cases", headers=bearer(store, "district", YUZHONG)).json()
    assert mine["total"] == 2
    assert [i["text"] for i in mine["items"]] == ["逾期的", "较新"]
    assert [i["overdue"] for i in mine["items"]] == [True, False]
    overdue = client.get("/v1/cases?overdue=true", headers=bearer(store, "district", YUZHONG))
    assert [i["text"] for i in overdue.json()["items"]] == ["逾期的"]
    theirs = client.get("/v1/cases", headers=bearer(store, "district", JIANGBEI)).json()
    assert [i["text"] for i in theirs["items"]] == ["江北的"]
    city = client.get("/v1/cases?state=open", headers=bearer(store, "admin")).json()
    assert city["total"] == 3
    assert_problem(client.get("/v1/cases"), 401, "unauthorized")
    assert_problem(
        client.get("/v1/cases?state=done", headers=bearer(store, "admin")),
        422,
        "invalid_case_request",
    )


def test_start_then_resolve_with_compare_and_set(client, store, stations):
    yz, _ = stations
    report(store, yz)
    headers = bearer(store, "district", YUZHONG)
    case = client.get("/v1/cases", headers=headers).json()["items"][0]
    assert case["version"] == 1 and case["state"] == "open"
    started = step(client, headers, case["id"], "in_progress", version=1)
    assert started.status_code == 200 and started.json()["state_label"] == "处理中"
    stale = assert_problem(
        step(client, headers, case["id"], "resolved", "好了", version=1), 409, "stale_case"
    )
    assert "刷新" in stale["detail"]
    no_reply = step(client, headers, case["id"], "resolved", "", version=2)
    assert_problem(no_reply, 422, "invalid_case_request")
    assert_problem(
        step(client, headers, case["id"], "resolved", "长" * 501), 422, "invalid_case_request"
    )
    done = step(client, headers, case["id"], "resolved", "已开门", version=2).json()
    assert done["state"] == "resolved" and done["reply"] == "已开门"
    assert "(token" in done["replied_by"] and done["history"][-1]["actor"] == done["replied_by"]
    # The report's flag follows: /v1/feedback still tells the truth.
    fb = client.get("/v1/feedback", headers=headers).json()["items"][0]
    assert fb["resolved"] and fb["resolution_note"] == "已开门"
    refused = assert_problem(
        step(client, headers, case["id"], "confirmed"), 409, "case_transition_refused"
    )
    assert "已解决" in refused["detail"]


def test_another_union_may_not_act_and_the_city_union_may(client, store, stations):
    yz, _ = stations
    report(store, yz)
    case_id = client.get("/v1/cases", headers=bearer(store, "admin")).json()["items"][0]["id"]
    other = step(client, bearer(store, "district", JIANGBEI), case_id, "in_progress")
    assert_problem(other, 403, "forbidden")
    assert_problem(
        step(client, bearer(store, "admin"), 999999, "in_progress"), 404, "case_not_found"
    )
    city = step(client, bearer(store, "admin"), case_id, "resolved", "市总已协调")
    assert city.status_code == 200


def test_a_low_rating_becomes_a_case_of_the_owning_union(client, store, stations):
    yz, _ = stations
    client.post(f"/v1/stations/{yz.id}/ratings", json={"stars": 1, "comment": "门口堆满杂物"})
    client.post(f"/v1/stations/{yz.id}/ratings", json={"stars": 5, "comment": "很好"})  # replaces
    cases = client.get("/v1/cases", headers=bearer(store, "district", YUZHONG)).json()["items"]
    assert len(cases) == 1 and cases[0]["source"] == "rating"
    assert cases[0]["kind_label"] == "差评" and cases[0]["due_at"] > cases[0]["opened_at"]
