"""星级评定 in the console: the union's own stars with reasons, the city union's 重新评定,
candidates; the station form's code, poster and 抽查 links, stars and last confirmed."""

from __future__ import annotations

from datetime import datetime, timedelta

from geodata.hours import TZ
from tests.api.console.helpers import csrf_of, login, make_account, post
from tests.builders import GUANYINQIAO, make_station
from tests.stations import ops_rows

XSS = "<img src=x onerror=alert(1)>"


def _stations(store, districts):
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


def test_the_city_union_rates_again_and_each_union_sees_its_own(console, store, districts):
    mine, theirs = _stations(store, districts)
    ops_rows.inspection(
        store, mine.id, {"open_as_posted": False}, at=datetime.now(TZ) - timedelta(days=2)
    )
    ops_rows.inspection(
        store, theirs.id, {"hygiene": True}, at=datetime.now(TZ) - timedelta(days=9)
    )
    make_account(store, districts, role="admin", code=None)
    make_account(store, districts, code="500103")
    csrf = login(console, "city")
    page = console.get("/console/stars")
    assert page.status_code == 200
    assert "还没有评定星级" in page.text
    assert "星级评定" in page.text  # the NAV
    done = post(console, "/console/stars/compute", csrf, follow_redirects=True)
    assert done.status_code == 200
    assert "已重新评定全部驿站的星级" in done.text
    assert "观音桥工会驿站" in done.text and "&lt;img src=x" in done.text
    assert XSS not in done.text
    assert "未按公示时间开放 1 次" in done.text
    only = console.get("/console/stars", params={"district": "500105"}).text
    assert "观音桥工会驿站" in only and "&lt;img src=x" not in only
    console.post("/console/logout", data={"csrf": csrf})
    csrf = login(console, "yz500103")
    page = console.get("/console/stars").text
    assert "&lt;img src=x" in page and "观音桥工会驿站" not in page
    assert 'action="/console/stars/compute"' not in page
    refused = post(console, "/console/stars/compute", csrf_of(page))
    assert refused.status_code == 403
    assert "只有市总工会可以重新评定星级" in refused.text


def test_the_station_form_shows_code_poster_inspection_stars_and_confirmation(
    console, store, districts
):
    mine, _ = _stations(store, districts)
    ops_rows.rating(store, mine.id, 4, comment="不公开的评语")
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    page = console.get(f"/console/stations/{mine.id}").text
    code = store.find(mine.id).code
    assert code and f"{code[:4]}" in page
    assert f'href="/v1/stations/{mine.id}/poster.pdf?download=1"' in page
    assert f'href="/console/inspections/new?station_id={mine.id}"' in page
    assert "4.0（1 人）" in page
    assert "未评定" in page and "从未" in page
