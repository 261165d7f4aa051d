"""The inbox of cases on the union's stations (the city union: every station's): riders'
reports and low ratings, by state, soonest due first; start one, or reply and resolve it.

Listing and every step go through stations/services/cases.py with the signed-in person's
Principal: the same rule and state machine as /v1/cases. A step on a case someone else
moved on meanwhile is the console's 409 page (stale_case), in Chinese.
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
from stations.domain.cases import (
    REPLY_MAX_CHARS,
    SOURCE_LABELS,
    STATE_LABELS,
    CaseState,
    InvalidCaseRequestError,
    is_overdue,
)
from stations.services.cases import handle
from stations.services.console_queries import INBOX_TABS, inbox, inbox_counts
from stations.services.feedback import resolve_report

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
CaseId = Annotated[int, Path(ge=1, le=MAX_ID)]
FeedbackId = Annotated[int, Path(ge=1, le=MAX_ID)]
_NOTICES = {"started": "已开始处理", "resolved": "已回复并标记为已解决"}


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
    state = state if state in INBOX_TABS else "open"
    now = datetime.now(TZ)
    cases, total = inbox(
        services.store,
        user.principal,
        state,
        now=now,
        confirm_days=services.settings.case_confirm_days,
        limit=PAGE_SIZE,
        offset=offset,
    )
    index = services.index.current()
    return render(
        request,
        "reports.html",
        user=user,
        status_code=status_code,
        cases=cases,
        overdue={c.id for c in cases if is_overdue(c, now)},
        total=total,
        state=state,
        tabs=INBOX_TABS,
        counts=inbox_counts(services.store, user.principal, now=now),
        offset=offset,
        page_size=PAGE_SIZE,
        stations={c.station_id: index.get(c.station_id) for c in cases},
        source_labels=SOURCE_LABELS,
        state_labels=STATE_LABELS,
        reply_max=REPLY_MAX_CHARS,
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
    shown = _NOTICES.get(notice or "")
    return inbox_page(request, services, user, state=state, offset=offset, notice=shown)


@router.post("/console/reports/{feedback_id}/resolve")
def resolve_report_form(
    services: ServicesDep,
    user: FormUserDep,
    feedback_id: FeedbackId,
    note: Annotated[str, Form()] = "",  # its length is the domain rule's
    state: Annotated[str, Form(max_length=12)] = "open",
) -> Response:
    """The earlier form's address (a report, by its id): resolves the report and its case
    with ``note`` as the reply; a refusal is the console's page in Chinese."""
    resolve_report(services.store, user.principal, feedback_id, note=note, at=datetime.now(TZ))
    back = state if state in INBOX_TABS else "open"
    return RedirectResponse(f"/console/reports?state={back}&notice=resolved", status_code=303)


@router.post("/console/reports/cases/{case_id}/{step}")
def move_on(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    case_id: CaseId,
    step: Annotated[str, Path(pattern="^(start|resolve)$")],
    version: Annotated[int, Form(ge=1, le=2**31 - 1)],
    reply: Annotated[str, Form()] = "",  # its length is the domain rule's (check_reply)
    state: Annotated[str, Form(max_length=12)] = "open",
) -> Response:
    """Start a case, or reply and resolve it; back to the inbox. A missing or overlong reply
    is said on the inbox (422); a stale version or a refused step is the 409 page."""
    to = CaseState.IN_PROGRESS if step == "start" else CaseState.RESOLVED
    try:
        handle(
            services.store,
            user.principal,
            case_id,
            to=to.value,
            reply=reply,
            expected_version=version,
            at=datetime.now(TZ),
        )
    except InvalidCaseRequestError as exc:
        return inbox_page(
            request, services, user, state=state, status_code=422, error=problem_text(exc)
        )
    back = state if state in INBOX_TABS else "open"
    done = "started" if step == "start" else "resolved"
    return RedirectResponse(f"/console/reports?state={back}&notice={done}", status_code=303)
