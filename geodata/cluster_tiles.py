"""Map tiles of many points, clustered on the server: a tile's body is small at any zoom.

The points are put in Web Mercator's unit square ([0, 1) × [0, 1), y downwards, as the
XYZ tile scheme counts) and sorted by x once (:class:`TilePoints`); a tile ``z/x/y`` is
then one ``searchsorted`` slice of that order and a mask on y. Tile edges are half-open:
a point on the line between two tiles belongs to the one on its right (below), so the
four children of a tile share out its points exactly, none lost or counted twice.

A tile holding at most ``max_points`` points sends each one (its pixel in the tile, its
id and a small state code); a fuller one sends grid cells of ``cell_px`` pixels: the
centroid, the count and how many of each category (the legend's), single points still
as points. So a body has at most ``max(max_points, cells²)`` entries (:func:`max_entries`).

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
    """The most points plus clusters a body holds."""
    return max(max_points, math.ceil(TILE_PX / cell_px) ** 2)


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
    n = len(at)
    body: dict[str, Any] = {"z": z, "x": tx, "y": ty, "n": n}
    if n <= max_points:
        body["p"] = _points(at, px, py, ids, state)
        body["c"] = []
        near, ex, ey = points.near_tile(z, tx, ty, keep)
        edge = _points(near[:max_points], ex[:max_points], ey[:max_points], ids, state)
        body["e"] = [[x, y, s] for x, y, _, s in edge]
        return body
    side = math.ceil(TILE_PX / cell_px)
    cells = side * side
    # Cells by bincount (a few dozen of them): no sort, one pass per sum.
    cell = (py // cell_px).astype(np.intp) * side + (px // cell_px).astype(np.intp)
    counts = np.bincount(cell, minlength=cells)
    single = counts[cell] == 1
    body["p"] = _points(at[single], px[single], py[single], ids, state)
    group = np.flatnonzero(counts > 1)
    n_group = counts[group]
    cx = np.bincount(cell, px, cells)[group] / n_group
    cy = np.bincount(cell, py, cells)[group] / n_group
    key = cell * n_categories + category[at].astype(np.intp)
    by_category = np.bincount(key, minlength=cells * n_categories).reshape(cells, n_categories)
    columns = np.column_stack(
        [cx.astype(np.int64), cy.astype(np.int64), n_group, by_category[group]]
    )
    body["c"] = columns.tolist()
    return body


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
