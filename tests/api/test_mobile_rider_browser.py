"""A mobile station on a 360 px phone in Debian Chromium: its station page (where it stands,
next stops, timetable) and its card in the rider page (流动驿站 · 停靠 … 至 …)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from geodata.hours import TZ
from stations.domain.model import Stop
from stations.storage.sqlite import SQLiteStore
from tests.api.test_rider_browser import new_phone, open_page, shot
from tests.builders import JIEFANGBEI
from tests.live import Server, serve
from tests.mobile_data import SQUARE, make_bus

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def _stand_now() -> tuple[str, str]:
    """Hours that hold now and end later today (OSM, as written), and the end as HH:MM."""
    now = datetime.now(TZ)
    start, end = now - timedelta(minutes=30), now + timedelta(minutes=90)
    if end.date() != now.date() or start.date() != now.date():
        start, end = now.replace(hour=0, minute=1), now.replace(hour=23, minute=58)
    return f"Mo-Su {start:%H:%M}-{end:%H:%M}", f"{end:%H:%M}"


@pytest.fixture(scope="module")
def server(tmp_path_factory, districts) -> Iterator[tuple[Server, Any, str]]:
    db = tmp_path_factory.mktemp("mobile_rider") / "r.sqlite3"
    hours, until = _stand_now()
    # 300 m east of 解放碑, where the phone is.
    here = Stop("较场口夜市", JIEFANGBEI[0] + 0.003, JIEFANGBEI[1], hours, "每天 " + hours[6:])
    with SQLiteStore(db) as store:
        bus = store.create(make_bus(districts, here, SQUARE, name="渝中流动驿站一号车"), actor="t")
    with serve(f"sqlite:///{db}") as s:
        yield s, bus, until


def test_the_station_page_of_a_bus(server, browser):
    s, bus, until = server
    context = new_phone(browser, located=False)
    page, watch = open_page(context, s.base, f"/s/{bus.code}")
    state = page.locator("#open-state")
    state.wait_for()
    assert state.inner_text() == f"流动驿站 现在停靠 较场口夜市 · 至 {until}"
    visits = page.locator("#next-visits li").all_inner_texts()
    assert visits[0].startswith("周") and "较场口夜市" in visits[0] and "此刻在此" in visits[0]
    assert page.locator("#timetable dt").all_inner_texts() == ["较场口夜市", "两路口广场"]
    assert page.get_by_role("link", name="高德导航到较场口夜市").count() == 1
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 360
    shot(page, "mobile-station-page")
    assert watch.errors == [] and watch.blocked == []
    context.close()


def test_a_bus_card_in_the_rider_page(server, browser):
    s, bus, until = server
    context = new_phone(browser, located=True)

    answers: list[Any] = []  # what nearest itself said of the bus (no rewriting)
    context.on("response", lambda r: answers.append(r) if "/v1/stations/nearest" in r.url else None)
    page, watch = open_page(context, s.base, "/app")
    card = page.locator(f"#station-{bus.id}")
    card.wait_for()
    text = card.inner_text()
    assert f"流动驿站停靠 较场口夜市 至 {until}" in text.replace("\n", "")
    assert f"停靠至 {until}" in text
    assert "本停靠点时间：每天" in text
    assert bus.address not in text  # its base's address: not where it is
    shot(page, "mobile-card", full_page=False)
    placed = [r for a in answers for r in a.json()["results"] if r["id"] == bus.id]
    assert placed and placed[0]["mobile"] is True and placed[0]["stop_name"] == "较场口夜市"
    assert watch.errors == []
    context.close()
