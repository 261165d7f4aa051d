"""Costly public reads take turns (api/heavy.py): a few at a time per worker, two at a time
from one address, and past that refused at once, never held, so a flood of them cannot hold
every thread and core while riders and clerks wait."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest

from api.heavy import HeavyGate
from stations.domain.errors import BusyError, TooManyAtOnceError
from tests.builders import WANZHOU, make_station


@pytest.fixture
def store(any_store):
    return any_store


@contextmanager
def held(gate: HeavyGate, client: str):
    """A turn held by another request of ``client`` (in a thread of its own: a turn held
    in this context would make this context's requests nested in it)."""
    entered, leave = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.slot(client):
            entered.set()
            leave.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    assert entered.wait(10)
    try:
        yield
    finally:
        leave.set()
        thread.join(10)


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
    with held(gate, "a"):
        started = time.monotonic()
        with pytest.raises(BusyError), gate.slot("b"):
            pass
        assert time.monotonic() - started >= 0.05
        assert gate.in_flight() == (1, 1)
    assert gate.in_flight() == (0, 0)


def test_over_http_new_questions_wait_their_turn_and_kept_answers_none(client, store, districts):
    """Holding the turns, a question not computed yet is 429 (this address has its turns)
    or 503 busy (the worker has none left), with Retry-After; what is kept already is
    answered at once, and riders' nearest never waits."""
    station = make_station(
        districts, external_id="W", owner="district:500101", lon=WANZHOU[0], lat=WANZHOU[1]
    )
    store.create(station, actor="t")
    kept = ["/v1/coverage", "/v1/districts", "/maps/coverage"]
    for url in kept:
        assert client.get(url).status_code == 200  # computed now, kept for the snapshot
    gate = client.app.state.heavy_gate = HeavyGate(running=1, waiting=0, per_client=1, wait_s=0.05)
    new = ["/v1/coverage?radius_m=777", "/v1/gaps?n=1", "/maps/coverage?radius_m=777"]
    route = {"route": "LINESTRING(108.39 30.81, 108.41 30.81)", "distance_m": "500"}
    with held(gate, "testclient"):  # the test client's own address holds its one turn
        for url in new:
            r = client.get(url)
            assert r.status_code == 429, (url, r.text[:300])
            assert r.json()["type"].endswith("/problems/too_many_at_once")
            assert int(r.headers["retry-after"]) > 0
        assert client.get("/v1/stations/along-route", params=route).status_code == 429
        for url in kept:
            assert client.get(url).status_code == 200, url  # kept: no turn needed
    with held(gate, "someone else"):  # the worker's one turn taken, no room to wait
        r = client.get("/v1/coverage?radius_m=777")
        assert r.status_code == 503 and r.json()["type"].endswith("/problems/busy")
        assert client.get("/v1/stations/nearest?lon=108.4&lat=30.81").status_code == 200
    for url in new:
        assert client.get(url).status_code == 200, url
    assert client.get("/v1/stations/along-route", params=route).status_code == 200
    assert gate.in_flight() == (0, 0)


def test_a_nested_computation_takes_no_second_turn():
    gate = HeavyGate(running=1, waiting=0, per_client=1, wait_s=0.05)
    with gate.slot("a"), gate.slot("a"):  # gaps computing coverage figures, say
        assert gate.in_flight() == (1, 1)
    assert gate.in_flight() == (0, 0)
