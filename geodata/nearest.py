"""Exact k-nearest stations on the WGS-84 ellipsoid from an in-process k-d tree.

Points are stored as Earth-centred (ECEF) coordinates on the WGS-84 ellipsoid, so the
tree's straight-line (chord) distance c is a lower bound of the geodesic distance s and
nearly the same order: the k nearest by chord, then re-ranked, are the k nearest on the
ellipsoid. The geodesic length follows from the chord through a circle of the curvature
along the way, ``s = 2/κ asin(c κ / 2)``:

* up to ``NEAR_M`` (the k-th chord), κ is the Gaussian curvature 1/sqrt(M N) at the query
  latitude: within 1e-6 m up to 5 km, 0.06 mm at 20 km, 0.8 mm at 50 km, and increasing
  in c, so the chord order is the order;
* up to ``FAR_M``, κ is the mean of the normal-section curvatures (Euler) at both ends in
  the chord's direction: within 0.03 mm up to 200 km and 0.5 mm at 350 km; candidates
  are re-ranked by s and fetched until the next chord is beyond the k-th s;
* beyond, the candidates are re-ranked with Karney's algorithm (pyproj ``Geod``) itself.

All three are measured against ``Geod`` at latitudes 0–54° (tests/geodata); bearings are
the chord's direction in the query point's tangent plane, within 2e-4° at 500 km. A k=10
query costs a few microseconds instead of a ``Geod`` call per query.
"""

from __future__ import annotations

import copy
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from threading import Lock

import numpy as np
import numpy.typing as npt

# pykdtree parallelises queries with OpenMP; for one point per call the threads only cost
# wake-ups (measured: 1.5 ms instead of 9 µs per query on a busy 2-core machine). The
# variable must be set before the OpenMP runtime loads with pykdtree.
os.environ.setdefault("OMP_NUM_THREADS", "1")
from pykdtree.kdtree import KDTree

from geodata.distance import wgs84_geod, wrap_degrees

_A = 6378137.0
_F = 1 / 298.257223563
_E2 = _F * (2 - _F)
_EP2 = _E2 / (1 - _E2)  # second eccentricity squared
NEAR_M = 50_000.0  # up to this (the k-th chord) one curvature for all: chord order is order
FAR_M = 350_000.0  # beyond this (the k-th geodesic) the ranking hands over to pyproj Geod

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
MaskArg = npt.NDArray[np.bool_] | Callable[[], npt.NDArray[np.bool_]]


def ecef(lon: npt.ArrayLike, lat: npt.ArrayLike) -> FloatArray:
    """Earth-centred X, Y, Z in metres of WGS-84 lon/lat (degrees) on the ellipsoid surface."""
    lam = np.radians(np.asarray(lon, dtype=np.float64))
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    sin_phi = np.sin(phi)
    n = _A / np.sqrt(1 - _E2 * sin_phi**2)
    cos_phi = np.cos(phi)
    return np.stack(
        [n * cos_phi * np.cos(lam), n * cos_phi * np.sin(lam), n * (1 - _E2) * sin_phi], axis=-1
    )


@dataclass(frozen=True, slots=True)
class Neighbours:
    """Query result: positions into the indexed arrays and geodesic metres, nearest first."""

    index: IntArray
    distance_m: FloatArray
    bearing_deg: FloatArray | None = None  # filled in by NearestIndex.bearings when asked

    def __len__(self) -> int:
        return len(self.index)


_EMPTY = Neighbours(np.empty(0, np.intp), np.empty(0), np.empty(0))


def _ecef1(lon: float, lat: float) -> tuple[float, float, float]:
    """:func:`ecef` of one point, in plain floats (numpy costs ~10 µs on scalars)."""
    lam, phi = math.radians(lon), math.radians(lat)
    sp, cp = math.sin(phi), math.cos(phi)
    n = _A / math.sqrt(1 - _E2 * sp * sp)  # prime vertical radius of curvature
    return n * cp * math.cos(lam), n * cp * math.sin(lam), n * (1 - _E2) * sp


class _Frame:
    """The query point: its ECEF position and the Gaussian radius of curvature there."""

    __slots__ = ("inv_n", "lat", "lon", "point", "radius", "sin_lat", "xyz")

    def __init__(self, lon: float, lat: float) -> None:
        sp = math.sin(math.radians(lat))
        # Gaussian mean radius sqrt(M N) = a sqrt(1 - e²) / (1 - e² sin² φ)
        self.radius = _A * math.sqrt(1 - _E2) / (1 - _E2 * sp * sp)
        self.point = _ecef1(lon, lat)  # plain floats, for bearings
        self.xyz = np.array([self.point])
        self.lon, self.lat = lon, lat
        self.sin_lat, self.inv_n = sp, _inv_n(sp)


