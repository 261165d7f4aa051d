"""Riders rate a station (no login); the owning union reads the comments."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import MAX_ID, MAX_OFFSET, IndexDep, ServicesDep, StationId
from api.responses import json_response
from api.routes.feedback import client_address, salt_of
from geodata.hours import TZ
from stations.domain.cases import display_receipt
from stations.domain.ratings import COMMENT_MAX_CHARS
from stations.services import ratings as ratings_service

router = APIRouter(prefix="/v1", tags=["ratings"])
MAX_LIMIT = 500


@router.post(
    "/stations/{station_id}/ratings",
    summary="Rate a station, 1 to 5 stars (no login)",
    description=(
        f"`stars` 1–5; `comment` optional, up to {COMMENT_MAX_CHARS} characters, read only by "
        "the owning union. A second rating from the same address soon after replaces the "
        "first (200, `replaced`: true). 1–2 stars with a comment open a case: `receipt` "
        "follows it at `GET /v1/feedback/receipts/{receipt}`. Limited per address and per "
        "station (429 with Retry-After)."
    ),
    status_code=201,
)
def rate(
    station_id: StationId,
    request: Request,
    services: ServicesDep,
    index: IndexDep,
    body: Annotated[dict[str, Any], Body(examples=[{"stars": 2, "comment": "没有热水"}])],
) -> Response:
    settings = services.settings
    done = ratings_service.rate(
        services.store,
        index.get(station_id),
        station_id,
        stars=body.get("stars"),
        comment=body.get("comment"),
        client_address=client_address(request),
        salt=salt_of(request, services),
        per_client_per_hour=settings.ratings_per_client_per_hour,
        per_station_per_hour=settings.ratings_per_station_per_hour,
        dedupe_days=settings.rating_dedupe_days,
        deadlines=settings.case_deadline_hours,
        at=datetime.now(TZ),
    )
    message = "评价已更新，谢谢！" if done.replaced else "评价已收到，谢谢！"
    if done.receipt:
        message += "负责这个驿站的工会会处理您反映的问题，凭回执号可查看处理进度。"
    return json_response(
        {
            "station_id": station_id,
            "stars": done.rating.stars,
            "replaced": done.replaced,
            "receipt": display_receipt(done.receipt) if done.receipt else None,
            "message": message,
        },
        status=200 if done.replaced else 201,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/ratings/comments", summary="Ratings with comments (the owning union only)")
def comments(
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Newest first. A union sees its own stations' (another union's station: 403); the
    city union all."""
    items, total = ratings_service.comments(
        services.store,
        by,
        station=index.get(station_id) if station_id is not None else None,
        station_id=station_id,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": [
                {
                    "id": r.id,
                    "station_id": r.station_id,
                    "stars": r.stars,
                    "comment": r.comment,
                    "created_at": r.created_at.isoformat(timespec="seconds"),
                    "updated_at": r.updated_at.isoformat(timespec="seconds"),
                    "case_id": r.case_id,
                }
                for r in items
            ],
        },
        headers={"Cache-Control": "no-store"},
    )
