"""The in-process read model: station arrays and a nearest index, in step with the store."""

from __future__ import annotations

import copy
import gc
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from geodata.along_route import AlongRoute, BallTree, Route, along_route
from geodata.crs import CoordinateSystem, from_wgs84
from geodata.distance import wgs84_geod, wrap_degrees
from geodata.hours import TZ, hours
from geodata.nearest import NearestIndex, ecef, point_frames
from stations.domain.errors import BusyError, DatabaseUnavailableError, StoreError
from stations.domain.listings import DEFAULT_PRECISE_THRESHOLD_M, MappedState, mapped_values
from stations.domain.mobile import Placement, at_stop, place
from stations.domain.model import AMENITIES, Owner, Station, Status
from stations.storage.store import Store

log = logging.getLogger("yizhan.index")

_STATUS_CODES = {s: i for i, s in enumerate(Status)}
_ACTIVE = _STATUS_CODES[Status.ACTIVE]
_AMENITY_BITS = {a: 1 << i for i, a in enumerate(AMENITIES)}


def amenity_bits(amenities: Sequence[str]) -> int:
    """The bit mask of a set of amenity codes (unknown codes raise KeyError)."""
    bits = 0
    for a in amenities:
        bits |= _AMENITY_BITS[a]
    return bits


# Stations share their amenity sets and owners (stations.domain.records): each one's mask
# and text made once, and shared.
_amenity_bits_of = lru_cache(maxsize=4096)(amenity_bits)
_owner_text = lru_cache(maxsize=4096)(str)


@lru_cache(maxsize=4096)
def _is_open(osm: str, minute: datetime) -> bool:
    return hours(osm).is_open(minute)


# Open now, when that changes next, and that time as ISO text.
_OpenState = tuple[bool, datetime | None, str | None]
_CLOSED: _OpenState = (False, None, None)  # not active: closed, for good


@lru_cache(maxsize=65536)
def _state(osm: str, minute: datetime) -> _OpenState:
    """Whether ``osm`` hours are open at ``minute``, when that changes next, as ISO text."""
    change = hours(osm).next_change(minute)
    return _is_open(osm, minute), change, None if change is None else change.isoformat()


K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True)  # no slots: typing sets __orig_class__ on Name[K, V](...)
class CacheName(Generic[K, V]):
    """Names a cache of values readers derive from a snapshot (:meth:`StationIndex.cache`):
    keys of type K, values of type V, at most ``max_entries`` of them (then it starts
    again, so memory stays bounded); at most ``max_pending`` different keys computing or
    waiting at once (None: :data:`MAX_PENDING_KEYS`)."""

    name: str
    max_entries: int
    max_pending: int | None = None
    turns: bool = False  # costly: a miss computes in the request's turn (api/heavy.py)


# Different keys a cache computes or holds waiting at once, at most (one computes; the
# others wait their turn): a reader of a key already among them waits for it whatever.
MAX_PENDING_KEYS = 3

# The turn a costly computation takes first (api/heavy.py sets it for each HTTP request:
# a few at a time per worker, two per client address); unset (the CLI, the warm-up): none.
# Called with ``wait``: False asks for a turn free now (NoTurnNow if none is), True waits
# for one (BusyError past the wait).
COMPUTE_TURN: ContextVar[Callable[..., AbstractContextManager[None]] | None] = ContextVar(
    "compute_turn", default=None
)


class NoTurnNow(Exception):  # noqa: N818 - not an error: the caller waits outside its lock
    """No turn is free this instant (see :data:`COMPUTE_TURN`)."""


def computing() -> AbstractContextManager[None]:
    """Hold the request's turn (see :data:`COMPUTE_TURN`) while computing (gaps, an
    along-route search, a costly cache's miss), waiting for one; never call it holding a
    lock another turn's holder may wait for. Unset (the CLI, the warm-up): no turn."""
    turn = COMPUTE_TURN.get()
    return nullcontext() if turn is None else turn(wait=True)


