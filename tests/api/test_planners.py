"""Planner endpoints: per-district figures and targets."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from geodata import workdays
from stations.config import Settings
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station


@pytest.fixture
def client(db_path, districts, tmp_path):
    targets = tmp_path / "targets.toml"
    targets.write_text(
        '[[target]]\ndistrict = "500103"\nmetric = "self_service_24h"\nvalue = 1\n'
        "deadline = 2020-01-01\n",
        encoding="utf-8",
    )
    store = SQLiteStore(db_path)
    store.create(make_station(districts, external_id="A"), actor="t")
    store.create(make_station(districts, external_id="B", status="planned"), actor="t")
    app = create_app(
        Settings(database_url=f"sqlite:///{db_path}", targets_file=targets),
        store=store,
        districts=districts,
    )
    with TestClient(app) as c:
        yield c
    store.close()


def test_districts_lists_all_38_with_figures_and_overdue_targets(client):
    body = client.get("/v1/districts").json()
    assert len(body["districts"]) == 38
    yz = next(d for d in body["districts"] if d["key"] == "500103")
    assert yz["name"] == "渝中区"
    assert yz["stations_total"] == 2
    assert yz["stations_active"] == 1
    assert yz["listed_all_rate"] == 0.0
    (target,) = yz["targets"]
    assert target["overdue"] is True
    assert target["current"] == 0
    assert body["city"]["stations_total"] == 2


def test_one_district_and_unknown(client):
    assert client.get("/v1/districts/500103").json()["stations_active"] == 1
    r = client.get("/v1/districts/123456")
    assert r.status_code == 404
    assert r.json()["type"] == "/problems/unknown_district"


def test_history(client):
    (day,) = client.get("/v1/history/mapped").json()
    assert day["active"] == 1


@pytest.mark.parametrize(("last_year", "warned"), [(2020, True), (9998, False)])
def test_holiday_calendar_coverage_is_shown_on_healthz_and_district_figures(
    client, monkeypatch, last_year, warned
):
    # As if the installed chinese-calendar stopped at last_year (independent of today's date).
    monkeypatch.setattr(workdays, "covered_until", lambda: last_year)
    for doc in (client.get("/healthz").json(), client.get("/v1/districts").json()):
        calendar = doc["holiday_calendar"]
        assert calendar["covered_until"] == last_year
        if warned:
            assert "chinese-calendar" in calendar["warning"]
            assert f"{last_year} 年" in calendar["warning"]
        else:
            assert calendar["warning"] is None


def test_history_is_cached_per_registry_version_and_follows_writes(db_path, districts):
    store = SQLiteStore(db_path)
    store.create(make_station(districts, external_id="A"), actor="t")
    app = create_app(
        Settings(database_url=f"sqlite:///{db_path}"), store=store, districts=districts
    )
    reads = []
    real = store.mapped_history_days

    def counted(**kw):
        reads.append(kw)
        return real(**kw)

    store.mapped_history_days = counted  # type: ignore[method-assign]
    with TestClient(app) as c:
        assert c.get("/v1/history/mapped").json()[0]["active"] == 1
        assert c.get("/v1/history/mapped").json()[0]["active"] == 1
        assert len(reads) == 1  # the second answer came from this version's cache
        store.create(make_station(districts, external_id="B"), actor="t")
        assert c.get("/v1/history/mapped").json()[0]["active"] == 2
        assert len(reads) == 2
    store.close()
