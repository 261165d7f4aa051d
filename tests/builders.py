"""Small builders for test data; every test makes its own stations."""

from __future__ import annotations

from typing import Any

from geodata.districts import Districts
from stations.model import Station
from stations.validation import build_station

# WGS-84 points well inside their districts.
JIEFANGBEI = (106.5772, 29.5570)  # 渝中区 500103
GUANYINQIAO = (106.5320, 29.5800)  # 江北区 500105
WANZHOU = (108.4000, 30.8100)  # 万州区 500101


def station_row(**overrides: Any) -> dict[str, Any]:
    """A raw row for a valid staffed station in 渝中区, as a clerk would upload it."""
    row: dict[str, Any] = {
        "external_id": "YZ-001",
        "owner": "district:500103",
        "name": "解放碑工会驿站",
        "address": "重庆市渝中区民族路 1 号",
        "host": "渝中区总工会",
        "contact_phone": "023-63000000",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "周一至周五 9:00-18:00",
        "amenities": "热水、微波炉、phone_charging",
        "entry_methods": "staffed",
    }
    row.update(overrides)
    return row


def make_station(districts: Districts, **overrides: Any) -> Station:
    """A validated Station built from :func:`station_row` with ``overrides``."""
    crs = overrides.pop("crs", "wgs84")
    return build_station(station_row(**overrides), districts=districts, crs=crs)


def point_beyond_border(
    districts: Districts, own: str, other: str, distance_m: float
) -> tuple[float, float]:
    """A WGS-84 point in district ``other``, about ``distance_m`` (±20 %) outside ``own``.

    Walks from the vertices of the border the two share, away from ``own``; the distance
    is checked by brute force (geodesics to points every ~1 m along ``own``'s border).
    """
    import numpy as np
    import shapely
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    own_geometry = districts.get(own).geometry
    other_geometry = districts.get(other).geometry
    dense = shapely.get_coordinates(shapely.segmentize(shapely.boundary(own_geometry), 1e-5))
    shared = shapely.get_coordinates(shapely.boundary(own_geometry))
    on_both = shapely.dwithin(other_geometry, shapely.points(shared), 1e-7)
    for x, y in shared[on_both][:: max(1, int(on_both.sum()) // 40)]:
        for bearing in range(0, 360, 15):
            lon, lat, _ = geod.fwd(x, y, bearing, distance_m)
            if districts.lookup(lon, lat) != other:
                continue
            n = len(dense)
            _, _, each = geod.inv(np.full(n, lon), np.full(n, lat), dense[:, 0], dense[:, 1])
            if 0.8 * distance_m <= float(np.min(each)) <= 1.2 * distance_m:
                return float(lon), float(lat)
    msg = f"no point {distance_m} m outside {own} in {other}"
    raise AssertionError(msg)
