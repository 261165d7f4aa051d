"""The planners' dashboard and report in Debian's Chromium at 1366×768: they render, the
charts show, the tables sort, nothing is fetched from elsewhere and nothing is refused."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from geodata.hours import TZ
from stations.services.events import load_sample_events
from stations.services.sample import load_demo
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.browser import ARTIFACTS

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

TARGETS = (
    '[[target]]\ndistrict = "500103"\nmetric = "listed_all_rate"\nvalue = 0.99\n'
    "deadline = 2020-01-01\n"
    '[[target]]\nmetric = "coverage"\nvalue = 0.5\ndeadline = 2030-06-30\nnote = "双15"\n'
)


def _setup(store, districts):
    load_demo(store, districts, seed=5, total=600)
    load_sample_events(store, list(store.iter_all()), seed=5, at=datetime.now(TZ))
    make_account(store, districts, role="admin", code=None, name="重庆市总工会")
    make_account(store, districts, code="500103", name="渝中区总工会")


def _rates(page, column: int) -> list[str]:
    cells = page.locator(f"table[data-table='各区县指标'] tbody tr td:nth-child({column})")
    return [c.get_attribute("data-sort") or "" for c in cells.all()]


def test_the_dashboard_and_the_report_in_chromium(browser, tmp_path, districts):
    targets = tmp_path / "targets.toml"
    targets.write_text(TARGETS, encoding="utf-8")
    env = {"YIZHAN_TARGETS_FILE": str(targets)}
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup, env=env) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "city")
        page.get_by_role("link", name="规划看板", exact=True).click()
        page.wait_for_load_state("load")
        table = page.locator("table[data-table='各区县指标']")
        assert table.locator("tbody tr").count() == 38
        assert table.locator("tfoot td").first.inner_text() == "全市"
        assert page.locator(".overdue-box").inner_text().startswith("逾期目标 1 项")
        # Sorting by 三家均上图率 puts the laggards first, then the leaders.
        header = table.locator("thead th").nth(8)
        assert header.inner_text().startswith("三家均上图率")
        header.get_by_role("button").click()
        values = [float(v) for v in _rates(page, 9) if v]
        assert values == sorted(values) and header.get_attribute("aria-sort") == "ascending"
        header.get_by_role("button").click()
        values = [float(v) for v in _rates(page, 9) if v]
        assert values == sorted(values, reverse=True)
        chart = page.locator("figure.chart svg").first
        chart.scroll_into_view_if_needed()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 800 and box["height"] > 200
        assert page.locator("figure.chart svg").count() == 4
        page.evaluate("window.scrollTo(0, 0)")
        screenshot(page, "dashboard")
        events = page.locator("figure.chart", has_text="活动（按区县）")
        events.scroll_into_view_if_needed()
        box = events.bounding_box()
        assert box is not None and box["height"] > 600  # a bar per district, names legible
        screenshot(page, "dashboard-events")

        page.goto(f"{live.base}/console/gaps?district=500103")
        assert page.locator("table.gaps-table tbody tr").count() == 10
        screenshot(page, "gaps")
        # By the sample demand layer, five picks within 500 m, chosen on the page.
        page.select_option("select[name=radius_m]", "500")
        page.select_option("select[name=n]", "5")
        page.select_option("select[name=demand]", index=1)
        page.get_by_role("button", name="重新计算").click()
        page.wait_for_url("**/console/gaps?**demand=**")
        assert page.locator("table.gaps-table tbody tr").count() == 5
        assert "需求" in page.locator("p.as-of").inner_text()
        amap = page.get_by_role("link", name="高德地图看此处").first
        assert amap.get_attribute("href").startswith("https://uri.amap.com/marker?position=")
        screenshot(page, "gaps-demand")

        page.goto(f"{live.base}/console/report")
        assert page.locator("h1").inner_text().startswith("工会驿站规划报表（全市，")
        assert page.locator("figure.chart svg").count() == 4
        assert page.locator("svg.district-map path").count() == 38
        screenshot(page, "report")
        # Printed: A4 landscape (297 mm at 96 dpi is 1123 px), the console's header hidden.
        page.set_viewport_size({"width": 1123, "height": 794})
        page.emulate_media(media="print")
        assert not page.locator("header.topbar").is_visible()
        table = page.locator("table[data-table='各区县指标']").bounding_box()
        assert table is not None and table["x"] >= 0 and table["x"] + table["width"] <= 1123
        page.screenshot(path=str(ARTIFACTS / "console-report-print.png"))
        pdf = page.pdf(format="A4", landscape=True, print_background=True)
        (ARTIFACTS / "console-report.pdf").write_bytes(pdf)
        pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
        assert pdf.startswith(b"%PDF") and 1 <= pages <= 5, pages
        page.emulate_media(media="screen")
    assert log.errors == [] and log.blocked == []


def test_a_district_union_sees_its_own_district_in_chromium(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.goto(f"{live.base}/console/dashboard")
        rows = page.locator("table[data-table='各区县指标'] tbody tr")
        assert rows.count() == 1 and rows.first.locator("td").first.inner_text() == "渝中区"
        assert page.locator("figure.chart svg").count() == 2
        page.locator("figure.chart", has_text="活动（按区县）").scroll_into_view_if_needed()
        screenshot(page, "dashboard-district")
        answer = page.goto(f"{live.base}/console/dashboard?district=500101")
        assert answer is not None and answer.status == 403
        assert "您只能查看本区县的规划数据" in page.locator("main").inner_text()
        screenshot(page, "dashboard-forbidden")
    # The refused page is a 403, which Chromium logs; nothing else may be.
    assert log.errors == [
        "Failed to load resource: the server responded with a status of 403 (Forbidden)"
    ]
    assert log.blocked == []
