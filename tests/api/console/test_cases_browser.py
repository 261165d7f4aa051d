"""The inbox of cases in Debian's Chromium at 1366×768, as a clerk works it: start a case,
reply and resolve it, the reporter's receipt shows the reply; the overdue tab."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.services.feedback import submit_report
from stations.services.ratings import rate
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.builders import make_station

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def _report(store, station, note, *, hours_ago, address):
    return submit_report(
        store,
        station,
        station.id,
        kind="locked",
        note=note,
        client_address=address,
        salt=b"browser",
        per_client_per_hour=100,
        per_station_per_hour=100,
        at=datetime.now(TZ) - timedelta(hours=hours_ago),
    ).receipt


def test_a_clerk_starts_replies_and_resolves_a_case(browser, tmp_path, districts):
    receipts: dict[str, str] = {}

    def setup(store, districts):
        make_account(store, districts, code="500103", name="渝中区总工会")
        station = store.create(make_station(districts, name="解放碑工会驿站"), actor="t")
        receipts["new"] = _report(
            store, station, "晚上七点门锁着，敲门没人应", hours_ago=1, address="10.0.0.1"
        )
        _report(store, station, "前天就锁着了", hours_ago=30, address="10.0.0.2")
        rate(
            store,
            station,
            station.id,
            stars=1,
            comment="<img src=x onerror=alert(1)> 饮水机没水",
            client_address="10.0.0.3",
            salt=b"browser",
            per_client_per_hour=10,
            per_station_per_hour=10,
            dedupe_days=30,
            deadlines={},
            at=datetime.now(TZ),
        )

    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=setup) as live,
        new_page(browser) as (page, log),
    ):
        base = live.base
        sign_in(page, base, "yz500103")
        page.get_by_role("link", name="反馈与投诉", exact=True).click()
        page.wait_for_load_state("load")
        table = page.locator("#reports")
        assert "晚上七点门锁着" in table.inner_text() and "差评 1★" in table.inner_text()
        overdue_row = page.locator("tr.case", has_text="前天就锁着了")
        assert "已逾期" in overdue_row.inner_text()
        color = overdue_row.locator("td.due").evaluate("e => getComputedStyle(e).color")
        assert color == "rgb(179, 38, 30)"  # red
        screenshot(page, "cases-inbox")

        row = page.locator("tr.case", has_text="晚上七点门锁着")
        row.get_by_role("button", name="开始处理").click()
        page.wait_for_load_state("load")
        assert "已开始处理" in page.locator(".banner.notice").inner_text()
        page.get_by_role("link", name="处理中").click()
        page.wait_for_load_state("load")
        row = page.locator("tr.case", has_text="晚上七点门锁着")
        assert "回复会展示给反馈人" in row.inner_text()
        row.locator("textarea[name=reply]").fill("已联系物业，改为 24 小时开门")
        screenshot(page, "cases-reply")
        row.get_by_role("button", name="回复并标记已解决").click()
        page.wait_for_load_state("load")
        assert "已回复并标记为已解决" in page.locator(".banner.notice").inner_text()
        page.get_by_role("link", name="已解决").click()
        page.wait_for_load_state("load")
        resolved = page.locator("tr.case", has_text="晚上七点门锁着")
        assert "已联系物业" in resolved.inner_text()
        resolved.locator("details.history summary").click()
        assert "处理中" in resolved.locator("details.history").inner_text()
        screenshot(page, "cases-resolved")

        page.goto(f"{base}/v1/feedback/receipts/{receipts['new']}")
        doc = json.loads(page.locator("body").inner_text())
        assert doc["state"] == "resolved" and doc["reply"] == "已联系物业，改为 24 小时开门"
        assert [h["state"] for h in doc["history"]] == ["open", "in_progress", "resolved"]

        page.goto(f"{base}/console/reports?state=overdue")
        table = page.locator("#reports").inner_text()
        assert "前天就锁着了" in table and "晚上七点" not in table
        screenshot(page, "cases-overdue")
    assert log.errors == [] and log.blocked == []
