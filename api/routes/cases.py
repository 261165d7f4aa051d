"""Cases that close: the reporter follows one by its receipt (no account); the owning
union lists its cases and moves them on (start, reply and resolve)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import MAX_ID, MAX_OFFSET, IndexDep, ServicesDep
from api.problems import Problem
from api.responses import json_response
from api.routes.feedback import client_address
from geodata.hours import TZ
from stations.domain.cases import (
    MAX_REOPENS,
    STATE_LABELS,
    Case,
    CaseState,
    ReceiptNotFoundError,
    display_receipt,
    is_overdue,
    parse_receipt,
    parse_state,
)
from stations.domain.feedback import client_key
from stations.readmodel.index import StationIndex
from stations.services import cases as cases_service

router = APIRouter(prefix="/v1", tags=["cases"])
MAX_LIMIT = 500
CaseId = Annotated[int, Path(ge=1, le=MAX_ID, description="the case's id")]
Receipt = Annotated[str, Path(description="the receipt, XXXX-XXXX-XXXX")]
_NO_STORE = {"Cache-Control": "no-store"}


def _t(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at else None


def _common(case: Case, index: StationIndex, now: datetime) -> dict[str, Any]:
    station = index.get(case.station_id)
    return {
        "state": case.state.value,
        "state_label": case.state_label,
        "source": case.source,
        "kind": case.kind,
        "kind_label": case.kind_label,
        "station_id": case.station_id,
        "station_name": station.name if station else None,
        "opened_at": _t(case.opened_at),
        "due_at": _t(case.due_at),
        "overdue": is_overdue(case, now),
        "reply": case.reply,
        "replied_at": _t(case.replied_at),
    }


def receipt_doc(case: Case, receipt: str, index: StationIndex, now: datetime) -> dict[str, Any]:
    """What the reporter sees: the state, the reply and when things happened; never the
    union's actor, the report's text or anything of another report."""
    resolved = case.state is CaseState.RESOLVED
    return {
        "receipt": display_receipt(receipt),
        **_common(case, index, now),
        "history": [
            {"at": _t(e.at), "state": e.to_state.value, "state_label": STATE_LABELS[e.to_state]}
            for e in case.events
        ],
        "can_confirm": resolved,
        "can_reopen": resolved and case.reopened < MAX_REOPENS,
    }


def case_doc(case: Case, index: StationIndex, now: datetime) -> dict[str, Any]:
    """What the owning union sees of its case."""
    return {
        "id": case.id,
        **_common(case, index, now),
        "owner": case.owner,
        "district_adcode": case.district_adcode,
        "text": case.text,
        "stars": case.stars,
        "feedback_id": case.feedback_id,
        "replied_by": case.replied_by,
        "reopened": case.reopened,
        "version": case.version,
        "history": [
            {
                "at": _t(e.at),
                "actor": e.actor,
                "from_state": e.from_state.value if e.from_state else None,
                "state": e.to_state.value,
                "state_label": STATE_LABELS[e.to_state],
                "note": e.note,
            }
            for e in case.events
        ],
    }


def _receipt_action(
    request: Request, services: ServicesDep, index: IndexDep, receipt: str, action: str
) -> Response:
    """Look a receipt up (and confirm or reopen its case), failures limited per address."""
    limiter = request.app.state.auth_limiter
    key = f"{client_key(client_address(request))} receipts"
    wait = limiter.retry_after_s(key)
    if wait:
        raise Problem(
            "too_many_requests",
            f"too many wrong receipts from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    settings, now = services.settings, datetime.now(TZ)
    days = settings.case_confirm_days
    try:
        if action == "confirm":
            case = cases_service.confirm_by_receipt(
                services.store, receipt, at=now, confirm_days=days
            )
        elif action == "reopen":
            case = cases_service.reopen_by_receipt(
                services.store,
                receipt,
                at=now,
                confirm_days=days,
                deadlines=settings.case_deadline_hours,
            )
        else:
            case = cases_service.receipt_view(services.store, receipt, now=now, confirm_days=days)
    except ReceiptNotFoundError:
        limiter.fail(key)
        raise
    return json_response(receipt_doc(case, parse_receipt(receipt), index, now), headers=_NO_STORE)


@router.get("/feedback/receipts/{receipt}", summary="A report's or rating's case by its receipt")
def receipt(receipt: Receipt, request: Request, services: ServicesDep, index: IndexDep) -> Response:
    """The state, the union's reply and the history (no login: the receipt is the key).
    A wrong or malformed receipt: 404 `receipt_not_found`."""
    return _receipt_action(request, services, index, receipt, "view")


@router.post("/feedback/receipts/{receipt}/confirm", summary="Confirm the union's resolution")
def confirm(receipt: Receipt, request: Request, services: ServicesDep, index: IndexDep) -> Response:
    """Only a resolved case can be confirmed (409 `case_transition_refused` otherwise)."""
    return _receipt_action(request, services, index, receipt, "confirm")


@router.post("/feedback/receipts/{receipt}/reopen", summary="Say the problem is still there")
def reopen(receipt: Receipt, request: Request, services: ServicesDep, index: IndexDep) -> Response:
    """A resolved case opens again, once, with a new deadline."""
    return _receipt_action(request, services, index, receipt, "reopen")


@router.get("/cases", summary="The union's cases, soonest due first (authenticated)")
def list_cases(
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    state: Annotated[
        str | None, Query(description="open, in_progress, resolved, confirmed")
    ] = None,
    overdue: Annotated[bool, Query(description="only cases past their deadline")] = False,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """A district or industry union sees its own stations' cases; the city union all."""
    now = datetime.now(TZ)
    items, total = cases_service.list_cases(
        services.store,
        by,
        state=parse_state(state) if state else None,
        overdue=overdue,
        station_id=station_id,
        now=now,
        confirm_days=services.settings.case_confirm_days,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": [case_doc(c, index, now) for c in items],
        },
        headers=_NO_STORE,
    )


@router.post("/cases/{case_id}/transition", summary="Start or resolve a case (owner only)")
def transition(
    case_id: CaseId,
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    body: Annotated[
        dict[str, Any],
        Body(examples=[{"to": "resolved", "reply": "已修好门禁", "expected_version": 2}]),
    ],
) -> Response:
    """`to`: in_progress or resolved (a resolve needs `reply`, up to 500 characters, shown
    to the reporter). `expected_version`: the case's version as read (409 `stale_case` if
    it moved on)."""
    now = datetime.now(TZ)
    done = cases_service.handle(
        services.store,
        by,
        case_id,
        to=body.get("to"),
        reply=body.get("reply"),
        expected_version=body.get("expected_version"),
        at=now,
    )
    return json_response(case_doc(done, index, now), headers=_NO_STORE)
