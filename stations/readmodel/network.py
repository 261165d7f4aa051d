"""The street networks a worker routes on, kept in step with the store.

THE CONTRACT (the lead's; package 2 implements the body, packages 4 and 5 call it):
``NetworkHolder.router(travel, index)`` gives the Router (geodata.routing) of that profile's
stored network for the station snapshot ``index`` (its positions), or raises NoNetworkError.
The network is loaded from the store once per network version (polled like the read index:
every ``check_interval_s``, or on every call at 0); a Router per index version (snapping the
stations is quick), its per-node station lists loaded from the store's cache when they match
the station positions, else built in a background thread (the Router answers exactly without
them meanwhile, only slower) and kept in the store for the next worker.

How it behaves:

* Polling: ``store.network_versions()`` (one tiny query, no blob) on every call at
  ``check_interval_s`` 0 (SQLite: ~20 us, measured in tests/stations/readmodel/
  test_network_holder.py), else at most once per interval, on the calling thread. A network
  imported or removed by another process is seen at the next poll; a removed one raises
  NoNetworkError from then on and its arrays are released.
* Loading: the request that first needs a new network version loads it (blob, arrays, the
  Snapper's tree: about a second per million edges) under that profile's lock; meanwhile
  the other requests are answered on the version already loaded (a first load, or a new
  station snapshot, waits for it), the other profile is not held up, and a request whose
  Router is ready takes no lock at all. The old version is dropped when the new one is in
  (memory), and the load is logged at INFO.
* Routers: one per (network version, index version), built once (the profile's lock), the
  Snapper shared by every Router of a network version; the two newest index versions are
  kept per profile (a request may still hold the older snapshot). A snapshot whose station
  positions are those of a kept one (an edit that moved nothing: np.array_equal, 1.6 ms
  for 200,000 stations) gets that very Router, lists and all: nothing rebuilt or copied.
* Lists: from another Router of this holder with the same ``stations_key`` (an index change
  that moved no station), else from the store, else (``settings.build_lists``) built by ONE
  background thread on a private Router, stored (not on a read replica) and loaded into
  every served Router with that key. While it builds it looks in the store every 5 s: a
  worker that started at the same time and finished first saves it the rest. A build for
  positions no longer current is abandoned (its progress callback stops it); :meth:`close`
  stops the thread the same way.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from geodata.network import Network, NetworkFormatError
from geodata.routing import Router, Snapper
from stations.domain.errors import StoreError
from stations.domain.travel import NetworkInfo, NoNetworkError, RoutingSettings, Travel
from stations.readmodel.index import StationIndex
from stations.storage.store import Store

log = logging.getLogger("yizhan.network")

RouterFactory = Callable[..., Router]
SnapperFactory = Callable[[Network], Snapper]
_ROUTERS_KEPT = 2  # per profile: the newest index versions' Routers


class _SupersededError(Exception):
    """Raised from the build's progress callback: the build is no longer wanted."""


@dataclass(eq=False)
class _Loaded:
    """One profile's loaded network version and its Routers by index version."""

    info: NetworkInfo
    network: Network
    snapper: Snapper
    routers: dict[int, Router] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)  # index version -> stations_key
    with_lists: set[int] = field(default_factory=set)  # index versions whose lists are in
    positions: dict[int, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]] = field(
        default_factory=dict
    )  # index version -> the stations' lon, lat

    @property
    def version(self) -> int:
        return self.info.version


@dataclass(frozen=True, eq=False)
class _Job:
    travel: Travel
    loaded: _Loaded
    key: str
    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]


