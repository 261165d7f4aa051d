"""星级评定 in Debian's Chromium at 1366×768: the stars page with its reasons and
candidates, the city union's 重新评定, the dashboard's operations columns, the station
form's code and poster link. Nothing fetched from elsewhere, nothing refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.stars import load_rule
from stations.readmodel.index import StationIndex
from stations.services.stars import compute_stars
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.builders import make_station
from tests.stations import ops_rows

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

FULL = "热水、微波炉、饮用水、手机充电、厕所、座椅、空调、急救药箱"
PASSED = {"open_as_posted": True, "hygiene": True, "first_aid": True, "fire_safety": True}


def _setup(store, districts):
    now = datetime.now(TZ)
    best = store.create(
        make_station(districts, external_id="YZ-1", name="解放碑工会驿站", amenities=FULL),
        actor="t",
    )
    late = store.create(
        make_station(districts, external_id="YZ-2", name="较场口工会驿站", lon=106.5790),
        actor="t",
    )
    odd = store.create(
        make_station(districts, external_id="YZ-3", name="<img src=x onerror=alert(1)>驿站"),
        actor="t",
    )
    # Checked once (a station nobody checked is 未评定, not listed with stars).
    ops_rows.inspection(store, odd.id, {"hygiene": False}, at=now - timedelta(days=30))
    for days in (20, 90, 200):
        ops_rows.inspection(store, best.id, PASSED, at=now - timedelta(days=days))
    for i in range(12):
        ops_rows.rating(store, best.id, 5 if i % 4 else 4, client=f"b{i}")
    for d in range(1, 29):
        day = (now - timedelta(days=d)).date().isoformat()
        ops_rows.visits(store, best.id, day, 12)
    bad = ops_rows.inspection(
        store, late.id, {**PASSED, "open_as_posted": False}, at=now - timedelta(days=3)
    )
    ops_rows.rectification(store, late.id, bad, due=now - timedelta(days=1))
    for _ in range(3):
        ops_rows.case(store, late.id, opened=now - timedelta(days=4), due=now - timedelta(days=2))
    ops_rows.rating(store, late.id, 2, comment="不开门", client="x")
    rule = load_rule()
    # A generous rule for the setup only (no 上图 here), so that the best is a candidate.
    generous = replace(rule, thresholds=(70.0, 60.0, 45.0, 30.0))
    compute_stars(store, StationIndex.build(store), generous, now)
    make_account(store, districts, role="admin", code=None, name="重庆市总工会")
    make_account(store, districts, code="500103", name="渝中区总工会")


def test_stars_page_dashboard_and_station_form_in_chromium(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.get_by_role("link", name="星级评定", exact=True).click()
        page.wait_for_load_state("load")
        rows = page.locator("table#stars tbody tr")
        assert rows.count() == 3
        assert page.locator("table#candidates tbody tr").count() == 1
        assert "解放碑工会驿站" in page.locator("table#candidates").inner_text()
        late = page.locator("table#stars tbody tr", has_text="较场口工会驿站")
        late.locator("summary").click()
        reasons = late.locator("ul.reasons").inner_text()
        assert "未按公示时间开放 1 次" in reasons and "超期未答复的诉求 3 件" in reasons
        page.locator("table#stars tbody tr").first.locator("summary").click()
        assert page.get_by_role("button", name="重新评定").count() == 0
        screenshot(page, "stars")

        page.locator("table#candidates a", has_text="解放碑工会驿站").click()
        page.wait_for_load_state("load")
        ops = page.locator("#station-ops")
        assert "驿站编号" in ops.inner_text() and "5 星" in (
            ops.locator(".stars").get_attribute("aria-label") or ""
        )
        assert "/poster.pdf?download=1" in (
            page.locator("#poster-link").get_attribute("href") or ""
        )
        assert page.locator("#inspect-link").inner_text() == "抽查"
        assert "骑手签到" in ops.inner_text()  # yesterday's check-ins, after the checks
        screenshot(page, "station-form-ops")

        page.goto(f"{live.base}/console/dashboard")
        table = page.locator("table[data-table='各区县指标']")
        heads = table.locator("thead th").all_inner_texts()
        for label in ("抽查次数（365天）", "逾期整改", "逾期诉求", "平均评分", "签到人次（30天）"):
            assert any(h.startswith(label) for h in heads), label
        screenshot(page, "dashboard-ops")

        page.context.clear_cookies()
        sign_in(page, live.base, "city")
        page.goto(f"{live.base}/console/stars")
        page.get_by_role("button", name="重新评定").click()
        page.wait_for_load_state("load")
        assert "已重新评定全部驿站的星级" in page.content()
        screenshot(page, "stars-city")
        assert log.errors == [] and log.blocked == [], (log.errors, log.blocked)
