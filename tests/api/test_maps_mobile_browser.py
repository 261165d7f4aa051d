"""The coverage map with a mobile station in Debian Chromium (1366×768): its stops a layer
of their own, the bus where it stands at the map's time, on OSM and on Amap (GCJ-02)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest

from geodata.crs import from_wgs84
from stations.storage.sqlite import SQLiteStore
from tests.api.test_maps_browser import click_at, open_map
from tests.browser import screenshot
from tests.builders import make_station
from tests.live import Server, serve
from tests.mobile_data import MARKET, WEDNESDAY_11, make_bus

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory, districts) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("maps_mobile") / "r.sqlite3"
    with SQLiteStore(db) as store:
        store.create(
            make_station(districts, external_id="F1", lon=106.55, lat=29.555, hours="24小时"),
            actor="t",
        )
        store.create(make_bus(districts), actor="t")
    with serve(f"sqlite:///{db}") as s:
        yield s


def _url(server, **params):
    query = "&".join(f"{k}={quote(v)}" for k, v in params.items())
    return f"{server.base}/maps/coverage?district=500103&{query}"


def test_the_bus_stands_at_its_stop_on_the_map(server, browser):
    page, log, dialogs = open_map(browser, _url(server, at=WEDNESDAY_11), viewport=(1366, 768))
    assert page.evaluate("window.yizhanStops") == {"stops": 2, "standing": 1}
    assert page.evaluate("window.yizhanCounts")["stations"] == 1  # the base is not drawn
    assert page.get_by_text("流动驿站停靠点", exact=True).count() >= 1
    screenshot(page, "coverage-map-mobile")
    click_at(page, MARKET.lon, MARKET.lat)
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    text = popup.inner_text()
    assert MARKET.name in text and "流动驿站一号车" in text and "此刻在此停靠" in text
    assert "至 12-02 14:00" in text
    screenshot(page, "coverage-map-mobile-popup")
    assert log.errors == [] and dialogs == [] and log.blocked == []
    page.close()


def test_on_amap_the_stop_is_shifted_to_gcj02(server, browser):
    page, log, _ = open_map(
        browser, _url(server, at=WEDNESDAY_11, tiles="amap"), viewport=(1366, 768)
    )
    glon, glat = from_wgs84(MARKET.lon, MARKET.lat, crs="gcj02")
    click_at(page, float(glon), float(glat))
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert MARKET.name in popup.inner_text()
    assert log.errors == []
    page.close()
