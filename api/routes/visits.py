"""Workers check in at a station (签到, no login); anyone reads the usage figures."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from api.deps import MAX_ID, IndexDep, ServicesDep, StationId
from api.responses import json_response
from api.routes.feedback import client_address, salt_of
from geodata.hours import TZ
from stations.domain.visits import OCCUPATION_LABELS
from stations.services import usage as usage_service
from stations.services import visits as visits_service

router = APIRouter(prefix="/v1", tags=["visits"])

DEFAULT_USAGE_DAYS = 30


class VisitBody(BaseModel):
    """A check-in: JSON only, so that a cross-site form (text/plain, urlencoded) is refused."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"occupation": "delivery"}]})

    occupation: str = Field(
        max_length=40, description="; ".join(f"{c} ({lab})" for c, lab in OCCUPATION_LABELS.items())
    )
    code: str | None = Field(
        default=None, max_length=40, description="the station code on the poster (optional)"
    )


@router.post(
    "/stations/{station_id}/visits",
    status_code=201,
    summary="Check in at a station (no login)",
    description=(
        "`occupation`: a code or its Chinese label. 201 when counted; 200 with "
        "`counted: false` when the same address checked in at this station within "
        "`YIZHAN_VISIT_DEDUPE_MINUTES` (default 120). Limited per address and per station "
        "(429 with Retry-After). Kept: station, occupation, hour; the address only as a keyed "
        "hash, for `YIZHAN_VISIT_KEEP_HOURS`."
    ),
)
def check_in(
    station_id: StationId,
    request: Request,
    services: ServicesDep,
    index: IndexDep,
    body: VisitBody,
) -> Response:
    settings = services.settings
    done = visits_service.check_in(
        services.store,
        index.get(station_id),
        station_id,
        occupation=body.occupation,
        code=body.code,
        client_address=client_address(request),
        salt=salt_of(request, services),
        dedupe_minutes=settings.visit_dedupe_minutes,
        per_client_per_hour=settings.visits_per_client_per_hour,
        per_station_per_hour=settings.visits_per_station_per_hour,
        keep_hours=settings.visit_keep_hours,
        at=datetime.now(TZ),
    )
    return json_response(
        {
            "counted": done.counted,
            "station_id": done.station_id,
            "occupation": done.occupation,
            "occupation_label": done.occupation_label,
            "message": done.message,
        },
        status=201 if done.counted else 200,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/usage", summary="Check-ins by day, hour or occupation (public figures)")
def usage(
    services: ServicesDep,
    by: Annotated[Literal["day", "hour", "occupation"], Query()] = "day",
    since: Annotated[
        date | None, Query(description="first Shanghai day (default: 30 days back)")
    ] = None,
    until: Annotated[
        date | None, Query(description="last Shanghai day, included (default: today)")
    ] = None,
    district: Annotated[
        str | None, Query(pattern=r"^\d{6}$", description="a district's adcode")
    ] = None,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Counts only (no address, no comment). `by=day`: one bucket per day in range, zeros
    included; `by=hour`: 24 (Shanghai hours); `by=occupation`: 6. At most 400 days
    (MAX_USAGE_DAYS); `since` after `until` is a 400."""
    last = until or datetime.now(TZ).date()
    first = since or last - timedelta(days=DEFAULT_USAGE_DAYS - 1)
    q, buckets = usage_service.usage(
        services.store,
        by=by,
        since=first,
        until=last,
        district=district,
        station_id=station_id,
        known_districts=services.districts,
    )
    return json_response(
        {
            "by": q.by,
            "since": q.since.isoformat(),
            "until": q.until.isoformat(),
            "district": q.district,
            "station_id": q.station_id,
            "total": sum(b.n for b in buckets),
            "buckets": [{"key": b.key, "label": b.label, "n": b.n} for b in buckets],
        },
        headers={"Cache-Control": "public, max-age=60"},
    )
