"""/docs, /redoc and the favicon are served from packages: no page needs a public CDN."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest

from stations.storage.sqlite import SQLiteStore

# Any absolute or protocol-relative URL in a page: src="https://…", href='//cdn…', url(http…).
URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.-]+""")


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_reference_no_other_host(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    found = URL.findall(r.text)
    hosts = {urlparse(m if m.startswith("http") else "http:" + m).hostname for m in found}
    assert hosts == set(), f"{path} loads from {hosts}"
    scripts = re.findall(r"""<script[^>]*\bsrc=["']([^"']+)""", r.text)
    assert scripts, "the page loads its script from us"
    for src in scripts + re.findall(r"""<link[^>]*\bhref=["']([^"']+)""", r.text):
        asset = client.get(src)
        assert asset.status_code == 200, src
        assert len(asset.content) > 100, src


def test_the_swagger_bundle_is_served_as_javascript(client):
    r = client.get("/static/docs/swagger-ui-bundle.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "SwaggerUIBundle" in r.text


@pytest.mark.parametrize("name", ["../core.py", "favicon.png", "nothing.js", "%2e%2e%2fcore.js"])
def test_only_the_docs_scripts_are_served_from_the_package(client, name):
    r = client.get(f"/static/docs/{name}")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"


def test_favicon_is_an_icon(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/x-icon"
    assert r.content[:4] == b"\0\0\1\0"  # an ICO file
