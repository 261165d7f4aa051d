"""Spot checks (抽查暗访) in the console: the list with thumbnails, the check form (each
item 合格/不合格, the station's amenities expanded, photos from the phone's camera), a
check's page with its photos, and the rectifications due.

Every page calls stations/services/inspections.py with the signed-in person's Principal,
as the JSON API (api/routes/inspections.py) does: the same checks, the same refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from api.console.messages import problem_text
from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import MAX_ID, MAX_OFFSET, Services, ServicesDep, get_services
from api.routes.inspections import PHOTO_MAX_AGE_S, ChecklistDep, form_photos, photo_caps
from geodata.hours import TZ
from stations.domain.checklist import Checklist
from stations.domain.inspections import (
    NOTE_MAX_CHARS,
    InvalidInspectionError,
    PhotoRefusedError,
)
from stations.services import inspections as inspection_service

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 30
InspectionId = Annotated[int, Path(ge=1, le=MAX_ID)]
StationQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]
DistrictQuery = Annotated[str | None, Query(pattern=r"^(\d{6})?$")]


def _names(services: Services, ids: list[int]) -> dict[int, str]:
    index = services.index.current()
    out = {}
    for station_id in ids:
        station = index.get(station_id)
        out[station_id] = station.name if station else f"驿站 {station_id}（已删除）"
    return out


def _amenity_label(checklist: Checklist, code: str) -> str:
    try:
        return checklist.amenity_item(code.removeprefix("amenity.")).label
    except KeyError:
        return code


def _districts(services: Services) -> dict[str, str]:
    return {d.adcode: d.name for d in services.districts}


@router.get("/console/inspections")
def list_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    checklist: ChecklistDep,
    station_id: StationQuery = None,
    district: DistrictQuery = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    notice: str | None = None,
) -> Response:
    """The checks this union may read, newest first, with their photos' thumbnails."""
    items, total = inspection_service.list_inspections(
        services.store,
        user.principal,
        station_id=station_id,
        district=district or None,
        limit=PAGE_SIZE,
        offset=offset,
    )
    labels = {i.code: i.label for i in checklist.items}
    return render(
        request,
        "inspections.html",
        user=user,
        inspections=items,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        names=_names(services, [i.station_id for i in items]),
        districts=_districts(services),
        filters={"station_id": station_id or "", "district": district or ""},
        label_of=lambda code: labels.get(code) or _amenity_label(checklist, code),
        may_check=user.principal.inspects,
        tz=TZ,
        notice={"saved": "抽查结果已保存。"}.get(notice or ""),
    )


def _form_page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    checklist: Checklist,
    station_id: int,
    *,
    status_code: int = 200,
    chosen: dict[str, Any] | None = None,
    error: str | None = None,
) -> Response:
    form = inspection_service.check_form(
        services.store, user.principal, checklist, station_id, now=datetime.now(TZ)
    )
    return render(
        request,
        "inspection_form.html",
        user=user,
        status_code=status_code,
        form=form,
        district_name=_districts(services).get(form.station.district_adcode, ""),
        chosen=chosen or {"unannounced": True, "results": {}, "note": ""},
        note_max=NOTE_MAX_CHARS,
        caps=photo_caps(services),
        body_max_mb=services.settings.max_upload_bytes // 1048576,  # the whole form's cap
        error=error,
    )


