"""Map tiles of areas (districts, provinces): each tile's shapes clipped to it and simplified
for its zoom, in the tile's pixels, so that a page draws thousands of areas a tile at a time
with outlines as precise as the screen at every zoom.

The areas are put in Web Mercator's unit square once (:func:`geodata.cluster_tiles.mercator`,
after any shift to the map's system), then, per zoom level and on first use, simplified
within half a pixel of that zoom (``shapely.simplify`` on the whole layer, vectorised). A
tile is the shapes whose boxes meet it (an STRtree), clipped to it with a margin of
``MARGIN_PX`` (so that the clip's own edges lie outside the tile's canvas: an outline stroked
there is never seen), their rings written as flat lists of pixels from the tile's top left.

Neighbours simplified one by one no longer share their border exactly, but within half a
pixel of it each: the gap or overlap between two fills is at most a pixel, and the outlines
stroked over it hide it. Above ``EXACT_FROM`` the exact shapes are clipped.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geodata.cluster_tiles import TILE_PX, check_tile, mercator

MARGIN_PX = 4  # a tile's shapes reach this far beyond it: the clip's edges stay off-canvas
TOLERANCE_PX = 0.5  # simplified within this many pixels of the zoom they are drawn at
# The zooms a simplified copy is made for: a zoom uses the copy of the first level at or
# above it (at most TOLERANCE_PX of that zoom, finer for the zooms below), the exact shapes
# from EXACT_FROM on. Every zoom a country is seen whole at has its own copy: the 2,848
# counties of China at zoom 4 are 68,000 vertices at zoom 4's half pixel, 160,000 at 5's.
LEVELS = (2, 3, 4, 5, 6, 7, 9, 11)
EXACT_FROM = 12


def level_of(z: int) -> int | None:
    """The zoom whose simplified copy zoom ``z`` draws (None: the exact shapes)."""
    if z >= EXACT_FROM:
        return None
    return next(level for level in LEVELS if level >= z)


def tolerance_of(level: int) -> float:
    """Half a pixel at zoom ``level``, in the unit square."""
    return TOLERANCE_PX / (TILE_PX * (1 << level))


def to_unit_square(geometries: Sequence[shapely.Geometry]) -> npt.NDArray[np.object_]:
    """WGS-84 (or the map's system) degrees to Web Mercator's unit square, y downwards."""

    def fn(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x, y = mercator(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geometries, dtype=object), fn)


@dataclass(frozen=True)
class _Level:
    shapes: npt.NDArray[np.object_]
    tree: shapely.STRtree


class AreaLayer:
    """Areas (in the unit square, see :func:`to_unit_square`) cut into tiles: ``keys``
    name each area (e.g. its adcode), ``labels`` its name. Thread-safe; a level's copy is
    made once, on the first tile that needs it."""

    def __init__(
        self, shapes: npt.NDArray[np.object_], keys: Sequence[str], labels: Sequence[str]
    ) -> None:
        if not (len(shapes) == len(keys) == len(labels)):
            msg = "shapes, keys and labels must be as many"
            raise ValueError(msg)
        self.keys = tuple(keys)
        self.labels = tuple(labels)
        self._exact = np.asarray(shapes, dtype=object)
        self._levels: dict[int | None, _Level] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.keys)

    def vertices(self, z: int) -> int:
        """How many vertices the copy zoom ``z`` draws holds."""
        return int(shapely.get_num_coordinates(self._level(level_of(z)).shapes).sum())

    def _level(self, level: int | None) -> _Level:
        with self._lock:
            found = self._levels.get(level)
            if found is None:
                if level is None:
                    shapes = self._exact
                else:
                    # From the exact shapes at each level: the same tiles in every process.
                    # A shape smaller than the tolerance vanishes: under a pixel, not drawn.
                    shapes = shapely.simplify(
                        self._exact, tolerance_of(level), preserve_topology=False
                    )
                found = _Level(shapes, shapely.STRtree(shapes))
                self._levels[level] = found
            return found

    def tile(
        self, z: int, tx: int, ty: int, keep: npt.NDArray[np.bool_] | None = None
    ) -> list[list[Any]]:
        """Tile ``z/tx/ty``'s areas (those ``keep`` keeps, by position; None: all) as
        ``[key, label, rings]``, each ring a flat list ``[x0, y0, x1, y1, …]`` of whole pixels
        from the tile's top left (within -MARGIN_PX to 256 + MARGIN_PX), outer rings and
        holes alike (to be filled by the even-odd rule). Raises ValueError for a tile
        outside the scheme."""
        check_tile(z, tx, ty)
        level = self._level(level_of(z))
        n = float(1 << z)
        pad = MARGIN_PX / TILE_PX
        box = ((tx - pad) / n, (ty - pad) / n, (tx + 1 + pad) / n, (ty + 1 + pad) / n)
        hits = np.sort(level.tree.query(shapely.box(*box), predicate="intersects"))
        if keep is not None:
            hits = hits[keep[hits]]
        if not len(hits):
            return []
        clipped = shapely.clip_by_rect(level.shapes[hits], *box)
        scale = TILE_PX * n
        out: list[list[Any]] = []
        for k, shape in zip(hits.tolist(), clipped, strict=True):
            rings = _rings(shape, scale, tx * TILE_PX, ty * TILE_PX)
            if rings:
                out.append([self.keys[k], self.labels[k], rings])
        return out


def _rings(shape: shapely.Geometry, scale: float, x0: float, y0: float) -> list[list[int]]:
    """The rings of a clipped (multi)polygon as flat lists of whole pixels (within a pixel
    of the shape with the simplification's half pixel), repeated pixels once, rings that
    shrink below a triangle left out."""
    if shape.is_empty:
        return []
    out = []
    for ring in shapely.get_rings(shapely.get_parts(shape)):
        xy = shapely.get_coordinates(ring)[:-1]  # the closing vertex is implied
        px = np.rint(xy * scale - (x0, y0)).astype(np.int64)
        if len(px) > 1:
            px = px[np.any(px != np.roll(px, 1, axis=0), axis=1)]
        if len(px) >= 3:
            out.append(px.ravel().tolist())
    return out


def groups_of(
    shapes: npt.NDArray[np.object_], groups: Sequence[str]
) -> tuple[list[str], npt.NDArray[np.object_]]:
    """The areas dissolved by ``groups`` (a key per shape, e.g. a province's code): the
    groups in order of their first area and their shapes (a coverage union where the areas
    tile the plane, else a plain union)."""
    order = list(dict.fromkeys(groups))
    keys = np.asarray(groups)
    merged = []
    for group in order:
        members = np.asarray(shapes, dtype=object)[keys == group]
        try:
            union = shapely.coverage_union_all(members)
        except shapely.errors.GEOSException:
            union = shapely.union_all(members)
        merged.append(union)
    return order, np.asarray(merged, dtype=object)
