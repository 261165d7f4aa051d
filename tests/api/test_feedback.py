"""Riders' problem reports: sent without login, limited, seen and resolved by the owner."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.feedback import NOTE_MAX_CHARS
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client, bearer
from tests.builders import GUANYINQIAO, make_station
from tests.stores import stored_text

YUZHONG, JIANGBEI = "500103", "500105"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def make_client(store, districts, db_path, *, client=("198.51.100.7", 50000), **settings):
    return api_client(store, districts, db_path, client=client, **settings)


@pytest.fixture
def client(store, districts, db_path):
    with make_client(store, districts, db_path) as c:
        yield c


token = bearer


@pytest.fixture
def stations(store, districts):
    """One station of 渝中区's union and one of 江北区's."""
    yz = store.create(make_station(districts, external_id="YZ1", name="渝中一站"), actor="t")
    jb = store.create(
        make_station(
            districts,
            external_id="JB1",
            name="江北一站",
            owner=f"district:{JIANGBEI}",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    return yz, jb


def send(client, station_id, kind="locked", note="门锁着", **kw):
    return client.post(
        f"/v1/stations/{station_id}/feedback", json={"kind": kind, "note": note}, **kw
    )


def assert_problem(r, status, code):
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == f"/problems/{code}"


def test_a_report_needs_no_login_and_is_seen_by_the_owning_union_only(client, store, stations):
    yz, jb = stations
    r = send(client, yz.id, "closed_during_hours", "下午三点没开门")
    assert r.status_code == 201, r.text
    assert r.json()["kind_label"] == "开放时间内没开门"
    assert send(client, jb.id, "facility_broken", "微波炉坏了").status_code == 201

    mine = client.get("/v1/feedback", headers=token(store, "district", YUZHONG)).json()
    assert [(i["station_id"], i["note"], i["station_name"]) for i in mine["items"]] == [
        (yz.id, "下午三点没开门", "渝中一站")
    ]
    theirs = client.get("/v1/feedback", headers=token(store, "district", JIANGBEI)).json()
    assert [i["station_id"] for i in theirs["items"]] == [jb.id]
    industry = client.get("/v1/feedback", headers=token(store, "industry", "transport")).json()
    assert industry["items"] == [] and industry["total"] == 0
    everything = client.get("/v1/feedback", headers=token(store, "admin")).json()
    assert {i["station_id"] for i in everything["items"]} == {yz.id, jb.id}


def test_listing_reports_needs_a_valid_token(client, stations):
    assert_problem(client.get("/v1/feedback"), 401, "unauthorized")
    bad = {"Authorization": "Bearer yz_nope_nope"}
    assert_problem(client.get("/v1/feedback", headers=bad), 401, "unauthorized")


def test_the_owner_resolves_a_report_and_another_union_may_not(client, store, stations):
    yz, _ = stations
    report_id = send(client, yz.id).json()["id"]
    jiangbei, yuzhong = token(store, "district", JIANGBEI), token(store, "district", YUZHONG)
    assert_problem(
        client.post(f"/v1/feedback/{report_id}/resolve", headers=jiangbei), 403, "forbidden"
    )
    assert_problem(client.post(f"/v1/feedback/{report_id}/resolve"), 401, "unauthorized")
    r = client.post(
        f"/v1/feedback/{report_id}/resolve", headers=yuzhong, json={"note": "已修好门禁"}
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["resolved"] and done["resolution_note"] == "已修好门禁"
    assert "district:500103" in done["resolved_by"]
    again = client.post(f"/v1/feedback/{report_id}/resolve", headers=yuzhong)
    assert_problem(again, 409, "feedback_resolved")
    assert_problem(
        client.post("/v1/feedback/999/resolve", headers=yuzhong), 404, "feedback_not_found"
    )

    unresolved = client.get("/v1/feedback?unresolved=true", headers=yuzhong).json()
    assert unresolved["items"] == []
    resolved = client.get("/v1/feedback?unresolved=false", headers=yuzhong).json()
    assert [i["id"] for i in resolved["items"]] == [report_id]


def test_the_city_union_may_resolve_any_report(client, store, stations):
    _, jb = stations
    report_id = send(client, jb.id).json()["id"]
    r = client.post(f"/v1/feedback/{report_id}/resolve", headers=token(store, "admin"))
    assert r.status_code == 200 and r.json()["resolved"]


def test_reports_follow_a_station_to_its_new_owner(client, store, districts, stations):
    yz, _ = stations
    send(client, yz.id)
    moved = store.update(
        yz.with_changes(owner=make_station(districts, owner="industry:transport").owner),
        expected_version=yz.version,
        actor="t",
    )
    assert str(moved.owner) == "industry:transport"
    assert (
        client.get("/v1/feedback", headers=token(store, "district", YUZHONG)).json()["total"] == 0
    )
    transport = client.get("/v1/feedback", headers=token(store, "industry", "transport")).json()
    assert [i["station_id"] for i in transport["items"]] == [yz.id]


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"kind": "smelly"}, "kind", "unknown_kind"),
        ({}, "kind", "unknown_kind"),
        ({"kind": "locked", "note": "长" * (NOTE_MAX_CHARS + 1)}, "note", "too_long"),
        ({"kind": "locked", "note": 42}, "note", "not_text"),
        ({"kind": "other", "note": "  "}, "note", "missing_note"),
    ],
    ids=["unknown-kind", "no-kind", "note-too-long", "note-not-text", "other-without-note"],
)
def test_invalid_reports_are_refused_with_the_field_and_a_chinese_message(
    client, stations, body, field, code
):
    r = client.post(f"/v1/stations/{stations[0].id}/feedback", json=body)
    assert_problem(r, 422, "invalid_feedback")
    errors = r.json()["errors"]
    assert [(e["field"], e["code"]) for e in errors] == [(field, code)]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in errors[0]["message"])


def test_a_report_on_a_missing_station_is_404(client, stations):
    assert_problem(send(client, 999_999), 404, "station_not_found")


def test_a_note_is_kept_as_text_and_control_characters_are_dropped(client, store, stations):
    note = '<script>alert("x")</script>\x00\x1b[31m 门 & 锁\r\n第二行'
    report_id = send(client, stations[0].id, "other", note).json()["id"]
    r = client.get("/v1/feedback", headers=token(store, "admin"))
    assert r.headers["content-type"] == "application/json"
    assert r.headers["cache-control"] == "no-store"
    item = next(i for i in r.json()["items"] if i["id"] == report_id)
    # Stored verbatim (the page and any union tool must escape it), minus control characters.
    assert item["note"] == '<script>alert("x")</script>[31m 门 & 锁\n第二行'


def test_reports_are_limited_per_client_address_with_retry_after(
    store, districts, db_path, stations
):
    yz, jb = stations
    with make_client(store, districts, db_path, feedback_per_client_per_hour=2) as c:
        assert send(c, yz.id).status_code == 201
        assert send(c, jb.id).status_code == 201
        r = send(c, yz.id)
        assert_problem(r, 429, "too_many_reports")
        assert 0 < int(r.headers["retry-after"]) <= 3600
    # Another address is not held back by the first one's reports.
    with make_client(
        store, districts, db_path, feedback_per_client_per_hour=2, client=("203.0.113.9", 1)
    ) as other:
        assert send(other, yz.id).status_code == 201


def test_reports_are_limited_per_station_whoever_sends_them(store, districts, db_path, stations):
    yz, jb = stations
    for i in range(3):
        with make_client(
            store, districts, db_path, feedback_per_station_per_hour=3, client=(f"192.0.2.{i}", 1)
        ) as c:
            assert send(c, yz.id).status_code == 201
    with make_client(
        store, districts, db_path, feedback_per_station_per_hour=3, client=("192.0.2.99", 1)
    ) as c:
        r = send(c, yz.id)
        assert_problem(r, 429, "too_many_reports")
        assert int(r.headers["retry-after"]) > 0
        assert send(c, jb.id).status_code == 201  # other stations still take reports


def test_the_client_address_is_never_stored_in_the_clear(client, store, stations):
    send(client, stations[0].id)
    assert "198.51.100.7" not in stored_text(store)
    ((stored, _),) = store._conn().execute("SELECT client_hash, id FROM feedback").fetchall()
    assert len(stored) == 32
    int(stored, 16)  # a keyed hash in hex (by chance it may contain "198": no substring test)


def test_summary_counts_unresolved_reports_by_kind_without_notes(client, store, stations):
    yz, jb = stations
    send(client, yz.id, "locked", "秘密备注")
    send(client, yz.id, "locked")
    resolved = send(client, yz.id, "facility_broken").json()["id"]
    client.post(f"/v1/feedback/{resolved}/resolve", headers=token(store, "admin"))
    r = client.get(f"/v1/feedback/summary?station_id={yz.id},{jb.id}")
    assert r.status_code == 200
    body = r.json()
    assert body["days"] == 7
    assert body["stations"] == [{"station_id": yz.id, "unresolved": 2, "kinds": {"locked": 2}}]
    assert "秘密备注" not in r.text
    for bad in ("abc", "²", str(2**64), "0"):
        r = client.get("/v1/feedback/summary", params={"station_id": bad})
        assert_problem(r, 422, "invalid_parameter")
    many = ",".join(str(i) for i in range(1, 102))
    assert_problem(client.get(f"/v1/feedback/summary?station_id={many}"), 422, "out_of_range")


def backdate_feedback(store, feedback_id: int, *, days: float) -> None:
    """Make report ``feedback_id`` look ``days`` old, in the store's own stamp form."""
    stamp = (datetime.now(TZ) - timedelta(days=days)).isoformat(timespec="microseconds")
    if isinstance(store, SQLiteStore):
        with sqlite3.connect(store.path) as conn:
            conn.execute("UPDATE feedback SET created_at = ? WHERE id = ?", (stamp, feedback_id))
        return
    import psycopg

    with psycopg.connect(store.url) as conn:
        conn.execute("UPDATE feedback SET created_at = %s WHERE id = %s", (stamp, feedback_id))


@pytest.mark.parametrize(("age_days", "warned"), [(6.9, True), (7.1, False), (30, False)])
def test_only_reports_from_the_warning_window_warn_riders(
    client, store, stations, age_days, warned
):
    yz, _ = stations
    report = send(client, yz.id).json()["id"]
    backdate_feedback(store, report, days=age_days)
    body = client.get(f"/v1/feedback/summary?station_id={yz.id}").json()
    assert body["days"] == 7
    assert body["stations"] == (
        [{"station_id": yz.id, "unresolved": 1, "kinds": {"locked": 1}}] if warned else []
    )


def test_new_problem_types_are_documented(client):
    for code in ("too_many_reports", "invalid_feedback", "feedback_not_found", "feedback_resolved"):
        r = client.get(f"/problems/{code}")
        assert r.status_code == 200 and r.json()["type"] == f"/problems/{code}"


def test_paging_out_of_sqlites_range_is_a_bad_request(client, store):
    r = client.get("/v1/feedback", params={"offset": 2**64}, headers=token(store, "admin"))
    assert_problem(r, 422, "invalid_parameter")