class NetworkHolder:
    """Per worker: each profile's network and its Router for the current station snapshot."""

    def __init__(
        self,
        store: Store,
        settings: RoutingSettings,
        *,
        router_factory: RouterFactory = Router,
        snapper_factory: SnapperFactory = Snapper,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.settings = settings
        self._router_factory = router_factory
        self._snapper_factory = snapper_factory
        self._clock = clock
        self._lock = threading.Lock()  # the state below
        self._travel_locks = {t: threading.Lock() for t in Travel}
        self._versions: dict[Travel, int] | None = None
        self._polled_at = 0.0
        self._infos: tuple[dict[Travel, int], dict[Travel, NetworkInfo]] | None = None
        self._loaded: dict[Travel, _Loaded] = {}
        self._unreadable: dict[Travel, int] = {}  # the version of a blob this code cannot read
        # The builder: one thread, one pending job per profile, one running job.
        self._jobs = threading.Condition(self._lock)
        self._pending: dict[Travel, _Job] = {}
        self._running: _Job | None = None
        self._builder: threading.Thread | None = None
        self._closed = False
        self.builds = 0  # lists built by this holder (tests count them)
        self.store_check_s = 5.0  # while building: how often to look for another's lists

    # -- polling -------------------------------------------------------------------------

    def _current_versions(self) -> dict[Travel, int]:
        now = self._clock()
        versions = self._versions
        interval = self.settings.check_interval_s
        if versions is not None and interval > 0 and now - self._polled_at < interval:
            return versions
        try:
            versions = self.store.network_versions()
        except StoreError as exc:
            if self._versions is None or interval <= 0:
                raise
            log.warning("cannot check the stored networks: %s (serving the loaded ones)", exc)
            return self._versions
        self._versions, self._polled_at = versions, now
        gone = [t for t in self._loaded if t not in versions]
        if gone:
            with self._lock:
                for travel in gone:
                    if travel not in versions and self._loaded.pop(travel, None) is not None:
                        self._pending.pop(travel, None)
                        log.info("the %s network was removed: released", travel.value)
        return versions

    def loaded(self) -> dict[Travel, NetworkInfo]:
        """The networks stored now, by profile (what the rider page offers)."""
        versions = self._current_versions()
        cached = self._infos
        if cached is not None and cached[0] == versions:
            return dict(cached[1])
        infos = {info.profile: info for info in self.store.networks()}
        self._infos = ({t: i.version for t, i in infos.items()}, infos)
        return dict(infos)

    # -- routers -------------------------------------------------------------------------

    def router(self, travel: Travel, index: StationIndex) -> Router:
        """The Router of ``travel``'s network for ``index``'s stations; NoNetworkError when
        none is stored."""
        version = self._current_versions().get(travel)
        if version is None:
            raise NoNetworkError(travel)
        loaded = self._loaded.get(travel)
        if loaded is not None and loaded.version >= version:
            found = loaded.routers.get(index.version)
            if found is not None:
                return found
        lock = self._travel_locks[travel]
        if loaded is not None and index.version in loaded.routers:
            # A newer network is stored: one request loads it, the others are answered on
            # the one loaded until it is in.
            if not lock.acquire(blocking=False):
                return loaded.routers.get(index.version) or self._wait(lock, travel, index)
        else:
            lock.acquire()
        try:
            return self._router_locked(travel, index, version)
        finally:
            lock.release()

    def _wait(self, lock: threading.Lock, travel: Travel, index: StationIndex) -> Router:
        with lock:
            version = self._current_versions().get(travel)
            if version is None:
                raise NoNetworkError(travel)
            return self._router_locked(travel, index, version)

    def _router_locked(self, travel: Travel, index: StationIndex, version: int) -> Router:
        if self._unreadable.get(travel) == version:
            raise NoNetworkError(travel)
        loaded = self._loaded.get(travel)
        if loaded is None or loaded.version < version:
            loaded = self._load(travel)
        found = loaded.routers.get(index.version)
        if found is None:
            found = self._new_router(travel, loaded, index)
        return found

    def _load(self, travel: Travel) -> _Loaded:
        started = self._clock()
        stored = self.store.network_arrays(travel)
        if stored is None:
            with self._lock:
                self._loaded.pop(travel, None)
            raise NoNetworkError(travel)
        info, blob = stored
        read_s = self._clock() - started
        try:
            network = Network.from_npz(blob, meta={"version": info.version})
        except NetworkFormatError as exc:  # written by another version of yizhan: import again
            log.error("the stored %s network cannot be read: %s", travel.value, exc)
            self._unreadable[travel] = info.version  # not read again until a new import
            raise NoNetworkError(travel) from exc
        decoded_s = self._clock() - started
        snapper = self._snapper_factory(network)
        loaded = _Loaded(info, network, snapper)
        with self._lock:
            self._loaded[travel] = loaded  # the old version goes with its Routers
            self._pending.pop(travel, None)
        log.info(
            "loaded the %s network version %d (%s): %d nodes, %d edges, %.1f MB; "
            "read %.2f s, decoded %.2f s, snapper %.2f s",
            travel.value,
            info.version,
            info.source_name,
            network.nodes,
            network.edges,
            len(blob) / 1e6,
            read_s,
            decoded_s - read_s,
            self._clock() - started - decoded_s,
        )
        return loaded

    def _new_router(self, travel: Travel, loaded: _Loaded, index: StationIndex) -> Router:
        lon, lat = index.nearest.lon, index.nearest.lat
        # A snapshot whose stations are where they were (a name, hours or status edited):
        # the Router depends on the positions only, so the same one serves it.
        with self._lock:
            same = [
                v
                for v, (x, y) in loaded.positions.items()
                if v in loaded.routers and np.array_equal(x, lon) and np.array_equal(y, lat)
            ]
        if same:
            router, key = loaded.routers[same[-1]], loaded.keys[same[-1]]
            self._keep(loaded, index.version, router, key, (lon, lat))
            with self._lock:
                if same[-1] in loaded.with_lists:
                    loaded.with_lists.add(index.version)
            return router
        router = self._make_router(travel, loaded, lon, lat)
        key = router.stations_key()
        self._keep(loaded, index.version, router, key, (lon, lat))
        if self._fill(travel, loaded, key):
            return router
        if self.settings.build_lists:
            self._schedule(_Job(travel, loaded, key, lon, lat))
        return router

    def _keep(
        self,
        loaded: _Loaded,
        version: int,
        router: Router,
        key: str,
        positions: tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]],
    ) -> None:
        with self._lock:
            loaded.routers[version] = router
            loaded.keys[version] = key
            loaded.positions[version] = positions
            for old in sorted(loaded.routers)[:-_ROUTERS_KEPT]:
                del loaded.routers[old]
                loaded.keys.pop(old, None)
                loaded.positions.pop(old, None)
                loaded.with_lists.discard(old)

    def _make_router(
        self, travel: Travel, loaded: _Loaded, lon: npt.ArrayLike, lat: npt.ArrayLike
    ) -> Router:
        return self._router_factory(
            loaded.network,
            loaded.snapper,
            lon,
            lat,
            snap_max_m=self.settings.snap(travel),
            speed_kmh=self.settings.speed(travel),
            steps_factor=self.settings.steps_factor,
        )

    def _fill(self, travel: Travel, loaded: _Loaded, key: str) -> bool:
        """Give the served Routers with positions ``key`` lists without building them:
        another Router's of this network version, else the store's; whether it could."""
        with self._lock:
            donors = [
                loaded.routers[v]
                for v in loaded.with_lists
                if loaded.keys.get(v) == key and v in loaded.routers
            ]
        for donor in donors:
            blob = donor.lists_blob()
            if blob is not None:
                self._apply(loaded, key, blob)
                return True
        try:
            blob = self.store.station_lists(
                travel, network_version=loaded.version, stations_key=key
            )
        except StoreError as exc:
            log.warning("cannot read the kept station lists: %s", exc)
            return False
        if blob is None:
            return False
        try:
            self._apply(loaded, key, blob)
        except ValueError as exc:  # kept by another version of this code: build again
            log.warning("the kept %s station lists cannot be used: %s", travel.value, exc)
            return False
        log.info(
            "loaded the %s station lists from the store (%.1f MB)", travel.value, len(blob) / 1e6
        )
        return True

    def _missing(self, loaded: _Loaded, key: str) -> bool:
        """Whether a served Router with positions ``key`` has no lists yet (lock held)."""
        return any(
            k == key and v not in loaded.with_lists and v in loaded.routers
            for v, k in loaded.keys.items()
        )

    def _apply(self, loaded: _Loaded, key: str, blob: bytes) -> None:
        """Load ``blob`` into every served Router of ``loaded`` with positions ``key``."""
        with self._lock:
            targets = [
                (v, loaded.routers[v])
                for v, k in loaded.keys.items()
                if k == key and v not in loaded.with_lists and v in loaded.routers
            ]
        done: set[int] = set()  # a Router serving several snapshots gets them once
        for v, router in targets:
            if id(router) not in done:
                router.load_lists(blob)
                done.add(id(router))
            with self._lock:
                loaded.with_lists.add(v)

    # -- the builder ---------------------------------------------------------------------

    def _schedule(self, job: _Job) -> None:
        with self._jobs:
            if self._closed:
                return
            running = self._running
            if running is not None and running.loaded is job.loaded and running.key == job.key:
                return  # that build serves this Router too
            self._pending[job.travel] = job
            if self._builder is None:
                self._builder = threading.Thread(
                    target=self._build_loop, name="yizhan-network-lists", daemon=True
                )
                self._builder.start()
            self._jobs.notify_all()

    def _wanted(self, job: _Job) -> bool:
        """Whether ``job``'s lists are still of use (called with the lock held)."""
        if self._closed or self._loaded.get(job.travel) is not job.loaded:
            return False
        newer = self._pending.get(job.travel)
        if newer is not None and newer.key != job.key:
            return False
        return job.key in job.loaded.keys.values()

    def _build_loop(self) -> None:
        while True:
            with self._jobs:
                while not self._pending and not self._closed:
                    self._jobs.wait()
                if self._closed:
                    return
                travel = next(iter(self._pending))
                job = self._pending.pop(travel)
                if not self._wanted(job):
                    continue
                self._running = job
            again = False
            try:
                self._build(job)
                again = True
            except _SupersededError:
                log.info("the %s station lists build was superseded", job.travel.value)
            except Exception:  # a defect: the Router still answers exactly, only slower
                log.exception("building the %s station lists failed", job.travel.value)
            finally:
                with self._jobs:
                    self._running = None
                    # A Router for these positions that came while the lists were put in
                    # gets them from a sibling on the next round.
                    if again and self._wanted(job) and self._missing(job.loaded, job.key):
                        self._pending.setdefault(job.travel, job)
                    self._jobs.notify_all()

    def _build(self, job: _Job) -> None:
        travel, loaded = job.travel, job.loaded
        if self._fill(travel, loaded, job.key):  # another Router's, or another worker's
            return
        started = self._clock()
        checked = [time.monotonic()]

        def progress(what: str, share: float) -> None:
            with self._lock:
                if not self._wanted(job):
                    raise _SupersededError
            # Another worker may finish the same lists first (they start together): take
            # them and stop building (a build holds ~2 GB for a million edges).
            if time.monotonic() - checked[0] >= self.store_check_s:
                checked[0] = time.monotonic()
                if self._fill(travel, loaded, job.key):
                    log.info("the %s station lists came from another worker", travel.value)
                    raise _SupersededError

        private = self._make_router(travel, loaded, job.lon, job.lat)
        private.build_lists(
            size=self.settings.list_size, max_m=self.settings.list_max_m, progress=progress
        )
        self.builds += 1
        blob = private.lists_blob()
        if blob is None:
            return
        with self._lock:
            if not self._wanted(job):
                return
        if not self.store.read_only:
            try:
                self.store.put_station_lists(
                    travel, network_version=loaded.version, stations_key=job.key, arrays=blob
                )
            except StoreError as exc:
                log.warning("cannot keep the %s station lists: %s", travel.value, exc)
        self._apply(loaded, job.key, blob)
        log.info(
            "built the %s station lists in %.1f s (%.1f MB)",
            travel.value,
            self._clock() - started,
            len(blob) / 1e6,
        )

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Wait until no lists are being built or waiting to be (tests, the CLI); whether
        that happened within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self._jobs:
            while self._pending or self._running is not None:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return not (self._pending or self._running)
                self._jobs.wait(left)
        return True

    def close(self) -> None:
        """Stop any background thread (the store stays open)."""
        with self._jobs:
            self._closed = True
            self._pending.clear()
            self._jobs.notify_all()
            builder = self._builder
        if builder is not None:
            builder.join(timeout=10)
