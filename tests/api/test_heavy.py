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
from tests.api.console.helpers import login, make_account
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


def test_readers_of_one_new_key_wait_for_a_turn_and_it_is_computed_once():
    """No reader computes without a turn (a second reader of the key the first waits for
    did, and the first then got 503), none waits for a turn holding the cache's lock
    (which stalled a turn's holder that needed that cache), and the value is computed
    once, by whichever reader gets the turn."""
    from functools import partial

    from stations.readmodel.index import COMPUTE_TURN, SnapshotCache

    gate = HeavyGate(running=1, waiting=4, per_client=4, wait_s=5)
    cache: SnapshotCache[str, str] = SnapshotCache(100, turns=True)
    calls: list[int] = []
    answers: list[str] = []

    def compute() -> str:
        calls.append(1)
        return "v"

    def reader() -> None:
        COMPUTE_TURN.set(partial(gate.slot, "me"))  # as HeavyTurns sets it per request
        answers.append(cache.get_or_compute("k", compute))

    with held(gate, "someone else"):
        threads = [threading.Thread(target=reader) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(0.3)
        assert calls == [] and answers == []  # both wait for a turn; none computed
        assert cache._lock.acquire(timeout=0.1)  # and neither holds the cache's lock
        cache._lock.release()
    for t in threads:
        t.join(10)
    assert answers == ["v", "v"] and calls == [1]
    assert gate.in_flight() == (0, 0)


def test_cheap_caches_need_no_turn(client, store, districts):
    """A mirror's updated_since (its cache of write times) answers while planners hold
    every turn: only the costly figures' caches take turns."""
    station = make_station(
        districts, external_id="W", owner="district:500101", lon=WANZHOU[0], lat=WANZHOU[1]
    )
    store.create(station, actor="t")
    gate = client.app.state.heavy_gate = HeavyGate(running=1, waiting=0, per_client=1, wait_s=0.05)
    make_account(store, districts, role="admin", code=None, username="city")
    login(client, "city")
    with held(gate, "someone else"):
        r = client.get("/v1/stations", params={"updated_since": "2020-01-01T00:00:00Z"})
        assert r.status_code == 200 and r.json()["total"] == 1
        # A costly one is refused; the console's page says so in Chinese, and when.
        busy = client.get("/console/gaps", params={"radius_m": 500})
        assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
        assert "计算" in busy.text
    assert client.get("/console/gaps", params={"radius_m": 500}).status_code == 200
    assert gate.in_flight() == (0, 0)
