"""The ops read model: re-read at most every refresh_s, one reader at a time, the previous
snapshot served meanwhile and while the database is away."""

from __future__ import annotations

import threading

from stations.domain.errors import DatabaseUnavailableError
from stations.domain.stars import StationOps
from stations.readmodel.ops import OpsModel


class FakeStore:
    def __init__(self) -> None:
        self.reads = 0
        self.fail = False
        self.gate: threading.Event | None = None

    def ops_summary(self, *, check_in_day_min: int) -> dict[int, StationOps]:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise DatabaseUnavailableError("away")
        self.reads += 1
        return {1: StationOps(rating_average=4.0, rating_count=self.reads)}


def test_re_read_only_after_refresh_s():
    store, now = FakeStore(), [100.0]
    model = OpsModel(store, refresh_s=60, check_in_day_min=3, clock=lambda: now[0])  # type: ignore[arg-type]
    assert model.current().fields(1)["rating"] == {"average": 4.0, "count": 1}
    now[0] += 59
    assert model.current().of(1).rating_count == 1
    now[0] += 2
    assert model.current().of(1).rating_count == 2
    assert model.current().fields(2) == {
        "rating": {"average": None, "count": 0},
        "stars": None,
        "last_confirmed": None,
    }
    assert (
        model.current().part(1)
        == b'"rating":{"average":4.0,"count":2},"stars":null,"last_confirmed":null'
    )
    model.invalidate()
    assert model.current().of(1).rating_count == 3


def test_readers_get_the_previous_snapshot_while_one_re_reads():
    store, now = FakeStore(), [0.0]
    model = OpsModel(store, refresh_s=10, check_in_day_min=3, clock=lambda: now[0])  # type: ignore[arg-type]
    first = model.current()
    now[0] = 20
    store.gate = threading.Event()
    reader = threading.Thread(target=model.current)
    reader.start()
    while not model._lock.locked():
        pass
    assert model.current() is first  # not blocked by the one re-reading
    store.gate.set()
    reader.join()
    assert model.current().of(1).rating_count == 2
    assert store.reads == 2


def test_the_database_away_keeps_the_last_snapshot():
    store, now = FakeStore(), [0.0]
    model = OpsModel(store, refresh_s=10, check_in_day_min=3, clock=lambda: now[0])  # type: ignore[arg-type]
    first = model.current()
    store.fail, now[0] = True, 20
    assert model.current() is first
    fresh = OpsModel(store, refresh_s=10, check_in_day_min=3, clock=lambda: now[0])  # type: ignore[arg-type]
    assert fresh.current().of(1) == StationOps()
