"""Map tiles of many points, clustered on the server: a tile's body is small at any zoom.

The points are put in Web Mercator's unit square ([0, 1) × [0, 1), y downwards, as the
XYZ tile scheme counts) and sorted by x once (:class:`TilePoints`); a tile ``z/x/y`` is
then one ``searchsorted`` slice of that order and a mask on y. Tile edges are half-open:
a point on the line between two tiles belongs to the one on its right (below), so the
four children of a tile share out its points exactly, none lost or counted twice.

A tile holding at most ``max_points`` points sends each one (its pixel in the tile, its
id and a small state code); the points of fuller tiles are clustered on a grid that does
not depend on the tile asked for: cells of ``cell_px`` pixels of the zoom's global pixel
grid, a cell merged into its heaviest neighbour within MERGE_PX (when that one merges into
no other), each cluster sent by the tile its weighted centre lies in (the centroid, the
count and how many of each category, the legend's; a cluster of one as its point). So a
dense city on a tile edge is one bubble, and the bodies of the tiles over an area count
each of its points once. A tile's clusters depend on the points within four cells of it
(the tile and its 8 neighbours are sliced). At most :func:`max_entries` entries.

Positions are given in the system the map's tiles are drawn in (GCJ-02 for Amap's):
convert them before building :class:`TilePoints`, once per system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

TILE_PX = 256  # a tile's side in pixels: the positions in a body are pixels of it
MAX_ZOOM = 22
MAX_POINTS = 400  # a tile with more points than this is sent as clusters
CELL_PX = 64  # a cluster cell's side in pixels (a divisor of TILE_PX: no sliver cells)
EDGE_PX = 8  # points this close outside a tile are sent with it, to be drawn whole
MAX_LAT = 85.0511287798  # Web Mercator's edge: arctan(sinh(π))


def mercator(
    lon: npt.ArrayLike, lat: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Degrees to Web Mercator's unit square: x from the antimeridian eastwards, y from
    the north edge downwards, both in [0, 1) (latitudes beyond ±85.05° on the edge)."""
    x = (np.asarray(lon, np.float64) + 180.0) / 360.0
    phi = np.radians(np.clip(np.asarray(lat, np.float64), -MAX_LAT, MAX_LAT))
    y = 0.5 - np.log(np.tan(np.pi / 4 + phi / 2)) / (2 * np.pi)
    # The last float below 1: a point on the east or south edge stays in the last tile.
    top = np.nextafter(1.0, 0.0)
    return np.clip(x % 1.0, 0.0, top), np.clip(y, 0.0, top)


def check_tile(z: int, x: int, y: int) -> None:
    """Raise ValueError unless ``z/x/y`` names a tile (0 ≤ z ≤ MAX_ZOOM, 0 ≤ x, y < 2^z)."""
    if not 0 <= z <= MAX_ZOOM:
        msg = f"zoom {z} is outside 0 to {MAX_ZOOM}"
        raise ValueError(msg)
    n = 1 << z
    if not (0 <= x < n and 0 <= y < n):
        msg = f"at zoom {z} x and y are 0 to {n - 1}, not {x}/{y}"
        raise ValueError(msg)


def max_entries(max_points: int = MAX_POINTS, cell_px: int = CELL_PX) -> int:
    """The most points plus clusters a body holds: a cluster's root cell is in the tile or
    the ring of cells around it, so a tile of points also holds its neighbours' clusters
    centred in it (at most the ring's)."""
    side = math.ceil(TILE_PX / cell_px)
    return max(max_points + (side + 2) ** 2 - side**2, (side + 2) ** 2)


