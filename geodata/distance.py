"""Distances and bearings on the WGS-84 ellipsoid, vectorised."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
from pyproj import Geod


def wrap_degrees(angle: Any) -> Any:
    """Angles in degrees wrapped into [0, 360): np.mod alone turns -1e-15 into 360.0."""
    wrapped = np.mod(angle, 360.0)
    return np.where(wrapped >= 360.0, 0.0, wrapped)


@cache
def wgs84_geod() -> Geod:
    return Geod(ellps="WGS84")


def distance_bearing(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> tuple[Any, Any]:
    """Return the geodesic distance in metres and the initial bearing in degrees.

    Points are WGS-84 longitude/latitude in degrees; arrays broadcast against each other.
    The bearing is measured clockwise from true north at the first point, in [0, 360).
    Scalars in give floats out; arrays in give float64 arrays of the broadcast shape.
    """
    scalar = all(np.ndim(v) == 0 for v in (lon1, lat1, lon2, lat2))
    a = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lon1, lat1, lon2, lat2)))
    shape = a[0].shape
    az, _, dist = wgs84_geod().inv(a[0].ravel(), a[1].ravel(), a[2].ravel(), a[3].ravel())
    bearing = wrap_degrees(np.asarray(az, dtype=np.float64))
    dist = np.asarray(dist, dtype=np.float64)
    if scalar:
        return float(dist[0]), float(bearing[0])
    return dist.reshape(shape), bearing.reshape(shape)


def distance_m(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Return the geodesic distance in metres between WGS-84 lon/lat points (degrees)."""
    return distance_bearing(lon1, lat1, lon2, lat2)[0]


def bearing_deg(lon1: Any, lat1: Any, lon2: Any, lat2: Any) -> Any:
    """Return the initial bearing in degrees clockwise from north, in [0, 360), WGS-84."""
    return distance_bearing(lon1, lat1, lon2, lat2)[1]


def destination(
    lon: float, lat: float, *, azimuth_deg: float, distance_m: float
) -> tuple[float, float]:
    """The WGS-84 point ``distance_m`` metres from ``lon``/``lat`` along ``azimuth_deg``."""
    x, y, _ = wgs84_geod().fwd(lon, lat, azimuth_deg, distance_m)
    return float(x), float(y)
