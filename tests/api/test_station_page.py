"""The station's page /s/{code} and the receipt page: codes, redirects, 404/410, CSP, escaping."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from api.station_page import page, station_context
from geodata.hours import TZ
from stations.domain.codes import display_code, new_code
from stations.domain.model import AMENITY_LABELS
from tests.builders import make_station

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


@pytest.fixture
def station(store, districts):
    return store.create(
        make_station(
            districts,
            name="解放碑工会驿站",
            hours="24小时",
            amenities="热水、微波炉、手机充电",
            entry_methods="staffed",
        ),
        actor="t",
    )


def test_page_shows_the_station_and_its_three_actions(client, station):
    r = client.get(f"/s/{station.code}")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    body = r.text
    assert '<h1 id="name">解放碑工会驿站</h1>' in body
    assert "现在开放 · 全天开放" in body
    for label in ("热水", "微波炉", "手机充电", "有人值守"):
        assert label in body
    for label in ("外卖配送员", "快递员", "网约车司机", "货车司机", "环卫工人", "其他"):
        assert f">{label}</button>" in body
    assert "评价" in body and "报告问题" in body and "请勿填写姓名、电话" in body
    assert f'href="/v1/stations/{station.id}/poster.pdf"' in body
    assert display_code(station.code) in body
    assert "https://uri.amap.com/navigation?" in body
    assert 'href="tel:023-63000000"' in body


def test_csp_runs_only_our_own_script_files(client, station):
    r = client.get(f"/s/{station.code}")
    csp = r.headers["content-security-policy"]
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert script_src == "script-src 'self'"
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    for tag in re.findall(r"<script[^>]*>", r.text):
        assert " src=" in tag or 'type="application/json"' in tag, tag
    js = re.search(r'<script src="([^"]+)"', r.text)
    assert js is not None
    asset = client.get(js.group(1))
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith("text/javascript")
    assert "immutable" in asset.headers["cache-control"]
    assert client.get("/s/assets/nothing.js").status_code == 404


def test_user_text_is_escaped_everywhere(client, store, districts):
    s = store.create(
        make_station(districts, external_id="X", name=XSS, address=XSS + "路", hours="24小时"),
        actor="t",
    )
    body = client.get(f"/s/{s.code}").text
    assert XSS not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body
    data = re.search(r'id="station-data">(.*?)</script>', body, re.S)
    assert data is not None
    assert "<img" not in data.group(1)


@pytest.mark.parametrize("form", ["lower", "hyphen", "lower-hyphen", "spaced"])
def test_code_in_any_case_with_or_without_hyphen_redirects_to_canonical(client, station, form):
    code = station.code
    typed = {
        "lower": code.lower(),
        "hyphen": display_code(code),
        "lower-hyphen": display_code(code).lower(),
        "spaced": f"{code[:4]} {code[4:]}",
    }[form]
    r = client.get(f"/s/{typed}", follow_redirects=False)
    assert r.status_code == 301
    assert r.headers["location"] == f"/s/{code}"


def test_unknown_code_is_a_chinese_404_page(client, station):
    code = new_code()
    while code == station.code:
        code = new_code()
    r = client.get(f"/s/{code}")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert "没有这个驿站" in r.text


@pytest.mark.parametrize("typed", ["ABCDEFGH", "K7MQ3XP", "00000000", "%E9%A9%BF"])
def test_malformed_code_is_a_404_saying_the_code_is_wrong(client, station, typed):
    r = client.get(f"/s/{typed}")
    assert r.status_code == 404
    assert "编号有误" in r.text


def test_a_deleted_stations_code_answers_410(client, store, station):
    store.delete(station.id, expected_version=station.version, actor="t")
    r = client.get(f"/s/{station.code}")
    assert r.status_code == 410
    assert "这个驿站已撤销" in r.text
    assert "“解放碑工会驿站”原由渝中区工会管理" in r.text


def test_receipt_page_is_a_shell_for_its_receipt(client):
    r = client.get("/s/receipt/ABCD-EFGH-JKMN")
    assert r.status_code == 200
    assert "ABCD-EFGH-JKMN" in r.text
    assert "unsafe-inline" not in r.headers["content-security-policy"]
    lower = client.get("/s/receipt/abcd-efgh-jkmn", follow_redirects=False)
    assert lower.status_code == 301
    assert lower.headers["location"] == "/s/receipt/ABCD-EFGH-JKMN"
    # Typed as the API reads it (the one rule: parse_receipt): full-width, no hyphens.
    for typed in ("ＡＢＣＤ-ＥＦＧＨ-ＪＫＭＮ", "abcdefghjkmn", "ABCD EFGH JKMN"):
        moved = client.get(f"/s/receipt/{typed}", follow_redirects=False)
        assert moved.status_code == 301, typed
        assert moved.headers["location"] == "/s/receipt/ABCD-EFGH-JKMN"
    assert client.get("/s/receipt/ABCD-EFGH-JKMN-PQRS").status_code == 404  # 16: none is
    bad = client.get(f"/s/receipt/{XSS}")
    assert bad.status_code == 404
    assert "回执号有误" in bad.text
    assert XSS not in bad.text


def _doc(**extra):
    return {
        "id": 7,
        "code": "K7MQ3XPA",
        "name": "驿站",
        "status": "active",
        "hours": "24/7",
        "hours_text": "全天",
        "entry_methods": ["qr"],
        "amenities": list(AMENITY_LABELS)[:2],
        "self_service_24h": True,
        "registration_required": False,
        "address": "",
        "contact_phone": "",
        "navigation": {"amap": "https://a", "baidu": "https://b"},
        **extra,
    }


def test_stars_rating_and_freshness_show_only_when_the_record_has_them():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)
    bare = page(
        "page.html",
        display_code="K7MQ-3XPA",
        **station_context(_doc(), open_now=True, next_change=None, now=now),
    ).body.decode()
    assert "星驿站" not in bare and "人评价" not in bare and "最近确认" not in bare
    full = station_context(
        _doc(
            stars=4,
            rating={"average": 4.25, "count": 18},
            last_confirmed={
                "at": (now - timedelta(days=3)).isoformat(),
                "how": "inspection",
                "label": "抽查确认",
            },
        ),
        open_now=True,
        next_change=None,
        now=now,
    )
    body = page("page.html", display_code="K7MQ-3XPA", **full).body.decode()
    assert "★★★★☆ 4 星驿站" in body
    assert "评分 4.2（18 人评价）" in body or "评分 4.3（18 人评价）" in body
    assert "最近确认：3 天前 抽查确认" in body
    none_yet = station_context(
        _doc(rating={"average": None, "count": 0}, stars=None, last_confirmed=None),
        open_now=True,
        next_change=None,
        now=now,
    )
    assert none_yet["rating"] is None


def test_open_text_says_until_when_and_when_it_opens():
    now = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)
    ctx = station_context(_doc(), open_now=True, next_change=now.replace(hour=20), now=now)
    assert ctx["open_text"] == "现在开放 · 营业至 20:00"
    ctx = station_context(
        _doc(), open_now=False, next_change=now.replace(hour=8) + timedelta(days=1), now=now
    )
    assert ctx["open_text"] == "现在未开放 · 明天 08:00 开门"
    ctx = station_context(
        _doc(status="temporarily_closed"), open_now=False, next_change=None, now=now
    )
    assert ctx["open_text"] == "暂停开放"


def test_the_page_shows_the_stations_own_rating_stars_and_last_check(store, districts, db_path):
    """The record's ops fields reach the page itself (not only the API)."""
    from stations.domain.stars import load_rule
    from stations.readmodel.index import StationIndex
    from stations.services.stars import compute_stars
    from tests.api.clients import api_client
    from tests.stations import ops_rows

    station = store.create(make_station(districts, name="解放碑工会驿站"), actor="t")
    now = datetime.now(TZ)
    for i, stars in enumerate((5, 4, 4)):
        ops_rows.rating(store, station.id, stars, client=f"c{i}", at=now - timedelta(days=1))
    ops_rows.inspection(store, station.id, {"hygiene": True}, at=now - timedelta(days=2))
    (rated,) = compute_stars(store, StationIndex.build(store), load_rule(), now)
    with api_client(store, districts, db_path, ops_refresh_s=0) as client:
        body = client.get(f"/s/{station.code}").text
    assert f"{rated.stars} 星驿站" in body
    assert "评分 4.3（3 人评价）" in body
    assert "最近确认：2 天前 抽查确认" in body
