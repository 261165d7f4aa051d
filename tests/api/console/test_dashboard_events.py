"""The planners' figure 活动（按区县）: occurrences of events per district and kind over the
last three months to the next three, the same counts as GET /v1/districts/events."""

from __future__ import annotations

import re
from datetime import date, datetime

from geodata.hours import TZ
from stations.services.events import planner_window
from tests.api.cases_helpers import JIANGBEI, YUZHONG, two_stations
from tests.api.clients import bearer
from tests.api.console.helpers import login, make_account
from tests.api.test_events import body, soon

_FIGURE = re.compile(r"<figure class=\"chart\">(.*?)</figure>", re.S)
_BAR = re.compile(
    r'<desc class="value">([^<]*)</desc>(?:<desc class="[xy] centered">[^<]*</desc>)*'
    r'<desc class="x_label">([^<]*)</desc>'
)


def _events_svg(html: str) -> str:
    (svg,) = [f for f in _FIGURE.findall(html) if "活动（按区县）" in f]
    return svg


def _bars(svg: str) -> dict[str, int]:
    """Occurrences per bar label, summed over the kinds stacked in it."""
    totals: dict[str, int] = {}
    for value, label in _BAR.findall(svg):
        totals[label] = totals.get(label, 0) + int(float(value or 0))
    return totals


def _post(console, store, station, kind, hours):
    start, end = soon(hours)
    auth = bearer(store, "district", station.district_adcode)
    r = console.post(
        "/v1/events", json=body(station.id, kind=kind, start=start, end=end), headers=auth
    )
    assert r.status_code == 201, r.text


def test_the_city_sees_events_per_district_as_the_api_counts_them(console, store, districts):
    yz, jb = two_stations(store, districts)
    _post(console, store, yz, "送温暖", -1)
    _post(console, store, jb, "义诊", 2)
    _post(console, store, jb, "义诊", 26)
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    page = console.get("/console/dashboard")
    assert page.status_code == 200
    svg = _events_svg(page.text)
    assert "<script" not in svg and "送温暖" in svg and "义诊/健康" in svg
    bars = _bars(svg)
    names = {d.adcode: d.name for d in districts}
    assert set(bars) == set(names.values())  # every district has its bar, zero or not
    assert bars[names[YUZHONG]] == 1 and bars[names[JIANGBEI]] == 2
    start, end = planner_window(datetime.now(TZ).date())
    api = console.get("/v1/districts/events", params={"from": start, "to": end}).json()
    by_district: dict[str, int] = {}
    for row in api["items"]:
        key = names[row["district_adcode"]]
        by_district[key] = by_district.get(key, 0) + row["occurrences"]
    assert {k: v for k, v in bars.items() if v} == by_district
    report = console.get("/console/report")
    assert _bars(_events_svg(report.text)) == bars


def test_a_district_sees_its_own_events_month_by_month(console, store, districts):
    yz, jb = two_stations(store, districts)
    _post(console, store, yz, "免费餐", 1)
    _post(console, store, jb, "理发", 1)
    make_account(store, districts, code=YUZHONG)
    login(console, f"yz{YUZHONG}")
    svg = _events_svg(console.get("/console/dashboard").text)
    bars = _bars(svg)
    assert len(bars) == 7 and sum(bars.values()) == 1  # 渝中区's lunch, not 江北区's haircut
    assert "免费餐" in svg and "理发" not in svg


def test_the_window_is_three_months_back_to_three_ahead():
    start, end = planner_window(date(2026, 1, 15))
    assert (start, end) == (date(2025, 10, 1), date(2026, 5, 1))
    start, end = planner_window(date(2026, 11, 30))
    assert (start, end) == (date(2026, 8, 1), date(2027, 3, 1))
