"""The rider page in Debian's Chromium on a 360 px phone, against a real `yizhan serve`.

Every request off this machine is blocked and recorded: map tiles get a stub tile (one
colour per provider: the screenshots in test-artifacts/ show which tiles were drawn),
anything else fails the test, since the page must not need a public CDN. Console errors
(a Content-Security-Policy refusal among them) fail the test too.
"""

from __future__ import annotations

import json
import math
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from geodata.crs import from_wgs84, to_wgs84
from geodata.distance import distance_m
from geodata.hours import TZ
from stations.domain.auth import new_token
from stations.domain.model import Station
from stations.storage.sqlite import SQLiteStore
from tests.browser import STUB_TILES, tile_provider_of
from tests.builders import JIEFANGBEI, WANZHOU, make_station
from tests.live import serve

# Playwright is imported when a test runs, not at collection: a module-level importorskip
# would skip the whole module where it is missing, which YIZHAN_REQUIRE_ALL cannot see;
# the browser fixture skips (a failure in CI) instead.
pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def expect(*args: Any, **kwargs: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(*args, **kwargs)


ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
LOCAL = ("http://127.0.0.1", "http://localhost", "data:", "blob:", "about:")
TIANDITU_KEY = "0123456789abcdef0123456789abcdef"  # the server offers all three providers
XSS_NAME = '<img src=x onerror="window.__xss=1">夜班驿站'


def near(dx_m: float, dy_m: float) -> tuple[float, float]:
    """A WGS-84 point about dx_m east and dy_m north of 解放碑."""
    return JIEFANGBEI[0] + dx_m / 96_900, JIEFANGBEI[1] + dy_m / 110_850


def hours_around_now() -> tuple[str, str, str]:
    """Hours open from an hour ago to two hours ahead, hours closed now, and the closing time."""
    h = datetime.now(TZ).hour

    def span(a: int, b: int) -> str:
        return f"Mo-Su {a % 24:02d}:00-{(b % 24) or 24:02d}:00"

    # After 22:00 the closing time is tomorrow's, and the page says so ("营业至 明天 01:00").
    closes = f"{'明天 ' if h + 2 >= 24 else ''}{(h + 2) % 24:02d}:00"
    return span(h - 1, h + 2), span(h + 3, h + 4), closes


@dataclass
class Registry:
    base: str
    stations: dict[str, Station]
    tokens: dict[str, str]
    closes_at: str


@pytest.fixture(scope="module")
def registry(tmp_path_factory, districts) -> Iterator[Registry]:
    """Stations around 解放碑 and one in 万州, served by a real `yizhan serve`."""
    db = tmp_path_factory.mktemp("rider") / "registry.sqlite3"
    open_now, closed_now, closes_at = hours_around_now()
    yuzhong = "district:500103"
    specs: dict[str, dict[str, Any]] = {
        "甲站": dict(
            at=near(150, 0), hours="24/7", amenities="hot_water,microwave,toilet", owner=yuzhong
        ),
        "乙站": dict(at=near(0, 300), hours=open_now, amenities="hot_water", owner=yuzhong),
        # 25 m from 乙站: their pins meet unless the page parts them.
        "己站": dict(at=near(20, 315), hours="24/7", amenities="seating", owner=yuzhong),
        "丙站": dict(
            at=near(-450, 0),
            hours="24/7",
            amenities="phone_charging,toilet,microwave",
            self_service_24h=True,
            entry_methods="qr,face",
            registration_required=True,
            owner="industry:transport",
        ),
        XSS_NAME: dict(at=near(0, -600), hours="24/7", amenities="seating", owner=yuzhong),
        "丁站（现在不开）": dict(at=near(0, -100), hours=closed_now, owner=yuzhong),
        "戊站（暂停）": dict(
            at=near(200, 0), hours="24/7", status="temporarily_closed", owner=yuzhong
        ),
        "万州站": dict(at=WANZHOU, hours="24/7", amenities="toilet", owner="district:500101"),
    }
    tokens = {}
    stored = {}
    with SQLiteStore(db) as store:
        for i, (name, spec) in enumerate(specs.items()):
            lon, lat = spec.pop("at")
            station = make_station(
                districts, external_id=f"R{i}", name=name, lon=lon, lat=lat, **spec
            )
            stored[name] = store.create(station, actor="test")
        for role, code in (("district", "500103"), ("district", "500105")):
            text, record = new_token(role, name=code, code=code, now=datetime.now(TZ))
            store.save_token(record)
            tokens[code] = text
    with serve(f"sqlite:///{db}", env={"YIZHAN_TIANDITU_KEY": TIANDITU_KEY}) as server:
        yield Registry(server.base, stored, tokens, closes_at)


@dataclass
class Watch:
    """What a page did that a test must check: blocked requests, console errors, API calls."""

    blocked: list[tuple[str, str]] = field(default_factory=list)
    tiles: list[str] = field(default_factory=list)  # tile requests, answered with stubs
    errors: list[str] = field(default_factory=list)
    api: list[str] = field(default_factory=list)
    opened: list[tuple[float, str]] = field(default_factory=list)  # map providers' web pages

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        assert self.blocked == [], f"the page needed outside resources: {self.blocked}"

    def tile_providers(self) -> set[str | None]:
        return {tile_provider_of(u) for u in self.tiles}


def new_phone(browser: Any, *, located: bool) -> Any:
    """A phone-sized context; ``located``: location allowed, at 解放碑."""
    options: dict[str, Any] = dict(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
    )
    if located:
        options.update(
            geolocation={"longitude": JIEFANGBEI[0], "latitude": JIEFANGBEI[1]},
            permissions=["geolocation"],
        )
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def phone(browser) -> Iterator[Any]:
    context = new_phone(browser, located=True)
    yield context
    context.close()


@pytest.fixture
def phone_without_location(browser) -> Iterator[Any]:
    context = new_phone(browser, located=False)
    yield context
    context.close()


def open_page(context, base: str, path: str = "/app") -> tuple[Any, Watch]:
    watch = Watch()

    def route(r: Any) -> None:
        url = r.request.url
        if url.startswith(LOCAL):
            if "/v1/" in url:
                watch.api.append(url)
            r.fallback()  # to routes the test set before, else to the server
            return
        if url.startswith(("https://uri.amap.com/", "https://api.map.baidu.com/")):
            watch.opened.append((time.monotonic(), url))
            r.fulfill(status=200, content_type="text/html", body="<title>map</title>")
            return
        provider = tile_provider_of(url)
        if provider is not None:
            watch.tiles.append(url)
            r.fulfill(status=200, content_type="image/png", body=STUB_TILES[provider])
            return
        watch.blocked.append((r.request.resource_type, url))
        r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on(
        "console", lambda m: watch.errors.append(m.text) if m.type in ("error", "assert") else None
    )
    page.on("pageerror", lambda e: watch.errors.append(f"page error: {e}"))
    page.goto(base + path)
    return page, watch


def shot(page: Any, name: str, *, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"rider-{name}.png"), full_page=full_page)


