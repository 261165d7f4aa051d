"""A reporter follows a case by its receipt, without an account: the state, the union's
reply, confirm or reopen (once); never the union's actor or another report."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.cases import UNION, CaseState
from tests.api.cases_helpers import (
    YUZHONG,
    assert_problem,
    client_at,
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


KEYS = {
    "receipt",
    "state",
    "state_label",
    "source",
    "kind",
    "kind_label",
    "station_id",
    "station_name",
    "opened_at",
    "due_at",
    "overdue",
    "reply",
    "replied_at",
    "history",
    "can_confirm",
    "can_reopen",
}


def report(client, station_id, note="晚上九点门锁着"):
    r = client.post(f"/v1/stations/{station_id}/feedback", json={"kind": "locked", "note": note})
    assert r.status_code == 201, r.text
    return r.json()


def resolve(client, store, case_id, reply="已联系物业开门"):
    headers = bearer(store, "district", YUZHONG)
    r = client.post(
        f"/v1/cases/{case_id}/transition", headers=headers, json={"to": "resolved", "reply": reply}
    )
    assert r.status_code == 200, r.text
    return r.json()


def case_of(client, store, station_id):
    listed = client.get(
        f"/v1/cases?station_id={station_id}", headers=bearer(store, "district", YUZHONG)
    ).json()
    return listed["items"][0]


def test_a_report_answers_with_a_receipt_that_shows_its_case(client, store, stations):
    yz, _ = stations
    answer = report(client, yz.id)
    receipt = answer["receipt"]
    seen = client.get(f"/v1/feedback/receipts/{receipt}")
    assert seen.status_code == 200 and seen.headers["cache-control"] == "no-store"
    doc = seen.json()
    assert set(doc) == KEYS
    assert doc["receipt"] == receipt and doc["state"] == "open" and doc["state_label"] == "待处理"
    assert doc["source"] == "report" and doc["kind_label"] == "门锁着进不去"
    assert doc["station_name"] == "渝中一站" and doc["overdue"] is False
    assert doc["history"] == [{"at": doc["opened_at"], "state": "open", "state_label": "待处理"}]
    assert not doc["can_confirm"] and not doc["can_reopen"]
    # Read case-insensitively, with or without hyphens.
    again = client.get(f"/v1/feedback/receipts/{receipt.lower().replace('-', '')}")
    assert again.json()["receipt"] == receipt


def test_the_reply_shows_and_the_reporter_confirms(client, store, stations):
    yz, _ = stations
    receipt = report(client, yz.id)["receipt"]
    resolve(client, store, case_of(client, store, yz.id)["id"])
    doc = client.get(f"/v1/feedback/receipts/{receipt}").json()
    assert doc["state"] == "resolved" and doc["reply"] == "已联系物业开门"
    assert doc["can_confirm"] and doc["can_reopen"]
    text = str(doc)  # no actor, no owner, not the report's own text
    assert "district:" not in text and "token" not in text and "晚上九点" not in text
    done = client.post(f"/v1/feedback/receipts/{receipt}/confirm")
    assert done.status_code == 200 and done.json()["state"] == "confirmed"
    assert not done.json()["can_confirm"]
    refused = client.post(f"/v1/feedback/receipts/{receipt}/reopen")
    problem = assert_problem(refused, 409, "case_transition_refused")
    assert "已确认" in problem["detail"]


def test_a_reopen_happens_once(client, store, stations):
    yz, _ = stations
    receipt = report(client, yz.id)["receipt"]
    case_id = case_of(client, store, yz.id)["id"]
    resolve(client, store, case_id)
    reopened = client.post(f"/v1/feedback/receipts/{receipt}/reopen").json()
    assert reopened["state"] == "open" and not reopened["can_reopen"]
    assert [h["state"] for h in reopened["history"]] == ["open", "resolved", "open"]
    resolve(client, store, case_id, "这次真的修好了")
    doc = client.get(f"/v1/feedback/receipts/{receipt}").json()
    assert doc["can_confirm"] and not doc["can_reopen"]
    assert_problem(
        client.post(f"/v1/feedback/receipts/{receipt}/reopen"), 409, "case_transition_refused"
    )


def test_wrong_and_malformed_receipts_are_the_same_404(client, stations):
    wrong = assert_problem(
        client.get("/v1/feedback/receipts/ABCD-EFGH-JKMN"), 404, "receipt_not_found"
    )
    bad = assert_problem(client.get("/v1/feedback/receipts/nonsense"), 404, "receipt_not_found")
    assert_problem(client.get("/v1/feedback/receipts/" + "A" * 500), 404, "receipt_not_found")
    assert wrong.pop("instance") != bad.pop("instance")
    assert wrong == bad
    assert_problem(
        client.post("/v1/feedback/receipts/ABCD-EFGH-JKMN/confirm"), 404, "receipt_not_found"
    )


def test_wrong_receipts_are_limited_per_address(store, districts, db_path, stations):
    with client_at(store, districts, db_path, auth_failures_per_minute=3) as c:
        for _ in range(3):
            assert c.get("/v1/feedback/receipts/ABCD-EFGH-JKMN").status_code == 404
        limited = c.get("/v1/feedback/receipts/ABCD-EFGH-JKMN")
        assert limited.status_code == 429 and "retry-after" in limited.headers


def test_one_receipt_never_shows_another_report(client, store, stations):
    yz, _ = stations
    first = report(client, yz.id, "第一条")["receipt"]
    second = report(client, yz.id, "第二条")["receipt"]
    assert first != second
    a = client.get(f"/v1/feedback/receipts/{first}").json()
    b = client.get(f"/v1/feedback/receipts/{second}").json()
    assert a["receipt"] == first and b["receipt"] == second
    assert a["opened_at"] <= b["opened_at"]


def test_a_resolution_nobody_answers_is_confirmed_when_read(client, store, stations):
    yz, _ = stations
    receipt = report(client, yz.id)["receipt"]
    case_id = case_of(client, store, yz.id)["id"]
    long_ago = datetime.now(TZ) - timedelta(days=8)
    store.transition_case(
        case_id, CaseState.RESOLVED, role=UNION, actor="t", reply="已处理", at=long_ago
    )
    doc = client.get(f"/v1/feedback/receipts/{receipt}").json()
    assert doc["state"] == "confirmed" and not doc["can_reopen"]
    assert doc["history"][-1]["state_label"] == "已确认"
