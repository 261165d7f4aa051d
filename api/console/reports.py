"""The inbox of riders' reports on the union's stations (the city union: every station's),
the unresolved first, each with a form to mark it resolved with a note.

Listing and resolving go through stations/services/feedback.py with the signed-in
person's Principal: the same rule as /v1/feedback's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from api.console.messages import problem_text
from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import MAX_ID, Services, ServicesDep
from geodata.hours import TZ
from stations.domain.feedback import (
    FEEDBACK_KIND_LABELS,
    NOTE_MAX_CHARS,
    FeedbackResolvedError,
    InvalidFeedbackError,
)
from stations.services.console_queries import REPORT_STATES, inbox
from stations.services.feedback import resolve_report

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
FeedbackId = Annotated[int, Path(ge=1, le=MAX_ID)]


def inbox_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    state: str,
    offset: int = 0,
    status_code: int = 200,
    **context: Any,
) -> Response:
    state = state if state in REPORT_STATES else "open"
    reports, total = inbox(services.store, user.principal, state, limit=PAGE_SIZE, offset=offset)
    index = services.index.current()
    return render(
        request,
        "reports.html",
        user=user,
        status_code=status_code,
        reports=reports,
        total=total,
        state=state,
        states=REPORT_STATES,
        offset=offset,
        page_size=PAGE_SIZE,
        stations={r.station_id: index.get(r.station_id) for r in reports},
        kind_labels=FEEDBACK_KIND_LABELS,
        note_max=NOTE_MAX_CHARS,
        tz=TZ,
        **context,
    )


@router.get("/console/reports")
def reports_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    state: str = "open",
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    notice: str | None = None,
) -> Response:
    shown = {"resolved": "已标记为已处理"}.get(notice or "")
    return inbox_page(request, services, user, state=state, offset=offset, notice=shown)


@router.post("/console/reports/{feedback_id}/resolve")
def resolve(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    feedback_id: FeedbackId,
    note: Annotated[str, Form()] = "",  # its length is the domain rule's (check_resolution_note)
    state: Annotated[str, Form(max_length=10)] = "open",
) -> Response:
    """Mark one report resolved; back to the inbox (a refusal says why, in Chinese)."""
    try:
        resolve_report(services.store, user.principal, feedback_id, note=note, at=datetime.now(TZ))
    except (InvalidFeedbackError, FeedbackResolvedError) as exc:
        resolved = isinstance(exc, FeedbackResolvedError)
        message = "这条反馈已经处理过了。" if resolved else problem_text(exc)
        return inbox_page(
            request,
            services,
            user,
            state=state,
            status_code=409 if resolved else 422,
            error=message,
        )
    back = state if state in REPORT_STATES else "open"
    return RedirectResponse(f"/console/reports?state={back}&notice=resolved", status_code=303)
