"""JSON-schema fragments that document query parameters in /openapi.json.

They describe what the handlers accept (and let schemathesis and client generators
produce meaningful requests) without adding validation of their own: the handlers still
check every value and answer with a problem that explains it (a swapped lat/lon, an
unknown amenity with the list of known ones), which a generic 422 cannot do.
"""

from __future__ import annotations

from typing import Any

from geodata.crs import CoordinateSystem
from stations.domain.model import AMENITIES as _AMENITIES
from stations.domain.model import Status
from stations.domain.validation import CHINA_LAT as _LAT
from stations.domain.validation import CHINA_LON as _LON
from stations.services.planning import MAX_RADIUS_M, MIN_RADIUS_M


def enum(*values: str) -> dict[str, Any]:
    return {"enum": list(values)}


def between(low: float, high: float) -> dict[str, Any]:
    return {"minimum": low, "maximum": high}


def items(*values: str) -> dict[str, Any]:
    return {"items": {"type": "string", "enum": list(values)}}


CHINA_LON = between(*_LON)
CHINA_LAT = between(*_LAT)
CRS = enum(*(c.value for c in CoordinateSystem))
TIME = {"format": "date-time"}
AMENITIES = items(*_AMENITIES)
STATUSES = items(*(s.value for s in Status), "any")
# The reach of coverage, gaps and the map (checked by stations.services.planning.check_radius).
RADIUS_M = {"minimum": MIN_RADIUS_M, "maximum": MAX_RADIUS_M}
