"""Every point within a distance of a route, ordered along it, exact on the WGS-84 ellipsoid.

A route is a sequence of WGS-84 lon/lat vertices; each segment is the shorter geodesic
between its two vertices, so a route crossing 180° needs no splitting. The search:

1. densifies each segment into equal geodesic steps of at most ``s`` = clamp(distance_m,
   50, 500) m (``Geod.inv`` once for the segments, ``Geod.fwd`` once for the samples);
2. asks an ECEF k-d tree of the points for those within ``r = d + s/2 + 1 m`` (a chord) of
   a sample. Every answer is among them: a point P within d of the route has its foot F
   on a step no longer than s, so a sample Q lies within s/2 of F along the route, and
   the chord |PQ| <= geodesic(P, Q) <= d + s/2;
3. refines each candidate against only the steps next to the samples within (its nearest
   sample's chord) · 1.0001 + s/2 of it (loops and out-and-back routes pass near a point
   several times), keeps the steps whose ECEF chord comes within 0.5 m of the best one (a
   500 m step's chord sags about 5 mm from its geodesic), and places the foot on the true
   geodesic (``Geod.fwd``): ``offset_m`` is ``Geod.inv`` from the point to the foot and
   ``along_m`` the route's length up to it. The smallest offset wins; feet within 1 mm
   of it tie (out and back over the same way), and the first along the route wins;
4. keeps ``offset_m <= distance_m`` and orders by (along_m, position).

Measured against a brute force sharing none of these steps (tests/geodata): offsets
within 1 cm, along values within 5 cm, routes crossing 180°, loops, latitude 70°.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from geodata.distance import wgs84_geod, wrap_degrees
from geodata.nearest import ecef

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]

MAX_ROUTE_M = 3_000_000.0  # a route longer than this is refused (RouteError "too_long")
MAX_VERTICES = 10_000  # as are routes with more vertices than this
MIN_DISTANCE_M = 1.0
MAX_DISTANCE_M = 10_000.0
MIN_STEP_M = 50.0  # the densifying step is clamp(distance_m, MIN_STEP_M, MAX_STEP_M)
MAX_STEP_M = 500.0
_SLACK_M = 0.5  # steps whose chord is this close to the best one are refined exactly
# Work bounds of one search (each pair costs ~0.2 µs to find, ~1 µs to refine): a route
# of 3,000 km at 10 km through China's densest cities stays well within them.
MAX_CANDIDATE_HITS = 1_000_000  # (ball, station) hits of the candidate query (~36 MB)
MAX_PAIRS = 600_000  # (station, route sample) pairs of the refinement, in all (~1 µs each)
# Feet measured on the ellipsoid, in all: ~5 µs each (three geodesic calls), so 300,000 is
# ~1.5 s. A real route has one to a few a station (a courier's loops: one a pass); a route
# out and back over the same few hundred metres thousands of times had millions (7 s).
MAX_FEET = 300_000
_CHUNK = 2000  # candidates refined together
_TIE_M = 0.001  # local minima this much farther than the nearest tie: the first one wins


class RouteError(ValueError):
    """A route that cannot be searched; ``code`` says why: ``bad_route`` (not a line of
    at least two distinct positions on Earth), ``too_long`` (length or vertices),
    ``bad_distance`` (distance_m out of range)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TooMuchWorkError(ValueError):
    """The search would examine more (station, route position) pairs than one may; the
    message says how many. A shorter route or a smaller distance needs less."""


@dataclass(frozen=True, slots=True)
class Route:
    """A checked route: vertices (longitudes in [-180, 180)), each segment's geodesic
    length, and the whole length, in metres."""

    lon: FloatArray
    lat: FloatArray
    segment_m: FloatArray

    @property
    def length_m(self) -> float:
        return float(self.segment_m.sum())


@dataclass(frozen=True, slots=True)
class AlongRoute:
    """The points within the distance, ordered by (``along_m``, position): ``index`` into
    the searched points, metres along the route to each one's foot (the nearest route
    point), metres from the foot (``offset_m``, geodesic), and the bearing from the foot
    to the point (degrees from north; arbitrary when the offset is 0)."""

    index: IntArray
    along_m: FloatArray
    offset_m: FloatArray
    bearing_deg: FloatArray

    def __len__(self) -> int:
        return len(self.index)


_EMPTY_INT = np.empty(0, np.intp)
_EMPTY = AlongRoute(_EMPTY_INT, np.empty(0), np.empty(0), np.empty(0))


def normalise_lon(lon: npt.ArrayLike) -> FloatArray:
    """Longitudes in degrees wrapped into [-180, 180)."""
    out = np.mod(np.asarray(lon, dtype=np.float64) + 180.0, 360.0) - 180.0
    return np.where(out >= 180.0, -180.0, out)


