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

How it is done (package 3):

* Snapping: a shapely STRtree over the pieces drawn in an azimuthal equidistant frame on the
  WGS-84 ellipsoid centred on the network's bounding box. Its scale error is about (s/R)^2/6
  at s from the centre (3e-6 at 30 km, 3e-5 at 100 km), so the piece found is the nearest to
  within millimetres at a 200 m snap distance. ``t`` is the projection's fraction along the
  piece in that frame, clamped to [0, 1]; the snapped spot is then placed on the piece's
  geodesic at ``t * length`` (pyproj Geod), and ``snap_m`` is the geodesic distance from the
  point to that spot. Equidistant pieces: the lowest piece index wins.
* Nearest: a heap Dijkstra on the CSR arrays in metres (among equally short routes the
  quickest, so ``duration_s`` is well defined), the query seeded at its piece's ends
  with its offsets, the stations as virtual targets on their pieces (offset + their own snap
  leg), a station on the query's own piece reached directly along it where the profile may go
  that way. It stops once k passing stations are settled and nothing nearer than the k-th is
  left (ties: by station position). Seconds ride along in the heap entries.
* Lists (the fast path): per node the ``size`` nearest stations within ``max_m``, from chunked
  ``scipy.sparse.csgraph.dijkstra`` on the reversed graph with the stations appended as
  virtual nodes. A query merges its piece's two ends' lists (+ offsets) and same-piece
  stations; the answer is exact when its k-th route is shorter than what each list used
  covers (its last entry when full, else ``max_m``); otherwise the heap search answers.
* Durations: the heap search takes the quickest of equally short routes; the lists and the
  long searches (scipy) take the seconds along scipy's shortest-path tree, which on an exact
  tie in metres (two equally long ways, one of them steps) may be the slower of the two.
* Service times: one bounded multi-source ``dijkstra(min_only=True)`` in seconds on the
  reversed graph from the stations' virtual nodes.

Imports nothing of ours but geodata (the layers).
"""

from __future__ import annotations

import hashlib
import heapq
import io
import math
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Geod, Transformer
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from geodata.network import Network

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[str, float], None]  # (what, share done 0..1)

_GEOD = Geod(ellps="WGS84")
LISTS_FORMAT = 1
# The lists' build: distances held per Dijkstra chunk (sources x nodes; 12 bytes each), and
# the pairs gathered before a merge (at least; or an eighth of the lists' size).
_CHUNK_CELLS = 8e6
_MERGE_PAIRS = 1_000_000
# A query's heap search hands over to scipy past this many settled nodes (scipy's fixed
# cost, ~0.3-1 ms a call, is about the heap's for that many).
_HEAP_SETTLED = 800
# The long search's first bound (metres) at least; metres per degree of latitude (about).
_SCIPY_REACH = 1500.0
_M_PER_DEG = 111_195.0
# The planar search radius over the geodesic maximum: the frame's scale error is far below.
_SEARCH_SLACK = 1.001


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
        lon0, lat0 = _centre(network)
        self._pipeline = (
            "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad "
            f"+step +proj=aeqd +lat_0={lat0:.9f} +lon_0={lon0:.9f} +ellps=WGS84"
        )
        self._local = threading.local()  # a Transformer must not be shared between threads
        x, y = self._transformer().transform(network.lon, network.lat)
        self._x = np.asarray(x, dtype=np.float64)
        self._y = np.asarray(y, dtype=np.float64)
        u, v = network.seg_u, network.seg_v
        self._dx = self._x[v] - self._x[u]
        self._dy = self._y[v] - self._y[u]
        self._len2 = self._dx * self._dx + self._dy * self._dy
        if u.size:
            az, _, _ = _GEOD.inv(network.lon[u], network.lat[u], network.lon[v], network.lat[v])
            self._az = np.asarray(az, dtype=np.float64)
        else:
            self._az = np.zeros(0)
        coords = np.stack([np.c_[self._x[u], self._y[u]], np.c_[self._x[v], self._y[v]]], axis=1)
        self._tree = shapely.STRtree(shapely.linestrings(coords))
        # What the Routers of this network build from the network alone (its graph sorted,
        # in Python lists), once per speed: a Router per station snapshot, so per write.
        self._shared: dict[tuple[object, ...], object] = {}
        self._shared_lock = threading.Lock()

    def shared(self, key: tuple[object, ...], build: Callable[[], object]) -> object:
        """``build()``, once per ``key`` for this network (concurrent callers wait for it)."""
        with self._shared_lock:
            found = self._shared.get(key)
            if found is None:
                found = self._shared[key] = build()
            return found

    def _transformer(self) -> Transformer:
        tr: Transformer | None = getattr(self._local, "tr", None)
        if tr is None:
            tr = Transformer.from_pipeline(self._pipeline)
            self._local.tr = tr
        return tr

    def snap(self, lon: npt.ArrayLike, lat: npt.ArrayLike, *, max_m: float) -> Snaps:
        """Each WGS-84 point's nearest piece within ``max_m`` metres."""
        lon_a = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        lat_a = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        n = lon_a.size
        segment = np.full(n, -1, dtype=np.int64)
        t_out = np.zeros(n)
        snap_m = np.full(n, np.inf)
        ok = np.flatnonzero(np.isfinite(lon_a) & np.isfinite(lat_a))
        if not ok.size or not self._len2.size:
            return Snaps(segment, t_out, snap_m)
        px, py = self._transformer().transform(lon_a[ok], lat_a[ok])
        px, py = np.atleast_1d(np.asarray(px)), np.atleast_1d(np.asarray(py))
        radius = None if math.isinf(max_m) else max_m * _SEARCH_SLACK + 1.0
        (pi, si), _ = self._tree.query_nearest(
            shapely.points(px, py), max_distance=radius, return_distance=True, all_matches=True
        )
        if not pi.size:
            return Snaps(segment, t_out, snap_m)
        order = np.lexsort((si, pi))  # equidistant pieces: the lowest index wins
        pi, si = pi[order], si[order]
        first = np.ones(pi.size, dtype=bool)
        first[1:] = pi[1:] != pi[:-1]
        pi, si = pi[first], si[first]
        u = self.network.seg_u[si]
        len2 = self._len2[si]
        dot = (px[pi] - self._x[u]) * self._dx[si] + (py[pi] - self._y[u]) * self._dy[si]
        t = np.clip(np.divide(dot, len2, out=np.zeros_like(dot), where=len2 > 0), 0.0, 1.0)
        along = t * self.network.seg_length_m[si].astype(np.float64)
        net = self.network
        slon, slat, _ = _GEOD.fwd(net.lon[u], net.lat[u], self._az[si], along)
        _, _, dist = _GEOD.inv(lon_a[ok][pi], lat_a[ok][pi], slon, slat)
        dist = np.asarray(dist, dtype=np.float64)
        keep = dist <= max_m
        idx = ok[pi[keep]]
        segment[idx] = si[keep]
        t_out[idx] = t[keep]
        snap_m[idx] = dist[keep]
        return Snaps(segment, t_out, snap_m)

    def snap_one(self, lon: float, lat: float, *, max_m: float) -> tuple[int, float, float]:
        """One point's (piece, t, snap_m) as :meth:`snap` gives them (piece -1: none within
        ``max_m``), in plain floats: a query's snap costs a few tens of microseconds."""
        if not (math.isfinite(lon) and math.isfinite(lat)) or not self._len2.size:
            return -1, 0.0, math.inf
        px, py = self._transformer().transform(lon, lat)
        radius = None if math.isinf(max_m) else max_m * _SEARCH_SLACK + 1.0
        found = self._tree.query_nearest(_point(px, py), max_distance=radius, all_matches=True)
        if not found.size:
            return -1, 0.0, math.inf
        si = int(found.min())  # equidistant pieces: the lowest index wins
        net = self.network
        u = int(net.seg_u[si])
        len2 = float(self._len2[si])
        dot = (px - float(self._x[u])) * float(self._dx[si]) + (py - float(self._y[u])) * float(
            self._dy[si]
        )
        t = min(max(dot / len2 if len2 > 0 else 0.0, 0.0), 1.0)
        along = t * float(net.seg_length_m[si])
        slon, slat, _ = _GEOD.fwd(float(net.lon[u]), float(net.lat[u]), float(self._az[si]), along)
        _, _, dist = _GEOD.inv(lon, lat, slon, slat)
        if not dist <= max_m:
            return -1, 0.0, math.inf
        return si, t, float(dist)

    def distance_m(self, lon: float, lat: float) -> float | None:
        """How far the nearest piece is from a point, whatever the distance (None: no piece)."""
        found = self.snap([lon], [lat], max_m=math.inf)
        return float(found.snap_m[0]) if found.segment[0] >= 0 else None


