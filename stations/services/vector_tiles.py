"""The station tiles as Mapbox Vector Tiles (``GET /tiles/stations/{z}/{x}/{y}.mvt``).

The same tile as :func:`~stations.services.maps.station_tile` (the same filters, the same
stations in it, the same clusters), written for GIS and map libraries: layer ``stations``
(each point a station, each cluster a point with its ``count``), ``edge`` (the neighbours'
stations within 8 px of the tile, drawn, not counted) and ``stops`` (mobile stations'
stops). A station's and a stop's position is exact to the tile's grid; a cluster's and an
edge point's is the JSON tile's pixel (its centre).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from geodata.cluster_tiles import mercator
from geodata.crs import CoordinateSystem, from_wgs84
from geodata.vector_tiles import PointLayer, Value, encode_points, grid_of_pixel, grid_of_unit
from stations.readmodel.index import StationIndex
from stations.services.maps import (
    LEGEND,
    STATE_NOT_IN_SERVICE,
    STATE_SELF_SERVICE,
    TileFilters,
    station_tile,
    tile_etag,
    tile_positions,
)

__all__ = ["LAYERS", "station_vector_tile", "vector_tile_etag"]

LAYERS = ("stations", "edge", "stops")
# Bumped when the tile's layers or properties change: a new ETag for the same registry.
VECTOR_TILE_FORMAT = 1
# The 上图 states in the order of their category code (a cluster's counts, a state's low bits).
_MAPPED = tuple(value for value, *_ in LEGEND.categories)


def vector_tile_etag(
    index: StationIndex, z: int, x: int, y: int, filters: TileFilters, crs: CoordinateSystem
) -> str:
    """The vector tile's ETag: the JSON tile's (the snapshot, the tile, the filters, the
    system) and the vector tile's format."""
    key = repr((VECTOR_TILE_FORMAT, tile_etag(index, z, x, y, filters, crs))).encode()
    return '"m' + hashlib.sha256(key).hexdigest()[:24] + '"'


def station_vector_tile(
    index: StationIndex, z: int, x: int, y: int, filters: TileFilters, crs: CoordinateSystem
) -> bytes:
    """Tile ``z/x/y`` of the stations ``filters`` keep, positions in ``crs``, as MVT bytes
    (see the module's docstring; the properties are in the README's table of routes).
    ``stations`` is always written (a tile with none is a valid tile of an empty layer),
    ``edge`` and ``stops`` where they have points. Raises ValueError for a tile outside
    the scheme, as :func:`~stations.services.maps.station_tile` does."""
    body = station_tile(index, z, x, y, filters, crs)
    layers = [_stations(index, body, crs)]
    if body.get("e"):  # with points only
        layers.append(_edge(body["e"]))
    if body["s"]:
        layers.append(_stops(index, body, crs))
    return encode_points(layers)


def _state(state: int) -> dict[str, Value]:
    """A point's drawing state (see station_tile), and what it says in words."""
    return {
        "state": state,
        "mapped": _MAPPED[state & 3],
        "self_service": bool(state & STATE_SELF_SERVICE),
        "in_service": not state & STATE_NOT_IN_SERVICE,
    }


def _stations(index: StationIndex, body: dict[str, Any], crs: CoordinateSystem) -> PointLayer:
    """The tile's stations, then its clusters."""
    z, tx, ty = body["z"], body["x"], body["y"]
    points, clusters = body["p"], body["c"]
    ids = np.array([p[2] for p in points], np.int64)
    at = np.searchsorted(index.ids, ids)
    lon, lat = tile_positions(index, crs)
    gx, gy = grid_of_unit(*mercator(lon[at], lat[at]), z, tx, ty)
    properties: list[dict[str, Value]] = [
        {"id": int(p[2]), "name": index.stations[k].name, "count": 1, **_state(p[3])}
        for p, k in zip(points, at.tolist(), strict=True)
    ]
    properties += [{"count": c[2], **dict(zip(_MAPPED, c[3:], strict=True))} for c in clusters]
    return PointLayer(
        "stations",
        x=gx.tolist() + grid_of_pixel([c[0] for c in clusters]).tolist(),
        y=gy.tolist() + grid_of_pixel([c[1] for c in clusters]).tolist(),
        properties=properties,
        ids=ids.tolist() + [None] * len(clusters),
    )


def _edge(edge: list[list[int]]) -> PointLayer:
    return PointLayer(
        "edge",
        x=grid_of_pixel([e[0] for e in edge]).tolist(),
        y=grid_of_pixel([e[1] for e in edge]).tolist(),
        properties=[_state(e[2]) for e in edge],
    )


def _stops(index: StationIndex, body: dict[str, Any], crs: CoordinateSystem) -> PointLayer:
    """The mobile stations' stops in the tile, at their own positions in ``crs``."""
    stops = []
    for _, _, station_id, i, _ in body["s"]:
        station = index.get(station_id)
        assert station is not None  # the tile's stops are the snapshot's
        stops.append(station.stops[i])
    lon, lat = from_wgs84(
        np.array([s.lon for s in stops]), np.array([s.lat for s in stops]), crs=crs
    )
    gx, gy = grid_of_unit(*mercator(lon, lat), body["z"], body["x"], body["y"])
    return PointLayer(
        "stops",
        x=gx.tolist(),
        y=gy.tolist(),
        properties=[
            {"id": s[2], "stop": s[3], "name": stop.name, "here": bool(s[4])}
            for s, stop in zip(body["s"], stops, strict=True)
        ],
    )