def card_names(page: Any) -> list[str]:
    return page.locator(".card .name").all_text_contents()


def fetch_json(url: str, token: str | None = None) -> dict[str, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


EXPECTED_ORDER = ["甲站", "乙站", "己站", "丙站", XSS_NAME, "万州站"]

# Tap targets, labels and contrast, checked on what is visible now.
A11Y_JS = """
() => {
  const visible = (e) => {
    const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  };
  const small = [];
  for (const e of document.querySelectorAll(
      "button, a[href], select, textarea, input, .leaflet-marker-icon")) {
    if (!visible(e)) continue;
    const target = e.matches("input[type=radio], input[type=checkbox]") ? e.closest("label") : e;
    const r = target.getBoundingClientRect();
    if (r.width < 43.5 || r.height < 43.5) {
      small.push(e.outerHTML.slice(0, 80) + ` ${r.width}x${r.height}`);
    }
  }
  const unlabelled = [];
  for (const e of document.querySelectorAll("select, textarea, input")) {
    const named = (e.labels && e.labels.length) || e.getAttribute("aria-label");
    if (visible(e) && !named) unlabelled.push(e.id);
  }
  for (const e of document.querySelectorAll("button, a[href]")) {
    const named = e.textContent.trim() || e.getAttribute("aria-label");
    if (visible(e) && !named) unlabelled.push(e.outerHTML.slice(0, 60));
  }
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.9)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const poor = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!visible(e) || e.closest("#map, svg") || e.disabled) continue;
    const text = Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!text) continue;
    const s = getComputedStyle(e);
    const a = lum(rgb(s.color)), b = lum(background(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.6 && +s.fontWeight >= 700);
    if (ratio < (large ? 3 : 4.5)) poor.push(`${e.tagName}.${e.className} ${ratio.toFixed(2)}`);
  }
  return {small, unlabelled, poor, scrollWidth: document.documentElement.scrollWidth};
}
"""


def assert_accessible(page: Any) -> None:
    found = page.evaluate(A11Y_JS)
    assert found["scrollWidth"] <= PHONE["width"], "the page scrolls sideways"
    assert found["small"] == [], f"tap targets under 44 px: {found['small']}"
    assert found["unlabelled"] == [], f"controls without labels: {found['unlabelled']}"
    assert found["poor"] == [], f"text with too little contrast: {found['poor']}"


def test_the_list_shows_open_stations_nearest_first_with_how_to_get_in(registry, phone):
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".card")).to_have_count(len(EXPECTED_ORDER))
    assert card_names(page) == EXPECTED_ORDER
    assert page.locator("#status").text_content() == "已按您的位置查找"
    # What the page shows is what the API answers for the same point.
    api = fetch_json(
        f"{registry.base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
        "&open_now=true&k=10"
    )
    assert [r["name"] for r in api["results"]] == EXPECTED_ORDER

    first, second, third = (page.locator(".card").nth(i) for i in (0, 1, 3))
    d = api["results"][0]["distance_m"]
    expect(first.locator(".meta")).to_have_text(
        f"{round(d)} 米 · 步行约 {max(1, round(d / 80))} 分钟 · 全天开放"
    )
    expect(first.locator(".amenity")).to_have_text(["热水", "微波炉", "厕所"])
    expect(first.locator(".entry")).to_have_text("进门方式：有人值守")
    expect(first.locator("a.tel")).to_have_attribute("href", "tel:023-63000000")
    expect(second.locator(".open")).to_contain_text(f"营业至 {registry.closes_at}")
    expect(third.locator(".badge")).to_have_text("24小时自助")
    expect(third.locator(".entry")).to_have_text("24小时自助进门方式：扫码、刷脸（需先注册）")
    expect(third.locator(".amenity")).to_have_text(["微波炉", "手机充电", "厕所"])
    # A name with markup is shown as text, never run.
    assert page.evaluate("window.__xss") is None
    assert page.locator(".card img").count() == 0
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    assert_accessible(page)
    shot(page, "list")
    watch.assert_clean()
    assert watch.tile_providers() == {"amap"}, "the map drew no Amap tiles: is it there?"