def _point(x: float, y: float) -> shapely.Point:
    """A shapely point, without the public constructor's checks (a third of a snap)."""
    return shapely.lib.points(np.array((x, y)), _NAN_ALLOW)


_NAN_ALLOW = np.intc(0)


def _centre(network: Network) -> tuple[float, float]:
    if not network.nodes:
        return 0.0, 0.0
    lon0, lat0, lon1, lat1 = network.bbox
    return (lon0 + lon1) / 2, (lat0 + lat1) / 2


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
    mask: BoolArray | None = None  # the stations of the set (None: every reachable one)

    def at(self, points: Snaps) -> FloatArray:
        """From each snapped point (its snap leg not included) to its nearest station of the
        set, seconds; inf beyond the limit or where the point is not snapped."""
        r = self.router
        out = r._via_ends_s(points, self.node_s[None, :])[0]
        pt, _, direct_s = r._same_piece(points, self.mask, seconds=True)
        if pt.size:
            np.minimum.at(out, pt, direct_s)
        out[out > self.limit_s] = np.inf
        return out


@dataclass(frozen=True, slots=True, eq=False)
class _Lists:
    station: npt.NDArray[np.int32]  # (nodes, size) station positions, -1 padding
    route_m: FloatArray  # (nodes, size) node to station, metres (station snap included)
    route_s: npt.NDArray[np.float32]  # seconds along the same routes
    size: int
    max_m: float
    eps_m: float  # the build's sort resolution (a list is sure only below last - eps_m)

    def bound(self, node: int) -> float:
        """Up to which distance (exclusive) the node's list holds every station."""
        last = float(self.route_m[node, -1])
        return last - self.eps_m if math.isfinite(last) else self.max_m


_Pairs = tuple[npt.NDArray[np.int32], npt.NDArray[np.int32], FloatArray, npt.NDArray[np.float32]]


