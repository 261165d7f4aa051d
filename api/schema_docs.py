"""JSON-schema fragments that document query parameters in /openapi.json.

They describe what the handlers accept (and let schemathesis and client generators
produce meaningful requests) without adding validation of their own: the handlers still
check every value and answer with a problem that explains it (a swapped lat/lon, an
unknown amenity with the list of known ones), which a generic 422 cannot do.
"""

from __future__ import annotations

from typing import Any

from api.responses import GEOJSON
from geodata.crs import CoordinateSystem
from stations.domain.events import EventKind
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


def _record() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**OPS_FIELDS, **RECORD_MOBILE_FIELDS, **RECORD_EVENT_FIELDS},
        "required": ["event", "next_event"],
        "additionalProperties": True,
    }


def record_schema(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 response of a route giving station records, with the operations and event
    fields."""
    return {
        200: {"description": description, "content": {"application/json": {"schema": _record()}}}
    }


def listing_schema(description: str) -> dict[int | str, dict[str, Any]]:
    """The 200 response of the station listing: ``items`` (json) or the features'
    ``properties`` (geojson) are records, with the operations and event fields."""
    page = {
        "type": "object",
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "items": {"type": "array", "items": _record()},
        },
        "additionalProperties": True,
    }
    features = {
        "type": "object",
        "properties": {
            "features": {
                "type": "array",
                "items": {"type": "object", "properties": {"properties": _record()}},
            }
        },
        "additionalProperties": True,
    }
    content = {"application/json": {"schema": page}, GEOJSON: {"schema": features}}
    return {200: {"description": description, "content": content}}


# A result placed at a time (nearest, along-route, listings with `at`): a mobile station (流动驿站)
# at its stop; between stops it is left out (stations.domain.mobile.place is the rule).
PLACED_FIELDS: dict[str, Any] = {
    "mobile": {
        "type": "boolean",
        "description": (
            "true: a mobile station (流动驿站, e.g. a bus) standing at one of its stops at `at`; "
            "its position is the stop's, in `crs`. false: a fixed station"
        ),
    },
    "stop_name": {
        "type": "string",
        "description": "the stop where the mobile station stands at `at` (mobile only)",
    },
    "stop_until": {
        "type": ["string", "null"],
        "format": "date-time",
        "description": (
            "when it leaves that stop, ISO 8601 Asia/Shanghai; null: it stays (mobile only)"
        ),
    },
    "stop_hours": {
        "type": "string",
        "description": "that stop's hours as the union wrote them, e.g. 周一、三、五 10:00-14:00 "
        "(mobile only)",
    },
}

_EVENT: dict[str, Any] = {
    "type": ["object", "null"],
    "properties": {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "kind": enum(*(k.value for k in EventKind)),
        "kind_label": {"type": "string", "description": "the kind in Chinese, e.g. 免费餐"},
        "start": {"type": "string", "format": "date-time"},
        "end": {"type": "string", "format": "date-time"},
    },
    "required": ["id", "title", "kind", "kind_label", "start", "end"],
}
# The station's events (活动, GET /v1/events) in each nearest and along-route result.
EVENT_FIELDS: dict[str, Any] = {
    "event": {**_EVENT, "description": "the occurrence on at the station at `at`; null: none"},
    "next_event": {
        **_EVENT,
        "description": "the station's next occurrence starting after `at`; null: none",
    },
}

# The same in a station's record (GET /v1/stations/{id}) and the listing's (GET /v1/stations).
RECORD_EVENT_FIELDS: dict[str, Any] = {
    "event": {
        **_EVENT,
        "description": "the station's 活动 on now (a listing with `at`: then); null: none",
    },
    "next_event": {
        **_EVENT,
        "description": (
            "the station's next occurrence starting within 31 days after now (a listing with "
            "`at`: after then); null: none"
        ),
    },
}

# The mobile fields of a station record (GET /v1/stations/{id}, listings, export, writes).
RECORD_MOBILE_FIELDS: dict[str, Any] = {
    "mobile": {
        "type": "boolean",
        "description": "a mobile station (流动驿站): it stands at its `stops` by their hours",
    },
    "stops": {
        "type": "array",
        "description": (
            "a mobile station's stops (停靠点), positions in `crs`; [] for a fixed station. "
            "`hours` is canonical OSM opening_hours (as written in `hours_text`); when two "
            "stops' hours overlap, the first listed wins"
        ),
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "lon": {"type": "number"},
                "lat": {"type": "number"},
                "hours": {"type": "string", "examples": ["Mo,We,Fr 09:00-12:00"]},
                "hours_text": {"type": "string", "examples": ["周一、三、五 9:00-12:00"]},
            },
            "required": ["name", "lon", "lat", "hours", "hours_text"],
        },
    },
}


def result_schema(description: str, example: dict[str, Any] | None = None) -> dict[int | str, Any]:
    """The 200 response of a route answering placed results (nearest, along-route): each of
    ``results`` with the operations, placement and event fields."""
    item = {
        "type": "object",
        "properties": {**OPS_FIELDS, **PLACED_FIELDS, **EVENT_FIELDS},
        "required": ["mobile", "event", "next_event"],
        "additionalProperties": True,
    }
    schema = {
        "type": "object",
        "properties": {"results": {"type": "array", "items": item}},
        "additionalProperties": True,
    }
    content: dict[str, Any] = {"schema": schema}
    if example is not None:
        content["example"] = example
    return {
        200: {
            "description": description,
            "content": {"application/json": content, GEOJSON: {}},
        }
    }