def test_filter_chips_change_the_list(registry, phone):
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".card")).to_have_count(len(EXPECTED_ORDER))
    chip_24h = page.get_by_role("button", name="24小时")
    chip_24h.click()
    expect(chip_24h).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".card .name")).to_have_text(["丙站"])
    assert "self_service=true" in [u for u in watch.api if "/nearest" in u][-1]
    chip_24h.click()
    page.get_by_role("button", name="微波炉").click()
    expect(page.locator(".card .name")).to_have_text(["甲站", "丙站"])
    page.get_by_role("button", name="手机充电").click()  # the 充电 chip
    expect(page.locator(".card .name")).to_have_text(["丙站"])
    nearest = [u for u in watch.api if "/nearest" in u][-1]
    assert parse_qs(urlparse(nearest).query)["amenity"] == ["microwave", "phone_charging"]
    page.get_by_role("button", name="厕所").click()
    page.get_by_role("button", name="热水").click()
    expect(page.locator(".card")).to_have_count(0)
    expect(page.locator("#empty")).to_contain_text("试试减少筛选条件")
    assert_accessible(page)
    shot(page, "filters")
    watch.assert_clean()


def test_navigation_opens_each_provider_at_its_own_coordinates(registry, phone):
    page, watch = open_page(phone, registry.base)
    station = registry.stations["甲站"]
    page.locator(".card").first.get_by_role("button", name="导航").click()
    dialog = page.locator("#nav-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("#nav-name")).to_have_text("甲站")
    assert_accessible(page)
    shot(page, "navigate", full_page=False)

    glon, glat = from_wgs84(station.lon, station.lat, crs="gcj02")
    blon, blat = from_wgs84(station.lon, station.lat, crs="bd09")
    amap = dialog.get_by_role("link", name="高德地图")
    baidu = dialog.get_by_role("link", name="百度地图")
    web = parse_qs(urlparse(amap.get_attribute("href")).query)
    to_lon, to_lat, to_name = web["to"][0].split(",", 2)
    assert (float(to_lon), float(to_lat)) == pytest.approx((glon, glat), abs=2e-6)
    assert to_name == "甲站"
    app = parse_qs(urlparse(amap.get_attribute("data-app")).query)
    assert amap.get_attribute("data-app").startswith("amapuri://")
    assert (float(app["dlon"][0]), float(app["dlat"][0])) == pytest.approx((glon, glat), abs=2e-6)
    for link, scheme, key in (
        (baidu.get_attribute("href"), "https://api.map.baidu.com/marker?", "location"),
        (baidu.get_attribute("data-app"), "baidumap://map/direction?", "destination"),
    ):
        assert link.startswith(scheme)
        q = parse_qs(urlparse(link).query)
        latlng = q[key][0].split("|")[0].removeprefix("latlng:")
        lat, lon = (float(v) for v in latlng.split(","))
        assert (lon, lat) == pytest.approx((blon, blat), abs=2e-6)
        assert q["coord_type"] == ["bd09ll"]
    # The GCJ-02 and BD-09 points differ from WGS-84 by hundreds of metres: a mix-up shows.
    assert abs(glon - station.lon) > 1e-3 and abs(blon - glon) > 1e-3

    # No map app here: the page tries the app first, then falls back to the web page.
    href = amap.get_attribute("href")
    clicked = time.monotonic()
    amap.click()
    page.wait_for_url("https://uri.amap.com/**")
    [(opened_at, url)] = watch.opened
    assert url == href
    assert opened_at - clicked > 1.0, "the web page opened at once, without trying the app"
    watch.assert_clean()


def test_a_report_reaches_the_owning_union_and_no_other(registry, phone):
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".card")).to_have_count(len(EXPECTED_ORDER))
    card = page.locator(".card").nth(1)  # 乙站, of 渝中区's union
    card.get_by_role("button", name="报告问题").click()
    dialog = page.locator("#report-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("门锁着进不去").check()
    note = "晚上门锁着 <script>window.__xss=2</script>"
    dialog.get_by_label("补充说明").fill(note)
    assert_accessible(page)
    shot(page, "report", full_page=False)
    dialog.get_by_role("button", name="提交").click()
    expect(dialog.locator("#report-message")).to_contain_text("已收到")
    # The message asks the rider to note the receipt: it is there, and the sheet waits.
    receipt = dialog.locator("#report-receipt")
    expect(receipt).to_have_text(re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$"))
    assert receipt.get_attribute("href") == f"/s/receipt/{receipt.inner_text()}"
    expect(dialog.get_by_role("button", name="提交")).to_be_hidden()
    shot(page, "report-receipt", full_page=False)
    dialog.get_by_role("button", name="完成").click()
    expect(dialog).to_be_hidden()
    # The page warns riders about the station now.
    expect(card.locator(".warning")).to_contain_text("门锁着进不去")
    assert page.evaluate("window.__xss") is None

    station_id = registry.stations["乙站"].id
    mine = fetch_json(f"{registry.base}/v1/feedback", registry.tokens["500103"])
    ours = [i for i in mine["items"] if i["station_id"] == station_id]
    assert [(i["kind"], i["note"]) for i in ours] == [("locked", note)]
    theirs = fetch_json(f"{registry.base}/v1/feedback", registry.tokens["500105"])
    assert theirs["items"] == []
    shot(page, "reported")
    watch.assert_clean()


def test_without_location_permission_the_rider_picks_a_point_or_a_district(
    registry, phone_without_location
):
    page, watch = open_page(phone_without_location, registry.base)
    expect(page.locator("#status")).to_contain_text("没有获得定位权限")
    assert page.locator(".card").count() == 0
    assert_accessible(page)
    shot(page, "no-location")
    # A tap on the map is a point.
    page.locator("#map").click(position={"x": 180, "y": 100})
    expect(page.locator("#status")).to_have_text("已按地图上选的位置查找")
    expect(page.locator(".card").first).to_be_visible()
    # So is the centre of a district.
    page.get_by_label("选择区县").select_option(label="万州区")
    expect(page.locator("#status")).to_contain_text("万州区")
    expect(page.locator(".card").first.locator(".name")).to_have_text("万州站")
    shot(page, "district")
    watch.assert_clean()


def test_a_failed_load_says_so_and_retry_recovers(registry, phone):
    failures = []

    def fail_once(r: Any) -> None:
        if not failures:
            failures.append(r.request.url)
            r.abort("internetdisconnected")
        else:
            r.fallback()

    phone.route("**/v1/stations/nearest?*", fail_once)
    page, watch = open_page(phone, registry.base)
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#error-text")).to_contain_text("网络")
    shot(page, "error")
    page.get_by_role("button", name="重试").click()
    expect(page.locator(".card")).to_have_count(len(EXPECTED_ORDER))
    expect(page.locator("#error")).to_be_hidden()
    # The one failed request is the only console error.
    assert len(failures) == 1
    watch.errors = [e for e in watch.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    watch.assert_clean()


def test_the_list_works_without_leaflet(registry, phone):
    phone.route("**/static/leaflet/**", lambda r: r.abort())
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".card")).to_have_count(len(EXPECTED_ORDER))
    expect(page.locator("#map")).to_be_hidden()
    watch.errors = [e for e in watch.errors if "ERR_FAILED" not in e]
    watch.assert_clean()


# -- the map on a phone: pins in view, apart, off the controls; tiles and their systems ---------

# Where everything the map draws lies, in page pixels.
MAP_LAYOUT_JS = """
() => {
  const box = (e) => { const r = e.getBoundingClientRect();
    return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; };
  const map = document.getElementById("map");
  const here = window.yizhanRider.here();
  const hp = here && here._map ? here._map.latLngToContainerPoint(here.getLatLng()) : null;
  const m = box(map);
  return {
    map: m,
    pins: Array.from(map.querySelectorAll(".leaflet-marker-icon .pin-num")).map((e) => ({
      n: e.textContent, away: e.parentElement.classList.contains("pin-away"), ...box(e)})),
    controls: Array.from(map.querySelectorAll(".leaflet-control")).map(box),
    zoomControls: map.querySelectorAll(".leaflet-control-zoom").length,
    here: hp ? {x: m.left + 1 + hp.x, y: m.top + 1 + hp.y} : null,
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


def inside(a: dict, b: dict) -> bool:
    return (
        a["left"] >= b["left"]
        and a["right"] <= b["right"]
        and a["top"] >= b["top"]
        and a["bottom"] <= b["bottom"]
    )


def assert_pins_legible(page: Any, expected: int) -> dict:
    layout = page.evaluate(MAP_LAYOUT_JS)
    pins = layout["pins"]
    assert sorted(int(p["n"]) for p in pins) == list(range(1, expected + 1))
    for p in pins:
        assert inside(p, layout["map"]), f"pin {p['n']} is (partly) outside the map: {p}"
        for c in layout["controls"]:
            assert not overlap(p, c), f"pin {p['n']} lies under a map control"
    # The numbered dots are round: apart when their centres are a diameter apart.
    for i, a in enumerate(pins):
        for b in pins[i + 1 :]:
            gap = math.dist(centre(a), centre(b))
            assert gap >= a["right"] - a["left"] - 0.5, f"pins {a['n']} and {b['n']} overlap"
    here = layout["here"]
    assert here is not None, "no dot for the rider's own position"
    m = layout["map"]
    assert m["left"] < here["x"] < m["right"] and m["top"] < here["y"] < m["bottom"]
    for c in layout["controls"]:
        assert not (c["left"] <= here["x"] <= c["right"] and c["top"] <= here["y"] <= c["bottom"])
    for p in pins:
        covered = p["left"] <= here["x"] <= p["right"] and p["top"] <= here["y"] <= p["bottom"]
        assert not covered, f"pin {p['n']} covers the rider's own dot"
    return layout


def centre(box: dict) -> tuple[float, float]:
    return (box["left"] + box["right"]) / 2, (box["top"] + box["bottom"]) / 2


def metres_apart(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Lon/lat degrees to metres, locally (enough for distances of metres)."""
    dx = (a[0] - b[0]) * 111_320 * math.cos(math.radians(a[1]))
    return math.hypot(dx, (a[1] - b[1]) * 110_574)


DRAWN_JS = """
() => ({
  tiles: window.yizhanRider.tiles(),
  markers: window.yizhanRider.markers().map((m) => [m.getLatLng().lng, m.getLatLng().lat]),
  here: [window.yizhanRider.here().getLatLng().lng, window.yizhanRider.here().getLatLng().lat],
})
"""


def test_on_a_phone_every_pin_and_the_riders_dot_are_in_view_apart_and_uncovered(registry, phone):
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".card")).to_have_count(len(EXPECTED_ORDER))
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    page.wait_for_timeout(300)  # tiles drawn, for the screenshot
    layout = assert_pins_legible(page, len(EXPECTED_ORDER))
    # Riders pinch: no zoom buttons over the pins on a phone.
    assert layout["zoomControls"] == 0
    # 万州站, 230 km away, is drawn hollow at the map's edge, towards it; the rest in place.
    away = {p["n"] for p in layout["pins"] if p["away"]}
    assert away == {str(EXPECTED_ORDER.index("万州站") + 1)}
    page.locator("#map").screenshot(path=str(ARTIFACTS / "rider-map-360-amap.png"))
    shot(page, "map-360", full_page=False)
    # After a pinch (zoomed in two levels), still legible.
    page.evaluate("() => window.yizhanRider.map().zoomIn(2, {animate: false})")
    page.wait_for_timeout(200)
    assert_pins_legible(page, len(EXPECTED_ORDER))
    page.locator("#map").screenshot(path=str(ARTIFACTS / "rider-map-360-zoomed.png"))
    assert_accessible(page)
    watch.assert_clean()


