"""The 活动 page in Debian's Chromium at 1366×768: a clerk's refused form shows each problem
beside its field with nothing lost, then a weekly event is saved and listed. Nothing fetched
from elsewhere, nothing refused by the CSP."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.builders import make_station

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def _setup(store, districts):
    store.create(make_station(districts, external_id="YZ-1", name="解放碑工会驿站"), actor="t")
    store.create(
        make_station(districts, external_id="YZ-2", name="较场口工会驿站", lon=106.5790),
        actor="t",
    )
    make_account(store, districts, code="500103", name="渝中区总工会")


def test_a_clerk_fixes_a_refused_event_and_saves_it(browser, tmp_path, districts):
    start = (datetime.now(TZ) + timedelta(days=1)).replace(hour=11, minute=30)
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.get_by_role("link", name="活动", exact=True).click()
        page.wait_for_load_state("load")
        assert "还没有活动" in page.locator("#no-events").inner_text()
        page.get_by_label("活动名称").fill("每周免费午餐")
        page.get_by_label("类别").select_option(label="免费餐")
        page.get_by_label("驿站").select_option(label="较场口工会驿站（YZ-2）")
        page.get_by_label("开始").fill(f"{start:%Y-%m-%dT%H:%M}")
        page.get_by_label("结束").fill(f"{start:%Y-%m-%dT}10:00")  # before the start
        page.get_by_label("每周", exact=True).check()
        page.get_by_label("提供什么").fill("盒饭 100 份")
        page.get_by_role("button", name="保存").click()
        page.wait_for_load_state("load")
        errors = page.locator(".field-error").all_inner_texts()
        assert "结束时间应晚于开始时间" in errors
        assert "每周重复的活动请选择星期几" in errors
        assert page.get_by_label("活动名称").input_value() == "每周免费午餐"
        assert page.get_by_label("提供什么").input_value() == "盒饭 100 份"
        screenshot(page, "events-refused")
        page.get_by_label("结束").fill(f"{start:%Y-%m-%dT}13:00")
        page.get_by_label("周三").check()
        page.get_by_label("周五").check()
        page.get_by_label("截止日期（每周）").fill(f"{start + timedelta(days=60):%Y-%m-%d}")
        page.get_by_label("送完即止").check()
        page.get_by_role("button", name="保存").click()
        page.wait_for_load_state("load")
        assert "已保存" in page.locator(".banner.notice").inner_text()
        row = page.locator("table#events tbody tr")
        assert row.count() == 1
        text = row.inner_text()
        assert "每周免费午餐" in text and "较场口工会驿站" in text and "每周三五" in text
        assert "送完即止" in text
        shot = screenshot(page, "events")
        assert shot.stat().st_size > 10_000
        # The refused form is answered 422 (the page with its errors): the one failed load.
        assert [e for e in log.errors if "422" not in e] == []
        assert log.blocked == []
