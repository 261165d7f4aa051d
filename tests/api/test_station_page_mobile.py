"""A mobile station's page: where it stands now and until when, its next stops in Chinese
(周三 12月2日 10:00–14:00), its timetable, navigation to the stop (never the base)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from api.station_page import mobile_context, visit_text
from geodata.crs import from_wgs84
from geodata.hours import TZ
from stations.domain.model import Stop
from tests.mobile_data import MARKET, SQUARE, at, make_bus


@pytest.fixture
def store(any_store):
    return any_store


def test_visits_read_in_chinese():
    start = at("2026-12-02T10:00:00+08:00")
    assert visit_text(start, at("2026-12-02T14:00:00+08:00")) == "周三 12月2日 10:00–14:00"
    assert visit_text(start, at("2026-12-03T02:00:00+08:00")) == "周三 12月2日 10:00–12月3日 02:00"
    assert visit_text(at("2026-12-06T09:00:00+08:00"), None) == "周日 12月6日 09:00 起"


def test_standing_now_the_page_says_where_until_when_and_what_comes_next(districts):
    bus = make_bus(districts)
    ctx = mobile_context(bus, at("2026-12-02T11:00:00+08:00"))
    assert ctx["state"] == "现在停靠 大坪市场 · 至 14:00"
    assert ctx["next"][0] == {
        "name": MARKET.name,
        "when": "周三 12月2日 11:00–14:00",
        "now": True,
        "amap": ctx["next"][0]["amap"],
    }
    assert [v["when"] for v in ctx["next"][1:3]] == [
        "周六 12月5日 09:00–12:00",
        "周三 12月9日 10:00–14:00",
    ]
    assert [v["name"] for v in ctx["next"][1:3]] == [SQUARE.name, MARKET.name]
    glon, _ = from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")
    assert f"{float(glon):.6f}" in ctx["navigation"]["amap"] and ctx["target"] == MARKET.name
    assert ctx["timetable"] == [
        {"name": MARKET.name, "hours": MARKET.hours_text},
        {"name": SQUARE.name, "hours": SQUARE.hours_text},
    ]


def test_between_stops_it_leads_to_the_next_stop_and_skips_holidays(districts):
    bus = make_bus(districts)
    ctx = mobile_context(bus, at("2026-12-02T15:00:00+08:00"))
    assert ctx["here"] is None
    assert ctx["state"] == "现在不在停靠点 · 下一站 两路口广场 周六 12月5日 09:00–12:00"
    assert ctx["target"] == SQUARE.name
    # 2024-12-31 (Tuesday): the next Wednesday is New Year's Day (PH off): skipped.
    new_year = mobile_context(replace(bus, stops=(MARKET,)), at("2024-12-31T12:00:00+08:00"))
    assert new_year["next"][0]["when"] == "周三 1月8日 10:00–14:00"


def test_the_page_over_http(client, store, districts):
    now = datetime.now(TZ)
    start = now - timedelta(minutes=30)
    end = now + timedelta(minutes=90)
    if end.date() != start.date():  # near midnight: a stand that does not cross it
        start, end = now.replace(hour=0, minute=5), now.replace(hour=23, minute=50)
    here = Stop(
        "<b>精武镇</b>市场",
        MARKET.lon,
        MARKET.lat,
        f"Mo-Su {start:%H:%M}-{end:%H:%M}",
        f"每天 {start:%H:%M}-{end:%H:%M}",
    )
    bus = store.create(make_bus(districts, here, SQUARE), actor="t")
    body = client.get(f"/s/{bus.code}").text
    assert "流动驿站</span> 现在停靠 &lt;b&gt;精武镇&lt;/b&gt;市场 · 至 " in body
    assert 'id="next-visits"' in body and "此刻在此" in body
    assert "停靠时刻表" in body and SQUARE.hours_text in body
    assert 'id="hours"' not in body  # the vehicle's own hours: not where a rider finds it
    glon, _ = from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")
    gbase, _ = from_wgs84(bus.lon, bus.lat, crs="gcj02")
    assert f"{float(glon):.6f}" in body and f"{float(gbase):.6f}" not in body
