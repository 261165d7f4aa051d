"""The rider page as served: content negotiation at /, its own light files, Leaflet, districts."""

from __future__ import annotations

import importlib.resources
import json
import re

import pytest
import shapely

from api.rider_page import content_security_policy, leaflet_version, page_bytes
from geodata.crs import from_wgs84
from stations.config import Settings
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
PAGE_BUDGET_BYTES = 300 * 1024


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


def is_landing_json(r) -> bool:
    return r.headers["content-type"] == "application/json" and "links" in r.json()


@pytest.mark.parametrize(
    ("accept", "query", "html"),
    [
        (None, "", False),
        ("*/*", "", False),
        ("application/json", "", False),
        ("application/json, text/html;q=0.5", "", False),
        ("text/html, application/json", "", False),  # a tie keeps the OGC default
        (BROWSER_ACCEPT, "", True),
        ("text/html", "", True),
        (BROWSER_ACCEPT, "?f=json", False),
    ],
    ids=[
        "no-accept",
        "anything",
        "json",
        "json-preferred",
        "tie",
        "browser",
        "html-only",
        "browser-f-json",
    ],
)
def test_root_is_json_for_clients_and_the_page_for_browsers(client, accept, query, html):
    headers = {"Accept": accept} if accept else {}
    r = client.get("/" + query, headers=headers)
    assert r.status_code == 200
    assert "Accept" in r.headers["vary"]
    if html:
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert '<html lang="zh-CN">' in r.text
    else:
        assert is_landing_json(r)


@pytest.mark.parametrize("accept", [None, BROWSER_ACCEPT, "application/json"])
def test_f_html_is_the_ogc_landing_page_in_html(client, accept):
    r = client.get("/?f=html", headers={"Accept": accept} if accept else {})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "OGC API" in r.text
    hrefs = re.findall(r'href="([^"]+)"', r.text)
    landing = client.get("/?f=json").json()["links"]
    assert hrefs == [link["href"] for link in landing]
    assert any(h.endswith("/collections") for h in hrefs)
    assert any(h.endswith("/app") for h in hrefs)  # the rider page is one link away
    assert 'id="map"' not in r.text


def test_the_landing_page_links_to_the_html_page(client):
    links = client.get("/").json()["links"]
    assert {"rel": "alternate", "type": "text/html"}.items() <= next(
        link for link in links if link["type"] == "text/html" and link["rel"] == "alternate"
    ).items()


def test_the_page_loads_nothing_from_elsewhere_and_says_so_in_its_policy(client):
    r = client.get("/app")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    for url in re.findall(r'(?:src|href)="([^"#]+)"', r.text):
        assert url.startswith("/"), url
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    for path in re.findall(r'(?:src|href)="(/[^"]+)"', r.text):
        assert client.get(path).status_code == 200, path


def test_the_pages_own_files_are_under_300_kb(client):
    assert page_bytes() < PAGE_BUDGET_BYTES
    html = client.get("/app")
    own = [html.content]
    for path in re.findall(r'(?:src|href)="(/app/[^"]+)"', html.text):
        own.append(client.get(path, headers={"Accept-Encoding": "identity"}).content)
    assert len(own) == 3  # the page, its script and its styles
    assert sum(len(b) for b in own) < PAGE_BUDGET_BYTES


