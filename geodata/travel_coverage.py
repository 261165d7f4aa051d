"""Coverage by travel time on a street network: the share of an area, or of demand, that
reaches a station within so many minutes along the ways (the 15-minute circle, 双15, as
walked, not as the crow flies).

The area is a grid of square cells (``cell_m``, 50 m by default) over the network's extent,
in a local metric frame (the azimuthal equidistant projection at the network's centre, as
geodata.coverage's). Each cell centre is snapped ONCE to its nearest piece of way within a
walk-in distance (cells farther from every way are never covered: a river, a hill without
paths); that is the slow step (about 20 µs a cell), kept per network object in this module
(:func:`cell_grid`), so a worker computes it once per network version. A query then asks the
Router for the service times of the stations (one bounded multi-source search) and reads
each cell's time at its snapped spot, plus its walk-in leg at the flat speed: a cell is
covered when that is within the limit. A district's share weighs each covered cell by its
area inside the district (cells on the border clipped exactly). The covered area is drawn as
polygons: runs of covered cells along each row become boxes, unioned with
``shapely.coverage_union_all`` (the boxes never overlap).

Imports nothing of ours but geodata (the layers).
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer

from geodata.coverage import AreaTooLargeError
from geodata.network import Network
from geodata.routing import Router, Snapper, Snaps

__all__ = [
    "MAX_CELLS",
    "CellGrid",
    "DistrictCells",
    "candidate_cells",
    "cell_grid",
    "cell_seconds",
    "covered_area",
    "cross_covered",
    "greedy_travel_gaps",
    "grid_shape",
    "point_seconds",
    "reach_work_estimate",
    "subset",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

# The largest grid one network may have (a grid cell costs ~20 µs to snap once and ~40
# bytes to keep): 4 million cells is 100 km x 100 km at 50 m, over a minute to build.
MAX_CELLS = 4_000_000


@dataclass(frozen=True, slots=True, eq=False)
class DistrictCells:
    """The cells of the grid that touch one area: ``cells`` (indices into the grid's kept
    cells) and ``area_m2`` the part of each inside the area (the whole cell inside it)."""

    cells: IntArray
    area_m2: FloatArray


@dataclass(frozen=True, eq=False)
class CellGrid:
    """The cells of a network's extent that have a way within ``walk_in_m``.

    The grid's origin ``x0``/``y0`` (metres, lower left) and ``nx`` x ``ny`` cells of
    ``cell_m`` in the frame of ``pipeline`` (a PROJ pipeline from WGS-84 degrees; a new
    Transformer per use, as they must not be shared between threads). Kept cells: column
    ``ix``, row ``iy``, centre ``lon``/``lat``, and their ``snaps`` (``snap_m`` is the
    walk-in leg).
    """

    cell_m: float
    walk_in_m: float
    pipeline: str
    x0: float
    y0: float
    nx: int
    ny: int
    ix: IntArray
    iy: IntArray
    lon: FloatArray
    lat: FloatArray
    snaps: Snaps
    _areas: dict[str, tuple[shapely.Geometry, DistrictCells]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __len__(self) -> int:
        return int(self.ix.size)

    def to_local(self) -> Transformer:
        return Transformer.from_pipeline(self.pipeline)

    def local(self, geometry: shapely.Geometry) -> shapely.Geometry:
        """A WGS-84 geometry in the grid's metric frame."""
        fwd = self.to_local()

        def there(xy: FloatArray) -> FloatArray:
            return np.column_stack(fwd.transform(xy[:, 0], xy[:, 1]))

        return shapely.transform(geometry, there)

    def wgs84(self, geometry: shapely.Geometry) -> shapely.Geometry:
        """A geometry of the grid's frame back in WGS-84 degrees."""
        inv = self.to_local()

        def back(xy: FloatArray) -> FloatArray:
            lon, lat = inv.transform(xy[:, 0], xy[:, 1], direction="INVERSE")
            return np.column_stack([lon, lat])

        return shapely.transform(geometry, back)

    def boxes(self, cells: IntArray) -> npt.NDArray[np.object_]:
        """The cells as boxes in the grid's frame."""
        x = self.x0 + self.ix[cells] * self.cell_m
        y = self.y0 + self.iy[cells] * self.cell_m
        return shapely.box(x, y, x + self.cell_m, y + self.cell_m)

    def area_cells(self, key: str, geometry: shapely.Geometry) -> DistrictCells:
        """The kept cells touching ``geometry`` (WGS-84; ``key`` names it, e.g. a district's
        adcode) and each one's area inside it; computed once per key and geometry."""
        with self._lock:
            found = self._areas.get(key)
            if found is not None and found[0] is geometry:
                return found[1]
        area = self.local(geometry)
        shapely.prepare(area)
        minx, miny, maxx, maxy = area.bounds
        x = self.x0 + self.ix * self.cell_m
        y = self.y0 + self.iy * self.cell_m
        near = np.flatnonzero(
            (x + self.cell_m >= minx) & (x <= maxx) & (y + self.cell_m >= miny) & (y <= maxy)
        )
        boxes = self.boxes(near)
        inside = shapely.contains(area, boxes)
        touch = ~inside & shapely.intersects(area, boxes)
        weight = np.where(inside, self.cell_m**2, 0.0)
        weight[touch] = shapely.area(shapely.intersection(boxes[touch], area))
        keep = weight > 0
        cells = DistrictCells(near[keep].astype(np.int64), weight[keep])
        with self._lock:
            self._areas[key] = (geometry, cells)
        return cells


