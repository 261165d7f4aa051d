"""使用情况 in the console: the clerk's own district, the city's choice, filters, errors."""

from __future__ import annotations

from datetime import datetime, timedelta

from geodata.hours import TZ
from stations.domain.feedback import RateLimit
from stations.domain.visits import NewVisit
from tests.api.console.helpers import login, make_account
from tests.builders import GUANYINQIAO, make_station

XSS = "<img src=x onerror=alert(1)>"
NO_LIMITS = (RateLimit("client", 10**6, 3600), RateLimit("station", 10**6, 3600))


def seed(store, station_id, n, *, occupation="delivery", days_ago=0, hour=12):
    today = datetime.now(TZ).replace(hour=hour, minute=0, second=0, microsecond=0)
    for i in range(n):
        at = today - timedelta(days=days_ago) + timedelta(seconds=i)
        v = NewVisit(station_id=station_id, occupation=occupation, client_hash=f"c{i}", at=at)
        store.add_visit(v, dedupe_s=1, limits=NO_LIMITS, keep_s=10**9)


def stations(store, districts):
    mine = store.create(make_station(districts, name=XSS), actor="test")
    theirs = store.create(
        make_station(
            districts,
            external_id="JB-1",
            owner="district:500105",
            name="观音桥工会驿站",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="test",
    )
    return mine, theirs


def total_of(html: str) -> int:
    start = html.index('id="usage-total">') + len('id="usage-total">')
    return int(html[start : html.index("<", start)])


def test_a_district_clerk_sees_their_district_only(console, store, districts):
    mine, theirs = stations(store, districts)
    seed(store, mine.id, 3, occupation="courier")
    seed(store, theirs.id, 5)
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get("/console/usage")
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert "使用情况：渝中区" in html
    assert total_of(html) == 3
    assert '<a href="/console/usage" aria-current="page">使用情况</a>' in html
    assert 'name="district"' not in html  # no choice of district
    assert XSS not in html and "&lt;img src=x onerror=alert(1)&gt;" in html  # its station
    assert html.count("<svg") == 3 and "<script" not in html.split("<main>")[1].split("</main>")[0]
    # another district asked for: still their own
    assert total_of(console.get("/console/usage?district=500105").text) == 3
    table = html[html.index('id="by-occupation"') :]
    assert '快递员</td><td class="num">3</td><td class="num">100.0%' in table


def test_the_city_union_sees_the_city_and_picks_a_district_and_station(console, store, districts):
    mine, theirs = stations(store, districts)
    seed(store, mine.id, 3)
    seed(store, theirs.id, 5, days_ago=2)
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    html = console.get("/console/usage").text
    assert "使用情况：全市" in html and total_of(html) == 8
    assert 'name="district"' in html
    jb = console.get("/console/usage?district=500105").text
    assert "使用情况：江北区" in jb and total_of(jb) == 5
    assert f'<option value="{theirs.id}">观音桥工会驿站</option>' in jb
    one = console.get(f"/console/usage?district=500105&station_id={theirs.id}").text
    assert total_of(one) == 5 and "· 观音桥工会驿站" in one
    today = datetime.now(TZ).date()
    recent = console.get(f"/console/usage?since={today - timedelta(days=1)}&until={today}").text
    assert total_of(recent) == 3


def test_a_bad_range_or_district_says_so_in_chinese(console, store, districts):
    make_account(store, districts, role="admin", code=None)
    login(console, "city")
    r = console.get("/console/usage?since=2026-10-05&until=2026-10-01")
    assert r.status_code == 400
    assert "开始日期（2026-10-05）晚于结束日期（2026-10-01）" in r.text
    r = console.get("/console/usage?since=2024-01-01&until=2026-10-01")
    assert r.status_code == 400 and "最多查看 400 天" in r.text
    r = console.get("/console/usage?district=999999")
    assert r.status_code == 400 and "没有这个区县" in r.text


def test_the_page_needs_a_sign_in(console):
    r = console.get("/console/usage", follow_redirects=False)
    assert r.status_code in (302, 303, 401)
