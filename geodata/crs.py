"""Coordinate systems used in China: WGS-84, GCJ-02, BD-09 and CGCS2000, vectorised."""

from __future__ import annotations

import math
from enum import StrEnum
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
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


def outside_china_shift_area(lon: Any, lat: Any) -> Any:
    """True where the providers apply no GCJ-02 shift (their rough box around China).

    Degrees, any system. Scalars in give a bool out.
    """
    x, y, scalar = _arrays(lon, lat)
    out = (x < 72.004) | (x > 137.8347) | (y < 0.8293) | (y > 55.8271)
    return bool(out) if scalar else out


def _gcj_delta(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The GCJ-02 offset in degrees at WGS-84 ``x``/``y`` (zero outside the shift area)."""
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
    outside = outside_china_shift_area(x, y)
    return np.where(outside, 0.0, d_lon), np.where(outside, 0.0, d_lat)


def _wgs_to_gcj(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    d_lon, d_lat = _gcj_delta(x, y)
    return x + d_lon, y + d_lat


def _invert(
    forward: Any, tx: FloatArray, ty: FloatArray, x: FloatArray, y: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Solve forward(x, y) == (tx, ty) by fixed-point iteration from the guess (x, y)."""
    x, y = x.copy(), y.copy()
    for _ in range(_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = fx - tx, fy - ty
        x -= ex
        y -= ey
        with np.errstate(invalid="ignore"):
            done = (np.abs(ex) < _TOLERANCE_DEG) & (np.abs(ey) < _TOLERANCE_DEG)
        if bool(np.all(done | np.isnan(ex) | np.isnan(ey))):
            break
    return x, y


def wgs84_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS-84 → GCJ-02 (degrees). Points outside China are returned unchanged."""
    x, y, scalar = _arrays(lon, lat)
    return _out(*_wgs_to_gcj(x, y), scalar)


def gcj02_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → WGS-84 (degrees), iterated to within 1e-10° (~0.01 mm) of the exact inverse."""
    x, y, scalar = _arrays(lon, lat)
    d_lon, d_lat = _gcj_delta(x, y)
    gx, gy = _invert(_wgs_to_gcj, x, y, x - d_lon, y - d_lat)
    return _out(gx, gy, scalar)


def _gcj_to_bd(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def gcj02_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """GCJ-02 → BD-09 (degrees), Baidu's formula."""
    x, y, scalar = _arrays(lon, lat)
    return _out(*_gcj_to_bd(x, y), scalar)


def bd09_to_gcj02(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 → GCJ-02 (degrees): the closed form, then iterated to within ~0.01 mm."""
    x, y, scalar = _arrays(lon, lat)
    bx, by = x - 0.0065, y - 0.006
    z = np.sqrt(bx * bx + by * by) - 0.00002 * np.sin(by * _X_PI)
    theta = np.arctan2(by, bx) - 0.000003 * np.cos(bx * _X_PI)
    gx, gy = _invert(_gcj_to_bd, x, y, z * np.cos(theta), z * np.sin(theta))
    return _out(gx, gy, scalar)


def wgs84_to_bd09(lon: Any, lat: Any) -> tuple[Any, Any]:
    """WGS-84 → BD-09 (degrees), through GCJ-02."""
    x, y, scalar = _arrays(lon, lat)
    return _out(*_gcj_to_bd(*_wgs_to_gcj(x, y)), scalar)


def bd09_to_wgs84(lon: Any, lat: Any) -> tuple[Any, Any]:
    """BD-09 → WGS-84 (degrees), through GCJ-02, each step iterated."""
    gx, gy = bd09_to_gcj02(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    x, y = gcj02_to_wgs84(gx, gy)
    scalar = np.ndim(lon) == 0 and np.ndim(lat) == 0
    return _out(np.asarray(x), np.asarray(y), scalar)


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