def _merge(
    kept: _Pairs, kept_key: FloatArray, pend: list[_Pairs], n: int, size: int, scale: float
) -> tuple[_Pairs, FloatArray, FloatArray]:
    """The ``size`` nearest (node, station, metres, seconds) per node of both, sorted by
    node and metres; their sort keys; each node's ``size``-th distance (inf while not
    full). ``kept`` is sorted already: only the new pairs are sorted, then slotted in.

    The key ``node * scale + metres`` orders metres only to its float resolution (see
    :func:`_key_eps`); the lists vouch for distances below their last minus that."""
    if not pend:
        return kept, kept_key, _thresholds(kept, n, size)
    p_node = np.concatenate([x[0] for x in pend])
    p_dist = np.concatenate([x[2] for x in pend])
    p_key = p_node.astype(np.float64) * scale + p_dist
    order = np.argsort(p_key, kind="stable")
    p_key = p_key[order]
    total = kept_key.size + p_key.size
    at = np.searchsorted(kept_key, p_key, side="right") + np.arange(p_key.size)
    is_new = np.zeros(total, dtype=bool)
    is_new[at] = True

    def slot(old: npt.NDArray, new: npt.NDArray) -> npt.NDArray:
        out = np.empty(total, dtype=old.dtype)
        out[at] = new[order]
        out[~is_new] = old
        return out

    node = slot(kept[0], p_node)
    start = np.searchsorted(node, np.arange(n, dtype=np.int32))
    rank = np.arange(total) - start[node]
    keep = rank < size
    merged: _Pairs = (
        node[keep],
        slot(kept[1], np.concatenate([x[1] for x in pend]))[keep],
        slot(kept[2], p_dist)[keep],
        slot(kept[3], np.concatenate([x[3] for x in pend]))[keep],
    )
    key = slot(kept_key, p_key[np.argsort(order)])[keep]
    return merged, key, _thresholds(merged, n, size)


def _thresholds(kept: _Pairs, n: int, size: int) -> FloatArray:
    node, dist = kept[0], kept[2]
    start = np.searchsorted(node, np.arange(n, dtype=np.int32))
    rank = np.arange(node.size) - start[node]
    thr = np.full(n, np.inf)
    full = rank == size - 1
    thr[node[full]] = dist[full]
    return thr


def _key_eps(nodes: int, scale: float) -> float:
    """How far apart two distances may be and still sort either way in the merge keys."""
    return float(np.spacing(float(nodes) * scale + scale)) * 4


