"""活动: a union's events at its stations — the list, and a form to create, change or
delete one. Parse the form → stations.services.events (the rules of /v1/events) → render;
a refused form comes back with everything as typed and each problem beside its field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import Services, ServicesDep
from api.routes.events import holder_of
from geodata.hours import TZ
from stations.domain.events import (
    KIND_LABELS,
    WEEKDAYS,
    Event,
    InvalidEventError,
    StaleEventError,
    current_and_next,
)
from stations.formats.io import FileRefusedError
from stations.services import events as events_service

router = APIRouter(include_in_schema=False)
WEEKDAY_LABELS = dict(
    zip(WEEKDAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True)
)
# A union with more stations than this picks them by id (a text field), not from a list.
MAX_LISTED_STATIONS = 1500
INVALID = "没有保存：请按红字提示修改下面标出的项目，填写的内容都还在。"
FORM_TOO_LARGE = "表单太大，没有保存。"
STALE = "没有保存：你打开这个活动之后，别人修改了它。你填写的内容还在下面，核对后再保存。"


async def posted(request: Request) -> dict[str, Any]:
    try:
        form = await request.form()
    except StarletteHTTPException:
        raise FileRefusedError("payload_too_large", FORM_TOO_LARGE) from None
    out: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    for key in ("station_ids", "weekdays"):
        out[key] = [v for v in form.getlist(key) if isinstance(v, str) and v.strip()]
    return out


PostedDep = Annotated[dict[str, Any], Depends(posted)]


def blank() -> dict[str, Any]:
    return {
        "title": "",
        "kind": "",
        "station_ids": [],
        "station_text": "",
        "start": "",
        "end": "",
        "repeat": "none",
        "weekdays": [],
        "until": "",
        "dates": "",
        "skip_holidays": True,
        "offer": "",
        "audience": "",
        "while_supplies_last": False,
        "version": "",
    }


def values_of(event: Event) -> dict[str, Any]:
    r = event.recurrence
    return {
        "title": event.title,
        "kind": event.kind.value,
        "station_ids": [str(i) for i in event.station_ids],
        "station_text": ",".join(str(i) for i in event.station_ids),
        "start": f"{event.start.astimezone(TZ):%Y-%m-%dT%H:%M}",
        "end": f"{event.end.astimezone(TZ):%Y-%m-%dT%H:%M}",
        "repeat": r.repeat.value,
        "weekdays": [WEEKDAYS[d] for d in r.weekdays],
        "until": r.until.isoformat() if r.until else "",
        "dates": "、".join(d.isoformat() for d in r.dates),
        "skip_holidays": r.skip_holidays,
        "offer": event.offer,
        "audience": event.audience,
        "while_supplies_last": event.while_supplies_last,
        "version": str(event.version),
    }


def read_form(form: dict[str, Any]) -> dict[str, Any]:
    values = blank()
    for key in ("title", "kind", "start", "end", "until", "dates", "offer", "audience", "version"):
        values[key] = str(form.get(key, "")).strip()
    values["repeat"] = str(form.get("repeat") or "none")
    values["station_ids"] = list(form.get("station_ids") or [])
    values["station_text"] = str(form.get("station_text", "")).strip()
    values["weekdays"] = list(form.get("weekdays") or [])
    values["skip_holidays"] = form.get("skip_holidays") == "1"
    values["while_supplies_last"] = form.get("while_supplies_last") == "1"
    return values


def body_of(values: dict[str, Any]) -> dict[str, Any]:
    """The form as the body /v1/events takes (the same rules judge both)."""
    ids: Any = values["station_ids"] or values["station_text"]
    recurrence: dict[str, Any] | None = None
    if values["repeat"] == "weekly":
        recurrence = {
            "kind": "weekly",
            "weekdays": values["weekdays"],
            "until": values["until"],
            "skip_holidays": values["skip_holidays"],
        }
    elif values["repeat"] == "dates":
        recurrence = {
            "kind": "dates",
            "dates": values["dates"],
            "skip_holidays": values["skip_holidays"],
        }
    elif values["repeat"] != "none":
        recurrence = {"kind": values["repeat"]}
    return {
        "title": values["title"],
        "kind": values["kind"],
        "station_ids": ids,
        "start": values["start"],
        "end": values["end"],
        "offer": values["offer"],
        "audience": values["audience"],
        "while_supplies_last": values["while_supplies_last"],
        "recurrence": recurrence,
    }


def errors_of(exc: InvalidEventError) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in exc.problems:
        out.setdefault(p["field"], []).append(p["message"])
    return out


def _union_stations(services: Services, user: ConsoleUser) -> list[Any]:
    index = services.index.current()
    owner = user.principal.owner
    return [s for s in index.stations if owner is None or s.owner == owner]


def events_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    event: Event | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    now = datetime.now(TZ)
    index = services.index.current()
    rows = []
    for e in events_service.union_events(services.store, user.principal):
        current, coming = current_and_next(e, now)
        names = [s.name for s in (index.get(i) for i in e.station_ids) if s is not None]
        shown = current or coming
        rows.append(
            {
                "event": e,
                "kind_label": KIND_LABELS[e.kind],
                "stations": names,
                "current": current,
                "next": coming,
                "when": events_service.when_text(shown, now) if shown else "已结束",
            }
        )
    stations = _union_stations(services, user)
    return render(
        request,
        "events.html",
        user=user,
        status_code=status_code,
        rows=rows,
        event=event,
        values=values or blank(),
        errors=errors or {},
        kinds=KIND_LABELS,
        weekday_labels=WEEKDAY_LABELS,
        stations=stations if len(stations) <= MAX_LISTED_STATIONS else None,
        **context,
    )


@router.get("/console/events")
def events(
    request: Request, services: ServicesDep, user: UserDep, saved: str | None = None
) -> Response:
    notice = {"1": "已保存", "deleted": "已删除"}.get(saved or "")
    return events_page(request, services, user, notice=notice)


@router.get("/console/events/{event_id}")
def edit(event_id: int, request: Request, services: ServicesDep, user: UserDep) -> Response:
    event = events_service.event_to_change(services.store, user.principal, event_id)
    return events_page(request, services, user, event=event, values=values_of(event))


def _save(
    request: Request,
    services: Services,
    user: ConsoleUser,
    form: dict[str, Any],
    event_id: int | None,
) -> Response:
    """Create (``event_id`` None) or change an event from the form; a refusal is the page
    again with everything as typed."""
    values = read_form(form)
    event = None if event_id is None else services.store.get_event(event_id)
    common: dict[str, Any] = {
        "stations": services.index.current().get,
        "at": datetime.now(TZ),
        "holder": holder_of(request),
    }
    try:
        if event_id is None:
            events_service.create_event(services.store, user.principal, body_of(values), **common)
        else:
            version = int(values["version"]) if values["version"].isdigit() else None
            events_service.update_event(
                services.store,
                user.principal,
                event_id,
                body_of(values),
                expected_version=version,
                **common,
            )
    except InvalidEventError as exc:
        errors, status, message = errors_of(exc), 422, INVALID
    except StaleEventError:
        assert event_id is not None
        values["version"] = str(services.store.get_event(event_id).version)
        errors, status, message = {}, 409, STALE
    else:
        return RedirectResponse("/console/events?saved=1", status_code=303)
    return events_page(
        request,
        services,
        user,
        event=event,
        values=values,
        errors=errors,
        status_code=status,
        error=message,
    )


@router.post("/console/events")
def create(request: Request, services: ServicesDep, form: PostedDep, user: FormUserDep) -> Response:
    return _save(request, services, user, form, None)


@router.post("/console/events/{event_id}")
def update(
    event_id: int, request: Request, services: ServicesDep, form: PostedDep, user: FormUserDep
) -> Response:
    return _save(request, services, user, form, event_id)


@router.post("/console/events/{event_id}/delete")
def delete(event_id: int, request: Request, services: ServicesDep, user: FormUserDep) -> Response:
    events_service.delete_event(
        services.store, user.principal, event_id, at=datetime.now(TZ), holder=holder_of(request)
    )
    return RedirectResponse("/console/events?saved=deleted", status_code=303)