def _inv_n(sin_lat: float) -> float:
    """1 / N, the prime vertical radius of curvature, at a latitude given by its sine."""
    return math.sqrt(1 - _E2 * sin_lat * sin_lat) / _A


def _arcs_mid(frame: _Frame, chords: list[float], far_ends: list[list[float]]) -> list[float]:
    """Geodesic metres from the query point to points at ``chords`` (``far_ends``: ECEF z,
    sine of latitude and 1/N of each), on the circle of the mean of both ends'
    normal-section curvature.

    Euler: κ = cos²α / M + sin²α / N = (1 + e'² t_z²) / N, where t_z = cos φ cos α is the
    z component of the unit tangent in the azimuth α. The chord dips below the tangent
    plane by δ ≈ c / 2N, so t_z = (u_z ± sin δ sin φ) / cos δ from the chord's direction u.
    Plain floats: for a handful of points ~20 numpy calls would cost more than the sums.
    """
    za, sa, na = float(frame.xyz[0, 2]), frame.sin_lat, frame.inv_n
    half_na = 0.5 * na
    out = []
    for c, (zb, sb, nb) in zip(chords, far_ends, strict=True):
        if c <= 0.0:
            out.append(0.0)
            continue
        uz = (zb - za) / c
        sd = c * half_na
        ep2 = _EP2 / (1.0 - sd * sd)  # e'² / cos² δ
        ta, tb = uz + sd * sa, uz - sd * sb
        kappa = 0.5 * ((1.0 + ep2 * ta * ta) * na + (1.0 + ep2 * tb * tb) * nb)
        half = 0.5 * c * kappa
        out.append(2.0 / kappa * math.asin(half if half < 1.0 else 1.0))
    return out


def _arc(frame: _Frame, chord: FloatArray) -> FloatArray:
    # Chords up to NEAR_M only: far below the sphere's diameter, no clamp needed for asin.
    two_r = 2.0 * frame.radius
    return two_r * np.arcsin(chord * (1.0 / two_r))


def bearings_deg(lon: float, lat: float, xyz: FloatArray) -> FloatArray:
    """Initial bearings (degrees from north) from lon/lat to ECEF points, via the local frame.

    The direction of the chord projected on the tangent plane: within 1e-5° of the geodesic
    azimuth up to 100 km.
    """
    return _bearings(lon, lat, xyz, _ecef1(lon, lat))


def _bearings(
    lon: float, lat: float, xyz: FloatArray, point: tuple[float, float, float]
) -> FloatArray:
    """:func:`bearings_deg`, the query point's ECEF ``point`` known."""
    if len(xyz) <= _FEW:
        # A handful (a query's k results): plain floats beat ~10 numpy calls on tiny arrays
        # (measured: 17 µs against 33 for ten points, and numpy's arctan2 is not math's).
        return np.array(_bearings_of_rows(lon, lat, xyz.tolist(), point))
    lam, phi = math.radians(lon), math.radians(lat)
    sl, cl, sp, cp = math.sin(lam), math.cos(lam), math.sin(phi), math.cos(phi)
    axes = np.array([[-sl, -sp * cl], [cl, -sp * sl], [0.0, cp]])
    en = (xyz - np.array(point)) @ axes
    return wrap_degrees(np.degrees(np.arctan2(en[:, 0], en[:, 1])))


_FEW = 32


def _bearings_of_rows(
    lon: float, lat: float, rows: list[list[float]], point: tuple[float, float, float]
) -> list[float]:
    """:func:`_bearings` of a few points given as rows starting with ECEF x, y, z."""
    lam, phi = math.radians(lon), math.radians(lat)
    sl, cl, sp, cp = math.sin(lam), math.cos(lam), math.sin(phi), math.cos(phi)
    qx, qy, qz = point
    # The products of the sines and cosines once, in the order the sums below had
    # them (the same floats); math's functions as locals: ~2 µs less for ten points.
    nsl, nspcl, spsl = -sl, -sp * cl, sp * sl
    atan2, degrees = math.atan2, math.degrees
    out = []
    for row in rows:
        dx, dy, dz = row[0] - qx, row[1] - qy, row[2] - qz
        bearing = degrees(atan2(nsl * dx + cl * dy, nspcl * dx - spsl * dy + cp * dz)) % 360.0
        out.append(0.0 if bearing >= 360.0 else bearing)  # -1e-15 % 360 is 360.0
    return out


