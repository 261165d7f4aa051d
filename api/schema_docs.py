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

# The operations fields of the public station record and of each nearest result
# (stations.readmodel.ops): re-read at most every `ops_refresh_s` seconds. Comments of
# ratings are never public: they go to the station's union.
OPS_FIELDS: dict[str, Any] = {
    "rating": {
        "type": "object",
        "description": "riders' ratings (1–5 stars): their average (null: none yet) and count",
        "properties": {
            "average": {"type": ["number", "null"], "minimum": 1, "maximum": 5},
            "count": {"type": "integer", "minimum": 0},
        },
        "required": ["average", "count"],
    },
    "stars": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": 5,
        "description": "the star rating (星级评定, GET /v1/stars); null: not yet rated",
    },
    "last_confirmed": {
        "type": ["object", "null"],
        "description": (
            "when the station was last confirmed and how: a spot check (inspection, 抽查确认), "
            "an edit by its union (union_edit, 工会更新) or a day of rider check-ins "
            "(check_ins, 骑手签到); null: never"
        ),
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "how": {"enum": ["inspection", "union_edit", "check_ins"]},
            "label": {"enum": ["抽查确认", "工会更新", "骑手签到"]},
        },
        "required": ["at", "how", "label"],
    },
}


def record_schema(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 response of a route giving station records, with the operations fields."""
    schema = {"type": "object", "properties": OPS_FIELDS, "additionalProperties": True}
    return {200: {"description": description, "content": {"application/json": {"schema": schema}}}}