_GRIDS: weakref.WeakKeyDictionary[Network, dict[tuple[float, float], CellGrid]] = (
    weakref.WeakKeyDictionary()
)
_GRIDS_LOCK = threading.Lock()
# One lock per network and sizes while its grid is built: requests arriving meanwhile (the
# warm-up and a first planner, two tabs) wait for that build instead of each snapping every
# cell again (10-30 s per million edges, on a shared machine).
_BUILDING: weakref.WeakKeyDictionary[Network, dict[tuple[float, float], threading.Lock]] = (
    weakref.WeakKeyDictionary()
)


def cell_grid(network: Network, snapper: Snapper, *, cell_m: float, walk_in_m: float) -> CellGrid:
    """The cell grid of ``network`` (built once per network object and these two sizes:
    about 20 µs a cell; AreaTooLargeError beyond MAX_CELLS)."""
    key = (float(cell_m), float(walk_in_m))
    with _GRIDS_LOCK:
        found = _GRIDS.get(network, {}).get(key)
        if found is not None:
            return found
        building = _BUILDING.setdefault(network, {}).setdefault(key, threading.Lock())
    with building:
        with _GRIDS_LOCK:
            found = _GRIDS.get(network, {}).get(key)
        if found is not None:
            return found
        grid = _build_grid(network, snapper, cell_m=cell_m, walk_in_m=walk_in_m)
        with _GRIDS_LOCK:
            _GRIDS.setdefault(network, {})[key] = grid
        return grid


def grid_shape(
    network: Network, *, cell_m: float, walk_in_m: float
) -> tuple[str, float, float, int, int]:
    """The grid :func:`cell_grid` would lay over ``network``: its PROJ pipeline, origin
    ``x0``/``y0`` and ``nx`` x ``ny`` cells (``nx * ny`` over MAX_CELLS: too large)."""
    if not cell_m > 0 or not walk_in_m >= 0:
        raise ValueError("cell_m must be positive and walk_in_m not negative")
    min_lon, min_lat, max_lon, max_lat = network.bbox
    pipeline = (
        "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step "
        f"+proj=aeqd +lat_0={(min_lat + max_lat) / 2:.9f} +lon_0={(min_lon + max_lon) / 2:.9f} "
        "+ellps=WGS84"
    )
    fwd = Transformer.from_pipeline(pipeline)
    x, y = fwd.transform(network.lon, network.lat)
    x0 = math.floor((float(np.min(x)) - walk_in_m) / cell_m) * cell_m
    y0 = math.floor((float(np.min(y)) - walk_in_m) / cell_m) * cell_m
    nx = max(1, math.ceil((float(np.max(x)) + walk_in_m - x0) / cell_m))
    ny = max(1, math.ceil((float(np.max(y)) + walk_in_m - y0) / cell_m))
    return pipeline, x0, y0, nx, ny


