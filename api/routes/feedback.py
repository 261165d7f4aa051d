"""Riders report problems at a station; the owning union reads and resolves the reports."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import MAX_ID, MAX_OFFSET, IndexDep, ServicesDep, StationId
from api.problems import Problem
from api.responses import json_response
from geodata.hours import TZ
from stations.domain.cases import display_receipt
from stations.domain.feedback import (
    FEEDBACK_KIND_LABELS,
    NOTE_MAX_CHARS,
    Feedback,
)
from stations.services import feedback as feedback_service

router = APIRouter(prefix="/v1", tags=["feedback"])

MAX_SUMMARY_IDS = 100
MAX_LIMIT = 1000
FeedbackId = Annotated[int, Path(ge=1, le=MAX_ID, description="the report's id")]


def client_address(request: Request) -> str:
    """The address a rider's anonymous write came from (for its keyed hash only)."""
    return request.client.host if request.client else "unknown"


def salt_of(request: Request, services: ServicesDep) -> bytes:
    # Read once per app: it never changes for a registry.
    salt: bytes | None = getattr(request.app.state, "feedback_salt", None)
    if salt is None:
        salt = services.store.feedback_salt()
        request.app.state.feedback_salt = salt
    return salt


def _doc(fb: Feedback, index: IndexDep) -> dict[str, Any]:
    station = index.get(fb.station_id)
    return {
        "id": fb.id,
        "station_id": fb.station_id,
        "station_name": station.name if station else None,
        "owner": fb.owner,
        "kind": fb.kind.value,
        "kind_label": FEEDBACK_KIND_LABELS[fb.kind.value],
        "note": fb.note,
        "created_at": fb.created_at.isoformat(timespec="seconds"),
        "resolved": fb.resolved,
        "resolved_at": fb.resolved_at.isoformat(timespec="seconds") if fb.resolved_at else None,
        "resolved_by": fb.resolved_by,
        "resolution_note": fb.resolution_note,
    }


_REPORT_EXAMPLE = {"kind": "locked", "note": "晚上九点门锁着，扫码没反应"}


@router.post(
    "/stations/{station_id}/feedback",
    status_code=201,
    summary="Report a problem at a station (no login)",
    description=(
        "`kind`: closed_during_hours (开放时间内没开门), locked (门锁着进不去), facility_broken "
        f"(设施坏了) or other (其他问题, with a note); `note`: up to {NOTE_MAX_CHARS} characters. "
        "The owning union sees the report at `GET /v1/feedback`. Limited per client address "
        "and per station (429 with Retry-After); the address is kept only as a keyed hash."
    ),
)
def report(
    station_id: StationId,
    request: Request,
    services: ServicesDep,
    index: IndexDep,
    body: Annotated[dict[str, Any], Body(examples=[_REPORT_EXAMPLE])],
) -> Response:
    settings = services.settings
    stored = feedback_service.submit_report(
        services.store,
        index.get(station_id),
        station_id,
        kind=body.get("kind"),
        note=body.get("note"),
        client_address=client_address(request),
        salt=salt_of(request, services),
        per_client_per_hour=settings.feedback_per_client_per_hour,
        per_station_per_hour=settings.feedback_per_station_per_hour,
        at=datetime.now(TZ),
        deadlines=settings.case_deadline_hours,
    )
    return json_response(
        {
            "id": stored.id,
            "station_id": stored.station_id,
            "kind": stored.kind.value,
            "kind_label": FEEDBACK_KIND_LABELS[stored.kind.value],
            "created_at": stored.created_at.isoformat(timespec="seconds"),
            "receipt": display_receipt(stored.receipt),
            "message": (
                "已收到，谢谢！负责这个驿站的工会会尽快处理。请记下回执号，凭它查看处理进度。"
            ),
        },
        status=201,
        headers={"Cache-Control": "no-store"},
    )


@router.get("/feedback/summary", summary="Unresolved recent reports per station (public)")
def summary(
    services: ServicesDep,
    station_id: Annotated[
        list[str],
        Query(description=f"repeatable or comma-separated station ids, at most {MAX_SUMMARY_IDS}"),
    ],
) -> Response:
    """Counts by kind of the reports not yet resolved from the last
    `YIZHAN_FEEDBACK_WARNING_DAYS` days (default 7), for the stations that have any; the
    notes stay with the unions."""
    ids: list[int] = []
    for raw in station_id:
        for part in (p.strip() for p in raw.split(",")):
            if not part:
                continue
            if not (part.isascii() and part.isdigit() and 1 <= int(part) <= MAX_ID):
                raise Problem("invalid_parameter", f"station_id {part!r} is not a station id")
            ids.append(int(part))
    if len(ids) > MAX_SUMMARY_IDS:
        raise Problem("out_of_range", f"at most {MAX_SUMMARY_IDS} station ids at once")
    days = services.settings.feedback_warning_days
    since, counts = feedback_service.unresolved_summary(
        services.store, ids, days=days, now=datetime.now(TZ)
    )
    return json_response(
        {
            "days": days,
            "since": since.isoformat(timespec="seconds"),
            "stations": [
                {"station_id": sid, "unresolved": sum(kinds.values()), "kinds": kinds}
                for sid, kinds in sorted(counts.items())
            ],
        }
    )


@router.get("/feedback", summary="Riders' reports on the union's stations (authenticated)")
def list_feedback(
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    unresolved: Annotated[
        bool | None, Query(description="true: only unresolved; false: only resolved")
    ] = None,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """Newest first. A district or industry union sees the reports on its own stations;
    the city union sees all."""
    items, total = feedback_service.list_reports(
        services.store,
        by,
        unresolved=unresolved,
        station_id=station_id,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": [_doc(fb, index) for fb in items],
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/feedback/{feedback_id}/resolve", summary="Mark a report resolved (owner only)")
def resolve(
    feedback_id: FeedbackId,
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    body: Annotated[dict[str, Any] | None, Body(examples=[{"note": "已修好门禁"}])] = None,
) -> Response:
    """Only the union owning the station (or the city union) may resolve it; `note` says
    what was done (optional). A report resolved already gets 409."""
    done = feedback_service.resolve_report(
        services.store, by, feedback_id, note=(body or {}).get("note"), at=datetime.now(TZ)
    )
    return json_response(_doc(done, index))