def nearest_asked(watch: Watch) -> dict[str, list[str]]:
    """The query of the page's last request for the nearest stations."""
    return parse_qs(urlparse([u for u in watch.api if "/nearest" in u][-1]).query)


def assert_drawn_at_gcj02(drawn: dict, names: list[str], stations: dict[str, Station]) -> None:
    """Every marker where geodata.crs puts its station on Amap's tiles."""
    for name, at in zip(names, drawn["markers"], strict=True):
        station = stations[name]
        gcj = from_wgs84(station.lon, station.lat, crs="gcj02")
        assert metres_apart(at, gcj) < 0.5, name
        assert metres_apart(at, (station.lon, station.lat)) > 100, name  # really shifted


def test_on_amap_tiles_every_marker_and_the_riders_dot_are_at_gcj02(registry, phone):
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    drawn = page.evaluate(DRAWN_JS)
    assert drawn["tiles"] == "amap"  # the default: see Settings._rider_tile_names
    assert_drawn_at_gcj02(drawn, EXPECTED_ORDER, registry.stations)
    assert metres_apart(drawn["here"], from_wgs84(*JIEFANGBEI, crs="gcj02")) < 0.5
    # The phone's GPS position went out as it came; the server gave back what to draw.
    asked = nearest_asked(watch)
    assert (asked["crs"], asked["out_crs"]) == (["wgs84"], ["gcj02"])
    assert metres_apart((float(asked["lon"][0]), float(asked["lat"][0])), JIEFANGBEI) < 0.05
    assert watch.tile_providers() == {"amap"}
    expect(page.locator("#map-credit")).to_contain_text("高德")

    # A tap on Amap's map is a GCJ-02 point: the page sends it as such, and the server
    # resolves it to the WGS-84 point beneath it.
    page.evaluate(
        "() => window.yizhanRider.map().once('click',"
        " (e) => { window.__tapped = [e.latlng.lng, e.latlng.lat]; })"
    )
    with page.expect_response(lambda r: "/v1/stations/nearest" in r.url) as answer:
        page.locator("#map").click(position={"x": 60, "y": 60})
    expect(page.locator("#status")).to_have_text("已按地图上选的位置查找")
    tapped = page.evaluate("window.__tapped")
    asked = nearest_asked(watch)
    assert (asked["crs"], asked["out_crs"]) == (["gcj02"], ["gcj02"])
    assert metres_apart((float(asked["lon"][0]), float(asked["lat"][0])), tapped) < 0.05
    body = answer.value.json()
    wgs = to_wgs84(*tapped, crs="gcj02")
    first = registry.stations[body["results"][0]["name"]]
    assert body["results"][0]["distance_m"] == pytest.approx(
        distance_m(*wgs, first.lon, first.lat), abs=0.5
    )
    # The dot is where the rider tapped.
    page.wait_for_function(
        "(t) => { const h = window.yizhanRider.here();"
        " return h && Math.abs(h.getLatLng().lng - t[0]) < 1e-6; }",
        arg=tapped,
    )
    assert metres_apart(page.evaluate(DRAWN_JS)["here"], tapped) < 0.5
    watch.assert_clean()


