"""``GET /v1/networks``: what the rider page reads to decide on travel=walk (public)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from tests.api.clients import api_client
from tests.osm_city import import_city


@pytest.fixture
def store(any_store):
    return any_store


def test_empty_before_any_import(client) -> None:
    response = client.get("/v1/networks")
    assert response.status_code == 200
    assert response.json() == {"networks": []}


def test_lists_the_imported_networks_without_who(store, districts, db_path, tmp_path: Path):
    walk = import_city(store, tmp_path, "walk")
    import_city(store, tmp_path, "ebike")
    with api_client(store, districts, db_path, network_speed_kmh={"walk": 5.0}) as client:
        doc = client.get("/v1/networks").json()
    assert [n["profile"] for n in doc["networks"]] == ["ebike", "walk"]
    ebike_doc, walk_doc = doc["networks"]
    assert set(walk_doc) == {
        "profile",
        "label",
        "version",
        "source_name",
        "imported_at",
        "nodes",
        "edges",
        "ways",
        "bbox",
        "speed_kmh",
    }
    assert walk_doc["label"] == "步行" and ebike_doc["label"] == "电动车"
    assert walk_doc["version"] == walk.version
    assert walk_doc["source_name"] == "river_city.osm"
    assert (walk_doc["nodes"], walk_doc["edges"], walk_doc["ways"]) == (110, 378, 34)
    assert walk_doc["bbox"] == pytest.approx(list(walk.bbox))
    assert datetime.fromisoformat(walk_doc["imported_at"]) == walk.imported_at
    # the speed routes are timed at now: the setting, merged over the defaults
    assert walk_doc["speed_kmh"] == 5.0 and ebike_doc["speed_kmh"] == 15.0
    assert "tests" not in str(doc)  # imported_by stays private


def test_documented_in_openapi(client) -> None:
    spec = client.get("/openapi.json").json()
    assert "stations" in spec["paths"]["/v1/networks"]["get"]["tags"]
