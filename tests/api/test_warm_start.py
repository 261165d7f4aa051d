"""After start-up, what a planner opens first is computed in the background, not on them."""

from __future__ import annotations

import threading
import time

import pytest

import api.warm
from geodata import travel_coverage
from stations.domain.travel import Travel
from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station
from tests.osm_city import import_city


@pytest.fixture
def store(db_path, districts):
    s = SQLiteStore(db_path)
    for i, (lon, lat) in enumerate([JIEFANGBEI, GUANYINQIAO]):
        s.create(
            make_station(
                districts, owner="industry:transport", external_id=f"S{i}", lon=lon, lat=lat
            ),
            actor="t",
        )
    yield s
    s.close()


def test_the_districts_figures_and_the_map_are_ready_before_anyone_asks(store, districts, db_path):
    with api_client(store, districts, db_path, warm_start=True) as client:
        app = client.app
        app.state.warmer.join(timeout=120)
        assert not app.state.warmer.is_alive()
        cached = app.state.services.index.current().cached
        assert cached("coverage"), "the coverage of /v1/districts is kept"
        assert cached("maps"), "the default coverage map is kept"
        (coverage_key,) = cached("coverage")
        kept = cached("coverage")[coverage_key]
        body = client.get("/v1/districts").json()
        assert body["city"]["coverage"] == kept["city"]["share"]
        assert list(cached("coverage")) == [coverage_key]  # answered from it: nothing new


def test_requests_are_served_while_warming(store, districts, db_path, monkeypatch):
    release = threading.Event()
    started = threading.Event()

    async def slow_warm(app, paths, stopping):
        started.set()
        while not (release.is_set() or stopping.is_set()):
            time.sleep(0.01)

    monkeypatch.setattr(api.warm, "_warm", slow_warm)
    with api_client(store, districts, db_path, warm_start=True) as client:
        assert started.wait(timeout=10)
        assert client.app.state.warmer.is_alive()
        assert client.get("/healthz").status_code == 200
        near = client.get(
            "/v1/stations/nearest", params={"lon": JIEFANGBEI[0], "lat": JIEFANGBEI[1]}
        )
        assert near.status_code == 200 and near.json()["count"] == 2
        warmer = client.app.state.warmer
    # Shutting down stops the warm-up before the store is closed under it.
    assert not warmer.is_alive()
    assert not release.is_set()


def test_no_warm_up_when_switched_off(store, districts, db_path):
    with api_client(store, districts, db_path, warm_start=False) as client:
        assert not hasattr(client.app.state, "warmer")
        assert client.app.state.services.index.current().cached("coverage") is None


def test_the_walk_cell_grid_is_built_by_the_warm_up(store, districts, db_path, tmp_path):
    """With a walk network, the first coverage request by walking time does not snap every
    cell of the grid itself: the warm-up has (the map by walking time is kept too)."""
    import_city(store, tmp_path, "walk")
    with api_client(store, districts, db_path, warm_start=True) as client:
        app = client.app
        app.state.warmer.join(timeout=120)
        assert not app.state.warmer.is_alive()
        index = app.state.services.index.current()
        router = app.state.networks.router(Travel.WALK, index)
        assert travel_coverage._GRIDS.get(router.network), "the cells are snapped"
        assert len(index.cached("maps")) == 2, "the walking map is kept beside the disc one"
        r = client.get("/maps/coverage", params={"travel": "walk"})
        assert r.status_code == 200
        assert len(index.cached("maps")) == 2, "answered from the memo"


def test_warm_up_without_a_network_is_harmless(store, districts, db_path):
    with api_client(store, districts, db_path, warm_start=True) as client:
        client.app.state.warmer.join(timeout=120)
        assert len(client.app.state.services.index.current().cached("maps")) == 1
        assert client.get("/healthz").status_code == 200


def test_every_station_s_nearest_result_is_made_by_the_warm_up(store, districts, db_path):
    """The riders' first answers do not serialise their stations: the warm-up has, and an
    answer from those parts is the one a cold app gives, to the byte."""
    from api.representation import NEAREST_PARTS

    near = "/v1/stations/nearest?lon=106.5772&lat=29.557&at=2026-10-01T14:30:00%2B08:00"
    with api_client(store, districts, db_path, warm_start=True) as client:
        client.app.state.warmer.join(timeout=120)
        index = client.app.state.services.index.current()
        assert None not in index.per_station(NEAREST_PARTS).get(range(len(index)))
        warm = client.get(near)
    with api_client(store, districts, db_path, warm_start=False) as client:
        index = client.app.state.services.index.current()
        assert index.per_station(NEAREST_PARTS).get(range(len(index))) == [None, None]
        cold = client.get(near)
    assert (warm.status_code, warm.headers, warm.content) == (
        cold.status_code,
        cold.headers,
        cold.content,
    )


def test_no_nearest_warm_up_beyond_the_memo_limit(store, districts, db_path):
    from api.representation import NEAREST_PARTS

    with api_client(store, districts, db_path, warm_start=True, nearest_memo_stations=1) as client:
        client.app.state.warmer.join(timeout=120)
        index = client.app.state.services.index.current()
        assert index.per_station(NEAREST_PARTS).get(range(len(index))) == [None, None]
