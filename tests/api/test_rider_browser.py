"""The rider page in Debian's Chromium on a 360 px phone, against a real `yizhan serve`.

Every request off this machine is blocked and recorded: map tiles get a blank image (the
page must work without them), anything else fails the test, since the page must not need
a public CDN. Console errors fail the test too.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from geodata.crs import from_wgs84
from geodata.hours import TZ
from stations.auth import new_token
from stations.model import Station
from stations.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, WANZHOU, make_station
from tests.live import serve

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

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
TILE_HOST = "tile.openstreetmap.org"
# A 1×1 transparent PNG standing in for every map tile.
BLANK_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
XSS_NAME = '<img src=x onerror="window.__xss=1">夜班驿站'


def near(dx_m: float, dy_m: float) -> tuple[float, float]:
    """A WGS-84 point about dx_m east and dy_m north of 解放碑."""
    return JIEFANGBEI[0] + dx_m / 96_900, JIEFANGBEI[1] + dy_m / 110_850


def hours_around_now() -> tuple[str, str, str]:
    """Hours open from an hour ago to two hours ahead, hours closed now, and the closing time."""
    h = datetime.now(TZ).hour

    def span(a: int, b: int) -> str:
        return f"Mo-Su {a % 24:02d}:00-{(b % 24) or 24:02d}:00"

    return span(h - 1, h + 2), span(h + 3, h + 4), f"{(h + 2) % 24:02d}:00"


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
    with serve(f"sqlite:///{db}") as server:
        yield Registry(server.base, stored, tokens, closes_at)


@dataclass
class Watch:
    """What a page did that a test must check: blocked requests, console errors, API calls."""

    blocked: list[tuple[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    api: list[str] = field(default_factory=list)
    opened: list[tuple[float, str]] = field(default_factory=list)  # map providers' web pages

    def assert_clean(self) -> None:
        assert self.errors == [], self.errors
        needed = [(kind, url) for kind, url in self.blocked if TILE_HOST not in url]
        assert needed == [], f"the page needed outside resources: {needed}"


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
        watch.blocked.append((r.request.resource_type, url))
        if TILE_HOST in url:
            r.fulfill(status=200, content_type="image/png", body=BLANK_PNG)
        else:
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


EXPECTED_ORDER = ["甲站", "乙站", "丙站", XSS_NAME, "万州站"]

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

    first, second, third = (page.locator(".card").nth(i) for i in range(3))
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
    assert watch.blocked, "the map asked for no tiles: is the map there?"


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
    for link, scheme in (
        (baidu.get_attribute("href"), "https://"),
        (baidu.get_attribute("data-app"), "baidumap://"),
    ):
        assert link.startswith(scheme)
        q = parse_qs(urlparse(link).query)
        latlng = q["destination"][0].split("|")[0].removeprefix("latlng:")
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