def check_route(
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    *,
    max_length_m: float = MAX_ROUTE_M,
    max_vertices: int = MAX_VERTICES,
) -> Route:
    """The route through WGS-84 ``lon``/``lat`` (degrees), checked; repeated consecutive
    vertices are dropped. Raises :class:`RouteError`."""
    x = np.asarray(lon, dtype=np.float64).reshape(-1)
    y = np.asarray(lat, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        msg = "lon and lat must have the same length"
        raise RouteError("bad_route", msg)
    if len(x) > max_vertices:
        msg = f"the route has {len(x):,} vertices; at most {max_vertices:,} are searched"
        raise RouteError("too_long", msg)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        msg = "every position of the route must be a finite number"
        raise RouteError("bad_route", msg)
    if (np.abs(y) > 90).any():
        bad = float(y[np.abs(y) > 90][0])
        msg = f"latitude {bad} is not on Earth (-90 to 90)"
        raise RouteError("bad_route", msg)
    x = normalise_lon(x)
    if len(x) >= 2:
        _, _, seg = wgs84_geod().inv(x[:-1], y[:-1], x[1:], y[1:])
        keep = np.concatenate([[True], np.asarray(seg) > 0])
        x, y = x[keep], y[keep]
    if len(x) < 2:
        msg = "a route needs at least two distinct positions"
        raise RouteError("bad_route", msg)
    _, _, seg = wgs84_geod().inv(x[:-1], y[:-1], x[1:], y[1:])
    segment_m = np.asarray(seg, dtype=np.float64)
    length = float(segment_m.sum())
    if length > max_length_m:
        msg = f"the route is {length / 1000:,.1f} km long; at most {max_length_m / 1000:,.0f} km"
        raise RouteError("too_long", msg)
    return Route(x, y, segment_m)


def check_distance(distance_m: float) -> float:
    """``distance_m`` if it is within 1..10,000 m, else :class:`RouteError` (bad_distance)."""
    if not (MIN_DISTANCE_M <= distance_m <= MAX_DISTANCE_M):
        msg = (
            f"distance_m={distance_m} is out of range: "
            f"{MIN_DISTANCE_M:.0f} to {MAX_DISTANCE_M:,.0f} m"
        )
        raise RouteError("bad_distance", msg)
    return float(distance_m)


def step_m(distance_m: float) -> float:
    """The densifying step for a search within ``distance_m``."""
    return min(max(distance_m, MIN_STEP_M), MAX_STEP_M)


@dataclass(frozen=True, slots=True)
class _Samples:
    lon: FloatArray
    lat: FloatArray
    xyz: FloatArray
    step: FloatArray  # metres from sample k to k + 1 (one fewer than samples)
    cum: FloatArray  # metres along the route at each sample
    vertex: BoolArray  # whether each sample is a vertex of the route


def densify(route: Route, step: float) -> _Samples:
    """Samples along ``route`` at equal geodesic steps of at most ``step`` metres per
    segment, both ends of every segment included (once)."""
    geod = wgs84_geod()
    n = np.maximum(np.ceil(route.segment_m / step).astype(np.int64), 1)
    az, _, _ = geod.inv(route.lon[:-1], route.lat[:-1], route.lon[1:], route.lat[1:])
    seg = np.repeat(np.arange(len(n)), n)
    j = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    sub = route.segment_m[seg] / n[seg]
    lon, lat, _ = geod.fwd(route.lon[seg], route.lat[seg], np.asarray(az)[seg], j * sub)
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    # Each segment's first sample is its vertex exactly (fwd by 0 m is the identity, but
    # say so), and the route's last vertex closes the samples.
    first = j == 0
    lon[first], lat[first] = route.lon[seg[first]], route.lat[seg[first]]
    lon = np.append(normalise_lon(lon), route.lon[-1])
    lat = np.append(lat, route.lat[-1])
    cum = np.concatenate([[0.0], np.cumsum(route.segment_m)])
    along = np.append(cum[seg] + j * sub, cum[-1])
    vertex = np.append(first, True)
    return _Samples(lon, lat, ecef(lon, lat), sub, along, vertex)


class BallTree:
    """A scipy k-d tree over ECEF points (the nearest index's pykdtree has no ball query),
    built once per array of points and shared by every thread."""

    # Re-entrant: a garbage collection while a tree is built may drop an old snapshot's
    # points, whose callback (_forget) takes the lock in the same thread.
    _lock: ClassVar[threading.RLock] = threading.RLock()
    _trees: ClassVar[dict[int, tuple[weakref.ref[FloatArray], cKDTree]]] = {}

    @classmethod
    def of(cls, xyz: FloatArray) -> cKDTree:
        """The tree over ``xyz`` (an (n, 3) ECEF array), built on first use and dropped
        with the array: a snapshot that keeps its points keeps its tree."""
        key = id(xyz)
        found = cls._trees.get(key)
        if found is not None and found[0]() is xyz:
            return found[1]
        with cls._lock:
            found = cls._trees.get(key)
            if found is not None and found[0]() is xyz:
                return found[1]
            # A copy: the tree must not keep the array alive, or the entry never goes.
            tree = cKDTree(xyz, balanced_tree=False, compact_nodes=False, copy_data=True)

            def forget(_: weakref.ref[FloatArray]) -> None:
                cls._forget(key)

            cls._trees[key] = (weakref.ref(xyz, forget), tree)
            return tree

    @classmethod
    def _forget(cls, key: int) -> None:
        with cls._lock:
            found = cls._trees.get(key)
            if found is not None and found[0]() is None:
                del cls._trees[key]


def along_route(
    route: Route,
    lon: FloatArray,
    lat: FloatArray,
    xyz: FloatArray,
    *,
    distance_m: float,
    mask: BoolArray | None = None,
    tree: cKDTree | None = None,
) -> AlongRoute:
    """The points (WGS-84 ``lon``/``lat``, their ECEF ``xyz``) within ``distance_m`` metres
    of ``route`` on the ellipsoid, ordered along it (see the module). ``mask`` keeps only
    the points it marks; ``tree`` is :meth:`BallTree.of` ``xyz`` (made if not given)."""
    check_distance(distance_m)
    if len(xyz) == 0:
        return _EMPTY
    tree = BallTree.of(xyz) if tree is None else tree
    samples = densify(route, step_m(distance_m))
    half = float(samples.step.max()) / 2
    cand = _candidates(tree, samples, distance_m=distance_m, half=half)
    if mask is not None:
        cand = cand[mask[cand]]
    if len(cand) == 0:
        return _EMPTY
    # In chunks of candidates: the refinement's arrays take ~400 bytes a candidate-sample
    # pair, so memory stays near a chunk's whatever the route; the pairs are budgeted.
    stree = cKDTree(samples.xyz)
    budget = [MAX_PAIRS, MAX_FEET]
    parts = [
        _refine(samples, stree, chunk, lon, lat, xyz[chunk], distance_m, half, budget)
        for chunk in np.array_split(cand, -(-len(cand) // _CHUNK))
    ]
    index = np.concatenate([part.index for part in parts])
    along = np.concatenate([part.along_m for part in parts])
    order = np.lexsort((index, along))
    return AlongRoute(
        index[order],
        along[order],
        np.concatenate([part.offset_m for part in parts])[order],
        np.concatenate([part.bearing_deg for part in parts])[order],
    )


def _candidates(tree: cKDTree, samples: _Samples, *, distance_m: float, half: float) -> IntArray:
    """Every point within ``distance_m`` of the route and others (a superset, step 2).

    The balls are centred on grid cells rather than on every sample: one per cell of
    ``g`` = max(step, distance_m) / 2 metres holding samples, its radius grown by the
    cell's half-diagonal. Balls far wider than the step would overlap many times over
    (each point found ~2r/step times), and a route passing the same streets again (a
    courier's loops) adds no balls at all. Still a superset: a sample Q within d + s/2 of
    P (see the module) lies in a cell whose centre C has |QC| <= g √3 / 2."""
    g = max(2 * half, distance_m) / 2
    cells = np.unique(np.floor(samples.xyz / g).astype(np.int64), axis=0)
    centres = (cells + 0.5) * g
    reach = distance_m + half + 1.0 + g * math.sqrt(3) / 2
    counts = tree.query_ball_point(centres, reach, return_length=True)
    if int(counts.sum()) > MAX_CANDIDATE_HITS:
        msg = (
            f"the route passes {int(counts.sum()):,} stations (with repeats) within "
            f"{reach:,.0f} m; at most {MAX_CANDIDATE_HITS:,} are examined in one search"
        )
        raise TooMuchWorkError(msg)
    hits = tree.query_ball_point(centres, reach, return_sorted=False)
    found = [np.asarray(h, np.intp) for h in hits if h]
    return np.unique(np.concatenate(found)) if found else _EMPTY_INT


def _refine(
    samples: _Samples,
    stree: cKDTree,
    cand: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    p: FloatArray,
    distance_m: float,
    half: float,
    budget: list[int],
) -> AlongRoute:
    """Steps 3 and 4 of the module for the candidates ``cand`` (ECEF ``p``), unordered;
    ``stree`` is the samples' tree, ``budget`` the pairs left to refine and the feet left
    to measure on the ellipsoid (both decremented)."""
    geod = wgs84_geod()
    c1, _ = stree.query(p, k=1)
    keep = c1 <= distance_m + half + 1.0
    cand, p, c1 = cand[keep], p[keep], c1[keep]
    if len(cand) == 0:
        return _EMPTY
    reach = c1 * 1.0001 + half + 0.01
    count = stree.query_ball_point(p, reach, return_length=True)
    budget[0] -= int(count.sum())
    if budget[0] < 0:
        msg = (
            f"the stations near the route lie near more than {MAX_PAIRS:,} of its positions "
            "in all (a route passing the same places many times): more than one search "
            "refines"
        )
        raise TooMuchWorkError(msg)
    near = stree.query_ball_point(p, reach, return_sorted=False)
    ci = np.repeat(np.arange(len(cand)), count)
    si = np.concatenate([np.asarray(n, np.intp) for n in near])
    # Pairs (candidate, step k): the steps on both sides of each sample.
    k = np.concatenate([si, si - 1])
    ci = np.concatenate([ci, ci])
    ok = (k >= 0) & (k < len(samples.step))
    k, ci = k[ok], ci[ok]
    a, b, q = samples.xyz[k], samples.xyz[k + 1], p[ci]
    ab = b - a
    t = np.einsum("ij,ij->i", q - a, ab) / np.einsum("ij,ij->i", ab, ab)
    # Only feet that are local minima of the distance: on their step, or clipped to a
    # vertex of the route. A foot clipped to a sample inside a segment is not one (the
    # next step is nearer) and, kept, would tie with the true foot a few centimetres on.
    local = ((t >= -1e-9) & (t <= 1 + 1e-9)) | (t < 0) & samples.vertex[k]
    local |= (t > 1) & samples.vertex[k + 1]
    if np.bincount(ci[local], minlength=len(cand)).all():  # else (never seen) keep all
        k, ci, t, a, ab, q = k[local], ci[local], t[local], a[local], ab[local], q[local]
    t = np.clip(t, 0.0, 1.0)
    chord = np.linalg.norm(q - (a + t[:, None] * ab), axis=1)
    best = np.full(len(cand), np.inf)
    np.minimum.at(best, ci, chord)
    sel = chord <= best[ci] + _SLACK_M
    k, ci, t = k[sel], ci[sel], t[sel]
    budget[1] -= len(k)
    if budget[1] < 0:
        msg = (
            f"the route passes the same places so many times that more than {MAX_FEET:,} "
            "nearest points on it would be measured (a route out and back over the same way "
            "again and again): search each pass on its own"
        )
        raise TooMuchWorkError(msg)
    slon, slat = samples.lon, samples.lat
    az, _, _ = geod.inv(slon[k], slat[k], slon[k + 1], slat[k + 1])
    flon, flat, _ = geod.fwd(slon[k], slat[k], az, t * samples.step[k])
    plon, plat = lon[cand[ci]], lat[cand[ci]]
    bearing, _, off = geod.inv(flon, flat, plon, plat)
    off, bearing = np.asarray(off, np.float64), np.asarray(bearing, np.float64)
    along = samples.cum[k] + t * samples.step[k]
    # The nearest foot wins; feet within a millimetre of it are a tie (out and back over
    # the same way, up to rounding), won by the first the route reaches.
    least = np.full(len(cand), np.inf)
    np.minimum.at(least, ci, off)
    tie = off <= least[ci] + _TIE_M
    k, ci, off, along, bearing = k[tie], ci[tie], off[tie], along[tie], bearing[tie]
    order = np.lexsort((along, ci))
    first = np.ones(len(order), np.bool_)
    first[1:] = ci[order][1:] != ci[order][:-1]
    o = order[first]
    index, off, along = cand[ci[o]], off[o], along[o]
    bearing = bearing[o]
    within = off <= distance_m
    return AlongRoute(
        index[within].astype(np.intp), along[within], off[within], wrap_degrees(bearing[within])
    )


def arrival_s(along_m: FloatArray, speed_kmh: float) -> FloatArray:
    """Seconds to ride ``along_m`` metres at ``speed_kmh`` (not a travel-time model:
    the distance along the route at a constant speed)."""
    if not (speed_kmh > 0 and math.isfinite(speed_kmh)):
        msg = f"speed_kmh must be a positive number, not {speed_kmh}"
        raise ValueError(msg)
    return np.asarray(along_m, np.float64) / (speed_kmh / 3.6)
