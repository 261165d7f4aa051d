"""The clerk's stations and riders' reports in Debian's Chromium at 1366×768."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from playwright.sync_api import expect

from geodata.hours import TZ
from stations.services.feedback import submit_report
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.builders import make_station

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

XSS = "<img src=x onerror=alert(1)>"
PLACES = [
    ("YZ-001", "解放碑工会驿站", 106.5772, 29.5570),
    ("YZ-002", "较场口工会驿站", 106.5700, 29.5520),
    # A sample sheet's long name and code: the table keeps the short cells on one line.
    ("500103-00047", "中国农业银行渝中中心支行两路口工会驿站（示例）", 106.5500, 29.5540),
    ("YZ-004", XSS, 106.5650, 29.5600),
]


def _setup(store, districts):
    make_account(store, districts, code="500103", username="clerk1", name="渝中区总工会")
    make_account(store, districts, code="500103", username="clerk2", name="渝中区总工会")
    stations = []
    for code, name, lon, lat in PLACES:
        stations.append(
            store.create(
                make_station(districts, external_id=code, name=name, lon=lon, lat=lat),
                actor="test",
            )
        )
    submit_report(
        store,
        stations[0],
        stations[0].id,
        kind="locked",
        note="晚上七点门锁着，进不去",
        client_address="10.0.0.1",
        salt=b"salt",
        per_client_per_hour=10,
        per_station_per_hour=10,
        at=datetime.now(TZ),
    )


def _station_id(live, name):
    store = live.store()
    try:
        return next(s.id for s in store.iter_all() if s.name == name)
    finally:
        store.close()


def test_station_table_map_form_conflict_and_inbox_in_chromium(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
        new_page(browser) as (other, other_log),
    ):
        base = live.base
        sign_in(page, base, "clerk1")
        # -- the table and its map -------------------------------------------------------
        page.goto(f"{base}/console/stations")
        page.wait_for_selector(".leaflet-interactive")
        assert page.locator("#stations tbody tr").count() == 4
        assert page.locator(".leaflet-interactive").count() == 4
        assert page.get_by_role("link", name=XSS).is_visible()  # the name as text
        assert "全部 4 个" in page.locator("#export").inner_text()
        # The popup shows the name as text, too.
        box = page.locator("#map").bounding_box()
        assert box is not None and box["width"] >= 380
        page.locator(".leaflet-interactive").nth(3).click(force=True)
        page.wait_for_selector(".leaflet-popup-content")
        popup = page.locator(".leaflet-popup-content").inner_text()
        assert any(name in popup for _, name, _, _ in PLACES)
        assert page.locator(".leaflet-popup-content img").count() == 0
        screenshot(page, "stations")
        # At 1366×768 beside the map, the code, district, status and 24-hour cells each
        # take one line (编号 broke as "500103-/00047", 区县 as "渝中/区"): a row stays short.
        lines = page.evaluate(
            """() => [...document.querySelectorAll('#stations tbody td.nowrap:not(.listed)')].map(td => {
                const r = document.createRange(); r.selectNodeContents(td);
                return [td.innerText, new Set([...r.getClientRects()].map(x => Math.round(x.top))).size];
            })"""
        )
        assert lines and all(n == 1 for _, n in lines), lines
        assert "500103-00047" in [text for text, _ in lines]
        page.fill("input[name=q]", "较场口")
        page.get_by_role("button", name="筛选").click()
        page.wait_for_load_state("load")
        assert page.locator("#stations tbody tr").count() == 1
        assert "当前筛选的 1 个" in page.locator("#export").inner_text()
        # The markup-like name: text in the table, the popup and the form.
        page.goto(f"{base}/console/stations?q=onerror")
        page.locator(".leaflet-interactive").first.click(force=True)
        expect(page.locator(".leaflet-popup-content")).to_contain_text(XSS)
        assert page.locator("img[src=x]").count() == 0
        page.get_by_role("link", name=XSS).first.click()
        page.wait_for_load_state("load")
        assert page.input_value("#f-name") == XSS and page.locator("h1").inner_text() == XSS

        # -- the form: live hours, marker drag, GCJ-02 shown -----------------------------
        sid = _station_id(live, "解放碑工会驿站")
        page.goto(f"{base}/console/stations/{sid}")
        page.wait_for_selector(".pin")
        preview = page.locator("#hours-preview")
        expect(preview).to_contain_text("记为")
        page.fill("#f-hours", "每天 8:00-20:00")
        expect(preview).to_contain_text("08:00–20:00")
        assert "记为 08:00-20:00" in preview.inner_text()
        assert "每天 08:00–20:00" in preview.inner_text()
        page.fill("#f-hours", "不定时开放")
        expect(preview).to_have_class(re.compile(r"\bbad\b"))
        assert "不定时开放" in preview.inner_text()
        page.fill("#f-hours", "周一至周五 9:00-18:00")
        expect(preview).to_contain_text("09:00–18:00")
        gcj_before = page.locator("#gcj-value").inner_text()
        lon_before = page.input_value("#f-lon")
        assert gcj_before != "—"
        pin = page.locator(".pin").bounding_box()
        assert pin is not None
        x, y = pin["x"] + pin["width"] / 2, pin["y"] + pin["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y + 20, steps=8)
        page.mouse.move(x + 80, y + 30, steps=8)
        page.mouse.up()
        expect(page.locator("#gcj-value")).not_to_have_text(gcj_before)
        assert page.input_value("#f-lon") != lon_before
        assert page.locator("#district-name").inner_text().endswith("区")
        screenshot(page, "station-form")

        # -- an edit conflict: someone else saves first ----------------------------------
        sign_in(other, base, "clerk2")
        other.goto(f"{base}/console/stations/{sid}")
        other.fill("#f-address", "重庆市渝中区新华路 2 号")
        other.get_by_role("button", name="保存").click()
        other.wait_for_load_state("load")
        assert "已保存" in other.locator(".banner.notice").inner_text()
        page.get_by_role("button", name="保存").click()
        page.wait_for_load_state("load")
        conflict = page.locator("#conflict")
        assert conflict.is_visible()
        assert "重庆市渝中区新华路 2 号" in conflict.inner_text()
        conflict_text = conflict.inner_text()
        assert "clerk2" in conflict_text
        assert page.input_value("#f-hours") == "周一至周五 9:00-18:00"  # the clerk's input kept
        screenshot(page, "conflict")
        page.locator("#apply-mine").click()
        page.wait_for_load_state("load")
        assert "已保存" in page.locator(".banner.notice").inner_text()
        assert page.input_value("#f-address") == "重庆市渝中区新华路 2 号"
        assert "你改动的项目" in conflict_text and "位置" in conflict_text
        store = live.store()
        try:
            moved = store.get(sid)
        finally:
            store.close()
        assert moved.lon > PLACES[0][2] + 1e-4  # dragged east, kept through the conflict

        # -- the reports inbox -----------------------------------------------------------
        page.goto(f"{base}/console/reports")
        assert "晚上七点门锁着" in page.locator("#reports").inner_text()
        page.fill("textarea[name=reply]", "已联系物业，改为 24 小时开门")
        screenshot(page, "reports")
        page.get_by_role("button", name="回复并标记已解决").click()
        page.wait_for_load_state("load")
        assert "已回复并标记为已解决" in page.locator(".banner.notice").inner_text()
        page.goto(f"{base}/console/reports?state=all")
        assert "已联系物业" in page.locator("#reports").inner_text()
    # The refused save is a 409 page, which Chromium logs; nothing else may be.
    assert log.errors == [
        "Failed to load resource: the server responded with a status of 409 (Conflict)"
    ]
    assert other_log.errors == []
    assert log.blocked == [] and other_log.blocked == []


def _setup_bus(store, districts):
    from dataclasses import replace

    from geodata.crs import CoordinateSystem
    from tests.mobile_data import make_bus

    make_account(store, districts, code="500103", username="clerk1", name="渝中区总工会")
    bus = replace(make_bus(districts), source_crs=CoordinateSystem.GCJ02)
    store.create(bus, actor="test")


def test_a_clerk_edits_a_buss_timetable_in_chromium(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup_bus) as live,
        new_page(browser) as (page, log),
    ):
        base = live.base
        sign_in(page, base, "clerk1")
        sid = _station_id(live, "流动驿站一号车")
        page.goto(f"{base}/console/stations/{sid}")
        page.wait_for_selector(".pin")
        assert page.is_checked("input[name=mobile]")
        stops = page.input_value("#f-stops")
        assert stops.splitlines()[0].startswith("大坪市场 | ") and "周三 10:00-14:00" in stops
        box = page.locator("#f-stops").bounding_box()
        assert box is not None and box["width"] >= 250  # a line of a stop fits, at 1366 px
        # The live check: each stop read under the box and drawn on the map, names as text.
        preview = page.locator("#stops-preview")
        expect(preview).to_contain_text("2 个停靠点")
        assert "大坪市场 · 周三 10:00-14:00" in preview.inner_text()
        expect(page.locator(".stop-dot-label")).to_have_count(2)
        assert page.locator(".stop-dot-label").first.inner_text() == "1 大坪市场"
        # Typed on: an overlap is said before saving.
        page.fill("#f-stops", stops.replace("周六 9:00-12:00", "周三 12:00-13:00"))
        expect(preview).to_have_class(re.compile(r"\bbad\b"))
        assert "重叠" in preview.inner_text()
        expect(page.locator(".stop-dot-label")).to_have_count(0)
        page.fill("#f-stops", stops)
        expect(page.locator(".stop-dot-label")).to_have_count(2)
        screenshot(page, "station-form-bus-live")
        # An overlapping stand is refused beside the box, the text kept.
        page.fill("#f-stops", stops.replace("周六 9:00-12:00", "周三 11:00-15:00"))
        page.get_by_role("button", name="保存").click()
        page.wait_for_load_state("load")
        error = page.locator("#mobile-stops .field-error")
        expect(error.first).to_be_visible()
        assert "重叠" in error.first.inner_text() or "同时" in error.first.inner_text()
        assert "周三 11:00-15:00" in page.input_value("#f-stops")
        screenshot(page, "station-form-bus-refused")
        page.fill("#f-stops", stops.replace("周六 9:00-12:00", "周六、日 9:00-12:00"))
        page.get_by_role("button", name="保存").click()
        page.wait_for_load_state("load")
        assert "已保存" in page.locator(".banner.notice").inner_text()
        assert "周六、日 9:00-12:00" in page.input_value("#f-stops")
        page.locator("#mobile-stops").scroll_into_view_if_needed()
        screenshot(page, "station-form-bus")
        store = live.store()
        try:
            saved = store.get(sid)
        finally:
            store.close()
        assert saved.mobile and saved.stops[1].hours == "Sa-Su 09:00-12:00"
    assert [e for e in log.errors if "422" not in e] == []
    assert log.blocked == []