def test_leaflet_is_served_from_the_installed_package_with_long_caching(client):
    folder = importlib.resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"
    url = f"/static/leaflet/{leaflet_version()}/leaflet.js"
    r = client.get(url, headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.content == folder.joinpath("leaflet.js").read_bytes()
    assert "immutable" in r.headers["cache-control"]
    assert "max-age=31536000" in r.headers["cache-control"]
    packed = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < len(r.content) / 2
    again = client.get(url, headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    assert (
        client.get(f"/static/leaflet/{leaflet_version()}/images/marker-icon.png").status_code == 200
    )
    for not_served in ("apps.py", "%2e%2e/__init__.py", "leaflet-src.esm.js"):
        assert client.get(f"/static/leaflet/{leaflet_version()}/{not_served}").status_code == 404
    assert client.get("/static/leaflet/0.0.1/leaflet.js").status_code == 404


def test_the_script_is_cached_for_a_year_only_at_its_versioned_url(client):
    html = client.get("/app").text
    versioned = re.search(r'src="(/app/app\.js\?v=\w+)"', html).group(1)
    assert "immutable" in client.get(versioned).headers["cache-control"]
    assert client.get("/app/app.js").headers["cache-control"] == "no-cache"
    assert client.get("/app/secrets.py").status_code == 404


def test_gzip_is_used_only_when_the_browser_asks(client):
    r = client.get("/app/app.js", headers={"Accept-Encoding": "gzip, br"})
    raw = client.get("/app/app.js", headers={"Accept-Encoding": "identity"})
    assert r.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in raw.headers
    assert r.content == raw.content  # the client unpacked the gzip to the same bytes
    assert "Accept-Encoding" in raw.headers["vary"]


def test_district_centres_lie_inside_their_districts(client, districts):
    body = client.get("/app/districts.json").json()["districts"]
    assert [d["adcode"] for d in body] == list(districts.adcodes)
    for d in body:
        assert districts.get(d["adcode"]).geometry.contains(shapely.Point(d["lon"], d["lat"]))
        assert d["name"] == districts.get(d["adcode"]).name


@pytest.mark.parametrize(
    ("settings", "systems"),
    [({}, {"gcj02", "wgs84"}), ({"rider_tiles": "osm"}, {"wgs84"})],
    ids=["amap-and-osm", "osm-only"],
)
def test_district_centres_come_in_each_tile_systems_from_the_server(
    store, districts, db_path, settings, systems
):
    with api_client(store, districts, db_path, **settings) as c:
        body = c.get("/app/districts.json").json()["districts"]
    for d in body:
        assert set(d["drawn"]) == systems
        for system, at in d["drawn"].items():
            expected = from_wgs84(d["lon"], d["lat"], crs=system)
            assert (at["lon"], at["lat"]) == pytest.approx(expected, abs=1e-7), d["name"]
    if "gcj02" in systems:  # really shifted: Chongqing is inside Amap's border
        assert all(abs(d["drawn"]["gcj02"]["lon"] - d["lon"]) > 1e-3 for d in body)


def test_the_page_converts_no_coordinates_itself():
    """Where and how GCJ-02 is shifted lives in geodata/crs.py only: the page asks the
    server for positions in its tiles' system and sends taps in it."""
    script = (importlib.resources.files("api") / "rider" / "app.js").read_text()
    assert "6378245" not in script  # the GCJ-02 ellipsoid's semi-major axis
    assert "Math.sin" not in script
    assert "out_crs=" in script


def directives(csp: str) -> dict[str, list[str]]:
    parts = [d.split() for d in csp.split(";") if d.strip()]
    return {d[0]: d[1:] for d in parts}


def page_tiles(text: str) -> list[dict]:
    found = re.search(r'<script type="application/json" id="tiles-data">(.*?)</script>', text)
    assert found is not None
    return json.loads(found.group(1))


AMAP_HOSTS = [f"https://webrd0{i}.is.autonavi.com" for i in range(1, 5)]
TIANDITU_HOSTS = [f"https://t{i}.tianditu.gov.cn" for i in range(8)]
TIANDITU_KEY = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("settings", "names", "hosts"),
    [
        ({}, ["amap", "osm"], [*AMAP_HOSTS, "https://tile.openstreetmap.org"]),
        (
            {"tianditu_key": TIANDITU_KEY},
            ["amap", "tianditu", "osm"],
            [*AMAP_HOSTS, *TIANDITU_HOSTS, "https://tile.openstreetmap.org"],
        ),
        ({"rider_tiles": "osm"}, ["osm"], ["https://tile.openstreetmap.org"]),
        (
            {"rider_tiles": "tianditu,amap", "tianditu_key": TIANDITU_KEY},
            ["tianditu", "amap"],
            [*TIANDITU_HOSTS, *AMAP_HOSTS],
        ),
    ],
    ids=["default", "with-tianditu-key", "osm-only", "tianditu-first"],
)
def test_the_page_offers_the_chosen_tiles_and_its_policy_allows_exactly_their_hosts(
    store, districts, db_path, settings, names, hosts
):
    with api_client(store, districts, db_path, **settings) as c:
        r = c.get("/app")
    offered = page_tiles(r.text)
    assert [t["name"] for t in offered] == names
    policy = directives(r.headers["content-security-policy"])
    assert policy["img-src"] == ["'self'", "data:", "blob:", *hosts]
    # Nothing else may come from outside: every other directive names only this site.
    for name, sources in policy.items():
        if name != "img-src":
            assert all(not s.startswith("http") for s in sources), (name, sources)
    by_name = {t["name"]: t for t in offered}
    if "amap" in by_name:
        assert by_name["amap"]["crs"] == by_name["amap"]["drawn_in"] == "gcj02"
        assert "高德" in by_name["amap"]["attribution"]
    if "tianditu" in by_name:
        assert by_name["tianditu"]["drawn_in"] == "wgs84"  # CGCS2000: drawn as WGS-84
        # Its map and its labels, with the key; credited to 天地图.
        assert len(by_name["tianditu"]["urls"]) == 2
        assert all(f"tk={TIANDITU_KEY}" in u for u in by_name["tianditu"]["urls"])
        assert "天地图" in by_name["tianditu"]["attribution"]
    if "osm" in by_name:
        assert "OpenStreetMap" in by_name["osm"]["attribution"]


def test_a_custom_tile_server_is_offered_first_escaped_with_its_exact_hosts(
    store, districts, db_path
):
    with api_client(
        store,
        districts,
        db_path,
        tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png",
        tile_attribution='<img src=x onerror="alert(1)">',
    ) as c:
        r = c.get("/app")
    assert "<img src=x" not in r.text
    custom = page_tiles(r.text)[0]
    assert custom["name"] == "custom" and custom["attribution"] == '<img src=x onerror="alert(1)">'
    img = directives(r.headers["content-security-policy"])["img-src"]
    assert [h for h in img if "example.org" in h] == [
        "https://a.tiles.example.org",
        "https://b.tiles.example.org",
        "https://c.tiles.example.org",
    ]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rider_tiles": "tianditu"}, "YIZHAN_TIANDITU_KEY"),
        ({"rider_tiles": "google,osm"}, "not a tile provider"),
        ({"rider_tiles": "custom"}, "YIZHAN_TILE_URL"),
        ({"tianditu_key": "my key!"}, "not a Tianditu key"),
    ],
    ids=["tianditu-without-key", "unknown", "custom-without-url", "bad-key"],
)
def test_tile_settings_that_cannot_work_are_refused_saying_what_to_set(settings, message):
    with pytest.raises(ValueError, match=message):
        Settings(**settings)