class SnapshotCache(Mapping[K, V]):
    """Values derived from one snapshot, by key: dropped with it, so they can never outlive
    a change. Read like a mapping; filled by :meth:`get_or_compute`."""

    def __init__(
        self, max_entries: int, max_pending: int | None = None, *, turns: bool = False
    ) -> None:
        max_pending = MAX_PENDING_KEYS if max_pending is None else max_pending
        self.turns = turns  # a miss computes in the request's turn (see COMPUTE_TURN)
        self.max_entries = max_entries
        self.max_pending = max_pending
        self._values: dict[K, V] = {}
        self._lock = threading.Lock()
        self._pending: dict[K, int] = {}  # key -> readers computing or waiting for it
        self._pending_lock = threading.Lock()

    def __getitem__(self, key: K) -> V:
        return self._values[key]

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._values))

    def __len__(self) -> int:
        return len(self._values)

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The value for ``key``, computed by ``compute`` if not kept yet. One computation
        at a time per cache: a reader that asks while another computes waits for it (and
        then finds the value if it was the same key) instead of computing alongside. A
        reader of a new key when ``max_pending`` keys are already computing or waiting is
        refused (BusyError), not queued."""
        found = self._values.get(key)
        if found is not None:
            return found
        with self._pending_lock:
            if key not in self._pending and len(self._pending) >= self.max_pending:
                raise BusyError()
            self._pending[key] = self._pending.get(key, 0) + 1
        try:
            turn = COMPUTE_TURN.get() if self.turns else None
            found = (
                self._computed(key, compute) if turn is None else self._in_turn(key, compute, turn)
            )
        finally:
            with self._pending_lock:
                left = self._pending[key] - 1
                if left:
                    self._pending[key] = left
                else:
                    del self._pending[key]
        return found

    def _computed(self, key: K, compute: Callable[[], V]) -> V:
        """The value, computed under the cache's lock unless someone kept it meanwhile."""
        with self._lock:
            found = self._values.get(key)
            return found if found is not None else self._computed_locked(key, compute)

    def _in_turn(
        self, key: K, compute: Callable[[], V], turn: Callable[..., AbstractContextManager[None]]
    ) -> V:
        """:meth:`_computed` in the request's turn: taken under the lock only if free now
        (a turn is never waited for holding the lock, which another turn's holder may wait
        for); else waited for outside it, and the value looked for again with it."""
        with self._lock:
            found = self._values.get(key)
            if found is not None:
                return found  # computed by the reader this one waited behind
            try:
                with turn(wait=False):
                    return self._computed_locked(key, compute)
            except NoTurnNow:
                pass
        with turn(wait=True):
            return self._computed(key, compute)

    def _computed_locked(self, key: K, compute: Callable[[], V]) -> V:
        if len(self._values) >= self.max_entries:
            self._values.clear()
        found = self._values[key] = compute()
        return found


@dataclass(frozen=True)  # no slots: typing sets __orig_class__ on Name[K, V](...)
class PerStationName(Generic[V]):
    """Names a per-station cache (:meth:`StationIndex.per_station`): a value of type V per
    station, at most ``limit`` of them kept (then it starts again)."""

    name: str
    limit: int


class PerStationCache(Generic[V]):
    """A value readers derive per station, by position in the snapshot (None: not derived
    yet), carried over to the next snapshot for every station that did not change."""

    def __init__(self, size: int, limit: int, values: list[V | None] | None = None) -> None:
        self.limit = limit
        self._values: list[V | None] = [None] * size if values is None else values
        self._filled = len(self._values) - self._values.count(None)

    def get(self, positions: Sequence[int]) -> list[V | None]:
        """The values at ``positions``, None where not derived yet."""
        values = self._values
        return [values[p] for p in positions]

    def put(self, found: Mapping[int, V], *, limit: int | None = None) -> None:
        """Keep ``found`` (by position); the cache starts again first if it would hold
        more than its limit (``limit``, if given, instead of the name's)."""
        if self._filled + len(found) > (self.limit if limit is None else limit):
            self._values[:] = [None] * len(self._values)
            self._filled = 0
        values = self._values
        for position, value in found.items():
            # Counted once: two threads (a request and the warm-up) may make the same one.
            if values[position] is None:
                self._filled += 1
            values[position] = value

    def carried(self, order: Sequence[int], old: int) -> PerStationCache[V]:
        """For a snapshot whose positions come from ``order`` (this snapshot's positions,
        then new stations' from ``old`` on): the values carried over."""
        values = self._values
        return PerStationCache(
            len(order), self.limit, [values[i] if i < old else None for i in order]
        )

    def without(self, positions: Sequence[int]) -> PerStationCache[V]:
        """For a snapshot with the stations at ``positions`` changed: the rest carried."""
        values = list(self._values)
        for position in positions:
            values[position] = None
        return PerStationCache(len(values), self.limit, values)


@dataclass(slots=True)  # not frozen: a frozen init costs ~1 µs a field, ten hits a query
class Hit:
    """One nearest station with its distance and state at the asked time."""

    snapshot: list[Station] = field(repr=False)  # StationIndex.stations
    position: int  # in the snapshot's arrays (.stations, .nearest.lon, ...)
    lon: float  # WGS-84, the station's
    lat: float
    distance_m: float
    bearing_deg: float
    open_now: bool
    next_change: datetime | None
    next_change_text: str | None  # ISO 8601
    # A mobile station (流动驿站) placed at a stop at the asked time (lon/lat are the
    # stop's, open while it stands there, next_change when it leaves); None: a fixed one.
    placement: Placement | None = None

    @property
    def station(self) -> Station:
        # Looked up when asked for: across China the Station objects lie all over memory,
        # and merely holding one (a reference count write) costs a cache miss.
        return self.snapshot[self.position]


