"""JSON responses, serialised once by orjson (numpy numbers and arrays included)."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Response

JSON = "application/json"
GEOJSON = "application/geo+json"


def json_response(
    body: Any,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    media_type: str = JSON,
) -> Response:
    """``body`` as a JSON response; orjson writes numpy values the index hands out as they are."""
    return Response(
        orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
        status_code=status,
        media_type=media_type,
        headers=headers,
    )
