"""The street networks loaded for routing by travel (walk, e-bike): public."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import ServicesDep
from api.responses import json_response
from stations.services.network import networks_document

router = APIRouter(prefix="/v1", tags=["stations"])


@router.get(
    "/networks",
    summary="The street networks nearest and coverage can route on (walk 步行, ebike 电动车)",
    description=(
        "Public. One entry per imported profile (`yizhan network import FILE --profile "
        "walk|ebike`): the OpenStreetMap file it came from, when, its size, its extent "
        "(bbox: min lon, min lat, max lon, max lat, WGS-84) and the speed routes are timed "
        "at. An empty list: travel=walk|ebike answers 409 network_not_loaded."
    ),
)
def list_networks(services: ServicesDep) -> Response:
    doc = networks_document(services.store, services.settings.routing())
    return json_response(doc)
