"""The rider page on foot: with a walking network loaded, minutes from the network.

Debian's Chromium on a 360 px phone against a real `yizhan serve` whose store holds the
river city (tests/osm_city.py) as its walking network: from the query point, B (same bank)
comes before A (across the river, nearer in a straight line), each with "步行 N 分钟 · X 米".
Outside the network's area the page falls back to the straight line with a short note.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

from stations.storage.sqlite import SQLiteStore
from tests.api.test_rider_browser import (
    card_names,
    expect,
    fetch_json,
    new_phone,
    open_page,
    shot,
)
from tests.builders import JIEFANGBEI, make_station
from tests.live import serve
from tests.osm_city import QUERY, A, B, C, import_city

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def city(tmp_path_factory, districts) -> Iterator[str]:
    """A, B and C (open all day), the walking network of the river city, served."""
    root = tmp_path_factory.mktemp("rider-travel")
    db = root / "registry.sqlite3"
    with SQLiteStore(db) as store:
        for code, point in (("A", A), ("B", B), ("C", C)):
            name = f"河城驿站{code}" + (XSS if code == "B" else "")
            station = make_station(
                districts,
                owner="industry:transport",
                external_id=code,
                name=name,
                lon=point[0],
                lat=point[1],
                hours="24/7",
            )
            store.create(station, actor="test")
        import_city(store, root, "walk")
    with serve(f"sqlite:///{db}") as server:
        yield server.base


def phone_at(browser: Any, point: tuple[float, float]) -> Any:
    context = new_phone(browser, located=False)
    context.grant_permissions(["geolocation"])
    context.set_geolocation({"longitude": point[0], "latitude": point[1]})
    return context


def test_on_foot_the_same_bank_comes_first_with_minutes(city, browser):
    context = phone_at(browser, QUERY)
    try:
        page, watch = open_page(context, city)
        expect(page.locator(".card")).to_have_count(2)
        assert [n[:5] for n in card_names(page)] == ["河城驿站B", "河城驿站A"]
        api = fetch_json(
            f"{city}/v1/stations/nearest?lon={QUERY[0]}&lat={QUERY[1]}&open_now=true&k=10"
            "&travel=walk"
        )
        for i, result in enumerate(api["results"]):
            minutes = max(1, math.ceil(result["duration_s"] / 60))
            metres = (
                f"{round(result['route_m'])} 米"
                if result["route_m"] < 1000
                else (f"{result['route_m'] / 1000:.1f} 公里")
            )
            expect(page.locator(".card .meta").nth(i)).to_have_text(
                f"步行 {minutes} 分钟 · {metres} · 全天开放"
            )
        # C is too far from any way: said, not hidden.
        expect(page.locator("#travel-note")).to_contain_text("1 个驿站离道路太远")
        assert any("travel=walk" in u for u in watch.api)
        assert page.evaluate("window.__xss") is None
        shot(page, "travel-walk", full_page=False)
        watch.assert_clean()
    finally:
        context.close()


def test_outside_the_network_the_straight_line_with_a_note(city, browser):
    context = phone_at(browser, JIEFANGBEI)  # ~1.9 km east of the river city's streets
    try:
        page, watch = open_page(context, city)
        expect(page.locator(".card")).to_have_count(3)
        expect(page.locator("#travel-note")).to_have_text("不在路网范围内，按直线距离")
        expect(page.locator(".card .meta").first).to_contain_text("步行约")
        straight = fetch_json(
            f"{city}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}&open_now=true"
        )
        assert card_names(page) == [r["name"] for r in straight["results"]]
        assert [n[:5] for n in card_names(page)] == ["河城驿站A", "河城驿站C", "河城驿站B"]
        shot(page, "travel-off-network", full_page=False)
        # The 422 the page recovered from is the browser's log line, not a page error.
        watch.errors = [e for e in watch.errors if "422" not in e]
        watch.assert_clean()
    finally:
        context.close()
