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
from typing import Any

import orjson

from stations.domain.errors import StoreError
from stations.domain.freshness import last_confirmed
from stations.domain.stars import StationOps
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

    Thread-safe: one thread re-reads while the others go on with the previous snapshot
    (the first reading, and every one with ``refresh_s`` 0, is waited for)."""

    def __init__(
        self,
        store: Store,
        *,
        refresh_s: float,
        check_in_day_min: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self.refresh_s = refresh_s
        self._check_in_day_min = check_in_day_min
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: OpsSnapshot | None = None

    def current(self) -> OpsSnapshot:
        snapshot = self._snapshot
        if snapshot is not None and self._clock() - snapshot.loaded_at < self.refresh_s:
            return snapshot
        wait = snapshot is None or self.refresh_s <= 0
        if not self._lock.acquire(blocking=wait):
            return snapshot  # type: ignore[return-value]  # another thread is re-reading
        try:
            again = self._snapshot
            if again is not None and again is not snapshot and self.refresh_s > 0:
                return again  # re-read while this thread waited
            try:
                found = self._store.ops_summary(check_in_day_min=self._check_in_day_min)
            except StoreError as exc:  # the database is away: the stations are still served
                log.warning("operations figures not re-read: %s", exc)
                return snapshot or OpsSnapshot({}, self._clock() - self.refresh_s)
            self._snapshot = OpsSnapshot(found, self._clock())
            return self._snapshot
        finally:
            self._lock.release()

    def invalidate(self) -> None:
        """Re-read on the next :meth:`current` (after stars were computed)."""
        self._snapshot = None