def _columns(stations: Sequence[Station], threshold_m: float) -> dict[str, npt.NDArray[Any]]:
    """The per-station arrays of an index, in the order of ``stations``."""
    n = len(stations)
    lon = np.fromiter((s.lon for s in stations), np.float64, n)
    lat = np.fromiter((s.lat for s in stations), np.float64, n)
    # Where the providers' maps put each station (navigation links): cheap in bulk, ~40 µs
    # one at a time.
    gcj_lon, gcj_lat = from_wgs84(lon, lat, crs=CoordinateSystem.GCJ02) if n else (lon, lat)
    bd_lon, bd_lat = from_wgs84(lon, lat, crs=CoordinateSystem.BD09) if n else (lon, lat)
    xyz, zsn = point_frames(lon, lat)
    return {
        "ids": np.fromiter((s.id or 0 for s in stations), np.int64, n),
        "lon": lon,
        "lat": lat,
        "xyz": xyz,
        "zsn": zsn,
        "gcj_lon": np.asarray(gcj_lon, np.float64),
        "gcj_lat": np.asarray(gcj_lat, np.float64),
        "bd_lon": np.asarray(bd_lon, np.float64),
        "bd_lat": np.asarray(bd_lat, np.float64),
        "status": np.fromiter((_STATUS_CODES[s.status] for s in stations), np.int8, n),
        "self_service": np.fromiter((s.self_service_24h for s in stations), np.bool_, n),
        "amenities": np.fromiter(
            (_amenity_bits_of(tuple(s.amenities)) for s in stations), np.int64, n
        ),
        "district": np.array([s.district_adcode for s in stations], dtype="<U12"),
        "owner": np.array([_owner_text(s.owner) for s in stations], dtype=object),
        "mapped": mapped_values(stations, threshold_m=threshold_m),
        "hours": np.array([s.hours for s in stations], dtype=object),
        "mobile": np.fromiter((s.mobile for s in stations), np.bool_, n),
    }


@dataclass(frozen=True, slots=True)
class MobileAt:
    """The mobile stations of a snapshot standing at a stop at one minute (the others are
    between stops, or not active: left out), as arrays in the same order."""

    positions: npt.NDArray[np.intp]  # in the snapshot (.stations, its arrays)
    lon: npt.NDArray[np.float64]  # WGS-84, the stop's
    lat: npt.NDArray[np.float64]
    placements: tuple[Placement, ...]  # which stop, until when

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(frozen=True, slots=True)
class StopPoints:
    """Every stop of every mobile station of a snapshot, one row each: its station's
    position in the snapshot, its index in that station's ``stops``, and where it is."""

    owner: npt.NDArray[np.intp]
    stop: npt.NDArray[np.intp]
    lon: npt.NDArray[np.float64]  # WGS-84
    lat: npt.NDArray[np.float64]
    xyz: npt.NDArray[np.float64]  # ECEF, for the route search

    def __len__(self) -> int:
        return len(self.owner)