def _edges(
    rows: IntArray, cols: IntArray, data: FloatArray, then: FloatArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """The edges sorted by row then column, parallel ones reduced to the shortest (scipy
    would add them up; ``then`` breaks ties and comes aligned with the kept edges)."""
    order = np.lexsort((then, data, cols, rows))
    rows, cols, data, then = rows[order], cols[order], data[order], then[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return rows[first], cols[first], data[first], then[first]


_NetEdges = tuple[IntArray, IntArray, FloatArray, FloatArray]  # indptr, cols, data, other


def _net_edges(
    rows: IntArray, cols: IntArray, data: FloatArray, then: FloatArray, n: int
) -> _NetEdges:
    """The network's own edges as CSR arrays over its ``n`` nodes (see :func:`_edges`)."""
    rows, cols, data, then = _edges(rows, cols, data, then)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return indptr, cols, data, then


def _with_stations(
    net: _NetEdges,
    n: int,
    s: int,
    att: tuple[IntArray, IntArray, FloatArray, FloatArray],
    *,
    from_nodes: bool,
) -> tuple[csr_matrix, FloatArray]:
    """The network's sorted edges (shared by every Router) and the stations' edges, as one
    CSR matrix over ``n + s`` nodes, rows and columns sorted, with ``other`` aligned: the
    station edges go from nodes to station nodes (``from_nodes``: columns above every
    node, so each goes at its row's end) or from station nodes (rows after the nodes')."""
    indptr, cols, data, other = net
    a_rows, a_cols, a_data, a_other = _edges(*att)
    width = n + s
    if from_nodes:
        at = indptr[a_rows + 1]  # each at the end of its row: the columns stay sorted
        cols = np.insert(cols, at, a_cols)
        data = np.insert(data, at, a_data)
        other = np.insert(other, at, a_other)
        count = np.bincount(a_rows, minlength=n)
        full = np.empty(width + 1, dtype=np.int64)
        full[: n + 1] = indptr
        full[1 : n + 1] += np.cumsum(count)
        full[n + 1 :] = full[n]
    else:
        cols = np.concatenate([cols, a_cols])
        data = np.concatenate([data, a_data])
        other = np.concatenate([other, a_other])
        full = np.empty(width + 1, dtype=np.int64)
        full[: n + 1] = indptr
        full[n + 1 :] = indptr[n] + np.cumsum(np.bincount(a_rows - n, minlength=s))
    return csr_matrix((data, cols, full), shape=(width, width)), other


def _path_seconds(
    dist: FloatArray,
    pred: npt.NDArray[np.int32],
    edge_keys: IntArray,
    seconds: FloatArray,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """For each row's reached nodes: (row, node, metres, seconds along the row's shortest
    path tree), by pointer jumping over the predecessors (log of the depth passes).
    ``edge_keys`` are the graph's edges as ``row * width + col``, sorted."""
    width = dist.shape[1]
    r, c = np.nonzero(np.isfinite(dist))  # row-major: the flat keys come sorted
    flat = r.astype(np.int64) * width + c
    p = pred[r, c].astype(np.int64)
    root = p < 0
    p_safe = np.where(root, c, p)
    ptr = np.searchsorted(flat, r.astype(np.int64) * width + p_safe)
    e = np.searchsorted(edge_keys, p_safe * width + c)  # the edge p -> c
    # acc[i]: seconds from entry i up to entry ptr[i]; the roots point at themselves.
    acc = np.where(root, 0.0, seconds[np.minimum(e, seconds.size - 1)])
    while True:
        nxt = ptr[ptr]
        if (nxt == ptr).all():
            return r, c, dist[r, c], acc
        acc = acc + acc[ptr]
        ptr = nxt


def _tree_seconds(
    pred: npt.NDArray[np.int32], node: int, secs: FloatArray, keys: IntArray, width: int
) -> float:
    """Seconds along the predecessor chain from the tree's root to ``node``."""
    chain = [node]
    x = int(pred[node])
    while x >= 0:
        chain.append(x)
        x = int(pred[x])
    if len(chain) < 2:
        return 0.0
    c = np.array(chain, dtype=np.int64)
    e = np.searchsorted(keys, c[1:] * width + c[:-1])  # edges pred -> node
    return float(secs[e].sum())


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
        self.steps_factor = steps_factor
        self.station_lon = np.ascontiguousarray(station_lon, dtype=np.float64).ravel()
        self.station_lat = np.ascontiguousarray(station_lat, dtype=np.float64).ravel()
        self.station_snaps = snapper.snap(self.station_lon, self.station_lat, max_m=snap_max_m)
        self._reachable = self.station_snaps.snapped
        self._reachable.setflags(write=False)
        self._flat_ms = speed_kmh / 3.6
        net = network
        self._edge_s = net.seconds(speed_kmh, steps_factor)
        seg_s = np.zeros(net.seg_u.size)
        seg_s[net.edge_seg] = self._edge_s
        self._seg_s = seg_s
        self._seg_m = net.seg_length_m.astype(np.float64)
        self._lists: _Lists | None = None
        self._graphs: dict[bool, tuple[csr_matrix, FloatArray]] = {}
        self._fwd: tuple[csr_matrix, FloatArray, IntArray] | None = None
        self._py: tuple[list[int], list[int], list[float], list[float]] | None = None
        self._build_lock = threading.Lock()  # the lazy graphs above: built once, not per thread
        self._stations_on_nodes()

    # What the answers name about the stations themselves.
    station_snaps: Snaps  # each station's snap (segment -1: too far from any way)

    @property
    def reachable(self) -> BoolArray:
        """The stations within ``snap_max_m`` of a way (the others are never routed to;
        answers report them)."""
        return self._reachable

    # -- the stations on the graph -------------------------------------------------------------

    def _stations_on_nodes(self) -> None:
        """Each reachable station as a target from its piece's ends: (station, node, metres,
        seconds) from the node to the station, the station's snap leg included."""
        net, sn = self.network, self.station_snaps
        st = np.flatnonzero(sn.snapped)
        seg = sn.segment[st]
        t = sn.t[st]
        leg_m = sn.snap_m[st]
        leg_s = leg_m / self._flat_ms
        m, s = self._seg_m[seg], self._seg_s[seg]
        # u -> v allowed: the station is reached from u (and from an end it sits on, always).
        fwd = (net.seg_fwd[seg] >= 0) | (t * m == 0)
        back = (net.seg_back[seg] >= 0) | ((1 - t) * m == 0)
        self._att_station = np.concatenate([st[fwd], st[back]])
        self._att_node = np.concatenate([net.seg_u[seg[fwd]], net.seg_v[seg[back]]]).astype(
            np.int64
        )
        self._att_m = np.concatenate([t[fwd] * m[fwd], (1 - t[back]) * m[back]]) + np.concatenate(
            [leg_m[fwd], leg_m[back]]
        )
        self._att_s = np.concatenate([t[fwd] * s[fwd], (1 - t[back]) * s[back]]) + np.concatenate(
            [leg_s[fwd], leg_s[back]]
        )
        attach: dict[int, list[tuple[int, float, float]]] = {}
        for a, node, om, os_ in zip(
            self._att_station.tolist(),
            self._att_node.tolist(),
            self._att_m.tolist(),
            self._att_s.tolist(),
            strict=True,
        ):
            attach.setdefault(node, []).append((a, om, os_))
        self._attach = attach
        # Stations by piece, for the same-piece direct routes.
        order = np.lexsort((st, seg))
        self._by_seg_station = st[order]
        self._by_seg_seg = seg[order]
        on_piece: dict[int, list[tuple[int, float, float]]] = {}
        for a, p, tt, leg in zip(
            st.tolist(), seg.tolist(), t.tolist(), leg_m.tolist(), strict=True
        ):
            on_piece.setdefault(p, []).append((a, tt, leg))
        self._on_piece = on_piece

    def _same_piece(
        self, points: Snaps, mask: BoolArray | None, *, seconds: bool
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """(point, station, cost) for each station passing ``mask`` on a point's own piece
        that the point reaches directly along it; cost in metres or seconds, the station's
        snap leg included."""
        seg = points.segment
        lo = np.searchsorted(self._by_seg_seg, seg, side="left")
        hi = np.searchsorted(self._by_seg_seg, seg, side="right")
        count = np.where(seg >= 0, hi - lo, 0)
        if not count.sum():
            e = np.zeros(0, dtype=np.int64)
            return e, e, np.zeros(0)
        pt = np.repeat(np.arange(seg.size), count)
        start = np.repeat(lo, count)
        within = np.arange(pt.size) - np.repeat(np.cumsum(count) - count, count)
        st = self._by_seg_station[start + within]
        if mask is not None:
            keep = mask[st]
            pt, st = pt[keep], st[keep]
        p = seg[pt]
        tq, ts = points.t[pt], self.station_snaps.t[st]
        net = self.network
        ahead = (ts >= tq) & (net.seg_fwd[p] >= 0)
        behind = (ts <= tq) & (net.seg_back[p] >= 0)
        same_spot = np.abs(ts - tq) * self._seg_m[p] == 0
        scale = self._seg_s[p] if seconds else self._seg_m[p]
        leg = self.station_snaps.snap_m[st] / (self._flat_ms if seconds else 1.0)
        cost = np.where(ahead | behind | same_spot, np.abs(ts - tq) * scale + leg, np.inf)
        ok = np.isfinite(cost)
        return pt[ok], st[ok], cost[ok]

    def _via_ends_s(self, points: Snaps, node_s: FloatArray) -> FloatArray:
        """Seconds from each point through its piece's allowed ends plus ``node_s`` (rows:
        one per source set; columns: nodes), inf where not snapped."""
        net = self.network
        rows = node_s.shape[0]
        out = np.full((rows, len(points)), np.inf)
        ok = np.flatnonzero(points.snapped)
        if not ok.size:
            return out
        seg = points.segment[ok]
        t = points.t[ok]
        s, m = self._seg_s[seg], self._seg_m[seg]
        fwd = (net.seg_fwd[seg] >= 0) | ((1 - t) * m == 0)  # towards v (or on it)
        back = (net.seg_back[seg] >= 0) | (t * m == 0)
        via_v = np.where(fwd, (1 - t) * s, np.inf)[None, :] + node_s[:, net.seg_v[seg]]
        via_u = np.where(back, t * s, np.inf)[None, :] + node_s[:, net.seg_u[seg]]
        out[:, ok] = np.minimum(via_v, via_u)
        return out

    def _reversed_graph(self, *, seconds: bool) -> csr_matrix:
        """The network reversed, in seconds or metres, with each reachable station appended
        as node ``nodes + station`` with edges to the nodes it is reached from."""
        return self._reversed(seconds=seconds)[0]

    def _reversed(self, *, seconds: bool) -> tuple[csr_matrix, FloatArray]:
        """:meth:`_reversed_graph` and, aligned with its edges, the other unit (seconds
        when in metres: among parallel edges of one length the quickest is kept). Built
        once per router: the network's edges sorted once per network (~0.3 s per million),
        the stations' slotted in)."""
        cached = self._graphs.get(seconds)
        if cached is None:
            with self._build_lock:
                cached = self._graphs.get(seconds)
                if cached is None:
                    cached = self._graphs[seconds] = self._build_reversed(seconds=seconds)
        return cached

    def _build_reversed(self, *, seconds: bool) -> tuple[csr_matrix, FloatArray]:
        net = self.network
        n, s = net.nodes, self.station_lon.size
        rows = n + self._att_station
        if seconds:
            att = (rows, self._att_node, self._att_s, self._att_m)
        else:
            att = (rows, self._att_node, self._att_m, self._att_s)
        return _with_stations(
            self._net_graph(reverse=True, seconds=seconds), n, s, att, from_nodes=False
        )

    def _net_graph(self, *, reverse: bool, seconds: bool) -> _NetEdges:
        """The network's own edges sorted (shared by every Router of this network and
        speed through the snapper)."""
        net = self.network

        def build() -> _NetEdges:
            src = net.edge_sources().astype(np.int64)
            dst = net.indices.astype(np.int64)
            rows, cols = (dst, src) if reverse else (src, dst)
            metres = net.length_m.astype(np.float64)
            if seconds:
                return _net_edges(rows, cols, self._edge_s, metres, net.nodes)
            return _net_edges(rows, cols, metres, self._edge_s, net.nodes)

        key = ("graph", reverse, seconds, self.speed_kmh, self.steps_factor)
        return self._shared(key, build)  # type: ignore[return-value]

    def _shared(self, key: tuple[object, ...], build: Callable[[], object]) -> object:
        if self.snapper.network is not self.network:  # a snapper of another network
            return build()
        return self.snapper.shared(key, build)

    def _sources(self, mask: BoolArray | None) -> IntArray:
        ok = self.reachable if mask is None else (self.reachable & np.asarray(mask, dtype=bool))
        return np.flatnonzero(ok)

    # -- nearest ----------------------------------------------------------------------------

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
        p, t, q_snap = self.snapper.snap_one(float(lon), float(lat), max_m=self.snap_max_m)
        if p < 0:
            raise PointOffNetworkError(self.snapper.distance_m(lon, lat), self.snap_max_m)
        ok = self.reachable if mask is None else self.reachable & np.asarray(mask, dtype=bool)
        limit = math.inf if max_route_m is None else max_route_m - q_snap
        found: list[tuple[float, int, float]] | None = None
        if k > 0 and limit >= 0:
            if self._lists is not None:
                found = self._from_lists(p, t, k, ok, limit)
                if found is None:  # the answer lies beyond the lists: far, scipy at once
                    reach = max(2 * self._lists_reach(p, t), self._straight_reach(lon, lat, k, ok))
                    found = self._search_scipy(p, t, k, ok, limit, reach=reach)
            if found is None:
                found = self._search(p, t, k, ok, limit, max_settled=_HEAP_SETTLED)
            if found is None:
                reach = self._straight_reach(lon, lat, k, ok)
                found = self._search_scipy(p, t, k, ok, limit, reach=reach)
        else:
            found = []
        leg_s = q_snap / self._flat_ms
        return Routes(
            index=np.array([f[1] for f in found], dtype=np.int64),
            route_m=np.array([f[0] + q_snap for f in found], dtype=np.float64),
            duration_s=np.array([f[2] + leg_s for f in found], dtype=np.float64),
            snap_m=q_snap,
        )

    def _straight_reach(self, lon: float, lat: float, k: int, ok: BoolArray) -> float:
        """Where a long search starts: 1.3 times the k-th nearest passing station in a
        straight line (a route is never shorter), at least 1.5 km. Only a first bound (the
        search doubles it until k are in), so a flat approximation does: with few stations
        passing (at night) the doublings from 1.5 km cost as much as the answer (1 M
        edges, 50 of 5,000 open, k=10: 53-66 ms a query, 28-31 ms from this bound)."""
        idx = np.flatnonzero(ok)
        if idx.size < k or k <= 0:
            return _SCIPY_REACH
        cos = math.cos(math.radians(lat))
        dx = (self.station_lon[idx] - lon) * cos
        dy = self.station_lat[idx] - lat
        d2 = dx * dx + dy * dy
        kth = math.sqrt(float(np.partition(d2, k - 1)[k - 1])) * _M_PER_DEG
        return max(_SCIPY_REACH, 1.3 * kth)

    def _seeds(self, p: int, t: float) -> list[tuple[float, float, int]]:
        """(metres, seconds, node): the ends a point at ``t`` on piece ``p`` goes to."""
        net = self.network
        m, s = float(self._seg_m[p]), float(self._seg_s[p])
        seeds = []
        # Towards an end the profile may go to; an end the point sits on, always.
        if net.seg_fwd[p] >= 0 or (1 - t) * m == 0:
            seeds.append(((1 - t) * m, (1 - t) * s, int(net.seg_v[p])))
        if net.seg_back[p] >= 0 or t * m == 0:
            seeds.append((t * m, t * s, int(net.seg_u[p])))
        return seeds

    def _direct(self, p: int, t: float) -> list[tuple[float, float, int]]:
        """(metres, seconds, station): the stations on piece ``p`` a point at ``t`` reaches
        along it (their snap legs included), as :meth:`_same_piece` for one point."""
        on = self._on_piece.get(p)
        if not on:
            return []
        net = self.network
        m, s = float(self._seg_m[p]), float(self._seg_s[p])
        fwd, back = net.seg_fwd[p] >= 0, net.seg_back[p] >= 0
        flat = self._flat_ms
        out = []
        for a, ts, leg in on:
            if (ts >= t and fwd) or (ts <= t and back) or abs(ts - t) * m == 0:
                out.append((abs(ts - t) * m + leg, abs(ts - t) * s + leg / flat, a))
        return out

    def _graph_lists(self) -> tuple[list[int], list[int], list[float], list[float]]:
        if self._py is None:
            net = self.network

            def build() -> object:
                return (
                    net.indptr.tolist(),
                    net.indices.tolist(),
                    net.length_m.astype(np.float64).tolist(),
                    self._edge_s.tolist(),
                )

            key = ("lists", self.speed_kmh, self.steps_factor)
            self._py = self._shared(key, build)  # type: ignore[assignment]
        assert self._py is not None
        return self._py

    def _search(
        self,
        p: int,
        t: float,
        k: int,
        ok: BoolArray,
        limit: float,
        *,
        max_settled: float = math.inf,
    ) -> list[tuple[float, int, float]] | None:
        """Heap Dijkstra from the snapped point: (metres, station, seconds), the point's snap
        leg not included, nearest first, ties by station position. None when it would
        settle more than ``max_settled`` nodes (scipy is then faster)."""
        ip, ix, wm, ws = self._graph_lists()
        attach = self._attach
        okl = ok.tolist()
        heap: list[tuple[float, float, int, int]] = [(d, s, 1, x) for d, s, x in self._seeds(p, t)]
        heap += [(d, s, 0, a) for d, s, a in self._direct(p, t) if okl[a]]
        heapq.heapify(heap)
        pop, push = heapq.heappop, heapq.heappush
        best: dict[int, tuple[float, float]] = {}
        never = (math.inf, math.inf)
        done: set[int] = set()
        found: dict[int, tuple[float, float]] = {}
        kth = math.inf
        while heap:
            d, s, kind, x = pop(heap)
            if d > kth or d > limit:
                break
            if kind == 0:
                if x not in found:
                    found[x] = (d, s)
                    if len(found) == k:
                        kth = d
                continue
            if x in done:
                continue
            done.add(x)
            if len(done) > max_settled:
                return None
            for a, om, os_ in attach.get(x, ()):
                if okl[a] and a not in found:
                    push(heap, (d + om, s + os_, 0, a))
            for j in range(ip[x], ip[x + 1]):
                y = ix[j]
                if y not in done:
                    to = (d + wm[j], s + ws[j])  # the shortest; the quickest of equals
                    if to < best.get(y, never):
                        best[y] = to
                        push(heap, (to[0], to[1], 1, y))
        ranked = sorted((d, a, s) for a, (d, s) in found.items())
        return ranked[:k]

    def _lists_reach(self, p: int, t: float) -> float:
        """How far from the point the lists vouch for every station."""
        lists = self._lists
        assert lists is not None
        return min((off + lists.bound(x) for off, _, x in self._seeds(p, t)), default=0.0)

    def _search_scipy(
        self,
        p: int,
        t: float,
        k: int,
        ok: BoolArray,
        limit: float,
        *,
        reach: float = 1500.0,
    ) -> list[tuple[float, int, float]]:
        """The same answer as :meth:`_search` from scipy's bounded Dijkstra on the forward
        graph (stations as virtual nodes), from the point's piece ends, the bound doubled
        until k stations are within it; seconds summed along the predecessors."""
        graph, secs, keys = self._forward()
        n = self.network.nodes
        width = graph.shape[0]
        seeds = self._seeds(p, t)
        direct = [d for d in self._direct(p, t) if ok[d[2]]]
        longest = float(graph.data.max(initial=0.0))
        while True:
            bound = min(reach, limit)
            d, pred = dijkstra(
                graph, indices=[x for _, _, x in seeds], limit=bound, return_predecessors=True
            )
            via = d[:, n:] + np.array([om for om, _, _ in seeds])[:, None]
            best_seed = np.argmin(via, axis=0)
            route = via[best_seed, np.arange(via.shape[1])]
            cand: dict[int, tuple[float, float]] = {}
            for a in np.flatnonzero((route <= bound) & ok).tolist():
                i = int(best_seed[a])
                cand[a] = (
                    float(route[a]),
                    seeds[i][1] + _tree_seconds(pred[i], n + a, secs, keys, width),
                )
            for dm, ds, a in direct:
                if dm <= bound and (dm, ds) < cand.get(a, (math.inf, math.inf)):
                    cand[a] = (dm, ds)
            # Everything reachable is in when no edge out of the reached nodes can end
            # within the bound.
            settled = d[np.isfinite(d)]
            whole = float(settled.max(initial=0.0)) + longest < bound
            if len(cand) >= k or bound >= limit or whole:
                ranked = sorted((dm, a, ds) for a, (dm, ds) in cand.items())
                return ranked[:k]
            reach *= 2

    def _forward(self) -> tuple[csr_matrix, FloatArray, IntArray]:
        """The network in metres with each reachable station appended as node
        ``nodes + station`` (edges from the nodes it is reached from), the seconds of its
        edges, and their keys ``row * width + col`` (sorted); built once per router."""
        cached = self._fwd
        if cached is not None:
            return cached
        with self._build_lock:
            if self._fwd is not None:
                return self._fwd
            net = self.network
            n, s = net.nodes, self.station_lon.size
            att = (self._att_node, n + self._att_station, self._att_m, self._att_s)
            base = self._net_graph(reverse=False, seconds=False)
            graph, other = _with_stations(base, n, s, att, from_nodes=True)
            r = np.repeat(np.arange(n + s, dtype=np.int64), np.diff(graph.indptr))
            cached = self._fwd = (graph, other, r * (n + s) + graph.indices)
        return cached

    def _from_lists(
        self, p: int, t: float, k: int, ok: BoolArray, limit: float
    ) -> list[tuple[float, int, float]] | None:
        """The answer from the lists, or None when they cannot prove it exact.

        Every station whose route is shorter than ``bound`` (the least, over the ends
        used, of the end's offset plus what its list covers) is in a list with its exact
        distance, so the candidates below ``bound`` are exact and complete."""
        lists = self._lists
        if lists is None:
            return None
        seeds = self._seeds(p, t)
        bound = min((off + lists.bound(node) for off, _, node in seeds), default=math.inf)
        if len(seeds) == 1:
            off_m, off_s, node = seeds[0]
            sid = lists.station[node]
            dm = lists.route_m[node] + off_m
            ds = lists.route_s[node] + off_s
        else:
            sid = np.concatenate([lists.station[x] for _, _, x in seeds])
            dm = np.concatenate([lists.route_m[x] + om for om, _, x in seeds])
            ds = np.concatenate([lists.route_s[x] + os_ for _, os_, x in seeds])
        keep = (sid >= 0) & (dm < bound) & (dm <= limit)
        keep[keep] = ok[sid[keep]]
        sid, dm, ds = sid[keep], dm[keep], ds[keep]
        direct = [d for d in self._direct(p, t) if ok[d[2]] and d[0] < bound and d[0] <= limit]
        if direct:
            sid = np.concatenate([sid, [d[2] for d in direct]]).astype(np.int64)
            dm = np.concatenate([dm, [d[0] for d in direct]])
            ds = np.concatenate([ds, [d[1] for d in direct]])
        order = np.lexsort((ds, dm, sid))  # per station its shortest (then quickest) first
        sid, dm, ds = sid[order], dm[order], ds[order]
        first = np.ones(sid.size, dtype=bool)
        first[1:] = sid[1:] != sid[:-1]
        sid, dm, ds = sid[first], dm[first], ds[first]
        if sid.size < k and not limit < bound:
            return None
        top = np.lexsort((sid, dm))[:k]  # nearest first, ties by station position
        return list(zip(dm[top].tolist(), sid[top].tolist(), ds[top].tolist(), strict=True))

    # -- service times ----------------------------------------------------------------------

    def service_times(self, mask: BoolArray | None, *, limit_s: float) -> ServiceTimes:
        """Seconds from every node to its nearest station passing ``mask`` (travelling
        towards the station, so one-way rules apply that way), bounded by ``limit_s``."""
        n = self.network.nodes
        src = self._sources(mask)
        sel = np.zeros(self.station_lon.size, dtype=bool)
        sel[src] = True
        if not src.size or not n:
            return ServiceTimes(self, np.full(n, np.inf), limit_s, sel)
        d = dijkstra(
            self._reversed_graph(seconds=True), indices=n + src, limit=limit_s, min_only=True
        )
        return ServiceTimes(self, np.asarray(d[:n], dtype=np.float64), limit_s, sel)

    def reach_counts(
        self, mask: BoolArray | None, points: Snaps, *, limit_s: float, cap: int
    ) -> npt.NDArray[np.int32]:
        """For each snapped point, how many stations passing ``mask`` it reaches within
        ``limit_s`` (counted up to ``cap``: cross coverage asks "at least cap").

        Cost: one bounded Dijkstra per station passing the mask (in chunks), about the
        service times' cost times the number of stations over a few hundred: ~8 s for
        5,000 stations on a million edges."""
        n = self.network.nodes
        counts = np.zeros(len(points), dtype=np.int32)
        src = self._sources(mask)
        if not src.size or not len(points) or cap <= 0:
            return counts
        graph = self._reversed_graph(seconds=True)
        pt, st, direct = self._same_piece(points, None, seconds=True)
        chunk = max(1, min(256, int(2e7 // max(1, n + self.station_lon.size))))
        for i in range(0, src.size, chunk):
            part = src[i : i + chunk]
            d = dijkstra(graph, indices=n + part, limit=limit_s)
            times = self._via_ends_s(points, d[:, :n])
            if pt.size:
                row = np.full(self.station_lon.size, -1, dtype=np.int64)
                row[part] = np.arange(part.size)
                hit = row[st] >= 0
                np.minimum.at(times, (row[st[hit]], pt[hit]), direct[hit])
            counts += (times <= limit_s).sum(axis=0).astype(np.int32)
            if (counts >= cap).all():
                break
        return np.minimum(counts, cap).astype(np.int32)

    # -- the fast path's lists --------------------------------------------------------------

    def build_lists(self, *, size: int, max_m: float, progress: Progress | None = None) -> None:
        """Build each node's ``size`` nearest stations within ``max_m`` (all stations, no
        filter: a query filters them and falls back to a search when a list cannot prove
        its answer exact).

        Chunks of stations run a bounded Dijkstra each on the reversed graph; a chunk's
        pairs beyond a node's current ``size``-th are dropped at once and the rest merged
        when they pile up, so memory stays near the lists' own size."""
        n, s = self.network.nodes, self.station_lon.size
        src = self._sources(None)
        graph, seconds = self._reversed(seconds=False)
        width = n + s
        rows = np.repeat(np.arange(width, dtype=np.int64), np.diff(graph.indptr))
        edge_keys = rows * width + graph.indices  # sorted: rows, then columns within
        del rows
        chunk = max(1, min(256, int(_CHUNK_CELLS // max(1, width))))
        budget = max(_MERGE_PAIRS, n * size // 8)
        thr = np.full(n, np.inf)
        kept: _Pairs = (
            np.zeros(0, np.int32),
            np.zeros(0, np.int32),
            np.zeros(0),
            np.zeros(0, np.float32),
        )
        kept_key = np.zeros(0)
        scale = float(2 ** math.ceil(math.log2(max_m + 2)))  # above every kept distance
        pend: list[_Pairs] = []
        pending = 0
        # No steps (the e-bike's network) or steps at the flat speed: no path to follow.
        flat = self.steps_factor == 1.0 or not bool(self.network.steps.any())
        for i in range(0, src.size, chunk):
            part = src[i : i + chunk]
            if flat:  # every edge at the flat speed: seconds are metres over it
                d = dijkstra(graph, indices=n + part, limit=max_m)
                r, c = np.nonzero(np.isfinite(d))
                dm = d[r, c]
                ds = dm / self._flat_ms
            else:
                d, pred = dijkstra(graph, indices=n + part, limit=max_m, return_predecessors=True)
                r, c, dm, ds = _path_seconds(d, pred, edge_keys, seconds)
                del pred
            del d
            near = (c < n) & (dm <= thr[np.minimum(c, n - 1)])
            pend.append(
                (
                    c[near].astype(np.int32),
                    part[r[near]].astype(np.int32),
                    dm[near],
                    ds[near].astype(np.float32),
                )
            )
            pending += int(near.sum())
            if pending > budget:
                kept, kept_key, thr = _merge(kept, kept_key, pend, n, size, scale)
                pend, pending = [], 0
            if progress is not None:
                progress("lists", min(1.0, (i + part.size) / src.size))
        kept, _, _ = _merge(kept, kept_key, pend, n, size, scale)
        del kept_key
        node, sid, dist, secs = kept
        start = np.searchsorted(node, np.arange(n))
        rank = np.arange(node.size) - start[node]
        station = np.full((n, size), -1, dtype=np.int32)
        route = np.full((n, size), np.inf)
        route_s = np.full((n, size), np.inf, dtype=np.float32)
        station[node, rank] = sid
        route[node, rank] = dist
        route_s[node, rank] = secs
        self._lists = _Lists(station, route, route_s, size, float(max_m), _key_eps(n, scale))
        if progress is not None:
            progress("lists", 1.0)

    def lists_blob(self) -> bytes | None:
        """The built lists as bytes for the store (None: not built)."""
        if self._lists is None:
            return None
        lists = self._lists
        buf = io.BytesIO()
        header = np.array([LISTS_FORMAT, lists.size], dtype=np.int64)
        np.savez(
            buf,
            header=header,
            max_m=np.array([lists.max_m, lists.eps_m]),
            key=np.frombuffer(self.stations_key().encode(), dtype=np.uint8),
            station=lists.station,
            route_m=lists.route_m,
            route_s=lists.route_s,
        )
        return buf.getvalue()

    def load_lists(self, blob: bytes) -> None:
        """Use lists :meth:`lists_blob` gave for the same network and station positions."""
        try:
            with np.load(io.BytesIO(blob), allow_pickle=False) as z:
                header, max_m, key = z["header"], z["max_m"], z["key"]
                station, route, route_s = z["station"], z["route_m"], z["route_s"]
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            msg = f"the stored station lists cannot be read: {exc}"
            raise ValueError(msg) from exc
        if int(header[0]) != LISTS_FORMAT:
            msg = f"station lists format {int(header[0])}, this code reads {LISTS_FORMAT}"
            raise ValueError(msg)
        if key.tobytes().decode() != self.stations_key():
            msg = "the station lists were built for other station positions"
            raise ValueError(msg)
        if (
            station.shape[0] != self.network.nodes
            or not station.shape == route.shape == route_s.shape
        ):
            msg = "the station lists were built for another network"
            raise ValueError(msg)
        self._lists = _Lists(
            station, route, route_s, int(header[1]), float(max_m[0]), float(max_m[1])
        )

    def stations_key(self) -> str:
        """A hash of the station positions the lists depend on (the store keys them by it)."""
        h = hashlib.sha256()
        h.update(self.station_lon.tobytes())
        h.update(self.station_lat.tobytes())
        h.update(repr(float(self.snap_max_m)).encode())
        return h.hexdigest()
