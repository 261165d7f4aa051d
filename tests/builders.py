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