def _build_grid(network: Network, snapper: Snapper, *, cell_m: float, walk_in_m: float) -> CellGrid:
    pipeline, x0, y0, nx, ny = grid_shape(network, cell_m=cell_m, walk_in_m=walk_in_m)
    fwd = Transformer.from_pipeline(pipeline)
    if nx * ny > MAX_CELLS:
        msg = (
            f"the network's extent would need {nx * ny:,} cells of {cell_m:g} m "
            f"(at most {MAX_CELLS:,}): choose larger cells or a smaller network"
        )
        raise AreaTooLargeError(msg)
    cols, rows = np.meshgrid(np.arange(nx, dtype=np.int64), np.arange(ny, dtype=np.int64))
    ix, iy = cols.ravel(), rows.ravel()
    cx = x0 + (ix + 0.5) * cell_m
    cy = y0 + (iy + 0.5) * cell_m
    lon, lat = fwd.transform(cx, cy, direction="INVERSE")
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    snaps = snapper.snap(lon, lat, max_m=walk_in_m)
    kept = np.flatnonzero(snaps.snapped)
    return CellGrid(
        cell_m=float(cell_m),
        walk_in_m=float(walk_in_m),
        pipeline=pipeline,
        x0=x0,
        y0=y0,
        nx=nx,
        ny=ny,
        ix=ix[kept],
        iy=iy[kept],
        lon=lon[kept],
        lat=lat[kept],
        snaps=subset(snaps, kept),
    )


def subset(snaps: Snaps, at: IntArray) -> Snaps:
    """The snaps of the points ``at``."""
    return Snaps(snaps.segment[at], snaps.t[at], snaps.snap_m[at])


def point_seconds(
    router: Router, snaps: Snaps, mask: BoolArray | None, *, limit_s: float
) -> FloatArray:
    """Seconds from each snapped point to its nearest station passing ``mask``: its walk-in
    leg (``snap_m`` at the router's flat speed) plus the way along the network; inf beyond
    ``limit_s`` or where the point is not snapped."""
    along = router.service_times(mask, limit_s=limit_s).at(snaps)
    total = np.asarray(along, np.float64) + snaps.snap_m / (router.speed_kmh / 3.6)
    return np.where(total <= limit_s, total, np.inf)


def cell_seconds(
    router: Router, grid: CellGrid, mask: BoolArray | None, *, limit_s: float
) -> FloatArray:
    """:func:`point_seconds` of every kept cell of ``grid``."""
    return point_seconds(router, grid.snaps, mask, limit_s=limit_s)


def cross_covered(
    router: Router,
    snaps: Snaps,
    covered: BoolArray,
    mask: BoolArray | None,
    *,
    limit_s: float,
    min_stations: int,
) -> BoolArray:
    """Which points reach at least ``min_stations`` stations passing ``mask``: the nearest
    within ``limit_s`` with its walk-in leg (``covered``, from :func:`point_seconds`), and
    ``min_stations`` within ``limit_s`` along the network from the point's snapped spot (the
    Router counts them without the walk-in leg). So cross coverage is never more than
    coverage."""
    todo = np.flatnonzero(covered)
    out = np.zeros(len(snaps), bool)
    if todo.size:
        counts = router.reach_counts(mask, subset(snaps, todo), limit_s=limit_s, cap=min_stations)
        out[todo] = np.asarray(counts) >= min_stations
    return out


