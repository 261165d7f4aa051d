"""The coverage map by walking time in Debian Chromium (1366x768, a planner's screen): the
service areas are drawn as polygons along the river city's streets, the far bank left
uncovered, the legend and layers in Chinese."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from stations.storage.sqlite import SQLiteStore
from tests.browser import PageLog, block_external, screenshot
from tests.builders import make_station
from tests.live import Server, serve
from tests.osm_city import import_city, xy_to_lonlat

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

YUZHONG = "500103"
WEST = (390.0, 240.0)
POLYGONS = (
    "Object.values(window.yizhanMap._layers).filter(l => l.feature && l.feature.geometry"
    " && l.feature.geometry.type.indexOf('Polygon') >= 0).map(l => l.feature.geometry.type)"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory, districts) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("travel-map")
    db = tmp / "r.sqlite3"
    with SQLiteStore(db) as store:
        import_city(store, tmp, "walk")
        lon, lat = xy_to_lonlat(*WEST)
        store.create(
            make_station(districts, external_id="W1", name="西岸驿站", lon=lon, lat=lat),
            actor="t",
        )
    with serve(f"sqlite:///{db}") as s:
        yield s


def open_map(browser: Any, url: str) -> tuple[Any, PageLog]:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    log = PageLog()
    block_external(page, log)
    page.goto(url)
    page.wait_for_function("() => window.yizhanReady === true", timeout=30_000)
    return page, log


def pixel(path: Any, page: Any, xy: tuple[float, float]) -> tuple[int, int, int]:
    lon, lat = xy_to_lonlat(*xy)
    x, y = page.evaluate(
        f"(() => {{ const p = window.yizhanMap.latLngToContainerPoint([{lat}, {lon}]);"
        " const r = window.yizhanMap.getContainer().getBoundingClientRect();"
        " return [r.left + p.x, r.top + p.y]; })()"
    )
    with Image.open(path) as im:
        found = im.convert("RGB").getpixel((round(x), round(y)))
    assert isinstance(found, tuple)
    return int(found[0]), int(found[1]), int(found[2])


def test_the_map_draws_the_walking_service_areas(server, browser):
    url = f"{server.base}/maps/coverage?travel=walk&minutes=15&district={YUZHONG}&metric=coverage"
    page, log = open_map(browser, url)
    assert log.errors == [] and log.blocked == []
    kinds = page.evaluate(POLYGONS)
    assert any(k in ("Polygon", "MultiPolygon") for k in kinds)
    legend = page.locator("#yz-legend").inner_text()
    assert "沿路网步行 15 分钟" in legend
    assert page.get_by_text("步行 15 分钟内可达", exact=True).count() == 1
    # Close on the city, districts not coloured: the west bank near the station is shaded,
    # the far east bank not.
    page.get_by_label("不着色").check()
    lon, lat = xy_to_lonlat(550.0, 500.0)
    page.evaluate(f"() => {{ window.yizhanMap.setView([{lat}, {lon}], 15, {{animate: false}}); }}")
    page.wait_for_timeout(500)
    path = screenshot(page, "coverage-map-walk-15min")
    west, east = pixel(path, page, (300.0, 260.0)), pixel(path, page, (850.0, 260.0))
    river = pixel(path, page, (550.0, 500.0))  # mid-river: no way within walk-in, bare tile
    # Covered is drawn green (#1a9850 at 35 %) over the tiles; the far bank is bare tile.
    assert max(abs(a - b) for a, b in zip(east, river, strict=True)) <= 8, (east, river)
    assert river[0] - west[0] > 40 and west[1] - west[0] > river[1] - river[0] + 20, (
        west,
        river,
    )
    page.close()
