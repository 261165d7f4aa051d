"""GET /tiles/stations/{z}/{x}/{y}.json, and the coverage map drawn from it (both stores)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.cluster_tiles import max_entries, mercator
from geodata.crs import from_wgs84
from stations.services import maps as map_service
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, listings_at, make_station

WANZHOU_ADCODE = "500101"
NIGHT = "2026-11-25T02:00:00+08:00"  # a Wednesday


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def add(store, districts, external_id, position, **kw):
    kw.setdefault("owner", "industry:transport")
    lon, lat = position
    return store.create(
        make_station(districts, external_id=external_id, lon=lon, lat=lat, **kw), actor="t"
    )


def tile_of(lon, lat, z, crs="wgs84"):
    if crs != "wgs84":
        lon, lat = (float(v) for v in from_wgs84(lon, lat, crs=crs))
    x, y = mercator(lon, lat)
    return int(float(x) * 2**z), int(float(y) * 2**z)


def get_tile(client, z, x, y, **params):
    r = client.get(f"/tiles/stations/{z}/{x}/{y}.json", params=params)
    assert r.status_code == 200, r.text
    return r


def ids(body):
    assert sum(c[2] for c in body["c"]) + len(body["p"]) == body["n"]
    return sorted(p[2] for p in body["p"])


def test_a_tile_holds_the_stations_in_it_and_its_children_share_them(client, store, districts):
    a = add(store, districts, "A", JIEFANGBEI)
    b = add(store, districts, "B", GUANYINQIAO, status="planned")
    add(store, districts, "C", WANZHOU, status="closed")
    w = add(store, districts, "W", (WANZHOU[0] + 0.001, WANZHOU[1]))
    world = get_tile(client, 0, 0, 0).json()
    assert ids(world) == sorted([a.id, b.id, w.id])  # not the closed one
    # At zoom 12 the city centre and Wanzhou are in different tiles; every child set adds up.
    x, y = tile_of(*JIEFANGBEI, 12)
    assert ids(get_tile(client, 12, x, y).json()) in ([a.id], sorted([a.id, b.id]))
    for z in range(1, 13):
        x, y = tile_of(*JIEFANGBEI, z - 1)
        children = [
            get_tile(client, z, 2 * x + i, 2 * y + j).json()["n"] for i in (0, 1) for j in (0, 1)
        ]
        assert sum(children) == get_tile(client, z - 1, x, y).json()["n"]
    x, y = tile_of(*WANZHOU, 12)
    body = get_tile(client, 12, x, y).json()
    assert ids(body) == [w.id]
    # A point's pixel is where the station is in the tile.
    fx, fy = mercator(*WANZHOU[:1], WANZHOU[1])
    px, py = body["p"][0][:2]
    assert abs(px - ((float(fx) + 0.001 / 360) * 2**12 - x) * 256) <= 1
    assert abs(py - (float(fy) * 2**12 - y) * 256) <= 1


def test_points_carry_their_state(client, store, districts):
    full = add(store, districts, "F", JIEFANGBEI, listings=listings_at(*JIEFANGBEI))
    planned = add(store, districts, "P", GUANYINQIAO, status="planned")
    states = {p[2]: p[3] for p in get_tile(client, 0, 0, 0).json()["p"]}
    assert states[full.id] & 3 == 0 or states[full.id] & 3 == 1  # listed: full or partial
    assert states[planned.id] == 2 + map_service.STATE_NOT_IN_SERVICE  # unlisted, hollow


def test_filters_are_honoured(client, store, districts):
    a = add(store, districts, "DAY", JIEFANGBEI, hours="Mo-Su 09:00-18:00")
    b = add(store, districts, "ALL", GUANYINQIAO, hours="24/7")
    c = add(store, districts, "W", WANZHOU, status="closed")
    d = add(store, districts, "W2", (WANZHOU[0] + 0.01, WANZHOU[1]), status="planned")
    assert ids(get_tile(client, 0, 0, 0, at=NIGHT).json()) == [b.id]
    assert ids(get_tile(client, 0, 0, 0, status="closed").json()) == [c.id]
    assert ids(get_tile(client, 0, 0, 0, status="any").json()) == sorted([a.id, b.id, c.id, d.id])
    assert ids(get_tile(client, 0, 0, 0, district=WANZHOU_ADCODE).json()) == [d.id]
    assert ids(get_tile(client, 0, 0, 0, mapped="none").json()) == sorted([a.id, b.id, d.id])
    assert ids(get_tile(client, 0, 0, 0, mapped="full").json()) == []


def test_the_etag_changes_after_a_write_and_a_match_is_304(client, store, districts):
    add(store, districts, "A", JIEFANGBEI)
    first = get_tile(client, 3, *tile_of(*JIEFANGBEI, 3))
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = client.get(
        f"/tiles/stations/3/{'/'.join(map(str, tile_of(*JIEFANGBEI, 3)))}.json",
        headers={"If-None-Match": etag},
    )
    assert again.status_code == 304 and again.content == b""
    # Other filters, another system: other ETags.
    assert get_tile(client, 3, *tile_of(*JIEFANGBEI, 3), status="any").headers["etag"] != etag
    assert get_tile(client, 3, *tile_of(*JIEFANGBEI, 3), crs="gcj02").headers["etag"] != etag
    add(store, districts, "B", GUANYINQIAO)
    after = get_tile(client, 3, *tile_of(*JIEFANGBEI, 3))
    assert after.headers["etag"] != etag and after.json()["n"] == 2
    stale = client.get(
        f"/tiles/stations/3/{'/'.join(map(str, tile_of(*JIEFANGBEI, 3)))}.json",
        headers={"If-None-Match": etag},
    )
    assert stale.status_code == 200


def test_amap_tiles_get_points_shifted_to_gcj02(client, store, districts):
    w = add(store, districts, "W", WANZHOU)
    z = 16
    # At zoom 16 the GCJ-02 shift (~500 m here) moves the station by several tiles.
    gx, gy = tile_of(*WANZHOU, z, crs="gcj02")
    wx, wy = tile_of(*WANZHOU, z)
    assert (gx, gy) != (wx, wy)
    shifted = get_tile(client, z, gx, gy, crs="gcj02").json()
    assert ids(shifted) == [w.id]
    assert get_tile(client, z, wx, wy, crs="gcj02").json()["n"] == 0
    assert ids(get_tile(client, z, wx, wy).json()) == [w.id]
    # Its pixel is where the coverage map put it (from_wgs84 to GCJ-02) before the tiles.
    glon, glat = from_wgs84(*WANZHOU, crs="gcj02")
    fx, fy = mercator(glon, glat)
    px, py = shifted["p"][0][:2]
    assert px == int((float(fx) * 2**z - gx) * 256) and py == int((float(fy) * 2**z - gy) * 256)


@pytest.mark.parametrize(
    "path", ["23/0/0", "-1/0/0", "2/4/0", "2/0/4", "2/-1/0", "5/1/99999999999999999999"]
)
def test_a_tile_outside_the_scheme_is_a_chinese_problem(client, path):
    r = client.get(f"/tiles/stations/{path}.json")
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"].endswith(("/out_of_range", "/invalid_parameter"))


def test_the_tile_detail_is_chinese(client):
    problem = client.get("/tiles/stations/2/4/0.json").json()
    assert "瓦片" in problem["detail"] and "缩放级别" in problem["detail"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"district": "999999"}, "unknown_district"),
        ({"status": "gone"}, "unknown_status"),
        ({"crs": "mars"}, "bad_crs"),
        ({"at": "noon"}, "bad_time"),
        ({"mapped": "maybe"}, "invalid_parameter"),
    ],
)
def test_bad_filters_are_problems(client, params, code):
    r = client.get("/tiles/stations/0/0/0.json", params=params)
    assert r.status_code in (404, 422)
    assert r.json()["type"].endswith("/" + code)


def test_a_large_registry_is_drawn_from_tiles_and_the_page_stays_small(
    client, store, districts, monkeypatch
):
    for k in range(3):
        add(store, districts, f"S{k}", (JIEFANGBEI[0] + k * 0.01, JIEFANGBEI[1]))
    inlined = client.get("/maps/coverage")
    assert "var data = " in inlined.text and "/tiles/stations/" not in inlined.text
    monkeypatch.setattr(map_service, "TILED_ABOVE", 2)
    add(store, districts, "S3", GUANYINQIAO, name="<b>x</b>")  # a new snapshot: a new page
    tiled = client.get("/maps/coverage", params={"tiles": "amap"})
    assert tiled.status_code == 200
    assert "var data = " not in tiled.text and "<b>x</b>" not in tiled.text
    config = re.search(r"var cfg = (\{.*?\});\n", tiled.text)
    assert config is not None
    assert "/tiles/stations/{z}/{x}/{y}.json" in config.group(1)
    assert "crs=gcj02" in config.group(1) and '"stations":4' in config.group(1)
    # The page's tiles come from our own origin: allowed by its policy.
    assert "connect-src 'self'" in tiled.headers["content-security-policy"]
    # The map's own filters go with every tile, and the tiles then hold what the map shows.
    monkeypatch.setattr(map_service, "TILED_ABOVE", -1)  # tiled even with none shown
    page = client.get("/maps/coverage", params={"district": "500103", "at": NIGHT}).text
    cfg = json.loads(re.search(r"var cfg = (\{.*?\});\n", page).group(1))
    params = dict(parse_qsl(cfg["query"].lstrip("?")))
    assert params["district"] == "500103" and params["crs"] == "wgs84"
    assert params["at"] == "2026-11-25T02:00:00+08:00"
    assert get_tile(client, 0, 0, 0, **params).json()["n"] == 0  # none open then


def test_no_station_is_in_the_tiled_page(client, store, districts, monkeypatch):
    rng = np.random.default_rng(3)
    for k in range(20):
        position = (106.5 + rng.uniform(0, 0.1), 29.5 + rng.uniform(0, 0.1))
        add(store, districts, f"M{k}", position, name=f"驿站名{k:03d}", address=f"地址{k:03d}")
    inlined = client.get("/maps/coverage").text
    assert all(f"驿站名{k:03d}" in inlined for k in range(20))
    monkeypatch.setattr(map_service, "TILED_ABOVE", 0)
    tiled = client.get("/maps/coverage", params={"radius_m": 999}).text  # not the cached page
    assert not any(f"驿站名{k:03d}" in tiled or f"地址{k:03d}" in tiled for k in range(20))


@settings(
    max_examples=80,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    z=st.integers(-3, 40),
    x=st.integers(-(2**70), 2**70) | st.integers(0, 8),
    y=st.integers(-(2**70), 2**70) | st.integers(0, 8),
    params=st.dictionaries(
        st.sampled_from(["crs", "status", "at", "district", "mapped", "v"]),
        st.text(max_size=12) | st.sampled_from(["gcj02", "any", "full", "true", "500101"]),
        max_size=4,
    ),
)
def test_no_tile_request_is_a_server_error(client, z, x, y, params):
    r = client.get(f"/tiles/stations/{z}/{x}/{y}.json", params=params)
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        body = r.json()
        assert len(body["p"]) + len(body["c"]) <= max_entries()
    else:
        assert r.headers["content-type"].startswith("application/problem+json")


def get_area_tile(client, z, x, y, **params):
    r = client.get(f"/tiles/districts/{z}/{x}/{y}.json", params=params)
    assert r.status_code == 200, r.text
    return r


def test_district_tiles_hold_the_districts_clipped_to_the_tile_with_etag_and_gzip(
    client, store, districts
):
    add(store, districts, "A", JIEFANGBEI)  # a registry on either store
    x, y = tile_of(*WANZHOU, 9)
    r = get_area_tile(client, 9, x, y)
    body = r.json()
    assert body["b"] == []  # one province's districts: no province outlines
    found = {code: name for code, name, _ in body["d"]}
    assert found[WANZHOU_ADCODE] == districts.get(WANZHOU_ADCODE).name
    for _, _, rings in body["d"]:
        xy = np.concatenate([np.asarray(ring).reshape(-1, 2) for ring in rings])
        assert xy.min() >= -4 and xy.max() <= 260  # clipped to the tile and its margin
    # Coarser tiles carry fewer vertices for the same district than finer ones sum up to.
    whole = get_area_tile(client, 5, *tile_of(*WANZHOU, 5)).json()
    (rings5,) = [rings for code, _, rings in whole["d"] if code == WANZHOU_ADCODE]
    (rings9,) = [rings for code, _, rings in body["d"] if code == WANZHOU_ADCODE]
    assert sum(map(len, rings5)) < sum(map(len, rings9))
    # Revalidated: 304 while the districts are the same; gzipped when asked.
    etag = r.headers["etag"]
    assert client.get(r.url, headers={"If-None-Match": etag}).status_code == 304
    packed = client.get(r.url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers.get("content-encoding") == "gzip" and packed.json() == body
    assert get_area_tile(client, 9, x, y, crs="gcj02").headers["etag"] != etag
    # One district chosen: only it; a tile outside the scheme or an unknown code is refused.
    only = get_area_tile(client, 9, x, y, district=WANZHOU_ADCODE).json()
    assert [code for code, _, _ in only["d"]] == [WANZHOU_ADCODE]
    assert client.get("/tiles/districts/3/8/0.json").status_code == 422
    r = client.get(f"/tiles/districts/9/{x}/{y}.json", params={"district": "999999"})
    assert r.status_code in (400, 404, 422) and "999999" in r.json()["detail"]


TILE_KINDS = ("stations/{z}/{x}/{y}.json", "stations/{z}/{x}/{y}.mvt", "districts/{z}/{x}/{y}.json")


@pytest.mark.parametrize("kind", TILE_KINDS)
def test_a_tile_is_gzipped_when_accepted_and_revalidated_with_the_same_headers(
    client, store, districts, kind
):
    for k in range(60):  # enough stations that the tile is worth compressing
        add(store, districts, f"G{k}", (JIEFANGBEI[0] + k * 1e-4, JIEFANGBEI[1]))
    url = "/tiles/" + kind.format(z=0, x=0, y=0)
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert plain.status_code == packed.status_code == 200
    assert "content-encoding" not in plain.headers
    assert packed.headers["content-encoding"] == "gzip"
    # httpx undoes the gzip: the body a browser reads is the plain one, byte for byte.
    assert packed.content == plain.content
    assert int(packed.headers["content-length"]) < len(plain.content)
    for r in (plain, packed):  # caches must key every tile by Accept-Encoding
        assert r.headers["vary"] == "Accept-Encoding"
        assert r.headers["etag"] == plain.headers["etag"]
    again = client.get(url, headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for name in ("etag", "cache-control", "vary"):  # a 304 repeats them (RFC 9110 15.4.5)
        assert again.headers[name] == plain.headers[name]


@pytest.mark.parametrize("kind", TILE_KINDS)
def test_head_on_a_tile_gives_the_headers_of_its_get_and_no_body(client, store, districts, kind):
    add(store, districts, "A", JIEFANGBEI)
    url = "/tiles/" + kind.format(z=3, x=6, y=3)
    for encoding in ("identity", "gzip"):
        got = client.get(url, headers={"Accept-Encoding": encoding})
        head = client.head(url, headers={"Accept-Encoding": encoding})
        assert head.status_code == got.status_code == 200
        assert head.content == b""
        assert dict(head.headers) == dict(got.headers)
    # HEAD is HTTP's, not a separate operation: the API description lists only GET.
    paths = client.get("/openapi.json").json()["paths"]
    assert list(paths["/tiles/" + kind]) == ["get"]