TAIPEI = (121.5654, 25.0330)  # outside Amap's shifted area: GCJ-02 there is WGS-84


def test_in_taipei_the_riders_dot_is_drawn_unshifted_because_the_server_says_so(registry, browser):
    """The page applies no rule of its own about where GCJ-02 is shifted: in Taipei the
    server answers the GPS position unchanged (a box around China would shift it ~500 m)."""
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": TAIPEI[0], "latitude": TAIPEI[1]},
        permissions=["geolocation"],
    )
    try:
        page, watch = open_page(context, registry.base)
        expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
        drawn = page.evaluate(DRAWN_JS)
        assert drawn["tiles"] == "amap"
        assert metres_apart(drawn["here"], TAIPEI) < 0.5
        assert metres_apart(drawn["here"], from_wgs84(*TAIPEI, crs="gcj02")) < 0.5
        # The stations in Chongqing, on the same tiles, are shifted.
        names = card_names(page)
        assert_drawn_at_gcj02(drawn, names, registry.stations)
        page.wait_for_timeout(300)
        shot(page, "taipei-360", full_page=False)
        watch.assert_clean()
    finally:
        context.close()


def test_the_rider_switches_tiles_and_everything_moves_with_them(registry, phone):
    page, watch = open_page(phone, registry.base)
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    switch = page.get_by_label("底图")
    expect(switch.locator("option")).to_have_text(["高德地图", "天地图", "OpenStreetMap"])
    expect(switch).to_have_value("amap")

    for label, name, credit in (
        ("OpenStreetMap", "osm", "OpenStreetMap"),
        ("天地图", "tianditu", "天地图"),
    ):
        watch.tiles.clear()
        switch.select_option(label=label)
        expect(switch).to_have_value(name)
        expect(page.locator("#map-credit")).to_contain_text(credit)
        # Drawn again from the server's answer in the new tiles' system.
        page.wait_for_function("() => window.yizhanRider.drawn() === 'wgs84'")
        expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
        assert nearest_asked(watch)["out_crs"] == ["wgs84"]
        drawn = page.evaluate(DRAWN_JS)
        assert drawn["tiles"] == name
        # WGS-84 tiles (CGCS2000 is within centimetres of it): positions as stored.
        for station_name, at in zip(EXPECTED_ORDER, drawn["markers"], strict=True):
            station = registry.stations[station_name]
            assert metres_apart(at, (station.lon, station.lat)) < 0.5, station_name
        assert metres_apart(drawn["here"], JIEFANGBEI) < 0.5
        page.wait_for_timeout(300)
        assert watch.tile_providers() == {name}, watch.tiles[:3]
        assert_pins_legible(page, len(EXPECTED_ORDER))
        page.locator("#map").screenshot(path=str(ARTIFACTS / f"rider-map-360-{name}.png"))
    assert all(f"tk={TIANDITU_KEY}" in u for u in watch.tiles)
    assert {"vec", "cva"} == {parse_qs(urlparse(u).query)["LAYER"][0] for u in watch.tiles}

    # The choice is kept for the next visit.
    page.reload()
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    assert page.evaluate(DRAWN_JS)["tiles"] == "tianditu"
    expect(page.get_by_label("底图")).to_have_value("tianditu")
    assert_accessible(page)

    # And back on Amap, everything is at GCJ-02 again.
    page.get_by_label("底图").select_option(label="高德地图")
    page.wait_for_function("() => window.yizhanRider.drawn() === 'gcj02'")
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    drawn = page.evaluate(DRAWN_JS)
    assert_drawn_at_gcj02(drawn, EXPECTED_ORDER, registry.stations)
    assert metres_apart(drawn["here"], from_wgs84(*JIEFANGBEI, crs="gcj02")) < 0.5
    assert_pins_legible(page, len(EXPECTED_ORDER))
    watch.assert_clean()


