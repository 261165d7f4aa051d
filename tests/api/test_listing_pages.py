"""GET /v1/stations as an export and as pages: the CSV is complete, pages say they are."""

from __future__ import annotations

import csv
import io
import re

import pytest

from stations.domain.changes import Create
from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station

N = 250


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


@pytest.fixture
def registry(store, districts):
    made = [
        Create(
            make_station(
                districts,
                owner="industry:transport",
                external_id=f"S{i}",
                name=f"驿站{i}",
                lon=JIEFANGBEI[0] + i * 1e-5,
                lat=JIEFANGBEI[1],
            )
        )
        for i in range(N)
    ]
    store.apply(made, actor="t")


def rows(r) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))


def links(r) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', r.headers["link"])}


def test_csv_without_a_limit_is_every_station_streamed(client, registry, monkeypatch):
    import api.routes.stations

    monkeypatch.setattr(api.routes.stations, "CSV_CHUNK_STATIONS", 7)  # many chunks
    r = client.get("/v1/stations", params={"f": "csv"})
    assert r.status_code == 200
    assert r.headers["x-total-count"] == str(N)
    assert "content-length" not in r.headers  # streamed, not built whole in memory
    got = rows(r)
    assert len(got) == N
    assert {row["name"] for row in got} == {f"驿站{i}" for i in range(N)}
    assert r.text.count("external_id") == 1  # one header row however many chunks
    assert r.text.startswith("\ufeff")


def test_a_csv_page_says_it_is_a_page(client, registry):
    r = client.get("/v1/stations", params={"f": "csv", "limit": 100, "offset": 100})
    assert len(rows(r)) == 100
    assert r.headers["x-total-count"] == str(N)
    assert "stations-101-200-of-250.csv" in r.headers["content-disposition"]
    assert set(links(r)) == {"next", "prev"}


def test_json_pages_link_to_the_next_and_previous_until_every_station_is_seen(client, registry):
    url = "/v1/stations?status=active&limit=100"
    seen: list[int] = []
    pages = 0
    while url:
        r = client.get(url)
        assert r.status_code == 200
        seen += [s["id"] for s in r.json()["items"]]
        found = links(r) if "link" in r.headers else {}
        assert ("prev" in found) == (pages > 0)
        if "prev" in found:
            assert "offset=" in found["prev"] and "status=active" in found["prev"]
        url = found.get("next")
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == N


def test_geojson_pages_have_link_headers_too(client, registry):
    r = client.get("/v1/stations", params={"f": "geojson", "limit": 50})
    assert r.json()["numberReturned"] == 50
    assert "offset=50" in links(r)["next"]
    assert "prev" not in links(r)


def test_page_links_point_at_the_service_never_at_the_host_a_client_names(client, registry):
    """A shared cache keeps the Link header: made from the client's Host it would send
    every later reader to that host (the OGC links' rule, api/links.py)."""
    r = client.get(
        "/v1/stations",
        params={"status": "active", "limit": 100, "offset": 100},
        headers={"Host": "evil.example"},
    )
    found = links(r)
    assert set(found) == {"next", "prev"}
    for url in found.values():
        assert "evil.example" not in url
        assert url.startswith("http://testserver/v1/stations?")  # the connection's address
        assert "status=active" in url and "limit=100" in url
    assert "offset=200" in found["next"] and "offset=0" in found["prev"]


def test_page_links_behind_a_proxy_prefix_name_it_once(client, registry):
    """Behind a proxy serving the app under /yizhan (uvicorn's root_path), the page
    links hold the prefix once, as the OGC links do (it came out /yizhan/yizhan/)."""
    from fastapi.testclient import TestClient

    proxied = TestClient(client.app, root_path="/yizhan")
    r = proxied.get("/yizhan/v1/stations", params={"limit": 100, "offset": 100})
    assert r.status_code == 200
    for url in links(r).values():
        assert url.startswith("http://testserver/yizhan/v1/stations?"), url
