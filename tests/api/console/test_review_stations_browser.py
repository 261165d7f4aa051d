"""Review (R1) of the station form in Debian's Chromium: a clerk who chose the wrong 坐标系."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from geodata.crs import from_wgs84
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account
from tests.builders import JIEFANGBEI

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def _setup(store, districts):
    make_account(store, districts, code="500103", username="clerk1", name="渝中区总工会")


def test_correcting_the_coordinate_system_keeps_the_numbers_typed(browser, tmp_path, districts):
    """Amap's numbers typed with BD-09 chosen: switching 坐标系 to GCJ-02 must read the same
    numbers as GCJ-02 (marker and 高德坐标 follow), not rewrite them into the wrong place."""
    gx, gy = (round(float(v), 6) for v in from_wgs84(*JIEFANGBEI, crs="gcj02"))
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "clerk1")
        page.goto(f"{live.base}/console/stations/new")
        page.select_option("#f-crs", "bd09")
        page.fill("#f-lon", str(gx))
        page.fill("#f-lat", str(gy))
        page.locator("#f-lat").dispatch_event("change")
        page.wait_for_selector(".pin")
        expect(page.locator("#gcj-value")).not_to_have_text("—")
        wrong = page.locator("#gcj-value").inner_text()
        assert wrong != f"{gx:.6f}, {gy:.6f}"  # read as BD-09: some 700 m off
        page.select_option("#f-crs", "gcj02")
        expect(page.locator("#gcj-value")).to_have_text(f"{gx:.6f}, {gy:.6f}")
        assert page.input_value("#f-lon") == str(gx) and page.input_value("#f-lat") == str(gy)
        expect(page.locator("#position-note")).to_contain_text("数字未改")
        screenshot(page, "review-crs")
    assert log.errors == [] and log.blocked == []


def test_a_pair_pasted_into_the_longitude_box_fills_both(browser, tmp_path, districts):
    """Amap's coordinate picker copies "106.580888,29.554112": pasted into 经度, it is split
    into 经度 and 纬度 and read (GCJ-02 shown), not refused as 不是数字 on saving."""
    gx, gy = (round(float(v), 6) for v in from_wgs84(*JIEFANGBEI, crs="gcj02"))
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "clerk1")
        page.goto(f"{live.base}/console/stations/new")
        page.fill("#f-lon", f"{gx},{gy}")
        page.locator("#f-lon").dispatch_event("change")
        assert page.input_value("#f-lon") == str(gx) and page.input_value("#f-lat") == str(gy)
        expect(page.locator("#gcj-value")).to_have_text(f"{gx:.6f}, {gy:.6f}")
    assert log.errors == [] and log.blocked == []
