"""The coverage map in Debian Chromium: loads offline, right count, layers toggle, popups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from geodata.crs import from_wgs84
from stations.storage.sqlite import SQLiteStore
from tests.browser import PageLog, block_external, screenshot, tile_provider_of
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, make_station
from tests.live import Server, serve

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

EVIL = "<img src=x onerror=window.__xss=1>驿站"
SCRIPT_NAME = "<script>window.__xss=2</script>站"
YUZHONG = "500103"
NIGHT_STATION = (JIEFANGBEI[0] + 0.004, JIEFANGBEI[1] + 0.002)  # also in 渝中区
PLANNED = (JIEFANGBEI[0] - 0.004, JIEFANGBEI[1] - 0.001)


@pytest.fixture(scope="module")
def server(tmp_path_factory, districts) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("maps") / "r.sqlite3"
    named = [(JIEFANGBEI, EVIL), (GUANYINQIAO, SCRIPT_NAME), (WANZHOU, "万州站")]
    with SQLiteStore(db) as store:
        for i, ((lon, lat), name) in enumerate(named):
            store.create(
                make_station(
                    districts,
                    owner="industry:transport",
                    external_id=f"S{i}",
                    name=name,
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
                lon=NIGHT_STATION[0],
                lat=NIGHT_STATION[1],
                hours="24/7",
                self_service_24h=True,
                entry_methods="qr",
            ),
            actor="t",
        )
        store.create(
            make_station(
                districts,
                owner="industry:transport",
                external_id="P",
                name="筹建站",
                lon=PLANNED[0],
                lat=PLANNED[1],
                status="planned",
            ),
            actor="t",
        )
    with serve(f"sqlite:///{db}") as s:
        yield s


def open_map(
    browser: Any, url: str, viewport: tuple[int, int] = (1200, 800)
) -> tuple[Any, PageLog, list[str]]:
    """The page once its layers are drawn, what it did, and any dialogs it opened."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    log = PageLog()
    block_external(page, log)
    dialogs: list[str] = []

    def dialog(d: Any) -> None:
        dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", dialog)
    page.goto(url)
    # Functions, not expressions: Playwright evaluates an expression with eval, which the
    # page's Content-Security-Policy rightly refuses.
    page.wait_for_function("() => window.yizhanReady === true", timeout=20_000)
    return page, log, dialogs


def click_at(page: Any, lon: float, lat: float, *, zoom: int = 16) -> None:
    """Centre the map on lon/lat (as drawn) and click there, with no popup open before."""
    page.evaluate("() => { window.yizhanMap.closePopup(); }")
    page.wait_for_function("() => document.querySelectorAll('.leaflet-popup').length === 0")
    page.evaluate(
        f"() => {{ window.yizhanMap.setView([{lat}, {lon}], {zoom}, {{animate: false}}); }}"
    )
    page.wait_for_timeout(200)
    x, y = screen_point(page, lon, lat)
    page.mouse.click(x, y)


def screen_point(page: Any, lon: float, lat: float) -> tuple[float, float]:
    return page.evaluate(
        f"(() => {{ const p = window.yizhanMap.latLngToContainerPoint([{lat}, {lon}]);"
        " const r = window.yizhanMap.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; })()"
    )


DRAWN = "Object.values(window.yizhanLayers).reduce((n, g) => n + g.getLayers().length, 0)"
SHOWN = (
    "Object.values(window.yizhanLayers).filter(g => window.yizhanMap.hasLayer(g))"
    ".reduce((n, g) => n + g.getLayers().length, 0)"
)


def test_map_loads_offline_with_every_station_and_no_errors(server, browser):
    page, log, dialogs = open_map(browser, f"{server.base}/maps/coverage")
    counts = page.evaluate("window.yizhanCounts")
    assert counts == {"stations": 5, "self_service": 1, "not_in_service": 1}
    assert page.evaluate(DRAWN) == 5
    assert page.evaluate(SHOWN) == 5
    assert log.errors == [] and dialogs == []
    # Only map tiles were asked of the outside world (stubs here); no CDN assets.
    assert log.blocked == []
    assert {tile_provider_of(u) for u in log.tiles} == {"osm"}
    screenshot(page, "coverage-map")
    page.close()