@dataclass(frozen=True)
class TilePoints:
    """Points sorted by Web Mercator x, for tile slices: ``x``, ``y`` in the unit square,
    ``at`` each one's position in the arrays they were built from."""

    x: npt.NDArray[np.float64]
    y: npt.NDArray[np.float64]
    at: npt.NDArray[np.intp]

    @classmethod
    def of(cls, lon: npt.ArrayLike, lat: npt.ArrayLike) -> TilePoints:
        """The points at ``lon``/``lat`` (degrees, in the system the tiles are drawn in)."""
        x, y = mercator(lon, lat)
        order = np.argsort(x, kind="stable")
        return cls(x[order], y[order], order.astype(np.intp))

    def __len__(self) -> int:
        return len(self.x)

    def in_tile(
        self, z: int, tx: int, ty: int, keep: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The points in tile ``z/tx/ty`` (half-open edges) that ``keep`` (by original
        position; None: all) keeps: their original positions and their pixels in the tile
        (floats in [0, 256))."""
        check_tile(z, tx, ty)
        n = float(1 << z)
        a, b = np.searchsorted(self.x, [tx / n, (tx + 1) / n], side="left")
        sx, sy, at = self.x[a:b], self.y[a:b], self.at[a:b]
        m = (sy >= ty / n) & (sy < (ty + 1) / n)
        if keep is not None:
            m &= keep[at]
        # Pixels from the tile's own origin; clipped so that rounding never leaves it.
        px = np.clip((sx[m] * n - tx) * TILE_PX, 0.0, TILE_PX - 1e-9)
        py = np.clip((sy[m] * n - ty) * TILE_PX, 0.0, TILE_PX - 1e-9)
        return at[m], px, py

    def near_tile(
        self,
        z: int,
        tx: int,
        ty: int,
        keep: npt.NDArray[np.bool_] | None = None,
        *,
        margin_px: float = EDGE_PX,
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """As :meth:`in_tile`, the points *outside* the tile within ``margin_px`` of it
        (pixels from its origin, so below 0 or from 256): a page draws them too, so that a
        point on the edge is not cut in half by the tile's canvas."""
        check_tile(z, tx, ty)
        n = float(1 << z)
        pad = margin_px / TILE_PX
        a, b = np.searchsorted(self.x, [(tx - pad) / n, (tx + 1 + pad) / n], side="left")
        sx, sy, at = self.x[a:b], self.y[a:b], self.at[a:b]
        m = (sy >= (ty - pad) / n) & (sy < (ty + 1 + pad) / n)
        inside = (sx >= tx / n) & (sx < (tx + 1) / n) & (sy >= ty / n) & (sy < (ty + 1) / n)
        m &= ~inside
        if keep is not None:
            m &= keep[at]
        return at[m], (sx[m] * n - tx) * TILE_PX, (sy[m] * n - ty) * TILE_PX


def tile_body(
    points: TilePoints,
    z: int,
    tx: int,
    ty: int,
    *,
    ids: npt.NDArray[np.int64],
    state: npt.NDArray[np.integer[Any]],
    category: npt.NDArray[np.integer[Any]],
    n_categories: int,
    keep: npt.NDArray[np.bool_] | None = None,
    max_points: int = MAX_POINTS,
    cell_px: int = CELL_PX,
) -> dict[str, Any]:
    """Tile ``z/tx/ty`` of ``points`` as a JSON-ready dict.

    ``ids``, ``state`` (a small code the page draws by), ``category`` (0 to
    ``n_categories`` - 1, counted per cluster) are by original position, as ``keep``.
    The body: ``n`` points in the tile; ``p`` points ``[px, py, id, state]``; ``c``
    clusters ``[px, py, count, per category…]`` (pixels are integers 0–255 from the
    tile's top left). ``sum(count) + len(p) == n``. With points, also ``e``: the points
    of the neighbours within EDGE_PX of the tile, ``[px, py, state]``, drawn, not counted.
    """
    at, px, py = points.in_tile(z, tx, ty, keep)
    body: dict[str, Any] = {"z": z, "x": tx, "y": ty, "n": 0, "p": [], "c": []}
    if len(at) <= max_points:
        body["p"] = _points(at, px, py, ids, state)
    single, sx, sy, clusters = _owned(
        points, z, tx, ty, keep, category, n_categories, max_points, cell_px
    )
    body["p"] += _points(single, sx, sy, ids, state)
    body["c"] = clusters.tolist()
    body["n"] = len(body["p"]) + int(clusters[:, 2].sum())
    if len(at) <= max_points:
        near, ex, ey = points.near_tile(z, tx, ty, keep)
        edge = _points(near[:max_points], ex[:max_points], ey[:max_points], ids, state)
        body["e"] = [[x, y, s] for x, y, _, s in edge]
    return body


MERGE_PX = 48  # two neighbouring cells' centroids this close make one bubble (< a cell)


def _owned(
    points: TilePoints,
    z: int,
    tx: int,
    ty: int,
    keep: npt.NDArray[np.bool_] | None,
    category: npt.NDArray[np.integer[Any]],
    n_categories: int,
    max_points: int,
    cell_px: int,
) -> tuple[
    npt.NDArray[np.intp], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.int64]
]:
    """The clustered stations owned by tile ``z/tx/ty``: those of the tiles holding more
    than ``max_points`` (of the tile and its 8 neighbours: a cluster's members lie within
    four cells of its centre), in cells of ``cell_px`` of the zoom's global pixel grid, a
    cell merged into its heaviest neighbour within MERGE_PX when that one merges into no
    other; each cluster in the tile its weighted centre lies in. Returns the clusters of one
    station (original positions, pixels in the tile) and the others as rows ``[px, py,
    count, per category…]``."""
    n = 1 << z
    empty = (
        np.empty(0, np.intp),
        np.empty(0),
        np.empty(0),
        np.empty((0, 3 + n_categories), np.int64),
    )
    a, b = np.searchsorted(points.x, [(tx - 1) / n, (tx + 2) / n], side="left")
    sx, sy, at = points.x[a:b], points.y[a:b], points.at[a:b]
    m = (sy >= (ty - 1) / n) & (sy < (ty + 2) / n)
    if keep is not None:
        m &= keep[at]
    gx, gy, at = sx[m] * n * TILE_PX, sy[m] * n * TILE_PX, at[m]
    # The tiles of the block holding more than max_points: only theirs are clustered.
    tile = (np.floor(gx / TILE_PX).astype(np.int64) - tx + 1) * 3 + (
        np.floor(gy / TILE_PX).astype(np.int64) - ty + 1
    )
    full = np.bincount(tile, minlength=9) > max_points
    m = full[tile]
    gx, gy, at = gx[m], gy[m], at[m]
    if not len(at):
        return empty
    ix, iy = np.floor(gx / cell_px).astype(np.int64), np.floor(gy / cell_px).astype(np.int64)
    keys, cell = np.unique(ix * (1 << 32) + iy, return_inverse=True)
    count = np.bincount(cell).astype(np.float64)
    cx, cy = np.bincount(cell, gx) / count, np.bincount(cell, gy) / count
    kx, ky = keys >> 32, keys & ((1 << 32) - 1)
    # Each cell's target: the heaviest of its 3×3 within MERGE_PX (ties: the lower key).
    target = np.arange(len(keys))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            if dx == dy == 0:
                continue
            want = (kx + dx) * (1 << 32) + (ky + dy)
            j = np.minimum(np.searchsorted(keys, want), len(keys) - 1)
            t = target
            ok = (keys[j] == want) & (np.hypot(cx[j] - cx, cy[j] - cy) < MERGE_PX)
            better = ok & ((count[j] > count[t]) | ((count[j] == count[t]) & (keys[j] < keys[t])))
            target = np.where(better, j, t)
    root = target == np.arange(len(keys))
    final = np.where(root[target], target, np.arange(len(keys)))[cell]
    size = np.bincount(final, minlength=len(keys))
    wx = np.bincount(final, gx, len(keys))
    wy = np.bincount(final, gy, len(keys))
    hit = np.flatnonzero(size)
    ox, oy = wx[hit] / size[hit], wy[hit] / size[hit]
    mine = (np.floor(ox / TILE_PX) == tx) & (np.floor(oy / TILE_PX) == ty)
    hit, ox, oy = hit[mine], ox[mine] - tx * TILE_PX, oy[mine] - ty * TILE_PX
    ox, oy = np.clip(ox, 0, TILE_PX - 1e-9), np.clip(oy, 0, TILE_PX - 1e-9)
    one = size[hit] == 1
    # A cluster of one is its station (its pixel in the tile).
    lone = np.zeros(len(keys), np.intp)
    lone[final] = np.arange(len(final))
    single = at[lone[hit[one]]]
    group = hit[~one]
    key = final * n_categories + category[at].astype(np.intp)
    per = np.bincount(key, minlength=len(keys) * n_categories).reshape(-1, n_categories)
    rows = np.column_stack(
        [
            np.floor(ox[~one]).astype(np.int64),
            np.floor(oy[~one]).astype(np.int64),
            size[group].astype(np.int64),
            per[group].astype(np.int64),
        ]
    ).astype(np.int64)
    return single, ox[one], oy[one], rows


def _points(
    at: npt.NDArray[np.intp],
    px: npt.NDArray[np.float64],
    py: npt.NDArray[np.float64],
    ids: npt.NDArray[np.int64],
    state: npt.NDArray[np.integer[Any]],
) -> list[list[int]]:
    return np.column_stack(
        # Floored: a neighbour's point at -0.5 px is at -1, outside the tile.
        [
            np.floor(px).astype(np.int64),
            np.floor(py).astype(np.int64),
            ids[at],
            state[at].astype(np.int64),
        ]
    ).tolist()
