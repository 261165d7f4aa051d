"""The inbox of riders' reports in the console: the union's own, unresolved first, resolve."""

from __future__ import annotations

from datetime import datetime, timedelta

from geodata.hours import TZ
from stations.services.feedback import submit_report
from tests.api.console.helpers import login, make_account, post
from tests.builders import GUANYINQIAO, make_station

XSS = "<img src=x onerror=alert(1)>"


def report(store, station, kind="locked", note="门锁着", minutes_ago=0):
    return submit_report(
        store,
        station,
        station.id,
        kind=kind,
        note=note,
        client_address=f"10.0.0.{minutes_ago + 1}",
        salt=b"test-salt",
        per_client_per_hour=100,
        per_station_per_hour=100,
        at=datetime.now(TZ) - timedelta(minutes=minutes_ago),
    )


def _stations(store, districts):
    mine = store.create(make_station(districts, name=XSS), actor="test")
    theirs = store.create(
        make_station(
            districts,
            external_id="JB-1",
            owner="district:500105",
            name="观音桥工会驿站",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="test",
    )
    return mine, theirs


def test_the_inbox_shows_the_unions_reports_and_resolves_one(console, store, districts):
    mine, theirs = _stations(store, districts)
    first = report(store, mine, note="晚上八点门锁着", minutes_ago=30)
    report(store, theirs, note="江北的反馈")
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    page = console.get("/console/reports")
    assert page.status_code == 200
    assert "晚上八点门锁着" in page.text and "门锁着进不去" in page.text
    assert "江北的反馈" not in page.text
    assert XSS not in page.text and "&lt;img" in page.text
    assert f"/console/stations/{mine.id}" in page.text
    answer = post(
        console,
        f"/console/reports/{first.id}/resolve",
        csrf,
        data={"note": "已联系物业开门", "state": "open"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    done = store.get_feedback(first.id)
    assert done.resolved and done.resolution_note == "已联系物业开门"
    assert "(user yz500103)" in (done.resolved_by or "")
    after = console.get(answer.headers["location"])
    assert "已标记为已处理" in after.text and "没有待处理的反馈" in after.text
    shown = console.get("/console/reports?state=done")
    assert "已联系物业开门" in shown.text


def test_all_reports_list_the_unresolved_first(console, store, districts):
    mine, _ = _stations(store, districts)
    old_open = report(store, mine, note="较早未处理", minutes_ago=90)
    newer_done = report(store, mine, note="较新已处理", minutes_ago=5)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    post(console, f"/console/reports/{newer_done.id}/resolve", csrf, data={"note": "好了"})
    page = console.get("/console/reports?state=all").text
    assert page.index("较早未处理") < page.index("较新已处理")
    assert old_open.id


def test_another_unions_report_cannot_be_resolved(console, store, districts):
    _, theirs = _stations(store, districts)
    other = report(store, theirs)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    answer = post(console, f"/console/reports/{other.id}/resolve", csrf, data={"note": "x"})
    assert answer.status_code == 403
    assert not store.get_feedback(other.id).resolved


def test_resolving_twice_says_so(console, store, districts):
    mine, _ = _stations(store, districts)
    one = report(store, mine)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    post(console, f"/console/reports/{one.id}/resolve", csrf, data={"note": ""})
    again = post(console, f"/console/reports/{one.id}/resolve", csrf, data={"note": ""})
    assert again.status_code == 409 and "已经处理过了" in again.text


def test_the_city_union_sees_every_stations_reports(console, store, districts):
    mine, theirs = _stations(store, districts)
    report(store, mine, note="渝中的反馈")
    report(store, theirs, note="江北的反馈")
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    page = console.get("/console/reports").text
    assert "渝中的反馈" in page and "江北的反馈" in page