@dataclass(slots=True)
class NearLists:
    """A query's answer as plain lists, nearest first (see :meth:`NearestIndex.near_lists`)."""

    index: list[int]
    distance_m: list[float]
    bearing_deg: list[float]
    lon: list[float]
    lat: list[float]
    positions: IntArray  # ``index`` as an array, to gather more of the points' data


def _candidates(
    tree: KDTree, frame: _Frame, m: int, radius_m: float | None
) -> tuple[FloatArray, IntArray]:
    """The ``m`` nearest by chord (all of them within ``radius_m``, if given)."""
    if radius_m is None:
        chord, idx = tree.query(frame.xyz, k=m)
        return chord.reshape(-1), idx.reshape(-1)  # uint32: any integer array indexes
    # A geodesic is never shorter than its chord: chord <= radius finds everything.
    bound = radius_m * (1 + 1e-9) + 1e-6
    chord, idx = tree.query(frame.xyz, k=m, distance_upper_bound=bound)
    chord, idx = chord.reshape(-1), idx.reshape(-1)
    found = chord <= bound
    return chord[found], idx[found]


def _within(found: Neighbours, radius_m: float | None) -> Neighbours:
    if radius_m is None:
        return found
    keep = found.distance_m <= radius_m
    bearing = None if found.bearing_deg is None else found.bearing_deg[keep]
    return Neighbours(found.index[keep], found.distance_m[keep], bearing)


