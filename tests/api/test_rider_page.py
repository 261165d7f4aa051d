"""The rider page as served: content negotiation at /, its own light files, Leaflet, districts."""

from __future__ import annotations

import importlib.resources
import re

import pytest
import shapely

from api.rider_page import leaflet_version, page_bytes
from stations.settings import Settings
from stations.sqlite import SQLiteStore
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
        assert url.startswith("/") or url.startswith("https://www.openstreetmap.org/copyright"), url
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org" in csp
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


def test_settings_reach_the_page_escaped(store, districts, db_path):
    with api_client(
        store,
        districts,
        db_path,
        tile_url="https://{s}.tiles.example.org/{z}/{x}/{y}.png",
        tile_attribution='<img src=x onerror="alert(1)">',
    ) as c:
        r = c.get("/app")
    assert "<img src=x" not in r.text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in r.text
    assert "https://*.tiles.example.org" in r.headers["content-security-policy"]


def test_the_labels_come_from_the_model(client):
    text = client.get("/app").text
    assert '"microwave":"微波炉"' in text and '"qr":"扫码"' in text
    assert '"locked":"门锁着进不去"' in text


def test_a_tile_url_that_is_no_template_is_refused():
    with pytest.raises(ValueError, match="YIZHAN_TILE_URL"):
        Settings(tile_url="tile.openstreetmap.org")
