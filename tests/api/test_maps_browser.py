"""The coverage map in Debian Chromium: loads offline, right count, layers toggle, popups."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stations.sqlite import SQLiteStore
from tests.browser import PageLog, block_external, screenshot
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, make_station
from tests.live import Server, serve

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

EVIL = "<img src=x onerror=alert(1)>驿站"


@pytest.fixture(scope="module")
def server(tmp_path_factory, districts) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("maps") / "r.sqlite3"
    with SQLiteStore(db) as store:
        for i, (lon, lat) in enumerate([JIEFANGBEI, GUANYINQIAO, WANZHOU]):
            store.create(
                make_station(
                    districts,
                    owner="industry:transport",
                    external_id=f"S{i}",
                    name=EVIL if i == 0 else f"站{i}",
                    lon=lon,
                    lat=lat,
                ),
                actor="t",
            )
        store.create(
            make_station(
                districts,
                owner="industry:transport",
                external_id="N",
                name="夜站",
                lon=JIEFANGBEI[0] + 0.01,
                lat=JIEFANGBEI[1],
                hours="24/7",
                self_service_24h=True,
                entry_methods="qr",
            ),
            actor="t",
        )
    with serve(f"sqlite:///{db}") as s:
        yield s


def open_map(browser, url: str):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    log = PageLog()
    block_external(page, log)
    page.goto(url)
    page.wait_for_function("window.yizhanReady === true", timeout=20_000)
    return page, log


def test_map_loads_offline_with_every_station_and_no_errors(server, browser):
    page, log = open_map(browser, f"{server.base}/maps/coverage")
    counts = page.evaluate("window.yizhanCounts")
    assert counts == {"stations": 4, "self_service": 1}
    drawn = page.evaluate(
        "Object.values(window.yizhanLayers).reduce((n, g) => n + g.getLayers().length, 0)"
    )
    assert drawn == 4
    assert log.errors == []
    # Only map tiles were asked of the outside world (and blocked here); no CDN assets.
    assert log.blocked, "the tiles should have been requested"
    assert all("tile.openstreetmap.org" in u for u in log.blocked), log.blocked
    screenshot(page, "coverage-map")
    page.close()


def test_layers_toggle_from_the_layer_control(server, browser):
    page, log = open_map(browser, f"{server.base}/maps/coverage")
    has = "window.yizhanMap.hasLayer(window.yizhanLayers['24小时自助驿站'])"
    assert page.evaluate(has) is True
    page.get_by_text("24小时自助驿站", exact=True).last.click()
    assert page.evaluate(has) is False
    page.get_by_text("24小时自助驿站", exact=True).last.click()
    assert page.evaluate(has) is True
    assert log.errors == []
    page.close()


def test_popup_shows_user_text_as_text(server, browser, districts):
    page, log = open_map(browser, f"{server.base}/maps/coverage?district=500103")
    page.evaluate(f"window.yizhanMap.setView([{JIEFANGBEI[1]}, {JIEFANGBEI[0]}], 16)")
    page.wait_for_timeout(300)
    x, y = page.evaluate(
        f"(() => {{ const p = window.yizhanMap.latLngToContainerPoint([{JIEFANGBEI[1]}, "
        f"{JIEFANGBEI[0]}]); const r = window.yizhanMap.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; })()"
    )
    page.mouse.click(x, y)
    popup = page.locator(".leaflet-popup-content .yz-popup")
    popup.wait_for(timeout=5_000)
    assert popup.locator("b").inner_text() == EVIL
    assert page.locator(".leaflet-popup-content img").count() == 0
    screenshot(page, "coverage-map-popup")
    assert log.errors == []
    page.close()
