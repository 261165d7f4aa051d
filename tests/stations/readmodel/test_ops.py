"""The ops read model: re-read at most every refresh_s, in the background once there is a
snapshot (readers never wait), check-in days read incrementally, the last snapshot kept
while the database is away."""

from __future__ import annotations

import threading
import time
from datetime import date

from stations.domain.errors import DatabaseUnavailableError
from stations.domain.stars import StationOps
from stations.readmodel.ops import OpsModel

TODAY = date(2026, 12, 1)


class FakeStore:
    def __init__(self) -> None:
        self.reads = 0
        self.fail = False
        self.gate: threading.Event | None = None
        self.since: list[date | None] = []
        self.days: dict[int, date] = {}

    def ops_summary(
        self, *, check_in_day_min: int, check_ins_since: date | None = None
    ) -> dict[int, StationOps]:
        if self.gate is not None:
            self.gate.wait(5)
        if self.fail:
            raise DatabaseUnavailableError("away")
        self.reads += 1
        self.since.append(check_ins_since)
        found = {1: StationOps(rating_average=4.0, rating_count=self.reads)}
        for station_id, day in self.days.items():
            if check_ins_since is None or day >= check_ins_since:
                found[station_id] = StationOps(last_check_in_day=day)
        return found


def model_of(store, now, refresh_s=60):
    return OpsModel(
        store,  # type: ignore[arg-type]
        refresh_s=refresh_s,
        check_in_day_min=3,
        clock=lambda: now[0],
        today=lambda: TODAY,
    )


def _eventually(check) -> None:
    deadline = time.monotonic() + 5
    while not check():
        assert time.monotonic() < deadline, "not re-read in 5 s"
        time.sleep(0.01)


def test_re_read_only_after_refresh_s_and_in_the_background():
    store, now = FakeStore(), [100.0]
    model = model_of(store, now)
    try:
        assert model.current().fields(1)["rating"] == {"average": 4.0, "count": 1}
        now[0] += 59
        assert model.current().of(1).rating_count == 1
        now[0] += 2
        model.current()
        _eventually(lambda: model.current().of(1).rating_count == 2)
        assert model.current().fields(2) == {
            "rating": {"average": None, "count": 0},
            "stars": None,
            "last_confirmed": None,
        }
        assert model.current().part(1) == (
            b'"rating":{"average":4.0,"count":2},"stars":null,"last_confirmed":null'
        )
        model.invalidate()
        assert model.current().of(1).rating_count == 3
    finally:
        model.close()


def test_readers_never_wait_for_a_re_reading():
    store, now = FakeStore(), [0.0]
    model = model_of(store, now, refresh_s=10)
    try:
        first = model.current()
        now[0] = 20
        store.gate = threading.Event()
        started = time.monotonic()
        assert model.current() is first
        assert model.current() is first
        assert time.monotonic() - started < 1
        store.gate.set()
        _eventually(lambda: model.current() is not first)
        assert store.reads == 2
    finally:
        model.close()


def test_check_in_days_are_read_from_the_previous_reading_on():
    store, now = FakeStore(), [0.0]
    store.days = {7: date(2026, 6, 1)}
    model = model_of(store, now, refresh_s=0)
    assert model.current().of(7).last_check_in_day == date(2026, 6, 1)
    store.days = {7: date(2026, 6, 1), 8: date(2026, 12, 1)}
    snapshot = model.current()
    assert store.since == [None, date(2026, 11, 30)]
    assert snapshot.of(7).last_check_in_day == date(2026, 6, 1)  # kept from the first
    assert snapshot.of(8).last_check_in_day == date(2026, 12, 1)
    assert snapshot.fields(8)["last_confirmed"]["how"] == "check_ins"


def test_the_database_away_keeps_the_last_snapshot():
    store, now = FakeStore(), [0.0]
    model = model_of(store, now, refresh_s=0)
    first = model.current()
    store.fail = True
    assert model.current() is first
    fresh = model_of(store, now, refresh_s=0)
    assert fresh.current().of(1) == StationOps()
