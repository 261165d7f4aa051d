"""The inbox of cases in the console: the union's own, by state and due, start, reply and
resolve (the reply is what the reporter reads), overdue, stale versions."""

from __future__ import annotations

from datetime import datetime, timedelta

from geodata.hours import TZ
from stations.domain.cases import CaseQuery, CaseState
from stations.services.feedback import submit_report
from stations.services.ratings import rate
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


def case_of(store, fb):
    (case,) = [c for c in store.list_cases(CaseQuery())[0] if c.feedback_id == fb.id]
    return case


def test_the_inbox_shows_the_unions_cases_and_resolves_one(console, store, districts):
    mine, theirs = _stations(store, districts)
    first = report(store, mine, note="晚上八点门锁着", minutes_ago=30)
    report(store, theirs, note="江北的反馈")
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    page = console.get("/console/reports")
    assert page.status_code == 200
    assert "反馈与投诉" in page.text and "回复会展示给反馈人" in page.text
    assert "晚上八点门锁着" in page.text and "门锁着进不去" in page.text
    assert "江北的反馈" not in page.text
    assert XSS not in page.text and "&lt;img" in page.text
    assert f"/console/stations/{mine.id}" in page.text
    case = case_of(store, first)
    answer = post(
        console,
        f"/console/reports/cases/{case.id}/resolve",
        csrf,
        data={"reply": "已联系物业开门", "version": str(case.version), "state": "open"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    done = store.get_feedback(first.id)
    assert done.resolved and done.resolution_note == "已联系物业开门"
    assert "(user yz500103)" in (done.resolved_by or "")
    assert store.get_case(case.id).state is CaseState.RESOLVED
    after = console.get(answer.headers["location"])
    assert "已回复并标记为已解决" in after.text and "没有待处理的反馈" in after.text
    shown = console.get("/console/reports?state=resolved")
    assert "已联系物业开门" in shown.text


def test_start_then_resolve_and_the_tabs(console, store, districts):
    mine, _ = _stations(store, districts)
    fb = report(store, mine, note="微波炉坏了")
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    case = case_of(store, fb)
    post(console, f"/console/reports/cases/{case.id}/start", csrf, data={"version": "1"})
    assert store.get_case(case.id).state is CaseState.IN_PROGRESS
    assert "微波炉坏了" not in console.get("/console/reports").text
    assert "微波炉坏了" in console.get("/console/reports?state=in_progress").text
    empty = post(console, f"/console/reports/cases/{case.id}/resolve", csrf, data={"version": "2"})
    assert empty.status_code == 422 and "请写回复" in empty.text
    post(
        console,
        f"/console/reports/cases/{case.id}/resolve",
        csrf,
        data={"version": "2", "reply": "已换新"},
    )
    assert "微波炉坏了" in console.get("/console/reports?state=all").text
    assert "已换新" in console.get("/console/reports?state=resolved").text


def test_overdue_cases_have_their_tab(console, store, districts):
    mine, _ = _stations(store, districts)
    report(store, mine, note="早就该处理了", minutes_ago=60 * 30)  # locked: due in 24 h
    report(store, mine, note="刚收到", minutes_ago=1)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get("/console/reports?state=overdue").text
    assert "早就该处理了" in page and "刚收到" not in page and "已逾期" in page
    listed = console.get("/console/reports").text
    assert listed.index("早就该处理了") < listed.index("刚收到")  # soonest due first


def test_another_unions_case_cannot_be_handled(console, store, districts):
    _, theirs = _stations(store, districts)
    other = report(store, theirs)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    case = case_of(store, other)
    answer = post(
        console,
        f"/console/reports/cases/{case.id}/resolve",
        csrf,
        data={"reply": "x", "version": "1"},
    )
    assert answer.status_code == 403
    assert not store.get_feedback(other.id).resolved


def test_a_stale_version_is_the_chinese_409_page(console, store, districts):
    mine, _ = _stations(store, districts)
    one = report(store, mine)
    make_account(store, districts, code="500103")
    csrf = login(console, "yz500103")
    case = case_of(store, one)
    post(console, f"/console/reports/cases/{case.id}/start", csrf, data={"version": "1"})
    again = post(
        console,
        f"/console/reports/cases/{case.id}/resolve",
        csrf,
        data={"reply": "好了", "version": "1"},
    )
    assert again.status_code == 409 and "已被别人处理过" in again.text
    assert "请刷新" in again.text


def test_a_low_rating_shows_its_stars(console, store, districts):
    mine, _ = _stations(store, districts)
    rate(
        store,
        mine,
        mine.id,
        stars=2,
        comment="饮水机没水",
        client_address="10.0.9.9",
        salt=b"s",
        per_client_per_hour=10,
        per_station_per_hour=10,
        dedupe_days=30,
        deadlines={},
        at=datetime.now(TZ),
    )
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get("/console/reports").text
    assert "差评 2★" in page and "饮水机没水" in page


def test_the_city_union_sees_every_stations_cases(console, store, districts):
    mine, theirs = _stations(store, districts)
    report(store, mine, note="渝中的反馈")
    report(store, theirs, note="江北的反馈")
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    page = console.get("/console/reports").text
    assert "渝中的反馈" in page and "江北的反馈" in page