def test_the_labels_come_from_the_model(client):
    text = client.get("/app").text
    assert '"microwave":"微波炉"' in text and '"qr":"扫码"' in text
    assert '"locked":"门锁着进不去"' in text


def test_a_tile_url_that_is_no_template_is_refused():
    with pytest.raises(ValueError, match="YIZHAN_TILE_URL"):
        Settings(tile_url="tile.openstreetmap.org")


@pytest.mark.parametrize(
    "url",
    [
        "https://a.example;script-src * 'unsafe-eval'/{z}/{x}/{y}.png",
        "https://a.example frame-src */{z}/{x}/{y}.png",
        "https://*/{z}/{x}/{y}.png",
        "https://*.example.org/{z}/{x}/{y}.png",
        "https://user:pw@a.example/{z}/{x}/{y}.png",
        "https:///{z}/{x}/{y}.png",
        "//a.example/{z}/{x}/{y}.png",
        "https://a.example/{z}/{x}/{y}.png\nX-Injected: 1",
        "https://a.example/{z}/{x}/{y}.png\n",
        "https://a.example/{z}/{x}/{y}.png?s='\"</script>",
        "https://a.example/{z}/{y}.png",
        "javascript:alert(1)//{z}/{x}/{y}",
    ],
    ids=[
        "semicolon",
        "space",
        "wildcard-host",
        "wildcard-label",
        "userinfo",
        "no-host",
        "protocol-relative",
        "newline",
        "trailing-newline",
        "quotes-and-tags",
        "no-x",
        "javascript",
    ],
)
def test_a_tile_url_that_could_widen_the_policy_or_break_the_page_is_refused(url):
    with pytest.raises(ValueError, match="YIZHAN_TILE_URL"):
        Settings(tile_url=url, rider_tiles="custom")


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        (
            "https://tiles.example.org:8443/{z}/{x}/{y}.png?key=a-b_c&v=2",
            ["https://tiles.example.org:8443"],
        ),
        ("http://10.0.0.5/osm/{z}/{x}/{y}.png", ["http://10.0.0.5"]),
        ("/tiles/{z}/{x}/{y}.png", []),
    ],
    ids=["port-and-query", "intranet-http", "same-site"],
)
def test_a_plain_tile_url_is_taken_with_exactly_its_host_in_the_policy(url, hosts):
    settings = Settings(tile_url=url, rider_tiles="custom")
    img = [h for h in content_security_policy(settings.rider_tile_providers).split("; ")[3].split()]
    assert img[:4] == ["img-src", "'self'", "data:", "blob:"]
    assert img[4:] == hosts