def test_layers_toggle_from_the_layer_control(server, browser):
    page, log, _ = open_map(browser, f"{server.base}/maps/coverage")
    has = "window.yizhanMap.hasLayer(window.yizhanLayers['24小时自助驿站'])"
    assert page.evaluate(has) is True
    page.get_by_text("24小时自助驿站", exact=True).last.click()
    assert page.evaluate(has) is False
    assert page.evaluate(SHOWN) == 4
    page.get_by_text("24小时自助驿站", exact=True).last.click()
    assert page.evaluate(has) is True
    assert page.evaluate(SHOWN) == 5
    assert log.errors == []
    page.close()


def test_one_district_colouring_at_a_time_with_its_legend(server, browser):
    page, log, _ = open_map(browser, f"{server.base}/maps/coverage?district={YUZHONG}")
    shown = (
        "Object.keys(window.yizhanMetrics)"
        ".filter(k => window.yizhanMap.hasLayer(window.yizhanMetrics[k]))"
    )
    assert page.evaluate(shown) == ["1000 米覆盖率"]
    assert "1000 米覆盖率" in page.locator("#yz-legend-metric").inner_text()
    page.get_by_label("三家上图率").check()
    assert page.evaluate(shown) == ["三家上图率"]
    assert "区县着色：三家上图率" in page.locator("#yz-legend-metric").inner_text()
    page.get_by_label("不着色").check()
    assert page.evaluate(shown) == ["不着色"]
    assert page.locator("#yz-legend-metric").inner_text() == ""
    # Areas switched on later are drawn under the stations: a station still takes the click.
    page.get_by_label("三家上图率").check()
    page.get_by_text("1000 米外（未覆盖）", exact=True).click()
    click_at(page, *JIEFANGBEI)
    popup = page.locator(".leaflet-popup-content .yz-popup")
    popup.wait_for(timeout=5_000)
    assert popup.locator("b").inner_text() == EVIL
    assert log.errors == []
    page.close()


def test_popup_shows_user_text_as_text(server, browser):
    page, log, dialogs = open_map(browser, f"{server.base}/maps/coverage")
    for (lon, lat), name in ((JIEFANGBEI, EVIL), (GUANYINQIAO, SCRIPT_NAME)):
        click_at(page, lon, lat)
        popup = page.locator(".leaflet-popup-content .yz-popup")
        popup.wait_for(timeout=5_000)
        assert popup.locator("b").inner_text() == name
        assert (
            page.locator(".leaflet-popup-content img, .leaflet-popup-content script").count() == 0
        )
        text = popup.inner_text()
        assert "开放时间：" in text and "上图：" in text and "设施：" in text
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    screenshot(page, "coverage-map-popup")
    click_at(page, *PLANNED)
    assert "状态：筹建中" in page.locator(".leaflet-popup-content .yz-popup").inner_text()
    assert log.errors == []
    page.close()


def test_district_tooltip_shows_between_the_stations(server, browser, districts):
    page, log, _ = open_map(browser, f"{server.base}/maps/coverage?district={YUZHONG}")
    inside = districts.get(YUZHONG).geometry.representative_point()
    page.evaluate(
        f"() => {{ window.yizhanMap.setView([{inside.y}, {inside.x}], 14, {{animate: false}}); }}"
    )
    page.wait_for_timeout(200)
    page.mouse.move(*screen_point(page, inside.x, inside.y))
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for(timeout=5_000)
    assert "渝中区" in tooltip.inner_text()
    # The colouring's tooltip, not the outline's: the district's value shows too.
    assert "1000 米覆盖率" in tooltip.inner_text()
    assert log.errors == []
    page.close()


