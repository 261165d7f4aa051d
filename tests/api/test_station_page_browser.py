"""The station page /s/{code} in Debian's Chromium on a 360 px phone, against `yizhan serve`.

External requests are blocked and console errors (a CSP refusal among them) fail the test.
(a) the page, its poster link, a problem report; (b) checks in, rates 2★ with a comment and
follows the receipt (the endpoints missing is a failure, not a skip).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stations.domain.codes import display_code
from stations.storage.sqlite import SQLiteStore
from tests.api.console.browser import LiveConsole, live_console, new_page
from tests.browser import ARTIFACTS, PageLog, block_external
from tests.builders import JIEFANGBEI, make_station

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

PHONE = {"width": 360, "height": 740}
NAME = "解放碑步行街工会驿站（建行民族路支行）"


def expect(*args: Any, **kwargs: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"station-page-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def live(tmp_path: Path, districts: Any) -> Iterator[tuple[LiveConsole, str, int]]:
    made: dict[str, Any] = {}

    def setup(store: SQLiteStore, districts: Any) -> None:
        made["station"] = store.create(
            make_station(
                districts,
                name=NAME,
                hours="24小时",
                amenities="热水、微波炉、手机充电、厕所、电动车充电",
                entry_methods="staffed",
            ),
            actor="t",
        )

    with live_console(tmp_path / "r.sqlite3", districts, setup=setup) as console:
        station = made["station"]
        yield console, station.code, station.id


@pytest.fixture
def live_limited(tmp_path: Path, districts: Any) -> Iterator[tuple[LiveConsole, str]]:
    """A server that takes one report per address an hour."""
    made: dict[str, Any] = {}

    def setup(store: SQLiteStore, districts: Any) -> None:
        made["station"] = store.create(make_station(districts, name=NAME), actor="t")

    env = {"YIZHAN_FEEDBACK_PER_CLIENT_PER_HOUR": "1"}
    with live_console(tmp_path / "r.sqlite3", districts, setup=setup, env=env) as console:
        yield console, made["station"].code


def _paths(base: str) -> set[str]:
    with urllib.request.urlopen(f"{base}/openapi.json") as r:
        return set(json.load(r)["paths"])


def test_page_poster_link_and_problem_report(browser: Any, live: Any) -> None:
    console, code, _ = live
    with new_page(browser, viewport=PHONE) as (page, log):
        page.goto(f"{console.base}/s/{display_code(code).lower()}")  # typed as on the poster
        assert page.url.endswith(f"/s/{code}")
        expect(page.locator("h1")).to_have_text(NAME)
        expect(page.locator("#hours")).to_contain_text("24小时")
        expect(page.locator("#open-state")).to_contain_text("现在开放")
        expect(page.get_by_role("button", name="外卖配送员")).to_be_visible()
        shot(page, "top")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page is {width} px wide on a 360 px phone"

        poster = page.locator("#poster-link").get_attribute("href")
        with urllib.request.urlopen(console.base + poster) as r:
            assert r.headers["Content-Type"] == "application/pdf"
            assert r.read(5) == b"%PDF-"

        page.get_by_label("门锁着进不去").check()
        page.locator("#report-note").fill("晚上九点门锁着")
        page.get_by_role("button", name="提交", exact=True).click()
        expect(page.locator("#report-message")).to_contain_text("已收到")
        shot(page, "reported")
        assert log.errors == []
        assert log.blocked == []


def test_a_rate_limited_report_says_in_chinese_how_long_to_wait(
    browser: Any, live_limited: Any
) -> None:
    console, code = live_limited
    with new_page(browser, viewport=PHONE) as (page, log):
        page.goto(f"{console.base}/s/{code}")
        send = page.get_by_role("button", name="提交", exact=True)
        send.click()
        expect(page.locator("#report-message")).to_contain_text("已收到")
        send.click()
        expect(page.locator("#report-message")).to_contain_text(
            re.compile(r"提交太频繁了，请 \d+ 分钟后再试。")
        )
        shot(page, "rate-limited")
        assert [e for e in log.errors if "429" not in e] == []
        assert log.blocked == []


def test_check_in_rate_and_follow_the_receipt(browser: Any, live: Any) -> None:
    console, code, _ = live
    paths = _paths(console.base)
    # The endpoints exist now: their absence is a failure, never a skip.
    for needed in (
        "/v1/stations/{station_id}/visits",
        "/v1/stations/{station_id}/ratings",
        "/v1/feedback/receipts/{receipt}",
    ):
        assert needed in paths, needed
    with new_page(browser, viewport=PHONE) as (page, log):
        page.goto(f"{console.base}/s/{code}")
        page.get_by_role("button", name="外卖配送员").click()
        expect(page.locator("#checkin-message")).to_contain_text("签到成功")
        shot(page, "checked-in")

        page.locator("#stars .star").nth(1).click()  # 2 stars
        page.locator("#rate-comment").fill("热水器坏了，一直没人修")
        expect(page.locator("#rate-case-hint")).to_have_text("会转给负责的工会处理并回复")
        page.get_by_role("button", name="提交评价").click()
        receipt = page.locator("#rate-message a.receipt-link")
        expect(receipt).to_be_visible()
        shot(page, "rated")
        expect(page.locator("#receipts a")).to_have_count(1)

        receipt.click()
        page.wait_for_url("**/s/receipt/*")
        expect(page.locator("#receipt-state")).to_contain_text("待处理")
        expect(page.locator("#receipt-station")).to_have_text(NAME)
        shot(page, "receipt")
        assert log.errors == []
        assert log.blocked == []


def test_rider_page_links_each_result_to_its_page_and_lists_my_receipts(
    browser: Any, live: Any
) -> None:
    console, code, station_id = live
    context = browser.new_context(
        viewport=PHONE,
        locale="zh-CN",
        geolocation={"longitude": JIEFANGBEI[0], "latitude": JIEFANGBEI[1]},
        permissions=["geolocation"],
    )
    kept = [{"receipt": "ABCD-EFGH-JKMN", "station_name": NAME, "what": "门锁着进不去"}]
    context.add_init_script(
        f"window.localStorage.setItem('yizhan.receipts', {json.dumps(json.dumps(kept))});"
    )
    page = context.new_page()
    log = PageLog()
    block_external(page, log)
    try:
        page.goto(f"{console.base}/app")
        link = page.get_by_role("link", name="驿站主页 · 签到 · 评价")
        expect(link).to_have_attribute("href", f"/s/{code}")
        mine = page.locator("#receipts a")
        expect(mine).to_have_attribute("href", "/s/receipt/ABCD-EFGH-JKMN")
        page.locator("#station-" + str(station_id)).scroll_into_view_if_needed()
        shot(page, "rider-list")
        link.click()
        page.wait_for_url(f"**/s/{code}")
        expect(page.locator("h1")).to_have_text(NAME)
        expect(page.locator("#receipts a")).to_have_text("回执 ABCD-EFGH-JKMN")
        assert log.errors == []
        assert log.blocked == []
    finally:
        context.close()
