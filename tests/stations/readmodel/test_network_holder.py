"""NetworkHolder: every worker routes on the store's network, its lists built once.

The Router and Snapper here are small fakes injected into the holder (they count what they
are asked); the real ones are package 3's (geodata.routing) and are exercised by
test_real_router below when they are there.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

import numpy as np
import pytest

from geodata.routing import Router
from stations.domain.travel import NoNetworkError, RoutingSettings, Travel
from stations.readmodel.index import StationIndex
from stations.readmodel.network import NetworkHolder
from stations.storage.open import open_store
from tests.builders import make_station
from tests.stores import grid_network, network_info, put_network

WALK, EBIKE = Travel.WALK, Travel.EBIKE


def settings(**overrides: Any) -> RoutingSettings:
    values: dict[str, Any] = {
        "speed_kmh": {"walk": 4.5, "ebike": 15.0},
        "steps_factor": 0.4,
        "snap_m": {"walk": 200.0, "ebike": 100.0},
        "list_size": 48,
        "list_max_m": 3000.0,
        "check_interval_s": 0.0,
        "build_lists": True,
    }
    values.update(overrides)
    return RoutingSettings(**values)


class Counts:
    def __init__(self) -> None:
        self.snappers = 0
        self.routers = 0
        self.builds = 0
        self.loads = 0
        self.gate: threading.Event | None = None  # set: builds wait for it
        self.building = threading.Event()


class FakeSnapper:
    def __init__(self, network: Any, counts: Counts) -> None:
        self.network = network
        counts.snappers += 1


class FakeRouter:
    def __init__(self, network, snapper, lon, lat, *, snap_max_m, speed_kmh, steps_factor, counts):
        self.network, self.snapper = network, snapper
        self.lon, self.lat = np.asarray(lon, float), np.asarray(lat, float)
        self.snap_max_m, self.speed_kmh, self.steps_factor = snap_max_m, speed_kmh, steps_factor
        self.counts = counts
        self.lists: bytes | None = None
        counts.routers += 1

    def stations_key(self) -> str:
        return hashlib.sha256(self.lon.tobytes() + self.lat.tobytes()).hexdigest()[:16]

    def build_lists(self, *, size, max_m, progress=None) -> None:
        self.counts.building.set()
        gate = self.counts.gate
        while gate is not None and not gate.wait(0.01):
            if progress is not None:
                progress("lists", 0.5)
        if progress is not None:
            progress("lists", 1.0)
        self.counts.builds += 1
        self.lists = f"lists {self.stations_key()} {size} {max_m}".encode()

    def lists_blob(self) -> bytes | None:
        return self.lists

    def load_lists(self, blob: bytes) -> None:
        assert blob.decode().split()[1] == self.stations_key()
        self.counts.loads += 1
        self.lists = blob


def holder(store, counts: Counts, **overrides: Any) -> NetworkHolder:
    clock = overrides.pop("clock", time.monotonic)
    return NetworkHolder(
        store,
        settings(**overrides),
        router_factory=lambda *a, **kw: FakeRouter(*a, **kw, counts=counts),
        snapper_factory=lambda network: FakeSnapper(network, counts),
        clock=clock,
    )


def stations(districts, positions: list[tuple[float, float]]) -> list:
    return [
        make_station(districts, external_id=f"S{i}", lon=lon, lat=lat)
        for i, (lon, lat) in enumerate(positions)
    ]


POSITIONS = [(106.5705, 29.5505), (106.5715, 29.5512), (106.5722, 29.5521)]


@pytest.fixture
def index(districts) -> StationIndex:
    return StationIndex(stations(districts, POSITIONS), 5)


@pytest.fixture
def store(any_store):
    return any_store


def test_no_network_is_a_clear_error(store, index) -> None:
    counts = Counts()
    h = holder(store, counts)
    assert h.loaded() == {}
    with pytest.raises(NoNetworkError) as err:
        h.router(WALK, index)
    assert "yizhan network import" in str(err.value) and "--profile walk" in str(err.value)
    h.close()


def test_router_on_the_stored_network_with_the_settings(store, index) -> None:
    counts = Counts()
    info = put_network(store, "walk", n=5)
    h = holder(store, counts)
    router = h.router(WALK, index)
    assert isinstance(router, FakeRouter)
    assert router.network.nodes == 25 and router.network.meta["version"] == info.version
    assert (router.snap_max_m, router.speed_kmh, router.steps_factor) == (200.0, 4.5, 0.4)
    np.testing.assert_array_equal(router.lon, index.nearest.lon)
    assert h.router(WALK, index) is router  # one Router per (network, index) version
    assert list(h.loaded()) == [WALK] and h.loaded()[WALK].version == info.version
    with pytest.raises(NoNetworkError):
        h.router(EBIKE, index)  # only walk was imported
    assert h.wait_idle(10)
    assert counts.builds == 1 and router.lists is not None  # built, then swapped in
    assert (
        store.station_lists(WALK, network_version=info.version, stations_key=router.stations_key())
        == router.lists
    )
    h.close()


def test_two_workers_share_the_network_and_the_lists(store_url, index) -> None:
    """Two holders on two connections to one store (two workers): one builds the lists,
    the other loads them from the store; an import and a removal reach both."""
    s1, s2 = open_store(store_url), open_store(store_url)
    c1, c2 = Counts(), Counts()
    h1, h2 = holder(s1, c1), holder(s2, c2)
    try:
        first = put_network(s1, "walk")
        r1 = h1.router(WALK, index)
        assert h1.wait_idle(10) and c1.builds == 1
        r2 = h2.router(WALK, index)
        assert h2.wait_idle(10)
        assert c2.builds == 0 and c2.loads == 1 and r2.lists == r1.lists
        assert r2.network.meta["version"] == first.version

        second = put_network(s1, "walk", n=6)  # a new import, through the first worker
        assert second.version > first.version
        r2b = h2.router(WALK, index)
        assert r2b.network.nodes == 36 and c2.snappers == 2
        assert h2.wait_idle(10) and c2.builds == 1  # the lists were of the old network

        s1.remove_network(WALK)
        for h in (h1, h2):
            with pytest.raises(NoNetworkError):
                h.router(WALK, index)
            assert h.loaded() == {}
            assert WALK not in h._loaded  # the arrays are released

        third = put_network(s2, "walk")  # never a version a worker has seen
        assert third.version > second.version
        assert h1.router(WALK, index).network.meta["version"] == third.version
    finally:
        for h in (h1, h2):
            h.close()
        s1.close()
        s2.close()


def test_an_index_change_reuses_the_snapper_and_the_lists_when_nothing_moved(
    store, districts, index
) -> None:
    counts = Counts()
    put_network(store)
    h = holder(store, counts)
    r5 = h.router(WALK, index)
    assert h.wait_idle(10) and counts.builds == 1
    # A new snapshot (a name edited): same positions, so the same Router and lists.
    same = StationIndex(stations(districts, POSITIONS), 6)
    r6 = h.router(WALK, same)
    assert r6 is r5 and counts.routers == 2  # the one served and the build's private one
    assert h.wait_idle(10) and counts.builds == 1
    # A station moved: new lists, the same snapper.
    moved = StationIndex(stations(districts, [*POSITIONS[:2], (106.5731, 29.5530)]), 7)
    r7 = h.router(WALK, moved)
    assert r7.snapper is r5.snapper and counts.snappers == 1
    assert h.wait_idle(10) and counts.builds == 2 and r7.lists != r5.lists
    h.close()


def test_a_newer_index_supersedes_a_running_build(store, districts, index) -> None:
    counts = Counts()
    counts.gate = threading.Event()
    put_network(store)
    h = holder(store, counts)
    old = h.router(WALK, index)
    assert counts.building.wait(10)
    assert h.router(WALK, StationIndex(stations(districts, POSITIONS), 6)) is old  # moved none
    moved = StationIndex(stations(districts, [(106.5712, 29.5507), *POSITIONS[1:]]), 7)
    h.router(WALK, moved)
    h.router(WALK, StationIndex(stations(districts, [(106.5713, 29.5508), *POSITIONS[1:]]), 8))
    newest = h.router(
        WALK, StationIndex(stations(districts, [(106.5714, 29.5509), *POSITIONS[1:]]), 9)
    )
    counts.gate.set()
    assert h.wait_idle(10)
    # The first build stopped at its next progress report, the middle one never ran.
    assert counts.builds == 1 and newest.lists is not None and old.lists is None
    h.close()


def test_close_stops_a_running_build(store, index) -> None:
    counts = Counts()
    counts.gate = threading.Event()
    put_network(store)
    h = holder(store, counts)
    h.router(WALK, index)
    assert counts.building.wait(10)
    started = time.monotonic()
    h.close()
    assert time.monotonic() - started < 2
    assert h._builder is not None and not h._builder.is_alive()
    assert counts.builds == 0


def test_a_read_replica_builds_but_does_not_keep_lists(store, index) -> None:
    counts = Counts()
    info = put_network(store)
    store.read_only = True  # what a PostGIS replica says of itself
    h = holder(store, counts)
    router = h.router(WALK, index)
    assert h.wait_idle(10) and router.lists is not None
    key = router.stations_key()
    assert store.station_lists(WALK, network_version=info.version, stations_key=key) is None
    h.close()


def test_lists_off_in_the_settings(store, index) -> None:
    counts = Counts()
    put_network(store)
    h = holder(store, counts, build_lists=False)
    router = h.router(WALK, index)
    assert h.wait_idle(1) and router.lists is None and h._builder is None
    h.close()


def test_polling_every_interval(store, index) -> None:
    counts = Counts()
    now = [1000.0]
    h = holder(store, counts, check_interval_s=5.0, clock=lambda: now[0])
    with pytest.raises(NoNetworkError):
        h.router(WALK, index)
    put_network(store)
    now[0] += 4.0
    with pytest.raises(NoNetworkError):  # not asked again within the interval
        h.router(WALK, index)
    now[0] += 1.5
    assert h.router(WALK, index).network.nodes == 16
    h.close()


def test_many_threads_one_router_per_version(store, index) -> None:
    counts = Counts()
    put_network(store)
    put_network(store, "ebike")
    h = holder(store, counts)
    found: list[Any] = []
    barrier = threading.Barrier(8)

    def ask(travel: Travel) -> None:
        barrier.wait()
        found.extend(h.router(travel, index) for _ in range(50))

    threads = [threading.Thread(target=ask, args=([WALK, EBIKE][i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 400 and len({id(r) for r in found}) == 2
    assert h.wait_idle(10) and counts.snappers == 2
    assert counts.routers == 4 and counts.builds == 2  # 2 served, 2 private to the builds
    h.close()


def test_the_poll_per_request_is_cheap(db_path, index) -> None:
    """check_interval_s 0 on SQLite: one tiny query per call (figure printed)."""
    store = open_store(f"sqlite:///{db_path}")
    counts = Counts()
    put_network(store, n=60)
    h = holder(store, counts, build_lists=False)
    h.router(WALK, index)
    n = 2000
    started = time.perf_counter()
    for _ in range(n):
        h.router(WALK, index)
    per_call_us = (time.perf_counter() - started) / n * 1e6
    print(f"\nNetworkHolder.router, cached, polling every call (SQLite): {per_call_us:.1f} us")
    assert per_call_us < 500
    h.close()
    store.close()


def test_requests_are_answered_on_the_old_network_while_the_new_one_loads(store, index) -> None:
    counts = Counts()
    put_network(store)
    loading, release = threading.Event(), threading.Event()

    def snapper(network: Any) -> FakeSnapper:
        if network.nodes == 36:  # the new import: slow to load
            loading.set()
            assert release.wait(10)
        return FakeSnapper(network, counts)

    h = NetworkHolder(
        store,
        settings(build_lists=False),
        router_factory=lambda *a, **kw: FakeRouter(*a, **kw, counts=counts),
        snapper_factory=snapper,
    )
    old = h.router(WALK, index)
    put_network(store, n=6)
    got: list[Any] = []
    loader = threading.Thread(target=lambda: got.append(h.router(WALK, index)))
    loader.start()
    assert loading.wait(10)
    started = time.monotonic()
    assert h.router(WALK, index) is old  # not held up by the load
    assert time.monotonic() - started < 1
    release.set()
    loader.join(10)
    assert got[0].network.nodes == 36 and h.router(WALK, index) is got[0]
    h.close()


def test_a_snapshot_that_moved_nothing_shares_the_build(store, districts, index) -> None:
    counts = Counts()
    counts.gate = threading.Event()
    put_network(store)
    h = holder(store, counts)
    router = h.router(WALK, index)
    assert counts.building.wait(10)
    assert h.router(WALK, StationIndex(stations(districts, POSITIONS), 6)) is router
    counts.gate.set()
    assert h.wait_idle(10)
    assert counts.builds == 1 and counts.loads == 1 and router.lists is not None
    h.close()


def test_real_router_and_lists_shared_through_the_store(store_url, districts) -> None:
    """geodata.routing's Router and Snapper (package 3) behind the holder: a nearest answer,
    the lists built by one worker and loaded by the other."""
    positions = [(106.5705, 29.5505), (106.5721, 29.5519), (106.5689, 29.5492)]
    index = StationIndex(stations(districts, positions), 3)
    s1, s2 = open_store(store_url), open_store(store_url)
    h1 = NetworkHolder(s1, settings(list_size=4, list_max_m=2000.0))
    h2 = NetworkHolder(s2, settings(list_size=4, list_max_m=2000.0))
    try:
        put_network(s1, "walk", n=8)
        r1 = h1.router(WALK, index)
        assert h1.wait_idle(60) and r1.lists_blob() is not None
        key = r1.stations_key()
        assert s1.station_lists(WALK, network_version=r1.network.meta["version"], stations_key=key)
        r2 = h2.router(WALK, index)
        assert h2.wait_idle(60) and h2.builds == 0 and r2.lists_blob() == r1.lists_blob()
        # With the loaded lists, the same answers as a search without them.
        plain = Router(
            r2.network,
            r2.snapper,
            index.nearest.lon,
            index.nearest.lat,
            snap_max_m=200.0,
            speed_kmh=4.5,
            steps_factor=0.4,
        )
        for lon, lat in [(106.5700, 29.5500), (106.5731, 29.5544), (106.5768, 29.5561)]:
            got, want = r2.nearest(lon, lat, k=2), plain.nearest(lon, lat, k=2)
            assert got.index.tolist() == want.index.tolist()
            np.testing.assert_allclose(got.route_m, want.route_m)
            assert sorted(r2.nearest(lon, lat, k=3).index.tolist()) == [0, 1, 2]
        s1.remove_network(WALK)
        with pytest.raises(NoNetworkError):
            h2.router(WALK, index)
    finally:
        for h in (h1, h2):
            h.close()
        s1.close()
        s2.close()


def test_a_build_stops_when_another_worker_stored_the_lists(store, index) -> None:
    counts = Counts()
    counts.gate = threading.Event()
    info = put_network(store)
    h = holder(store, counts)
    h.store_check_s = 0.0
    router = h.router(WALK, index)
    assert counts.building.wait(10)
    key = router.stations_key()
    theirs = f"lists {key} 48 3000.0".encode()
    store.put_station_lists(WALK, network_version=info.version, stations_key=key, arrays=theirs)
    assert h.wait_idle(10)  # without the gate ever opening
    assert counts.builds == 0 and router.lists == theirs
    counts.gate.set()
    h.close()


def test_a_network_this_code_cannot_read_says_to_import_again(store, index) -> None:
    counts = Counts()
    info = network_info(grid_network())
    store.put_network(info, b"not an npz")
    h = holder(store, counts)
    with pytest.raises(NoNetworkError) as err:
        h.router(WALK, index)
    assert "yizhan network import" in str(err.value)
    reads = []
    arrays = store.network_arrays
    store.network_arrays = lambda travel: reads.append(travel) or arrays(travel)
    with pytest.raises(NoNetworkError):
        h.router(WALK, index)
    assert reads == []  # the broken blob is not read again on every request
    put_network(store)  # imported again: routed
    assert h.router(WALK, index).network.nodes == 16 and reads == [WALK]
    h.close()