def test_amap_tiles_draw_the_stations_in_gcj02(server, browser):
    page, log, _ = open_map(browser, f"{server.base}/maps/coverage?tiles=amap&district={YUZHONG}")
    glon, glat = (float(v) for v in from_wgs84(*JIEFANGBEI, crs="gcj02"))
    drawn = page.evaluate(
        "Object.values(window.yizhanLayers).flatMap(g => g.getLayers())"
        ".map(m => [m.getLatLng().lng, m.getLatLng().lat])"
    )
    assert [round(glon, 6), round(glat, 6)] in [[round(x, 6), round(y, 6)] for x, y in drawn]
    assert log.blocked == []
    assert {tile_provider_of(u) for u in log.tiles} == {"amap"}
    click_at(page, glon, glat)
    assert page.locator(".leaflet-popup-content b").inner_text() == EVIL
    screenshot(page, "coverage-map-amap")
    assert log.errors == []
    page.close()


# Page rectangles of the legend, of each control over the map, and of each district as drawn.
LAYOUT_JS = """
() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const map = window.yizhanMap, origin = map.getContainer().getBoundingClientRect();
  const districts = [];
  map.eachLayer((l) => {
    if (l.feature && l.feature.properties && l.feature.properties.name && l.getBounds
        && l.options.fill === false) {
      const b = l.getBounds();
      const sw = map.latLngToContainerPoint(b.getSouthWest());
      const ne = map.latLngToContainerPoint(b.getNorthEast());
      districts.push({name: l.feature.properties.name, left: origin.left + sw.x,
                      right: origin.left + ne.x, top: origin.top + ne.y,
                      bottom: origin.top + sw.y});
    }
  });
  const legend = document.getElementById("yz-legend");
  return {
    legend: box(legend), legendOpen: legend.open,
    controls: Array.from(document.querySelectorAll(
      ".leaflet-top .leaflet-control, .leaflet-left .leaflet-control"))
      .filter((c) => c.getBoundingClientRect().width > 0).map(box),
    districts: districts,
    view: box(map.getContainer()),
    scale: Array.from(document.querySelectorAll(".leaflet-control-scale-line"))
      .map((e) => e.textContent),
  };
}
"""


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


def test_on_a_laptop_no_district_lies_under_the_legend_or_a_control_and_the_scale_is_metric(
    server, browser
):
    page, log, _ = open_map(browser, f"{server.base}/maps/coverage", viewport=(1366, 768))
    layout = page.evaluate(LAYOUT_JS)
    assert len(layout["districts"]) == 38
    assert layout["legendOpen"] is True
    for d in layout["districts"]:
        assert not overlap(layout["legend"], d), f"the legend covers {d['name']}"
        for c in layout["controls"]:
            assert not overlap(c, d), f"a control covers {d['name']}"
        assert d["left"] >= layout["view"]["left"] and d["right"] <= layout["view"]["right"]
        assert d["top"] >= layout["view"]["top"] and d["bottom"] <= layout["view"]["bottom"]
    # One scale bar, in metres or kilometres only (Leaflet's default adds miles and feet).
    assert len(layout["scale"]) == 1
    assert re.fullmatch(r"\d+ (m|km)", layout["scale"][0]), layout["scale"]
    screenshot(page, "coverage-map-1366x768")
    assert log.errors == []
    page.close()


def test_on_a_phone_the_legend_starts_folded_and_opens_with_a_tap(server, browser):
    page, log, _ = open_map(browser, f"{server.base}/maps/coverage", viewport=(360, 740))
    legend = page.locator("#yz-legend")
    assert page.evaluate("document.getElementById('yz-legend').open") is False
    screenshot(page, "coverage-map-360")
    # The layer lists are folded too, and unfold with a tap on their icon.
    expanded = page.locator(".leaflet-control-layers-expanded")
    assert expanded.count() == 0
    layout = page.evaluate(LAYOUT_JS)
    for d in layout["districts"]:
        for c in [layout["legend"], *layout["controls"]]:
            assert not overlap(c, d), f"the legend or a control covers {d['name']}"
    page.locator(".leaflet-control-layers-toggle").first.click()
    assert expanded.count() == 1
    legend.locator("summary").click()
    assert page.evaluate("document.getElementById('yz-legend').open") is True
    assert "三家均精准上图" in legend.inner_text()
    screenshot(page, "coverage-map-360-unfolded")
    assert log.errors == []
    page.close()
