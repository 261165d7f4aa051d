"""What every station's public record shows of its operations (rating, stars, last
confirmed), read from the store at most every ``refresh_s`` seconds.

Check-ins and ratings arrive hundreds a second at a lunch peak: they never change the
registry's version (so never rebuild the station index), and the record catches up with
them here, once a refresh period, in one set of aggregate queries.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from geodata.hours import TZ
from stations.domain.errors import StoreError
from stations.domain.freshness import last_confirmed
from stations.domain.stars import StationOps
from stations.readmodel.refresh import BackgroundRefresh
from stations.storage.store import Store

log = logging.getLogger("yizhan.ops")

NO_OPS = StationOps()


def ops_fields(ops: StationOps) -> dict[str, Any]:
    """The record's operations fields: ``rating``, ``stars``, ``last_confirmed``."""
    return {
        "rating": {"average": ops.rating_average, "count": ops.rating_count},
        "stars": ops.stars,
        "last_confirmed": last_confirmed(
            ops.last_inspection_at, ops.union_edit_at, ops.last_check_in_day
        ),
    }


_NO_OPS_FIELDS = orjson.dumps(ops_fields(NO_OPS))[1:-1]


class OpsSnapshot:
    """One reading of every station's operations, with each one's fields serialised for
    the nearest results (made on first use; the snapshot is replaced, never changed)."""

    def __init__(self, by_station: dict[int, StationOps], loaded_at: float) -> None:
        self.by_station = by_station
        self.loaded_at = loaded_at
        self._parts: dict[int, bytes] = {}
        self._stars: tuple[dict[int, int], int] | None = None

    def stars(self) -> tuple[dict[int, int], int]:
        """Each rated station's stars, and a key that changes when any of them does (for
        what is drawn once per set of stars: the planners' map)."""
        if self._stars is None:
            found = {i: ops.stars for i, ops in self.by_station.items() if ops.stars}
            self._stars = (found, hash(tuple(sorted(found.items()))))
        return self._stars

    def of(self, station_id: int | None) -> StationOps:
        return self.by_station.get(station_id or 0, NO_OPS)

    def fields(self, station_id: int | None) -> dict[str, Any]:
        return ops_fields(self.of(station_id))

    def part(self, station_id: int | None) -> bytes:
        """The fields as JSON members without braces (``"rating":…,"stars":…,…``)."""
        key = station_id or 0
        found = self._parts.get(key)
        if found is None:
            ops = self.by_station.get(key)
            found = _NO_OPS_FIELDS if ops is None else orjson.dumps(ops_fields(ops))[1:-1]
            self._parts[key] = found  # one dict store: safe across threads
        return found


class OpsModel:
    """The current :class:`OpsSnapshot`, re-read when older than ``refresh_s``.

    Thread-safe, and never in a reader's way: once there is a snapshot, a stale one is
    served while one background thread re-reads (the first reading, and every one with
    ``refresh_s`` 0, is waited for). Check-in days are read incrementally: after the first
    reading, only the days from the previous reading's on (visit_counts grows by a row per
    station and hour; a year of it is not re-read every minute)."""

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float,
        check_in_day_min: int,
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], date] = lambda: datetime.now(TZ).date(),
    ) -> None:
        self._store = store
        self.refresh_s = refresh_s
        self._check_in_day_min = check_in_day_min
        self._clock = clock
        self._today = today
        self._lock = threading.Lock()  # held by the one re-reading
        self._snapshot: OpsSnapshot | None = None
        self._days: dict[int, date] = {}  # each station's last check-in day so far
        self._days_from: date | None = None  # where the next reading of days starts
        self._background = BackgroundRefresh("yizhan-ops", self._lock, self._read_if_old)

    def current(self) -> OpsSnapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - snapshot.loaded_at < self.refresh_s:
            return snapshot
        if snapshot is not None and self.refresh_s > 0:
            self._background.wake()
            return snapshot
        with self._lock:
            again = self._snapshot
            if again is not None and again is not snapshot and self.refresh_s > 0:
                return again  # read while this thread waited
            return self._read() or snapshot or OpsSnapshot({}, self._clock() - self.refresh_s)

    def _read(self) -> OpsSnapshot | None:
        """Read the figures (holding the lock); None while the database is away."""
        since, today = self._days_from, self._today()
        try:
            found = self._store.ops_summary(
                check_in_day_min=self._check_in_day_min, check_ins_since=since
            )
        except StoreError as exc:  # the database is away: the stations are still served
            log.warning("operations figures not re-read: %s", exc)
            return None
        days = dict(self._days)
        for station_id, ops in found.items():
            day = ops.last_check_in_day
            if day is not None and (station_id not in days or day > days[station_id]):
                days[station_id] = day
        by_station = {
            station_id: replace(
                found.get(station_id, NO_OPS), last_check_in_day=days.get(station_id)
            )
            for station_id in found.keys() | days.keys()
        }
        self._days, self._days_from = days, today - timedelta(days=1)
        self._snapshot = OpsSnapshot(by_station, self._clock())
        return self._snapshot

    def _read_if_old(self) -> None:
        snapshot = self._snapshot
        if snapshot is None or self._clock() - snapshot.loaded_at >= self.refresh_s:
            self._read()

    def invalidate(self) -> None:
        """Re-read now, in the caller's thread (after stars were computed: the writer
        waits, not the next reader)."""
        with self._lock:
            self._read()

    def close(self) -> None:
        """Stop the background thread, if any (the store is closing)."""
        self._background.close(timeout=5)
