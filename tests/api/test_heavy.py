"""Costly public reads take turns (api/heavy.py): a few at a time per worker, two at a time
from one address, and past that refused at once, never held, so a flood of them cannot hold
every thread and core while riders and clerks wait."""

from __future__ import annotations

import threading
import time

import pytest

from api.heavy import HeavyGate
from stations.domain.errors import BusyError, TooManyAtOnceError
from tests.builders import WANZHOU, make_station


@pytest.fixture
def store(any_store):
    return any_store


def test_one_address_has_two_turns_and_the_worker_a_bounded_queue():
    gate = HeavyGate(running=1, waiting=2, per_client=2, wait_s=5)
    release = threading.Event()
    entered: list[str] = []

    def hold(client: str) -> None:
        with gate.slot(client):
            entered.append(client)
            release.wait(10)

    a1 = threading.Thread(target=hold, args=("a",))
    a1.start()
    while not entered:
        time.sleep(0.01)
    waiting = [threading.Thread(target=hold, args=(c,)) for c in ("a", "b")]
    for t in waiting:
        t.start()
    while gate.in_flight() != (3, 2):
        time.sleep(0.01)
    with pytest.raises(TooManyAtOnceError), gate.slot("a"):  # two running or waiting
        pass
    with pytest.raises(BusyError), gate.slot("c"):  # one running, two waiting: no room
        pass
    release.set()
    for t in (a1, *waiting):
        t.join(10)
    assert sorted(entered) == ["a", "a", "b"]
    assert gate.in_flight() == (0, 0)  # nothing kept of who asked


def test_a_turn_not_given_in_time_is_busy_and_leaves_nothing_behind():
    gate = HeavyGate(running=1, waiting=1, per_client=2, wait_s=0.05)
    with gate.slot("a"):
        started = time.monotonic()
        with pytest.raises(BusyError), gate.slot("b"):
            pass
        assert time.monotonic() - started >= 0.05
        assert gate.in_flight() == (1, 1)
    assert gate.in_flight() == (0, 0)


def test_over_http_the_routes_answer_429_and_503_with_retry_after(client, store, districts):
    station = make_station(
        districts, external_id="W", owner="district:500101", lon=WANZHOU[0], lat=WANZHOU[1]
    )
    store.create(station, actor="t")
    gate = client.app.state.heavy_gate = HeavyGate(running=1, waiting=0, per_client=1, wait_s=0.05)
    routes = ["/v1/coverage", "/v1/gaps?n=1", "/v1/districts", "/maps/coverage"]
    with gate.slot("testclient"):  # the test client's own address holds its one turn
        for url in routes:
            r = client.get(url)
            assert r.status_code == 429, (url, r.text[:300])
            assert r.json()["type"].endswith("/problems/too_many_at_once")
            assert int(r.headers["retry-after"]) > 0
    with gate.slot("someone else"):  # the worker's one turn taken, no room to wait
        r = client.get("/v1/coverage")
        assert r.status_code == 503 and r.json()["type"].endswith("/problems/busy")
        assert client.get("/v1/stations/nearest?lon=108.4&lat=30.81").status_code == 200
    assert all(client.get(url).status_code == 200 for url in routes)
    assert gate.in_flight() == (0, 0)
    body = {"route": "LINESTRING(108.39 30.81, 108.41 30.81)", "distance_m": "500"}
    with gate.slot("testclient"):
        r = client.get("/v1/stations/along-route", params=body)
        assert r.status_code == 429
    assert client.get("/v1/stations/along-route", params=body).status_code == 200