def test_tile_requests_name_the_site_and_nothing_more(registry, phone):
    """Tianditu (and Amap, Baidu) browser keys are limited to the sites named in their
    console, checked against the Referer: tiles must say which site asks, only that."""
    page, watch = open_page(phone, registry.base)
    referers: list[str | None] = []
    page.on(
        "request",
        lambda r: referers.append(r.headers.get("referer")) if tile_provider_of(r.url) else None,
    )
    expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
    page.get_by_label("底图").select_option(label="天地图")
    page.wait_for_timeout(300)
    assert referers, "no tile was asked for"
    assert set(referers) == {registry.base + "/"}, set(referers)
    watch.assert_clean()


def test_on_a_desktop_the_zoom_buttons_stay_clear_of_the_pins(registry, browser):
    context = browser.new_context(
        viewport={"width": 1024, "height": 768},
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        geolocation={"longitude": JIEFANGBEI[0], "latitude": JIEFANGBEI[1]},
        permissions=["geolocation"],
    )
    try:
        page, watch = open_page(context, registry.base)
        expect(page.locator(".leaflet-marker-icon")).to_have_count(len(EXPECTED_ORDER))
        layout = assert_pins_legible(page, len(EXPECTED_ORDER))
        assert layout["zoomControls"] == 1  # a mouse has no pinch
        page.wait_for_timeout(300)
        page.locator("#map").screenshot(path=str(ARTIFACTS / "rider-map-desktop.png"))
        watch.assert_clean()
    finally:
        context.close()
