"""The in-process read index: updated from the audit trail, and kept in step by a watcher."""

from __future__ import annotations

import dataclasses
import gc
import random
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from geodata.hours import TZ
from stations.domain.changes import Create, Delete, Update
from stations.domain.errors import DatabaseUnavailableError
from stations.domain.listings import MappedState, mapped_states
from stations.domain.model import Status
from stations.readmodel.index import (
    CacheName,
    IndexHolder,
    PerStationName,
    StationIndex,
    gc_paused,
)
from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station

HOURS = ["24小时", "周一至周五 9:00-18:00", "8:00-20:00", "周一至周六 8:00-19:00"]
AMENITIES = ["热水", "微波炉、手机充电", "厕所、座椅、无线网络", "热水、冰箱、急救药箱"]


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def _station(districts, rng: random.Random, external_id: str):
    return make_station(
        districts,
        external_id=external_id,
        owner="industry:transport",
        lon=JIEFANGBEI[0] + rng.uniform(-0.01, 0.01),
        lat=JIEFANGBEI[1] + rng.uniform(-0.01, 0.01),
        hours=rng.choice(HOURS),
        amenities=rng.choice(AMENITIES),
    )


def assert_same_index(a: StationIndex, b: StationIndex) -> None:
    assert a.version == b.version
    assert a.stations == b.stations
    assert [a.get(i) for i in a.ids.tolist()] == b.stations
    assert a.hours_list == b.hours_list
    for name in ("ids", "status", "self_service", "amenities", "district", "owner", "mapped"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.array_equal(a.hours_id, b.hours_id)
    assert np.array_equal(a.nearest.lon, b.nearest.lon)
    assert np.array_equal(a.nearest.lat, b.nearest.lat)
    for x, y in zip(a.gcj02 + a.bd09, b.gcj02 + b.bd09, strict=True):
        assert np.array_equal(x, y)


def test_an_updated_index_equals_one_built_afresh(store, districts):
    rng = random.Random(5)
    store.apply([Create(_station(districts, rng, f"S{i}")) for i in range(40)], actor="t")
    index = StationIndex.build(store)
    serial = 40
    for _ in range(6):
        live = list(store.iter_all())
        changes = []
        for s in rng.sample(live, 4):
            changes.append(
                Update(
                    s.with_changes(hours=rng.choice(["24/7", "Mo-Fr 08:00-18:00"])),
                    s.version,
                )
            )
        for s in rng.sample([s for s in live if not any(c.station.id == s.id for c in changes)], 3):
            changes.append(Delete(s.id, s.version))
        for _ in range(5):
            changes.append(Create(_station(districts, rng, f"S{serial}")))
            serial += 1
        store.apply(changes, actor="t")
        index = index.updated(store)
        assert_same_index(index, StationIndex.build(store))
    # A deleted station put back under its old id, as a revert does.
    back = next(iter(store.iter_all()))
    store.delete(back.id, expected_version=back.version, actor="t")
    index = index.updated(store)
    assert index.get(back.id) is None
    store.apply([Create(back)], actor="t", kind="revert")
    index = index.updated(store)
    assert index.get(back.id) is not None
    assert_same_index(index, StationIndex.build(store))


def test_edits_keep_the_trees_only_while_they_still_hold(store, districts):
    # Edits (no station added or removed) take the quick path: arrays copied with the
    # edited entries, the trees kept unless a station moved or changed what filters read.
    rng = random.Random(3)
    store.apply([Create(_station(districts, rng, f"S{i}")) for i in range(30)], actor="t")
    index = StationIndex.build(store)
    at = datetime(2025, 10, 9, 10, 0, tzinfo=TZ)

    def nearest_ids(ix: StationIndex, **kw) -> list[int]:
        return [h.station.id for h in ix.search(*JIEFANGBEI, k=30, at=at, **kw)]

    nearest_ids(index)  # the active stations' filtered tree is built and kept
    edits = [
        lambda s: s.with_changes(contact_phone="023-1234567"),  # trees kept as they are
        lambda s: s.with_changes(status=Status.TEMPORARILY_CLOSED),  # filtered trees renewed
        lambda s: s.with_changes(lon=s.lon + 0.02),  # the tree renewed
        lambda s: s.with_changes(hours="Mo-Fr 09:00-12:00"),
    ]
    for edit in edits:
        live = list(store.iter_all())
        changed = rng.sample(live, 3)
        store.apply([Update(edit(s), s.version) for s in changed], actor="t")
        before = index
        index = index.updated(store)
        assert_same_index(index, StationIndex.build(store))
        fresh = StationIndex.build(store)
        for kw in ({}, {"open_now": True}, {"statuses": list(Status)}):
            assert nearest_ids(index, **kw) == nearest_ids(fresh, **kw), kw
        assert (index.nearest is before.nearest) == (edit is edits[0])


def test_per_station_values_carry_over_only_for_unchanged_stations(store, districts):
    rng = random.Random(8)
    store.apply([Create(_station(districts, rng, f"S{i}")) for i in range(10)], actor="t")
    index = StationIndex.build(store)
    label = PerStationName[str]("label", limit=100)
    index.per_station(label).put({p: f"derived {s.id}" for p, s in enumerate(index.stations)})
    renamed, dropped = index.stations[3], index.stations[6]
    store.apply(
        [
            Update(renamed.with_changes(name="改名驿站"), renamed.version),
            Delete(dropped.id, dropped.version),
            Create(_station(districts, rng, "NEW")),
        ],
        actor="t",
    )
    after = index.updated(store)
    carried = after.per_station(label).get(range(len(after)))
    labels = dict(zip([s.id for s in after.stations], carried, strict=True))
    new_id = next(s.id for s in after.stations if s.external_id == "NEW")
    assert labels.pop(renamed.id) is None  # changed: derived again when asked
    assert labels.pop(new_id) is None
    assert dropped.id not in labels
    assert labels == {k: f"derived {k}" for k in labels}  # the rest carried over as they were
    assert len(labels) == 8


def test_an_unchanged_store_gives_the_same_index(store, districts):
    store.create(make_station(districts), actor="t")
    index = StationIndex.build(store)
    assert index.updated(store) is index


class FlakyStore(SQLiteStore):
    """A SQLite store whose version check can hang like an unreachable server, and counts."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.up = threading.Event()
        self.up.set()
        self.checks = 0

    def data_version(self) -> int:
        self.checks += 1
        if not self.up.is_set():
            self.up.wait(3)  # as a connection attempt that waits for its timeout
            raise DatabaseUnavailableError("the database is unavailable: connection refused")
        return super().data_version()


def wait_for(condition, *, within_s: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < within_s, f"not within {within_s} s"
        time.sleep(0.01)
    return time.monotonic() - start


def test_a_watched_index_sees_a_write_soon_without_asking_per_request(db_path, districts):
    with FlakyStore(db_path) as store:
        store.create(make_station(districts, external_id="A"), actor="t")
        holder = IndexHolder(store, check_interval_s=0.05)
        try:
            before = store.checks
            for _ in range(10_000):
                assert len(holder.current()) == 1
            assert store.checks - before < 100  # the watcher's checks, not one a call
            store.create(make_station(districts, external_id="B"), actor="t")
            assert wait_for(lambda: len(holder.current()) == 2, within_s=1.0) < 1.0
        finally:
            holder.close()


def test_a_watched_index_refuses_at_once_while_the_database_is_away(db_path, districts):
    with FlakyStore(db_path) as store:
        store.create(make_station(districts), actor="t")
        holder = IndexHolder(store, check_interval_s=0.05, stale_after_s=0.5)
        try:
            store.up.clear()

            def refused() -> bool:
                try:
                    holder.current()
                except DatabaseUnavailableError:
                    return True
                return False

            wait_for(refused, within_s=2.0)
            start = time.monotonic()
            with pytest.raises(DatabaseUnavailableError, match="has not answered"):
                holder.current()
            assert time.monotonic() - start < 0.05  # no wait for the database
            # Back: it recovers by itself, with what was written meanwhile elsewhere.
            with SQLiteStore(db_path) as elsewhere:
                elsewhere.create(make_station(districts, external_id="B"), actor="t")
            store.up.set()
            wait_for(lambda: not refused() and len(holder.current()) == 2, within_s=2.0)
        finally:
            store.up.set()
            holder.close()


def test_a_write_through_this_process_is_in_the_index_before_it_returns(db_path, districts):
    with FlakyStore(db_path) as store:
        holder = IndexHolder(store, check_interval_s=5)  # the watcher would take 5 s
        try:
            created = store.create(make_station(districts, external_id="A"), actor="t")
            assert holder.current().get(created.id) == created
            renamed = store.update(
                dataclasses.replace(created, name="改了"),
                expected_version=created.version,
                actor="t",
            )
            assert holder.current().get(created.id).name == "改了" == renamed.name
            store.apply([Delete(created.id, renamed.version)], actor="t")
            assert holder.current().get(created.id) is None
        finally:
            holder.close()
        # A closed holder is no longer told.
        store.create(make_station(districts, external_id="B"), actor="t")
        assert len(holder._index) == 0


def test_a_watched_index_starts_without_the_database_and_loads_when_it_answers(db_path, districts):
    with FlakyStore(db_path) as store:
        store.create(make_station(districts), actor="t")
        store.up.clear()
        holder = IndexHolder(store, check_interval_s=0.05)
        try:
            with pytest.raises(DatabaseUnavailableError, match="not loaded yet"):
                holder.current()
            store.up.set()

            def loaded() -> bool:
                try:
                    return len(holder.current()) == 1
                except DatabaseUnavailableError:
                    return False

            wait_for(loaded, within_s=2.0)
        finally:
            store.up.set()
            holder.close()


def test_typed_queries_and_caches(store, districts):
    rng = random.Random(9)
    store.apply([Create(_station(districts, rng, f"S{i}")) for i in range(6)], actor="t")
    index = StationIndex.build(store)
    statuses = [s.status for s in index.stations]
    for status in Status:
        expected = [st is status for st in statuses]
        assert index.status_mask(status).tolist() == expected
    both = index.status_mask(Status.ACTIVE, Status.PLANNED).tolist()
    assert both == [st in (Status.ACTIVE, Status.PLANNED) for st in statuses]
    states = mapped_states(index.stations, threshold_m=index.threshold_m)
    assert index.mapped_at(np.arange(len(index))) == states
    assert index.mapped_mask(MappedState.NONE).tolist() == [m is MappedState.NONE for m in states]

    name = CacheName[str, int]("answers", max_entries=2)
    cache = index.cache(name)
    assert cache is index.cache(name) and index.cached("answers") is cache
    assert cache.get_or_compute("a", lambda: 1) == 1
    assert cache.get_or_compute("a", lambda: 2) == 1  # kept
    cache.get_or_compute("b", lambda: 3)
    cache.get_or_compute("c", lambda: 4)  # over the limit: starts again
    assert dict(cache) == {"c": 4}
    store.create(_station(districts, rng, "NEW"), actor="t")
    assert index.updated(store).cached("answers") is None  # dropped with the snapshot

    per = PerStationName[str]("label", limit=3)
    cache_ = index.per_station(per)
    cache_.put({0: "a", 1: "b"})
    cache_.put({2: "c", 3: "d"})  # over the limit: starts again
    assert cache_.get([0, 1, 2, 3]) == [None, None, "c", "d"]


def test_hits_states_follow_the_minute_asked_on_one_snapshot(districts):
    # The open states are kept per snapshot for one minute at a time: asking at another
    # minute (either way, and back) must give that minute's, never the kept one's.
    stations = [
        dataclasses.replace(
            make_station(districts, external_id=f"m-{i}", hours="8:00-20:00"), id=i + 1
        )
        for i in range(3)
    ]
    closed = dataclasses.replace(stations[2], status=Status.CLOSED)
    index = StationIndex([*stations[:2], closed], version=1)
    before = datetime(2026, 3, 2, 7, 59, 30, tzinfo=TZ)
    at_eight = datetime(2026, 3, 2, 8, 0, 10, tzinfo=TZ)
    every = (Status.ACTIVE, Status.CLOSED)
    for at, open_now in [(before, False), (at_eight, True), (before, False), (at_eight, True)]:
        hits = index.search(*JIEFANGBEI, k=3, at=at, statuses=every)
        by_id = {h.station.id: h for h in hits}
        assert [by_id[i].open_now for i in (1, 2)] == [open_now, open_now]
        assert by_id[3].open_now is False and by_id[3].next_change is None  # closed for good
        change = "2026-03-02T08:00:00+08:00" if not open_now else "2026-03-02T20:00:00+08:00"
        assert by_id[1].next_change_text == change


def test_mobile_stations_are_placed_at_their_stop_for_the_minute(districts) -> None:
    from dataclasses import replace
    from datetime import datetime

    from geodata.hours import TZ
    from stations.domain.model import Stop
    from stations.readmodel.index import StationIndex
    from tests.builders import make_station

    stop = Stop("南坪步行街", 106.57, 29.53, "Mo-Fr 10:00-14:00")
    fixed = replace(make_station(districts), id=1)
    bus = replace(make_station(districts, external_id="BUS"), id=2, mobile=True, stops=(stop,))
    index = StationIndex([fixed, bus], 1)
    assert index.mobile_positions.tolist() == [1]
    here = index.mobile_at(datetime(2026, 12, 2, 11, 0, tzinfo=TZ))
    assert here.positions.tolist() == [1]
    assert (here.lon.tolist(), here.lat.tolist()) == ([106.57], [29.53])
    assert here.placements[0].until == datetime(2026, 12, 2, 14, 0, tzinfo=TZ)
    assert len(index.mobile_at(datetime(2026, 12, 2, 15, 0, tzinfo=TZ))) == 0


def test_gc_paused_restores_the_collector_as_it_was() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # left off: whoever turned it off turns it on
    finally:
        gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()


def test_a_per_station_value_made_twice_counts_once_towards_the_limit():
    """A request and the warm-up may both make a station's value: the memo holds it once
    and does not start again for it."""
    from stations.readmodel.index import PerStationCache

    cache: PerStationCache[bytes] = PerStationCache(3, limit=3)
    cache.put({0: b"a", 1: b"b"})
    cache.put({1: b"b"})  # made again meanwhile
    cache.put({2: b"c"})
    assert cache.get([0, 1, 2]) == [b"a", b"b", b"c"]
    cache.put({0: b"x", 1: b"y"})  # over the limit: starts again
    assert cache.get([0, 1, 2]) == [b"x", b"y", None]


def test_a_cache_refuses_a_new_key_when_its_queue_is_full_and_serves_the_rest():
    """One key computes, two more wait: a fourth different key is refused at once (a flood
    of costly questions cannot hold every thread), while readers of a key already queued
    wait for it, and every reader is answered once the queue drains."""
    import threading

    from stations.domain.errors import BusyError
    from stations.readmodel.index import MAX_PENDING_KEYS, SnapshotCache

    assert MAX_PENDING_KEYS == 3
    cache: SnapshotCache[str, str] = SnapshotCache(max_entries=100)
    release = threading.Event()
    started = threading.Event()
    answers: dict[str, str] = {}

    def slow() -> str:
        started.set()
        release.wait(10)
        return "a!"

    def ask(key: str, compute) -> None:
        answers[f"{key}{threading.get_ident()}"] = cache.get_or_compute(key, compute)

    threads = [threading.Thread(target=ask, args=("a", slow))]
    threads[0].start()
    assert started.wait(10)
    for key in ("b", "c", "a", "a"):  # two new keys queue; more readers of "a" too
        threads.append(threading.Thread(target=ask, args=(key, lambda k=key: f"{k}!")))
        threads[-1].start()
    deadline = time.monotonic() + 10
    while sum(cache._pending.values()) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert set(cache._pending) == {"a", "b", "c"}
    with pytest.raises(BusyError) as busy:
        cache.get_or_compute("d", lambda: "d!")
    assert busy.value.retry_after_s > 0
    release.set()
    for t in threads:
        t.join(10)
    assert sorted(answers.values()) == ["a!", "a!", "a!", "b!", "c!"]
    assert cache._pending == {}
    assert cache.get_or_compute("d", lambda: "d!") == "d!"  # the queue drained
