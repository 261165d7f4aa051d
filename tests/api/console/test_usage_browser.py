"""使用情况 in Debian's Chromium at 1366×768: three charts, the table, the filters work, nothing
fetched from elsewhere, nothing refused by the CSP."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.feedback import RateLimit
from stations.domain.visits import OCCUPATIONS, NewVisit
from stations.services.sample import load_demo
from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

NO_LIMITS = (RateLimit("client", 10**6, 3600), RateLimit("station", 10**6, 3600))


def _setup(store, districts):
    load_demo(store, districts, seed=5, total=200)
    make_account(store, districts, role="admin", code=None, name="重庆市总工会")
    make_account(store, districts, code="500103", name="渝中区总工会")
    rng = random.Random(7)
    ids = [s.id for s in store.iter_all()]
    now = datetime.now(TZ)
    # lunch and evening peaks, more riders than anyone else
    weights = (50, 15, 10, 5, 8, 4)
    for i in range(1500):
        hour = rng.choice((11, 12, 12, 13, 17, 18, 18, 19, 8, 15, 21))
        at = (now - timedelta(days=rng.randrange(30))).replace(hour=hour, minute=rng.randrange(60))
        occupation = rng.choices(OCCUPATIONS, weights)[0]
        v = NewVisit(station_id=rng.choice(ids), occupation=occupation, client_hash=f"c{i}", at=at)
        store.add_visit(v, dedupe_s=1, limits=NO_LIMITS, keep_s=10**9)


def test_the_usage_page_in_chromium(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "city")
        page.get_by_role("link", name="使用情况", exact=True).click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "使用情况：全市"
        assert page.locator("#usage-total").inner_text() == "1500"
        assert page.locator("figure.chart svg").count() == 3
        first = page.locator("figure.chart svg").first.bounding_box()
        assert first is not None and first["width"] > 1000 and first["height"] > 200
        assert page.locator("#by-occupation tbody tr").count() == 6
        screenshot(page, "usage")

        page.get_by_label("区县", exact=True).select_option(label="渝中区")
        page.get_by_role("button", name="查看").click()
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text() == "使用情况：渝中区"
        district_total = int(page.locator("#usage-total").inner_text())
        assert 0 < district_total < 1500
        assert page.get_by_label("驿站", exact=True).locator("option").count() > 1
    assert log.errors == [] and log.blocked == []

    with (
        live_console(tmp_path / "r2.sqlite3", districts, setup=_setup) as live,
        new_page(browser) as (page, log),
    ):
        sign_in(page, live.base, "yz500103")
        page.goto(f"{live.base}/console/usage")
        assert page.locator("h1").inner_text() == "使用情况：渝中区"
        assert page.get_by_label("区县", exact=True).count() == 0
        screenshot(page, "usage-district")
    assert log.errors == [] and log.blocked == []