class StationIndex:
    """An immutable snapshot of the registry for fast reads; build a new one to change it."""

    def __init__(
        self,
        stations: Sequence[Station],
        version: int,
        *,
        threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M,
        columns: dict[str, npt.NDArray[Any]] | None = None,
        nearest: NearestIndex | None = None,
        hours: tuple[list[str], npt.NDArray[np.int32]] | None = None,
    ) -> None:
        """Index ``stations`` (ordered by id); ``columns`` are their per-station arrays,
        ``nearest`` their nearest index and ``hours`` their distinct hours strings and
        each one's code, when already known (see :meth:`updated`)."""
        self.version = version
        self.threshold_m = threshold_m
        self.stations = list(stations)
        self._columns = columns if columns is not None else _columns(self.stations, threshold_m)
        cols = self._columns
        self.ids = cols["ids"]  # ascending
        if nearest is None:
            frames = (cols["xyz"], cols["zsn"])
            nearest = NearestIndex(cols["lon"], cols["lat"], frames=frames)
        self.nearest = nearest
        self.status = cols["status"]
        self.self_service = cols["self_service"]
        self.amenities = cols["amenities"]
        self.district = cols["district"]
        self.owner = cols["owner"]
        self.mapped = cols["mapped"]
        # Mobile stations (流动驿站): their own lon/lat is a base, not where a rider finds
        # them; mobile_at() places them at a time.
        self.mobile = cols["mobile"]
        self.mobile_positions = np.flatnonzero(self.mobile)
        self._mobile_cache: tuple[datetime, MobileAt] | None = None
        self._stop_points: StopPoints | None = None
        self._mobile_xyz: tuple[MobileAt, npt.NDArray[np.float64]] | None = None
        self.gcj02 = (cols["gcj_lon"], cols["gcj_lat"])  # each station's position in GCJ-02
        self.bd09 = (cols["bd_lon"], cols["bd_lat"])  # and in BD-09
        if hours is None:
            hours_all = cols["hours"].tolist()
            hours_list = sorted(set(hours_all))
            lookup = {h: i for i, h in enumerate(hours_list)}
            hours = (
                hours_list,
                np.fromiter(map(lookup.__getitem__, hours_all), np.int32, len(cols["hours"])),
            )
        self.hours_list, self.hours_id = hours
        # Per station: the code of its hours, or -1 when it is not active (closed for good).
        self._hours_state = np.where(self.status == _ACTIVE, self.hours_id, -1).astype(np.int32)
        self._open_cache: tuple[datetime, bytes, npt.NDArray[np.bool_]] | None = None
        # The open state of each hours string (by code) at one minute, as hits() finds them.
        self._states: tuple[datetime | None, dict[int, _OpenState]] = (None, {})
        # What readers derive from this snapshot (see cache, per_station).
        self._caches_lock = threading.Lock()
        self._caches: dict[str, SnapshotCache[Any, Any]] = {}
        self._per_station: dict[str, PerStationCache[Any]] = {}

    def __len__(self) -> int:
        return len(self.stations)

    def cache(self, name: CacheName[K, V]) -> SnapshotCache[K, V]:
        """The snapshot's cache ``name`` (made empty on first use): values derived from
        this snapshot (e.g. coverage figures, a rendered map), dropped with it."""
        found = self._caches.get(name.name)
        if found is None:
            with self._caches_lock:
                found = self._caches.setdefault(
                    name.name,
                    SnapshotCache(name.max_entries, name.max_pending, turns=name.turns),
                )
        return found

    def cached(self, name: str) -> SnapshotCache[Any, Any] | None:
        """The cache named ``name`` if one was used on this snapshot (for inspection)."""
        return self._caches.get(name)

    def per_station(self, name: PerStationName[V]) -> PerStationCache[V]:
        """The snapshot's per-station cache ``name`` (empty on first use), carried over to
        the next snapshot for the stations that did not change."""
        found = self._per_station.get(name.name)
        if found is None:
            with self._caches_lock:
                found = self._per_station.setdefault(
                    name.name, PerStationCache(len(self), name.limit)
                )
        return found

    def status_mask(self, *statuses: Status) -> npt.NDArray[np.bool_]:
        """Which stations have one of ``statuses``."""
        if len(statuses) == 1:
            return self.status == _STATUS_CODES[statuses[0]]
        return np.isin(self.status, [_STATUS_CODES[s] for s in statuses])

    def mapped_mask(self, *states: MappedState) -> npt.NDArray[np.bool_]:
        """Which stations are in one of the 上图 ``states`` (at this index's threshold)."""
        return np.isin(self.mapped, [m.value for m in states])

    def mapped_at(self, positions: npt.NDArray[np.intp]) -> list[MappedState]:
        """The 上图 state of the stations at ``positions``."""
        return [MappedState(v) for v in self.mapped[positions].tolist()]

    @classmethod
    def build(
        cls, store: Store, *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
    ) -> StationIndex:
        """Read every station of ``store`` into a new index."""
        with gc_paused():
            version = store.data_version()
            return cls(list(store.iter_all()), version, threshold_m=threshold_m)

    def updated(self, store: Store) -> StationIndex:
        """Return an index reflecting ``store`` now: self if unchanged, else a new snapshot.

        Changes are read from the audit trail since this snapshot's version, so a write by
        any process is seen without reloading the whole registry; only the changed
        stations' arrays are computed, the others' are carried over (200,000 stations:
        ~0.1 s instead of ~0.7 s to recompute them all).
        """
        version = store.data_version()
        if version == self.version:
            return self
        changes = store.changes_since(self.version)
        if len(changes) > max(1000, len(self) // 5):
            return StationIndex.build(store, threshold_m=self.threshold_m)
        return self._with(changes, version)

    def _with(self, changes: dict[int, Station | None], version: int) -> StationIndex:
        """This snapshot with ``changes`` (by id: the station now, None if deleted)."""
        if not changes:  # a batch that changed no station: the same read model, a new name
            same = copy.copy(self)
            same.version = version
            same._caches_lock, same._caches = threading.Lock(), {}
            same._per_station = dict(self._per_station)  # the same stations, positions
            return same
        gone = np.fromiter(changes, np.int64, len(changes))
        at = np.minimum(np.searchsorted(self.ids, gone), len(self) - 1)
        if len(self) and (self.ids[at] == gone).all() and None not in changes.values():
            return self._edited(at, list(changes.values()), version)  # type: ignore[arg-type]
        keep = np.flatnonzero(~np.isin(self.ids, gone))
        new = [s for s in changes.values() if s is not None]
        fresh = _columns(new, self.threshold_m)
        # Positions in (old stations + new ones) of the result's stations, by id: one
        # gather per column.
        take = np.concatenate([keep, np.arange(len(self), len(self) + len(new))])
        take = take[np.argsort(np.concatenate([self.ids[keep], fresh["ids"]]), kind="stable")]
        pool = self.stations + new
        order = take.tolist()
        index = StationIndex(
            [pool[i] for i in order],
            version,
            threshold_m=self.threshold_m,
            columns={
                name: np.concatenate([column, fresh[name]])[take]
                for name, column in self._columns.items()
            },
        )
        for name, cache in self._per_station.items():
            index._per_station[name] = cache.carried(order, len(self))
        return index

    def _edited(self, at: npt.NDArray[np.intp], new: list[Station], version: int) -> StationIndex:
        """This snapshot with the stations at positions ``at`` replaced by ``new`` (the
        same ids): an edit, the common write. Every array is copied with those entries
        changed; the nearest index (tree, filtered trees) is kept when no edited station
        moved, its filtered trees too when none changed in what filters read (~0.1 s of
        tree building at 200,000 stations, on the next request after the write)."""
        fresh = _columns(new, self.threshold_m)

        def same(name: str) -> bool:
            return bool(np.array_equal(self._columns[name][at], fresh[name]))

        columns = {}
        for name, column in self._columns.items():
            changed = column.copy()
            changed[at] = fresh[name]
            columns[name] = changed
        nearest = None
        if same("lon") and same("lat"):
            filtered = all(
                same(name) for name in ("status", "self_service", "amenities", "hours", "mobile")
            )
            nearest = self.nearest if filtered else self.nearest.without_filtered_trees()
        stations = list(self.stations)
        for position, station in zip(at.tolist(), new, strict=True):
            stations[position] = station
        index = StationIndex(
            stations,
            version,
            threshold_m=self.threshold_m,
            columns=columns,
            nearest=nearest,
            hours=(self.hours_list, self.hours_id) if same("hours") else None,
        )
        for name, cache in self._per_station.items():
            index._per_station[name] = cache.without(at.tolist())
        return index

    def get(self, station_id: int) -> Station | None:
        """The station with this id in the snapshot, or None."""
        pos = int(np.searchsorted(self.ids, station_id))
        return self.stations[pos] if pos < len(self.ids) and self.ids[pos] == station_id else None

    def select(
        self,
        *,
        district: str | None = None,
        owner: Owner | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        statuses: Sequence[Status] = (),
        mapped: Sequence[MappedState] = (),
        self_service: bool | None = None,
        amenities: Sequence[str] = (),
        at: datetime | None = None,
    ) -> npt.NDArray[np.intp]:
        """Positions (ordered by station id) of the stations passing every given filter.

        With ``at``, the mobile stations are where they stand then (:meth:`mobile_at`):
        ``bbox`` reads their stop's position, and those between stops are left out."""
        mask = self.filter_mask(statuses=statuses, self_service=self_service, amenities=amenities)
        keep = np.ones(len(self), np.bool_) if mask is None else mask.copy()
        if district is not None:
            keep &= self.district == district
        if owner is not None:
            keep &= self.owner == str(owner)
        lon, lat = self.nearest.lon, self.nearest.lat
        if at is not None and len(self.mobile_positions):
            placed = self.mobile_at(at)
            lon, lat = lon.copy(), lat.copy()
            lon[placed.positions], lat[placed.positions] = placed.lon, placed.lat
            standing = np.zeros(len(self), np.bool_)
            standing[placed.positions] = True
            keep &= ~self.mobile | standing
        if bbox is not None:
            minx, miny, maxx, maxy = bbox
            keep &= (lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy)
        if mapped:
            keep &= self.mapped_mask(*mapped)
        return np.flatnonzero(keep)

    def placed_station(self, position: int, at: datetime) -> Station:
        """The station at ``position`` where it is at ``at``: a mobile one at its stop
        (:func:`stations.domain.mobile.at_stop`), a fixed one as stored."""
        placed = self.placement(position, at)
        station = self.stations[position]
        return station if placed is None else at_stop(station, placed)

    def placement(self, position: int, at: datetime) -> Placement | None:
        """Where the mobile station at ``position`` stands at ``at`` (None: a fixed
        station, or between stops), from :meth:`mobile_at`."""
        if not self.mobile[position]:
            return None
        placed = self.mobile_at(at)
        i = int(np.searchsorted(placed.positions, position))
        found = i < len(placed) and placed.positions[i] == position
        return placed.placements[i] if found else None

    def open_mask(self, at: datetime) -> tuple[npt.NDArray[np.bool_], bytes]:
        """Which stations are open at ``at`` (Asia/Shanghai), by hours and status.

        Also returns a key naming the open set: it changes only when some hours string opens
        or closes, so a filtered tree built for it is reused across minutes.
        """
        minute = at.astimezone(TZ).replace(second=0, microsecond=0)
        cached = self._open_cache
        if cached is not None and cached[0] == minute:
            return cached[2], cached[1]
        by_hours = np.fromiter(
            (_is_open(h, minute) for h in self.hours_list), np.bool_, len(self.hours_list)
        )
        mask = by_hours[self.hours_id] & self.status_mask(Status.ACTIVE)
        key = np.packbits(by_hours).tobytes()
        self._open_cache = (minute, key, mask)
        return mask, key

    def mobile_at(self, at: datetime) -> MobileAt:
        """Where the mobile stations stand at ``at`` (stations.domain.mobile.place), for
        every read path that shows stations at a time; kept for the last minute asked."""
        minute = at.astimezone(TZ).replace(second=0, microsecond=0)
        cached = self._mobile_cache
        if cached is not None and cached[0] == minute:
            return cached[1]
        positions, lons, lats, placements = [], [], [], []
        for pos in self.mobile_positions.tolist():
            found = place(self.stations[pos], minute)
            if found is not None:
                positions.append(pos)
                lons.append(found.stop.lon)
                lats.append(found.stop.lat)
                placements.append(found)
        result = MobileAt(
            np.asarray(positions, np.intp),
            np.asarray(lons, np.float64),
            np.asarray(lats, np.float64),
            tuple(placements),
        )
        self._mobile_cache = (minute, result)
        return result

    @property
    def stop_points(self) -> StopPoints:
        """The stops of the snapshot's mobile stations as arrays (made on first use)."""
        found = self._stop_points
        if found is None:
            owner, stop, lons, lats = [], [], [], []
            for pos in self.mobile_positions.tolist():
                for i, s in enumerate(self.stations[pos].stops):
                    owner.append(pos)
                    stop.append(i)
                    lons.append(s.lon)
                    lats.append(s.lat)
            lon, lat = np.asarray(lons, np.float64), np.asarray(lats, np.float64)
            found = self._stop_points = StopPoints(
                np.asarray(owner, np.intp),
                np.asarray(stop, np.intp),
                lon,
                lat,
                point_frames(lon, lat)[0] if len(lon) else np.empty((0, 3)),
            )
        return found

    def filter_mask(
        self,
        *,
        statuses: Sequence[Status] = (),
        self_service: bool | None = None,
        amenities: Sequence[str] = (),
    ) -> npt.NDArray[np.bool_] | None:
        """A mask of the stations passing the static filters, or None when nothing filters."""
        mask: npt.NDArray[np.bool_] | None = None

        def both(m: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
            return m if mask is None else mask & m

        if statuses and set(statuses) != set(Status):
            mask = both(self.status_mask(*statuses))
        if self_service is not None:
            mask = both(self.self_service == self_service)
        if amenities:
            bits = amenity_bits(amenities)
            mask = both((self.amenities & bits) == bits)
        return mask

    def search(
        self,
        lon: float,
        lat: float,
        *,
        k: int = 10,
        radius_m: float | None = None,
        at: datetime,
        open_now: bool = False,
        statuses: Sequence[Status] = (Status.ACTIVE,),
        self_service: bool | None = None,
        amenities: Sequence[str] = (),
    ) -> list[Hit]:
        """The ``k`` nearest stations to WGS-84 ``lon``/``lat`` that pass every filter, at
        ``at``: a mobile station only where it stands then (:meth:`mobile_at`), never at
        its base; on the same distance a fixed station first."""
        if len(statuses) > 1:  # one (the default: active) is in order already
            statuses = tuple(sorted(set(statuses), key=_STATUS_CODES.__getitem__))
        statuses = tuple(statuses)
        if amenities:
            amenities = tuple(sorted(set(amenities), key=AMENITIES.index))
        key: tuple[object, ...] = (statuses, self_service, tuple(amenities))
        if open_now:
            key = (*key, self.open_mask(at)[1])
        # Mobile stations are kept out of the tree (their base is not where they are) by
        # a filtered tree without them: only when the registry has any.
        mobile = len(self.mobile_positions) > 0
        if mobile:
            key = (*key, "fixed")
        filtering = (
            mobile
            or open_now
            or self_service is not None
            or amenities
            or (statuses and len(statuses) != len(_STATUS_CODES))
        )

        def mask() -> npt.NDArray[np.bool_]:
            # Built only when the filtered tree for this key is not cached yet.
            m = self.passing_mask(
                at=at,
                open_now=open_now,
                statuses=statuses,
                self_service=self_service,
                amenities=amenities,
            )
            if mobile:
                m = ~self.mobile if m is None else m & ~self.mobile
            assert m is not None
            return m

        found = self.nearest.near_lists(
            lon, lat, k=k, radius_m=radius_m, mask=mask if filtering else None, mask_key=key
        )
        hits = self._hits(
            found.index,
            self._hours_state[found.positions].tolist(),
            found.lon,
            found.lat,
            found.distance_m,
            found.bearing_deg,
            at,
        )
        if mobile and (not statuses or Status.ACTIVE in statuses):  # placed: active, open
            placed = self._placed_near(
                lon,
                lat,
                at=at,
                bound_m=hits[-1].distance_m if len(hits) == k else radius_m,
                self_service=self_service,
                amenities=amenities,
            )
            if placed:
                hits.extend(placed)
                hits.sort(key=_by_distance)  # stable: fixed first on the same distance
                del hits[k:]
        return hits

    def _placed_near(
        self,
        lon: float,
        lat: float,
        *,
        at: datetime,
        bound_m: float | None,
        self_service: bool | None,
        amenities: Sequence[str],
    ) -> list[Hit]:
        """The mobile stations standing at a stop at ``at`` within ``bound_m`` (None: any
        distance) of ``lon``/``lat`` and passing the static filters, as hits at their stop
        (distance and bearing by ``Geod``), nearest first."""
        here = self.mobile_at(at)
        if not len(here):
            return []
        keep = np.ones(len(here), np.bool_)
        pos = here.positions
        if self_service is not None:
            keep &= self.self_service[pos] == self_service
        if amenities:
            bits = amenity_bits(amenities)
            keep &= (self.amenities[pos] & bits) == bits
        if bound_m is not None:
            # A geodesic is never shorter than its chord: the chord bounds who can be near.
            chord = np.sqrt(((self._stops_xyz(here) - ecef(lon, lat)) ** 2).sum(axis=1))
            keep &= chord <= bound_m * (1 + 1e-9) + 1e-6
        which = np.flatnonzero(keep)
        if not len(which):
            return []
        n = len(which)
        az, _, dist = wgs84_geod().inv(
            np.full(n, lon), np.full(n, lat), here.lon[which], here.lat[which]
        )
        bearing = wrap_degrees(np.asarray(az, np.float64)).tolist()
        found = []
        stations = self.stations
        for j, d, b in zip(which.tolist(), np.asarray(dist).tolist(), bearing, strict=True):
            if bound_m is not None and d > bound_m:
                continue
            placement = here.placements[j]
            until = placement.until
            text = None if until is None else until.isoformat()
            found.append(
                Hit(
                    stations,
                    int(pos[j]),
                    float(here.lon[j]),
                    float(here.lat[j]),
                    float(d),
                    float(b),
                    True,
                    until,
                    text,
                    placement,
                )
            )
        found.sort(key=_by_distance)
        return found

    def _stops_xyz(self, here: MobileAt) -> npt.NDArray[np.float64]:
        """ECEF positions of the stops in ``here`` (kept for the last one asked)."""
        kept = self._mobile_xyz
        if kept is None or kept[0] is not here:
            kept = self._mobile_xyz = (here, ecef(here.lon, here.lat).reshape(-1, 3))
        return kept[1]

    def along_route(
        self,
        route: Route,
        *,
        distance_m: float,
        at: datetime,
        open_now: bool = False,
        statuses: Sequence[Status] = (Status.ACTIVE,),
        self_service: bool | None = None,
        amenities: Sequence[str] = (),
    ) -> AlongRoute:
        """Every station passing the filters of a nearest question (:meth:`passing_mask`)
        within ``distance_m`` metres of ``route`` (WGS-84) on the ellipsoid, ordered by
        metres along it, then id (see :func:`geodata.along_route.along_route`).

        The ball tree over the stations is built on first use (~0.15 s at 186,000) and
        kept as long as the nearest index keeps its points: an edit that moves no
        station keeps it."""
        mask = self.passing_mask(
            at=at,
            open_now=open_now,
            statuses=statuses,
            self_service=self_service,
            amenities=amenities,
        )
        if len(self.mobile_positions):  # a bus is never where its base is
            mask = ~self.mobile if mask is None else mask & ~self.mobile
        near = self.nearest
        tree = BallTree.of(near.xyz) if len(near) else None
        return along_route(
            route, near.lon, near.lat, near.xyz, distance_m=distance_m, mask=mask, tree=tree
        )

    def stops_along_route(
        self,
        route: Route,
        *,
        distance_m: float,
        statuses: Sequence[Status] = (Status.ACTIVE,),
        self_service: bool | None = None,
        amenities: Sequence[str] = (),
    ) -> AlongRoute:
        """The stops (rows of :attr:`stop_points`) within ``distance_m`` of ``route``
        whose mobile station passes the static filters, ordered along the route; whether
        the bus stands there when the rider comes is the caller's question (the arrival
        time depends on the rider's speed)."""
        points = self.stop_points
        if not len(points):
            return along_route(route, points.lon, points.lat, points.xyz, distance_m=distance_m)
        m = self.filter_mask(statuses=statuses, self_service=self_service, amenities=amenities)
        mask = None if m is None else m[points.owner]
        return along_route(
            route, points.lon, points.lat, points.xyz, distance_m=distance_m, mask=mask
        )

    def passing_mask(
        self,
        *,
        at: datetime,
        open_now: bool = False,
        statuses: Sequence[Status] = (Status.ACTIVE,),
        self_service: bool | None = None,
        amenities: Sequence[str] = (),
    ) -> npt.NDArray[np.bool_] | None:
        """Which stations pass every filter of a nearest question (``open_now``: open at
        ``at`` too), as :meth:`search` filters them; None when nothing filters."""
        m = self.filter_mask(statuses=statuses, self_service=self_service, amenities=amenities)
        if open_now:
            open_mask = self.open_mask(at)[0]
            m = open_mask if m is None else m & open_mask
        return m

    def hits(
        self,
        positions: npt.NDArray[np.intp],
        distance_m: Sequence[float],
        bearing_deg: Sequence[float],
        at: datetime,
    ) -> list[Hit]:
        """The stations at ``positions`` as hits, with their distance and bearing from the
        point asked about and their open state at ``at``."""
        return self._hits(
            positions.tolist(),
            self._hours_state[positions].tolist(),
            self.nearest.lon[positions].tolist(),
            self.nearest.lat[positions].tolist(),
            distance_m,
            bearing_deg,
            at,
        )

    def _hits(
        self,
        positions: list[int],
        hours_state: list[int],
        lon: Sequence[float],
        lat: Sequence[float],
        distance_m: Sequence[float],
        bearing_deg: Sequence[float],
        at: datetime,
    ) -> list[Hit]:
        """:meth:`hits` of stations at ``positions`` whose lon/lat and ``hours_state``
        (:attr:`_hours_state`) are known."""
        minute = at.astimezone(TZ).replace(second=0, microsecond=0)
        # Hours change on whole minutes, so the state at the minute is the state at ``at``;
        # evaluated once per distinct hours string and minute in this snapshot. Read from
        # the arrays, not the Station objects: across China those lie all over memory.
        kept = self._states
        if kept[0] != minute:
            kept = self._states = (minute, {})
        states, hours_list = kept[1], self.hours_list
        stations = self.stations
        found = []
        # -1: not active, closed for good; else the code of the station's hours.
        for pos, hours_id, x, y, dist, bearing in zip(
            positions,
            hours_state,
            lon,
            lat,
            distance_m,
            bearing_deg,
            strict=True,
        ):
            state: _OpenState | None = _CLOSED if hours_id < 0 else states.get(hours_id)
            if state is None:
                state = states[hours_id] = _state(hours_list[hours_id], minute)
            found.append(Hit(stations, pos, x, y, dist, bearing, *state))
        return found


def _by_distance(hit: Hit) -> float:
    return hit.distance_m


@contextmanager
def gc_paused() -> Iterator[None]:
    """The garbage collector paused for the block (on again after it, if it was on).

    Reading the whole registry makes hundreds of thousands of long-lived objects and no
    garbage to speak of; the collections their allocation sets off would walk them all
    again and again (1.25 s of the 15 s of a national build)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _freeze_heap() -> None:
    # Hundreds of thousands of long-lived Station objects make every full garbage
    # collection walk them all (measured: ~250 ms pauses at 200k stations, the p99).
    # Moving what exists now to the permanent generation keeps collections short.
    gc.collect()
    gc.freeze()


class IndexHolder:
    """Holds the current StationIndex for a store and keeps it in step with the store.

    With ``check_interval_s`` 0 (SQLite, a local read of microseconds) every call of
    :meth:`current` asks the store for its version and applies any new writes first.
    Above 0 (a networked database) a watcher thread asks every ``check_interval_s`` and
    swaps in the updated index, so a request never waits on the database: it reads the
    snapshot and a clock. A write anywhere is then seen within the interval plus the
    update (~0.1 s at 200,000 stations). While the watcher cannot reach the database
    for ``stale_after_s``, :meth:`current` raises DatabaseUnavailableError at once: the
    index may be missing writes, and the database is needed for anything else anyway; so
    it does until the first load, if the database could not be reached at the start (the
    watcher keeps trying). A write made through this process is applied before the write
    returns (:meth:`Store.watch_writes`): its worker answers with it at once.
    """

    def __init__(
        self,
        store: Store,
        *,
        threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M,
        check_interval_s: float = 0.0,
        stale_after_s: float | None = None,
    ) -> None:
        self.store = store
        self._lock = threading.Lock()
        self.threshold_m = threshold_m
        self._failure: StoreError | None = None
        self._index: StationIndex | None = None
        try:
            # The first load: the collection before it, while the heap is small, and the
            # freeze after it without one (which would walk every station: ~1 s for the
            # national registry). Reading the registry makes no garbage to collect.
            gc.collect()
            self._index = StationIndex.build(store, threshold_m=threshold_m)
            gc.freeze()
        except DatabaseUnavailableError as exc:
            if check_interval_s <= 0:
                raise
            self._failure = exc  # the watcher loads it when the database answers
        self._check_interval_s = check_interval_s
        self.stale_after_s = (
            max(1.0, 4 * check_interval_s) if stale_after_s is None else stale_after_s
        )
        self._confirmed = time.monotonic()  # when the index was last known current
        self._updating = False
        self._closed = threading.Event()
        self._watcher: threading.Thread | None = None
        if check_interval_s > 0:
            store.watch_writes(self._written)
            self._watcher = threading.Thread(
                target=self._watch, name="yizhan-index-watcher", daemon=True
            )
            self._watcher.start()

    def current(self) -> StationIndex:
        """The index as of the store's latest committed write (see the class)."""
        if self._watcher is None:
            return self._refresh()
        index = self._index
        if index is None:
            why = f": {self._failure}" if self._failure is not None else ""
            raise DatabaseUnavailableError(f"the registry is not loaded yet{why}")
        age_s = time.monotonic() - self._confirmed
        if age_s > self.stale_after_s and not self._updating:
            why = f": {self._failure}" if self._failure is not None else ""
            msg = f"the database has not answered for {age_s:.1f} s{why}"
            raise DatabaseUnavailableError(msg)
        return index

    def _refresh(self) -> StationIndex:
        index = self._index
        if index is not None and self.store.data_version() == index.version:
            return index
        with self._lock:
            self._updating = True
            try:
                if self._index is None:
                    updated = StationIndex.build(self.store, threshold_m=self.threshold_m)
                else:
                    updated = self._index.updated(self.store)
                if updated is not self._index:
                    _freeze_heap()
                self._index = updated
            finally:
                self._updating = False
            return updated

    def _written(self, batch_id: int) -> None:
        """A write through this process committed ``batch_id``: apply it now (the
        watcher would only within its interval), so that the answer to the request that
        made it, and every later one here, has it."""
        index = self._index
        if index is None or index.version >= batch_id:
            return
        try:
            self._refresh()
        except StoreError as exc:  # the write stands; the watcher catches up later
            log.warning("could not apply a write to the read index at once: %s", exc)

    def _watch(self) -> None:
        while not self._closed.wait(self._check_interval_s):
            started = time.monotonic()
            try:
                self._refresh()
            except StoreError as exc:
                if self._failure is None:
                    log.warning("cannot check the registry for changes: %s", exc)
                self._failure = exc
                continue
            except Exception:  # a defect: say so, and stop serving what may be stale
                log.exception("updating the read index failed")
                self._failure = DatabaseUnavailableError("the read index could not be updated")
                continue
            if self._failure is not None:
                log.warning("the registry can be checked for changes again")
                self._failure = None
            self._confirmed = started

    def close(self) -> None:
        """Stop the watcher thread, if any (the store stays open)."""
        self._closed.set()
        if self._watcher is not None:
            self.store.unwatch_writes(self._written)
            self._watcher.join(timeout=10)
