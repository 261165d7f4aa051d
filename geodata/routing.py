"""Routing on a street network (geodata.network.Network): snapping points to the nearest
edge, the k nearest stations by route, and service times for coverage.

THE CONTRACT (signatures fixed by the lead; package 3 implements; others code against it):

* Distances are metres along the network on the WGS-84 ellipsoid. A point is snapped to the
  nearest straight piece of a way (an edge, never just a node) at fraction ``t`` from
  ``seg_u`` to ``seg_v``; its offsets along the piece are ``t * seg_length_m`` and
  ``(1 - t) * seg_length_m``.
* ``route_m`` of a station = the query's snap distance (straight, point to its way) + the
  shortest path along the network from the query's snapped spot to the station's snapped
  spot (respecting the one-way rules the network already encodes: an edge exists only where
  the profile may go) + the station's snap distance. So ``route_m >= distance_m`` always
  (every leg is at least its chord). ``duration_s`` is the time along that same path
  (network seconds from :meth:`Network.seconds`; the two snap legs at the flat speed).
* Nearest is by ``route_m`` (ties: by station position), exact.
* Station positions are the read index's positions (``StationIndex.nearest.lon/lat``):
  ``Routes.index`` and every mask are over them.

Imports nothing of ours but geodata (the layers).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geodata.network import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[str, float], None]  # (what, share done 0..1)


class PointOffNetworkError(ValueError):
    """The point is farther than ``max_m`` from every edge; ``snap_m`` is how far the
    nearest edge is, when one was found at all (None: none within the search)."""

    def __init__(self, snap_m: float | None, max_m: float) -> None:
        self.snap_m = snap_m
        self.max_m = max_m
        super().__init__(f"no way within {max_m:.0f} m (nearest: {snap_m})")


@dataclass(frozen=True, slots=True, eq=False)
class Snaps:
    """Points snapped to edges, one entry per point: ``segment`` the piece (index into the
    network's ``seg_*`` arrays; -1 where none is within the maximum), ``t`` the fraction
    along it from ``seg_u``, ``snap_m`` the distance from the point to the piece (metres; inf
    where none)."""

    segment: IntArray
    t: FloatArray
    snap_m: FloatArray

    def __len__(self) -> int:
        return int(self.segment.size)

    @property
    def snapped(self) -> BoolArray:
        return self.segment >= 0


class Snapper:
    """The nearest edge to points (a spatial tree over the network's pieces, built once per
    network: about a second per million pieces)."""

    def __init__(self, network: Network) -> None:
        self.network = network
        raise NotImplementedError  # package 3

    def snap(self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, max_m: float) -> Snaps:
        """Each WGS-84 point's nearest piece within ``max_m`` metres."""
        raise NotImplementedError  # package 3


@dataclass(frozen=True, slots=True, eq=False)
class Routes:
    """The answer of :meth:`Router.nearest`: station positions nearest by route first."""

    index: IntArray
    route_m: FloatArray
    duration_s: FloatArray
    snap_m: float  # the query point's distance to its way


@dataclass(frozen=True, slots=True, eq=False)
class ServiceTimes:
    """Travel times to the nearest of a set of stations, bounded by ``limit_s``:
    ``node_s[i]`` from node ``i`` (inf beyond the limit)."""

    router: Router
    node_s: FloatArray
    limit_s: float

    def at(self, points: Snaps) -> FloatArray:
        """From each snapped point (its snap leg not included) to its nearest station of the
        set, seconds; inf beyond the limit or where the point is not snapped."""
        raise NotImplementedError  # package 3


class Router:
    """Routes from points to the read index's stations on one network and profile.

    Built per station snapshot: snapping the stations is quick (the snapper is the
    network's, built once). The per-node nearest-station lists that make :meth:`nearest`
    about as fast as the straight line are built apart (:meth:`build_lists`, tens of seconds
    for a city; or loaded, :meth:`load_lists`); without them :meth:`nearest` is still exact,
    only slower.
    """

    def __init__(
        self,
        network: Network,
        snapper: Snapper,
        station_lon: npt.ArrayLike,
        station_lat: npt.ArrayLike,
        *,
        snap_max_m: float,
        speed_kmh: float,
        steps_factor: float = 1.0,
    ) -> None:
        self.network = network
        self.snapper = snapper
        self.snap_max_m = snap_max_m
        self.speed_kmh = speed_kmh
        raise NotImplementedError  # package 3

    # What the answers name about the stations themselves.
    station_snaps: Snaps  # each station's snap (segment -1: too far from any way)

    @property
    def reachable(self) -> BoolArray:
        """The stations within ``snap_max_m`` of a way (the others are never routed to;
        answers report them)."""
        return self.station_snaps.snapped

    def nearest(
        self,
        lon: float,
        lat: float,
        *,
        k: int,
        mask: BoolArray | None = None,
        max_route_m: float | None = None,
    ) -> Routes:
        """The ``k`` stations passing ``mask`` (all when None) nearest by route from WGS-84
        ``lon``/``lat``, at most ``max_route_m`` away; fewer when fewer are reachable.
        PointOffNetworkError when the point is farther than ``snap_max_m`` from any way."""
        raise NotImplementedError  # package 3

    def service_times(self, mask: BoolArray | None, *, limit_s: float) -> ServiceTimes:
        """Seconds from every node to its nearest station passing ``mask`` (travelling
        towards the station, so one-way rules apply that way), bounded by ``limit_s``."""
        raise NotImplementedError  # package 3

    def reach_counts(
        self, mask: BoolArray | None, points: Snaps, *, limit_s: float, cap: int
    ) -> npt.NDArray[np.int32]:
        """For each snapped point, how many stations passing ``mask`` it reaches within
        ``limit_s`` (counted up to ``cap``: cross coverage asks "at least cap")."""
        raise NotImplementedError  # package 3

    # -- the fast path's lists --------------------------------------------------------------

    def build_lists(self, *, size: int, max_m: float, progress: Progress | None = None) -> None:
        """Build each node's ``size`` nearest stations within ``max_m`` (all stations, no
        filter: a query filters them and falls back to a search when a list cannot prove
        its answer exact)."""
        raise NotImplementedError  # package 3

    def lists_blob(self) -> bytes | None:
        """The built lists as bytes for the store (None: not built)."""
        raise NotImplementedError  # package 3

    def load_lists(self, blob: bytes) -> None:
        """Use lists :meth:`lists_blob` gave for the same network and station positions."""
        raise NotImplementedError  # package 3

    def stations_key(self) -> str:
        """A hash of the station positions the lists depend on (the store keys them by it)."""
        raise NotImplementedError  # package 3
