"""A street network for routing: nodes on WGS-84, directed edges in CSR form.

Every edge is one straight piece of a way between two consecutive nodes, so that snapping a
point to the nearest edge is exact on the edge itself. Lengths are geodesic on the WGS-84
ellipsoid (pyproj.Geod), so a route is never shorter than the straight line between its ends.
Travel times are not stored: they follow from the lengths, whether an edge is a staircase, and
the profile's speeds (settings), see :meth:`Network.seconds`.

The arrays go to the store as one uncompressed npz (:meth:`to_npz`, :meth:`from_npz`): loading
a million edges takes under 0.1 s, so every worker holds the same network. Imports nothing of
ours (the layers: geodata is at the bottom).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from pyproj import Geod

PROFILES = ("walk", "ebike")
FORMAT = 1  # of the npz; a stored network of another format must be imported again

_GEOD = Geod(ellps="WGS84")

IntArray = npt.NDArray[np.int32]
FloatArray = npt.NDArray[np.float64]


class NetworkFormatError(ValueError):
    """Stored arrays this code cannot read (another format, or damaged)."""


@dataclass(frozen=True, eq=False)
class Network:
    """A directed street network of one travel profile (walk or ebike).

    Nodes ``0..n-1`` at ``lon``/``lat`` (WGS-84). Edges ``indptr[u] <= e < indptr[u+1]`` leave
    node ``u`` for ``indices[e]``; ``length_m[e]`` is the geodesic length, ``steps[e]`` whether
    it is a staircase, ``edge_way[e]`` its way (an index into ``way_ids``, the OpenStreetMap
    ids). The undirected pieces, once each, for snapping: ``seg_u``/``seg_v`` their ends,
    ``seg_fwd``/``seg_back`` the edge u→v / v→u or -1 where the profile may not go that way;
    ``edge_seg[e]`` the piece of edge ``e``.
    """

    profile: str
    lon: FloatArray
    lat: FloatArray
    indptr: IntArray
    indices: IntArray
    length_m: npt.NDArray[np.float32]
    steps: npt.NDArray[np.bool_]
    edge_way: IntArray
    edge_seg: IntArray
    way_ids: npt.NDArray[np.int64]
    seg_u: IntArray
    seg_v: IntArray
    seg_fwd: IntArray
    seg_back: IntArray
    seg_length_m: npt.NDArray[np.float32]
    # Anything else the import wants kept with the arrays (JSON-able; not used for routing).
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nodes(self) -> int:
        return int(self.lon.size)

    @property
    def edges(self) -> int:
        return int(self.indices.size)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """min_lon, min_lat, max_lon, max_lat of the nodes."""
        return (
            float(self.lon.min()),
            float(self.lat.min()),
            float(self.lon.max()),
            float(self.lat.max()),
        )

    def edge_sources(self) -> IntArray:
        """The node each edge leaves (the CSR rows expanded)."""
        return np.repeat(np.arange(self.nodes, dtype=np.int32), np.diff(self.indptr)).astype(
            np.int32
        )

    def seconds(self, speed_kmh: float, steps_factor: float = 1.0) -> npt.NDArray[np.float64]:
        """Each edge's travel time at ``speed_kmh`` on the flat, ``steps_factor`` times that
        on steps."""
        speed = np.full(self.edges, speed_kmh / 3.6)
        speed[self.steps] *= steps_factor
        return self.length_m.astype(np.float64) / speed

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_segments(
        cls,
        profile: str,
        lon: npt.ArrayLike,
        lat: npt.ArrayLike,
        seg_u: npt.ArrayLike,
        seg_v: npt.ArrayLike,
        *,
        forward: npt.ArrayLike,
        backward: npt.ArrayLike,
        steps: npt.ArrayLike | None = None,
        way: npt.ArrayLike | None = None,
        way_ids: npt.ArrayLike | None = None,
        meta: dict[str, Any] | None = None,
    ) -> Network:
        """A network from straight pieces ``seg_u[i]``–``seg_v[i]`` between nodes at
        ``lon``/``lat``, each travelled u→v where ``forward[i]`` and v→u where ``backward[i]``
        (a piece allowed neither way is dropped). Lengths are computed on the ellipsoid.
        ``way[i]`` indexes ``way_ids`` (default: each piece its own way)."""
        if profile not in PROFILES:
            msg = f"unknown profile {profile!r}: use {', '.join(PROFILES)}"
            raise ValueError(msg)
        lon_a = np.ascontiguousarray(lon, dtype=np.float64)
        lat_a = np.ascontiguousarray(lat, dtype=np.float64)
        u = np.asarray(seg_u, dtype=np.int64)
        v = np.asarray(seg_v, dtype=np.int64)
        fwd = np.asarray(forward, dtype=bool)
        back = np.asarray(backward, dtype=bool)
        st = np.zeros(u.size, bool) if steps is None else np.asarray(steps, dtype=bool)
        w = np.arange(u.size) if way is None else np.asarray(way, dtype=np.int64)
        ids = np.arange(u.size, dtype=np.int64) if way_ids is None else np.asarray(way_ids)
        keep = (fwd | back) & (u != v)
        u, v, fwd, back, st, w = u[keep], v[keep], fwd[keep], back[keep], st[keep], w[keep]
        _, _, seg_len = _GEOD.inv(lon_a[u], lat_a[u], lon_a[v], lat_a[v])
        seg_len = np.asarray(seg_len, dtype=np.float64)
        # A piece between two nodes on one spot goes both ways, whatever its tags: the two
        # are one place (a point on it is at both ends at once).
        same = seg_len == 0
        fwd, back = fwd | same, back | same
        seg = np.arange(u.size)
        # Directed edges: the forward ones, then the backward ones, then sorted by source.
        src = np.concatenate([u[fwd], v[back]])
        dst = np.concatenate([v[fwd], u[back]])
        eseg = np.concatenate([seg[fwd], seg[back]])
        is_fwd = np.concatenate([np.ones(int(fwd.sum()), bool), np.zeros(int(back.sum()), bool)])
        order = np.lexsort((dst, src))
        src, dst, eseg, is_fwd = src[order], dst[order], eseg[order], is_fwd[order]
        n = lon_a.size
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
        seg_fwd = np.full(u.size, -1, dtype=np.int32)
        seg_back = np.full(u.size, -1, dtype=np.int32)
        e = np.arange(src.size, dtype=np.int32)
        seg_fwd[eseg[is_fwd]] = e[is_fwd]
        seg_back[eseg[~is_fwd]] = e[~is_fwd]
        return cls(
            profile=profile,
            lon=lon_a,
            lat=lat_a,
            indptr=indptr.astype(np.int32),
            indices=dst.astype(np.int32),
            length_m=seg_len[eseg].astype(np.float32),
            steps=st[eseg],
            edge_way=w[eseg].astype(np.int32),
            edge_seg=eseg.astype(np.int32),
            way_ids=np.asarray(ids, dtype=np.int64),
            seg_u=u.astype(np.int32),
            seg_v=v.astype(np.int32),
            seg_fwd=seg_fwd,
            seg_back=seg_back,
            seg_length_m=seg_len.astype(np.float32),
            meta=dict(meta or {}),
        )

    # -- storing ----------------------------------------------------------------------------

    _ARRAYS = (
        "lon",
        "lat",
        "indptr",
        "indices",
        "length_m",
        "steps",
        "edge_way",
        "edge_seg",
        "way_ids",
        "seg_u",
        "seg_v",
        "seg_fwd",
        "seg_back",
        "seg_length_m",
    )

    def to_npz(self) -> bytes:
        """The arrays as one uncompressed npz (what the store keeps)."""
        buf = io.BytesIO()
        header = np.array([FORMAT, PROFILES.index(self.profile)], dtype=np.int64)
        np.savez(buf, _header=header, **{name: getattr(self, name) for name in self._ARRAYS})
        return buf.getvalue()

    @classmethod
    def from_npz(cls, data: bytes, *, meta: dict[str, Any] | None = None) -> Network:
        """The network :meth:`to_npz` wrote (never unpickles anything)."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as z:
                header = z["_header"]
                if int(header[0]) != FORMAT:
                    msg = f"network format {int(header[0])}, this code reads {FORMAT}"
                    raise NetworkFormatError(msg)
                arrays = {name: z[name] for name in cls._ARRAYS}
                profile = PROFILES[int(header[1])]
        except (OSError, KeyError, ValueError, IndexError, zipfile.BadZipFile) as exc:
            if isinstance(exc, NetworkFormatError):
                raise
            msg = f"the stored network cannot be read: {exc}"
            raise NetworkFormatError(msg) from exc
        return cls(profile=profile, meta=dict(meta or {}), **arrays)
