"""Demand layers belong to the union that made them: only it or the city union may replace
or delete one."""

from __future__ import annotations

import sqlite3

import pytest

from stations.storage import sqlite as sqlite_module
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import bearer
from tests.builders import GUANYINQIAO, JIEFANGBEI

YUZHONG, JIANGBEI = "500103", "500105"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def _csv(*points: tuple[float, float]) -> str:
    return "lon,lat,weight\n" + "".join(f"{x},{y},1\n" for x, y in points)


def _put(client, name, headers, *points):
    return client.put(
        f"/v1/demand/{name}",
        headers=headers,
        data={"crs": "wgs84"},
        files={"file": (f"{name}.csv", _csv(*points), "text/csv")},
    )


def _points(client, name) -> int:
    return client.get(f"/v1/demand/{name}").json()["summary"]["points"]


def test_a_district_union_replaces_its_own_layer_but_not_anothers(client, store):
    city, yuzhong, jiangbei = (
        bearer(store, "admin"),
        bearer(store, "district", YUZHONG),
        bearer(store, "district", JIANGBEI),
    )
    assert _put(client, "city", city, JIEFANGBEI, GUANYINQIAO, JIEFANGBEI).status_code == 200
    r = _put(client, "yz", yuzhong, JIEFANGBEI)
    assert r.status_code == 200, r.text
    assert r.json()["owner"] == f"district:{YUZHONG}"
    # Its owner replaces it.
    assert _put(client, "yz", yuzhong, JIEFANGBEI, JIEFANGBEI).status_code == 200
    assert _points(client, "yz") == 2
    # Another district union cannot replace it, nor the city's, with points of its own.
    r = _put(client, "yz", jiangbei, GUANYINQIAO)
    assert r.status_code == 403
    assert r.json()["type"] == "/problems/forbidden"
    assert _put(client, "city", jiangbei, GUANYINQIAO).status_code == 403
    assert _points(client, "yz") == 2
    assert _points(client, "city") == 3
    # The city union may replace a district's layer; it stays the district's.
    assert _put(client, "yz", city, GUANYINQIAO).status_code == 200
    owners = {d["name"]: d["owner"] for d in client.get("/v1/demand").json()["layers"]}
    assert owners == {"city": "city", "yz": f"district:{YUZHONG}"}


def test_only_the_owner_or_the_city_union_deletes_a_layer(client, store):
    city, yuzhong, jiangbei = (
        bearer(store, "admin"),
        bearer(store, "district", YUZHONG),
        bearer(store, "district", JIANGBEI),
    )
    assert _put(client, "city", city, JIEFANGBEI).status_code == 200
    assert _put(client, "yz", yuzhong, JIEFANGBEI).status_code == 200
    assert _put(client, "jb", jiangbei, GUANYINQIAO).status_code == 200
    assert client.delete("/v1/demand/yz").status_code == 401
    assert client.delete("/v1/demand/yz", headers=jiangbei).status_code == 403
    assert client.delete("/v1/demand/city", headers=yuzhong).status_code == 403
    assert {d["name"] for d in client.get("/v1/demand").json()["layers"]} == {"city", "yz", "jb"}
    assert client.delete("/v1/demand/yz", headers=yuzhong).status_code == 204
    assert client.delete("/v1/demand/jb", headers=city).status_code == 204
    assert client.delete("/v1/demand/city", headers=city).status_code == 204
    assert client.get("/v1/demand").json()["layers"] == []


def test_layers_made_before_owners_become_the_city_unions(db_path, districts):
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    for migrate in sqlite_module.MIGRATIONS[:5]:
        migrate(conn)
    conn.execute("PRAGMA user_version = 5")
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")
    conn.execute(
        "INSERT INTO demand_layers (name, sample, updated_at, actor, source) "
        "VALUES ('old', 0, '2025-01-01T00:00:00+08:00', 'a', '{}')"
    )
    conn.execute("COMMIT")
    conn.close()
    with SQLiteStore(db_path) as s:
        layer = s.find_demand("old")
        assert layer is not None
        assert layer.owner == "city"
        assert s.list_demand()[0]["owner"] == "city"