def covered_area(grid: CellGrid, cells: IntArray) -> shapely.Geometry:
    """The union of ``cells`` (kept-cell indices) in the grid's frame, exactly (a valid
    (Multi)Polygon of area ``len(cells) * cell_m²``).

    Traced, not unioned: the unit edges between a covered and an uncovered cell are
    polygonized (a binary raster's boundary is noded at every grid point) and the faces
    whose inside is covered kept. GEOS's coverage union of the row runs fails on some
    patterns ("found two shells"), and a plain union of the runs takes ~30 s on a noisy
    600 x 600 pattern (this: ~8 s there; real service areas are blobs, far quicker).
    """
    if cells.size == 0:
        return shapely.Polygon()
    ix, iy = grid.ix[cells], grid.iy[cells]
    c0, r0 = int(ix.min()), int(iy.min())
    raster = np.zeros((int(iy.max()) - r0 + 3, int(ix.max()) - c0 + 3), bool)
    raster[iy - r0 + 1, ix - c0 + 1] = True  # padded by one empty cell all round
    # Horizontal edges on grid line r between rows r-1 and r; vertical ones on column c.
    hr, hc = np.nonzero(raster[1:, :] != raster[:-1, :])
    vr, vc = np.nonzero(raster[:, 1:] != raster[:, :-1])
    hy, hx = hr + 1.0, hc.astype(np.float64)
    vy, vx = vr.astype(np.float64), vc + 1.0
    starts = np.concatenate([np.column_stack([hx, hy]), np.column_stack([vx, vy])])
    ends = np.concatenate([np.column_stack([hx + 1, hy]), np.column_stack([vx, vy + 1])])
    edges = shapely.linestrings(np.stack([starts, ends], axis=1))
    faces = shapely.get_parts(shapely.polygonize(edges))
    inside = shapely.point_on_surface(faces)
    px = np.floor(shapely.get_x(inside)).astype(np.int64)
    py = np.floor(shapely.get_y(inside)).astype(np.int64)
    kept = faces[raster[py, px]]
    union = shapely.multipolygons(kept) if kept.size > 1 else kept[0]
    # The unit edges' collinear vertices dropped, in exact integer coordinates: the shape
    # does not change, so the fast (not topology-preserving) simplification is safe; GEOS's
    # topology-preserving one takes ~60x as long on many parts.
    lean = shapely.simplify(union, 0.0, preserve_topology=False)
    union = lean if lean.is_valid and lean.area == union.area else union
    x0 = grid.x0 + (c0 - 1) * grid.cell_m
    y0 = grid.y0 + (r0 - 1) * grid.cell_m
    side = grid.cell_m

    def metres(xy: FloatArray) -> FloatArray:
        return np.column_stack([x0 + xy[:, 0] * side, y0 + xy[:, 1] * side])

    return shapely.transform(union, metres)


def reach_work_estimate(
    network: Network, stations: int, *, speed_kmh: float, limit_s: float
) -> float:
    """About how many node visits counting the stations each point reaches takes (one
    bounded search per station over the nodes within its reach, estimated from the
    network's node density over its extent): ~1-2 µs each here."""
    min_lon, min_lat, max_lon, max_lat = network.bbox
    lat0 = math.radians((min_lat + max_lat) / 2)
    width = max(max_lon - min_lon, 1e-6) * 111_320.0 * math.cos(lat0)
    height = max(max_lat - min_lat, 1e-6) * 110_574.0
    density = network.nodes / (width * height)
    reach_m = speed_kmh / 3.6 * limit_s
    per_station = min(float(network.nodes), density * math.pi * reach_m**2)
    return stations * max(per_station, 1.0)


def candidate_cells(grid: CellGrid, cells: IntArray, *, spacing_m: float) -> IntArray:
    """Of ``cells`` (kept-cell indices), about one per ``spacing_m`` square: those whose
    column and row fall in the middle of their square of the candidate grid."""
    step = max(1, round(spacing_m / grid.cell_m))
    mid = step // 2
    pick = (grid.ix[cells] % step == mid) & (grid.iy[cells] % step == mid)
    return cells[pick]


def greedy_travel_gaps(
    sites: Router,
    targets: Snaps,
    weight: FloatArray,
    *,
    n: int,
    limit_s: float,
) -> list[tuple[int, float]]:
    """Greedy maximal covering by travel time: ``sites`` is a Router whose stations are the
    candidate sites; each pick is the candidate reaching (within ``limit_s`` along the
    network, the target's walk-in leg included) the most ``weight`` of the ``targets`` not
    yet reached by an earlier pick. One bounded search per candidate (its reach is kept),
    then ``n`` rounds over the kept reaches. (position of the candidate, gain) best first;
    fewer when no candidate adds anything."""
    candidates = int(sites.reachable.size)
    reach: list[IntArray] = []
    for j in range(candidates):
        if not sites.reachable[j]:
            reach.append(np.empty(0, np.int64))
            continue
        one = np.zeros(candidates, bool)
        one[j] = True
        seconds = point_seconds(sites, targets, one, limit_s=limit_s)
        reach.append(np.flatnonzero(np.isfinite(seconds)))
    done = np.zeros(len(targets), bool)
    picks: list[tuple[int, float]] = []
    for _ in range(n):
        gains = np.array([float(weight[r[~done[r]]].sum()) for r in reach] + [0.0])
        best = int(np.argmax(gains[:-1])) if candidates else -1
        if best < 0 or gains[best] <= 0:
            break
        picks.append((best, float(gains[best])))
        done[reach[best]] = True
    return picks