@router.get("/console/inspections/new")
def new_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    checklist: ChecklistDep,
    station_id: StationQuery = None,
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The check form of one station; without one, the stations matching ``q`` (a name,
    an address, an id or a poster's code) to choose from."""
    if station_id is not None:
        return _form_page(request, services, user, checklist, station_id)
    found = inspection_service.stations_to_check(services.index.current(), user.principal, q)
    if len(found) == 1 and q.strip():
        return RedirectResponse(f"/console/inspections/new?station_id={found[0].id}", 303)
    return render(
        request,
        "inspection_pick.html",
        user=user,
        q=q,
        found=found,
        districts=_districts(services),
        limit=inspection_service.PICK_MAX,
    )


@dataclass(frozen=True, slots=True)
class ConsoleCheck:
    """The console's check form as sent: radio ``r.<code>`` = 1 (合格) / 0 (不合格)."""

    station_id: int
    unannounced: bool
    results: dict[str, bool]
    note: str
    photos: list[tuple[str, bytes]]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def read_console_check(request: Request) -> ConsoleCheck | None:
    """The form's fields (None when its station is unreadable: a tampered form); its
    photos read, so their spooled files are closed here."""
    form = await request.form()
    try:
        raw_id = _text(form, "station_id")
        if not (raw_id.isascii() and raw_id.isdigit() and 1 <= int(raw_id) <= MAX_ID):
            return None
        results = {
            key[2:]: value == "1"
            for key, value in form.multi_items()
            if key.startswith("r.") and isinstance(value, str) and value in ("0", "1")
        }
        return ConsoleCheck(
            station_id=int(raw_id),
            unannounced=_text(form, "unannounced") == "1",
            results=results,
            note=_text(form, "note"),
            photos=await form_photos(form, photo_caps(get_services(request))),
        )
    finally:
        await form.close()


@router.post("/console/inspections")
def record(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    checklist: ChecklistDep,
    sent: Annotated[ConsoleCheck | None, Depends(read_console_check)],
) -> Response:
    """Record the check through the service; a refusal shows the form again, as filled."""
    if sent is None:
        return RedirectResponse("/console/inspections", status_code=303)
    try:
        done = inspection_service.record_inspection(
            services.store,
            user.principal,
            sent.station_id,
            checklist=checklist,
            announced=not sent.unannounced,
            results=sent.results,
            note=sent.note,
            photos=sent.photos,
            caps=photo_caps(services),
            now=datetime.now(TZ),
        )
    except (InvalidInspectionError, PhotoRefusedError) as exc:
        chosen = {"unannounced": sent.unannounced, "results": sent.results, "note": sent.note}
        error = problem_text(exc) + ("（照片需要重新选择）" if sent.photos else "")
        return _form_page(
            request, services, user, checklist, sent.station_id,
            status_code=413 if exc.code == "photo_too_large" else 422,
            chosen=chosen, error=error,
        )  # fmt: skip
    return RedirectResponse(f"/console/inspections/{done.id}?notice=saved", status_code=303)


@router.get("/console/inspections/{inspection_id}")
def detail_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    checklist: ChecklistDep,
    inspection_id: InspectionId,
    notice: str | None = None,
) -> Response:
    """One check: its results by item, its note, its photos, the rectifications it opened."""
    detail = inspection_service.check_detail(
        services.store, user.principal, checklist, inspection_id
    )
    found = detail.inspection
    return render(
        request,
        "inspection.html",
        user=user,
        inspection=found,
        station_name=_names(services, [found.station_id])[found.station_id],
        labels=detail.labels,
        opened=detail.opened,
        may_check=user.principal.may_inspect(found.district_adcode),
        now=datetime.now(TZ),
        tz=TZ,
        notice=_saved_notice(found.failed) if notice == "saved" else None,
    )


def _saved_notice(failed: list[str]) -> str:
    if not failed:
        return "抽查结果已保存：全部合格。"
    return f"抽查结果已保存：{len(failed)} 项不合格，已列入整改（见下方期限）。"


@router.get("/console/inspections/{inspection_id}/photos/{seq}.jpg")
def photo(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    inspection_id: InspectionId,
    seq: Annotated[int, Path(ge=1, le=1000)],
    size: Annotated[str, Query(pattern="^(full|thumb)$")] = "full",
) -> Response:
    """A check's photo for the signed-in union (the JSON API's rule: those who may read
    the check)."""
    data, content_type, digest = inspection_service.photo(
        services.store, user.principal, inspection_id, seq, thumb=size == "thumb"
    )
    headers = {
        "ETag": f'"{digest}"',
        "Cache-Control": f"private, max-age={PHOTO_MAX_AGE_S}",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=content_type, headers=headers)


@router.get("/console/rectifications")
def rectifications_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    station_id: StationQuery = None,
    district: DistrictQuery = None,
    overdue: bool = False,
) -> Response:
    """The open rectifications, soonest due first (``overdue``: only those past due)."""
    now = datetime.now(TZ)
    items = inspection_service.list_rectifications(
        services.store,
        user.principal,
        station_id=station_id,
        district=district or None,
        overdue=overdue,
        now=now,
    )
    return render(
        request,
        "rectifications.html",
        user=user,
        items=items,
        names=_names(services, [r.station_id for r in items]),
        districts=_districts(services),
        filters={"station_id": station_id or "", "district": district or "", "overdue": overdue},
        may_check=user.principal.inspects,
        now=now,
        tz=TZ,
    )
