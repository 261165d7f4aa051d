"""Mapbox Vector Tiles (MVT 2.1) of points, for GIS and map libraries that read the standard.

A tile is a protobuf of named layers, each a list of features with a geometry in the
tile's own grid (``EXTENT`` units a side, x from the left, y from the top) and typed
properties (text as it is: a vector tile is data, nothing in it is HTML). The encoding is
the maintained ``mapbox-vector-tile`` package's; this module only puts points on the grid.

The tiles are Web Mercator's (EPSG:3857, the XYZ scheme of
:mod:`geodata.cluster_tiles`): a position in its unit square (:func:`~geodata.cluster_tiles.
mercator`) is at ``(u · 2^z − x) · EXTENT`` in tile ``z/x/y``. Whatever system the positions
were in before (WGS-84, or GCJ-02 for a Chinese base map) they stay in: the grid does not
know, so a tile must be drawn over base-map tiles of the same system.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mapbox_vector_tile
import numpy as np
import numpy.typing as npt
import shapely

from geodata.cluster_tiles import TILE_PX

EXTENT = 4096  # a tile's side in grid units (the specification's default and MapLibre's)
# What a property may hold in a vector tile (the encoder drops anything else).
Value = str | int | float | bool
_ENCODE_OPTIONS = {
    "extents": EXTENT,
    "y_coord_down": True,  # our grid counts y from the top, as the specification does
    "check_winding_order": False,  # points only
}


@dataclass(frozen=True)
class PointLayer:
    """One layer of points: grid positions ``x``, ``y`` (integers, 0 to EXTENT − 1 in
    the tile; beyond for a neighbour's point drawn across the edge), each point's
    ``properties``, and its feature ``ids`` (unsigned; none: features without an id)."""

    name: str
    x: Sequence[int]
    y: Sequence[int]
    properties: Sequence[Mapping[str, Value]]
    ids: Sequence[int] | None = field(default=None)


def grid_of_unit(
    u: npt.ArrayLike, v: npt.ArrayLike, z: int, tx: int, ty: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Positions in Web Mercator's unit square to the grid of tile ``z/tx/ty``: rounded
    to the nearest unit (within half a unit, 1/8192 of the tile) and kept inside the tile
    (0 to EXTENT − 1), as a point of the tile is."""
    n = float(1 << z)
    gx = np.rint((np.asarray(u, np.float64) * n - tx) * EXTENT)
    gy = np.rint((np.asarray(v, np.float64) * n - ty) * EXTENT)
    top = EXTENT - 1
    return np.clip(gx, 0, top).astype(np.int64), np.clip(gy, 0, top).astype(np.int64)


def grid_of_pixel(p: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """Whole pixels of a 256-px tile (0 to 255, floored, as the JSON tiles give them) to
    the grid: each pixel's centre, so within half a pixel of the position it stands for
    (a pixel below 0 or from 256, a neighbour's, stays outside the tile)."""
    scale = EXTENT // TILE_PX
    return np.asarray(p, np.int64) * scale + scale // 2


def encode_points(layers: Sequence[PointLayer]) -> bytes:
    """The tile of ``layers`` (in that order), as MVT bytes (not compressed). A layer
    without points is still written (with its name and extent, no features): a tile with
    nothing in it is a valid tile of empty layers, not an empty body."""
    encoded = []
    for layer in layers:
        ids = layer.ids if layer.ids is not None else [None] * len(layer.x)
        points = shapely.points(np.asarray(layer.x, np.float64), np.asarray(layer.y, np.float64))
        features = [
            {"geometry": point, "properties": dict(props), "id": fid}
            for point, props, fid in zip(points.tolist(), layer.properties, ids, strict=True)
        ]
        encoded.append({"name": layer.name, "features": features})
    return mapbox_vector_tile.encode(encoded, default_options=_ENCODE_OPTIONS)