def point_frames(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    """What NearestIndex keeps per point: ECEF x, y, z, and (ECEF z, sine of latitude,
    1/N), the point's end of :func:`_arcs_mid`'s curvature; (n, 3) arrays each."""
    xyz = ecef(lon, lat).reshape(-1, 3)
    sin_lat = np.sin(np.radians(lat))
    zsn = np.stack([xyz[:, 2], sin_lat, np.sqrt(1 - _E2 * sin_lat * sin_lat) / _A], axis=1)
    return xyz, zsn


class NearestIndex:
    """A k-nearest index over fixed WGS-84 points; thread-safe for queries."""

    def __init__(
        self,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        *,
        subset_cache_size: int = 64,
        frames: tuple[FloatArray, FloatArray] | None = None,
    ) -> None:
        """Index points given as WGS-84 lon/lat arrays in degrees. ``frames`` are their
        :func:`point_frames` when already known (a snapshot carries them over)."""
        self.lon = np.ascontiguousarray(lon, dtype=np.float64)
        self.lat = np.ascontiguousarray(lat, dtype=np.float64)
        if self.lon.shape != self.lat.shape or self.lon.ndim != 1:
            msg = "lon and lat must be 1-D arrays of the same length"
            raise ValueError(msg)
        self.xyz, self._zsn = frames if frames is not None else point_frames(self.lon, self.lat)
        # Each point's x, y, z, lon, lat in one row: what a query's few results read, in
        # one gather (each numpy call on a handful of points costs about a microsecond).
        self._rows = np.column_stack([self.xyz, self.lon, self.lat])
        self._tree = KDTree(self.xyz) if len(self.lon) else None
        self._subsets: OrderedDict[Hashable, tuple[IntArray, KDTree | None]] = OrderedDict()
        self._subset_cache_size = subset_cache_size
        self._recent: Hashable = None  # the key last moved to the end of _subsets
        self._lock = Lock()

    def __len__(self) -> int:
        return len(self.lon)

    def without_filtered_trees(self) -> NearestIndex:
        """The same points and tree, with no filtered tree kept (filters now keep others)."""
        twin = copy.copy(self)
        twin._subsets = OrderedDict()
        twin._recent = None
        twin._lock = Lock()
        return twin

    def _subset(self, key: Hashable, mask: MaskArg) -> tuple[IntArray, KDTree | None]:
        hit = self._subsets.get(key)  # atomic; recency is only updated when it changes
        if hit is not None:
            if key != self._recent:
                with self._lock:
                    if key in self._subsets:
                        self._subsets.move_to_end(key)
                    self._recent = key
            return hit
        members = np.flatnonzero(mask() if callable(mask) else mask)
        entry = (members, KDTree(self.xyz[members]) if len(members) else None)
        with self._lock:
            self._subsets[key] = entry
            while len(self._subsets) > self._subset_cache_size:
                self._subsets.popitem(last=False)
        return entry

    def query(
        self,
        lon: float,
        lat: float,
        *,
        k: int = 10,
        radius_m: float | None = None,
        mask: MaskArg | None = None,
        mask_key: Hashable | None = None,
        bearings: bool = False,
    ) -> Neighbours:
        """Return the ``k`` points nearest to WGS-84 ``lon``/``lat``, nearest first.

        Distances are geodesic metres on the WGS-84 ellipsoid, bearings degrees clockwise
        from north at the query point. ``radius_m`` keeps only points within that distance.
        ``mask`` (a boolean array over the indexed points) keeps only the points it marks;
        give a hashable ``mask_key`` naming it and the filtered tree is built once and reused
        (``mask`` may then be a function making the array, called only on a cache miss).
        ``bearings``: with each point's bearing too, as :meth:`with_bearings` gives it.
        """
        if k < 1:
            msg = f"k must be at least 1, not {k}"
            raise ValueError(msg)
        members: IntArray | None = None
        tree = self._tree
        if mask is not None:
            if mask_key is None:
                members = np.flatnonzero(mask() if callable(mask) else mask)
                tree = KDTree(self.xyz[members]) if len(members) else None
            else:
                members, tree = self._subset(mask_key, mask)
        if tree is None:
            return _EMPTY
        frame = _Frame(lon, lat)
        found = self._query(frame, tree, members, k, radius_m)
        if bearings and (found.bearing_deg is None or len(found.bearing_deg) != len(found)):
            bearing = _bearings(lon, lat, self.xyz[found.index], frame.point)
            return Neighbours(found.index, found.distance_m, bearing)
        return found

    def near_lists(
        self,
        lon: float,
        lat: float,
        *,
        k: int = 10,
        radius_m: float | None = None,
        mask: MaskArg | None = None,
        mask_key: Hashable | None = None,
    ) -> NearLists:
        """:meth:`query` with bearings, as plain lists with each point's lon and lat: the
        hot path's form. When the k-th chord is within ``NEAR_M`` (a city: nearly always)
        it is answered in plain floats over one gather of the points' rows, the same
        arithmetic as :meth:`query` (``math.asin`` for numpy's); farther, by
        :meth:`query` itself."""

        def general() -> NearLists:
            found = self.query(
                lon, lat, k=k, radius_m=radius_m, mask=mask, mask_key=mask_key, bearings=True
            )
            assert found.bearing_deg is not None
            at = found.index
            return NearLists(
                at.tolist(),
                found.distance_m.tolist(),
                found.bearing_deg.tolist(),
                self.lon[at].tolist(),
                self.lat[at].tolist(),
                at,
            )

        tree = self._tree
        members: IntArray | None = None
        if mask is not None:
            if mask_key is None:
                return general()
            members, tree = self._subset(mask_key, mask)
        if tree is None or k < 1:
            return general()
        frame = _Frame(lon, lat)
        want = min(k, len(members) if members is not None else len(self.lon))
        if radius_m is None:
            chord_a, idx_a = tree.query(frame.xyz, k=want)
            chords = chord_a.reshape(-1).tolist()
        else:
            # A geodesic is never shorter than its chord: chord <= radius finds everything.
            bound = radius_m * (1 + 1e-9) + 1e-6
            chord_a, idx_a = tree.query(frame.xyz, k=want, distance_upper_bound=bound)
            chords = [c for c in chord_a.reshape(-1).tolist() if c <= bound]
        if chords and chords[-1] > NEAR_M:
            return general()  # far: re-ranked on the ellipsoid
        idx = idx_a.reshape(-1)[: len(chords)]
        pos = members[idx] if members is not None else idx
        rows = self._rows[pos].tolist()
        index = pos.tolist()
        two_r = 2.0 * frame.radius
        inv, asin = 1.0 / two_r, math.asin
        dist = [two_r * asin(c * inv) for c in chords]  # as _arc, in plain floats
        if radius_m is not None and dist and dist[-1] > radius_m:
            n = sum(1 for d in dist if d <= radius_m)  # increasing: a prefix
            index, dist, rows, pos = index[:n], dist[:n], rows[:n], pos[:n]
        bearing = _bearings_of_rows(lon, lat, rows, frame.point)
        return NearLists(index, dist, bearing, [r[3] for r in rows], [r[4] for r in rows], pos)

    def _query(
        self,
        frame: _Frame,
        tree: KDTree,
        members: IntArray | None,
        k: int,
        radius_m: float | None,
    ) -> Neighbours:
        size = len(members) if members is not None else len(self.lon)
        want = min(k, size)
        # One more than wanted: if the k-th is far enough to need re-ranking, the next
        # chord says whether the candidates are complete without a second query.
        chord, idx = _candidates(tree, frame, min(size, want + 1), radius_m)
        if len(idx) and chord[min(want, len(idx)) - 1] > NEAR_M:
            return self._rerank(frame, tree, members, want, radius_m, chord, idx)
        chord, idx = chord[:want], idx[:want]
        pos = members[idx] if members is not None else idx.astype(np.intp)
        dist = _arc(frame, chord)  # increasing in chord: already nearest first
        if radius_m is not None:
            keep = dist <= radius_m
            pos, dist = pos[keep], dist[keep]
        return Neighbours(pos, dist)

    def count_near(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, radius_m: float, *, k: int
    ) -> IntArray:
        """For each of many points, how many indexed points (at most ``k``) may lie within
        ``radius_m`` of it: one tree query for all, by chord, which a geodesic never beats,
        with a margin, so 0 proves none does and :meth:`query` need not be asked."""
        x = np.asarray(lon, dtype=np.float64).reshape(-1)
        if self._tree is None or not len(x):
            return np.zeros(len(x), np.intp)
        k = min(k, len(self.lon))
        bound = radius_m * (1 + 1e-6) + 1e-3
        xyz = ecef(x, np.asarray(lat, dtype=np.float64).reshape(-1)).reshape(-1, 3)
        chord, _ = self._tree.query(xyz, k=k, distance_upper_bound=bound)
        return np.asarray((chord.reshape(len(x), k) <= bound).sum(axis=1), np.intp)

    def with_bearings(self, lon: float, lat: float, found: Neighbours) -> Neighbours:
        """Return ``found`` with the bearing from ``lon``/``lat`` to each point (degrees)."""
        if found.bearing_deg is not None and len(found.bearing_deg) == len(found):
            return found
        bearing = bearings_deg(lon, lat, self.xyz[found.index])
        return Neighbours(found.index, found.distance_m, bearing)

    def _rerank(
        self,
        frame: _Frame,
        tree: KDTree,
        members: IntArray | None,
        want: int,
        radius_m: float | None,
        chord: FloatArray,
        idx: IntArray,
    ) -> Neighbours:
        """The k-th chord is beyond NEAR_M: re-rank candidates by :func:`_arcs_mid`, and
        beyond FAR_M by ``Geod``, fetching more until they are complete. A geodesic is
        never shorter than its chord, so once the next chord reaches the k-th geodesic,
        no point further on can come before it."""
        size = len(members) if members is not None else len(self.lon)
        m = min(size, want + 1)
        need = 0.0  # beyond FAR_M: at least the exact k-th geodesic found so far
        while True:
            pos = members[idx] if members is not None else idx.astype(np.intp)
            chords = chord.tolist()
            dist = _arcs_mid(frame, chords, self._zsn[pos].tolist())
            order = sorted(range(len(dist)), key=dist.__getitem__)[:want]
            kth = dist[order[-1]]
            complete = len(idx) < m or m >= size
            if kth > FAR_M:
                # Karney's algorithm over the candidates that can be in the top k: the
                # estimate is within a millionth of it there, the margin a thousandth.
                limit = max(kth * 1.001 + 1.0, need)
                if complete or chords[-1] >= limit:
                    found = self._exact(frame, pos[chord <= limit], want)
                    if complete or (len(found) == want and found.distance_m[-1] <= limit):
                        return _within(found, radius_m)
                    # The estimate fell short: cover Geod's own k-th (or the k-th chord).
                    need = float(found.distance_m[-1] if len(found) == want else chords[want - 1])
            elif complete or chords[-1] >= kth:
                if order == list(range(len(order))):  # mostly: the chord order held
                    found = Neighbours(pos[: len(order)], np.array(dist[: len(order)]))
                else:
                    found = Neighbours(pos[order], np.array([dist[i] for i in order]))
                return _within(found, radius_m)
            m = min(size, 2 * m + 8)
            chord, idx = _candidates(tree, frame, m, radius_m)

    def _exact(self, frame: _Frame, pos: IntArray, want: int) -> Neighbours:
        """The ``want`` nearest of ``pos`` by ``Geod``, nearest first, with bearings."""
        n = len(pos)
        az, _, dist = wgs84_geod().inv(
            np.full(n, frame.lon), np.full(n, frame.lat), self.lon[pos], self.lat[pos]
        )
        dist = np.asarray(dist, dtype=np.float64)
        order = np.argsort(dist, kind="stable")[:want]
        return Neighbours(pos[order], dist[order], wrap_degrees(np.asarray(az)[order]))
