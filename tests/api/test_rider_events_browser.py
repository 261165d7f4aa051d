"""The rider page's 活动 tab in Debian's Chromium on a 360 px phone: what is on near me
today and this week, nearest first, each with its station, time and navigation; another
district's event 50 km away is not listed. Nothing from outside, no console errors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from geodata.hours import TZ
from stations.domain.events import check_event
from stations.domain.model import Stop
from stations.storage.sqlite import SQLiteStore
from tests.api.test_rider_browser import near, new_phone, open_page, shot
from tests.builders import WANZHOU, make_station
from tests.live import serve

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]
XSS = '<img src=x onerror="window.__xss=1">义诊'


def _event(store: Any, station: Any, title: str, start: datetime, hours: float, **extra: Any):
    spec = check_event(
        {
            "title": title,
            "station_ids": [station.id],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=hours)).isoformat(),
            **extra,
        }
    )
    return store.add_event(spec, owner=str(station.owner), actor="test", at=start)


@pytest.fixture(scope="module")
def served(tmp_path_factory, districts) -> Iterator[str]:
    db = tmp_path_factory.mktemp("rider-events") / "registry.sqlite3"
    now = datetime.now(TZ).replace(second=0, microsecond=0)
    with SQLiteStore(db) as store:

        def station(code: str, name: str, at: tuple[float, float], **extra: Any) -> Any:
            row = make_station(
                districts, external_id=code, name=name, lon=at[0], lat=at[1], hours="24/7", **extra
            )
            return store.create(row, actor="t")

        close = station("E1", "近处驿站", near(100, 0))
        far = station("E2", "远一点的驿站", near(0, 1500))
        wanzhou = station("W1", "万州驿站", WANZHOU, owner="district:500101")
        stop = Stop("较场口", *near(-300, 0), "Mo-Su 00:00-23:59")
        store.create(
            replace(
                make_station(districts, external_id="BUS", name="流动驿站一号"),
                mobile=True,
                stops=(stop,),
            ),
            actor="t",
        )
        _event(
            store,
            far,
            "冬日送温暖",
            now - timedelta(hours=1),
            3,
            kind="送温暖",
            offer="暖宝宝、姜茶",
            while_supplies_last=True,
            audience="外卖骑手",
        )
        _event(store, close, XSS, now - timedelta(minutes=30), 2, kind="health")
        _event(store, close, "免费理发", now + timedelta(days=3), 2, kind="haircut")
        _event(store, wanzhou, "万州免费餐", now - timedelta(hours=1), 3, kind="free_meal")
    with serve(f"sqlite:///{db}") as server:
        yield server.base


def test_the_events_tab_lists_what_is_on_near_me_today_and_this_week(browser, served):
    context = new_phone(browser, located=True)
    try:
        page, watch = open_page(context, served)
        page.locator(".card .name").first.wait_for()
        page.get_by_role("tab", name="活动").click()
        today = page.locator("#events-today .event-card")
        today.first.wait_for()
        names = today.locator(".name").all_text_contents()
        assert names == [XSS, "冬日送温暖"]  # nearest first: 100 m, then 1.5 km
        assert page.evaluate("window.__xss") is None
        warm = today.nth(1).inner_text()
        assert "送温暖" in warm and "远一点的驿站" in warm and "进行中" in warm
        assert "暖宝宝、姜茶（送完即止）" in warm and "1.5 公里" in warm
        week = page.locator("#events-week .event-card")
        assert week.locator(".name").all_text_contents() == ["免费理发"]
        assert "万州免费餐" not in page.locator("#panel-events").inner_text()
        assert not page.locator("#map").is_visible()
        bus = page.locator("#mobile-list .mobile-card")
        bus.first.wait_for()
        assert bus.count() == 1
        assert "流动驿站一号" in bus.inner_text() and "较场口" in bus.inner_text()
        assert "在这里" in bus.locator(".stop").first.inner_text()
        shot(page, "events-tab")
        today.nth(1).get_by_role("button", name="导航").click()
        dialog = page.locator("#nav-dialog")
        assert dialog.is_visible() and "远一点的驿站" in dialog.inner_text()
        assert "uri.amap.com" in (page.locator("#nav-amap").get_attribute("href") or "")
        page.locator("#nav-dialog [data-close]").click()
        page.get_by_role("tab", name="驿站").click()
        assert page.locator("#map").is_visible()
        assert any("/v1/events?near=" in u for u in watch.api)
        watch.assert_clean()
    finally:
        context.close()
