"""Spot checks (抽查暗访): the public checklist; recording a check with photos (the city
union or the station's district union); reading checks, their photos and the
rectifications still open (the checking unions, and the union owning the station)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.datastructures import FormData, UploadFile
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import MAX_ID, MAX_OFFSET, Services, ServicesDep, get_services, parse_time
from api.problems import Problem
from api.responses import json_response
from geodata.hours import TZ
from stations.domain.checklist import Checklist, load_checklist
from stations.domain.inspections import Inspection, PhotoRefusedError, Rectification
from stations.services import inspections as inspection_service

router = APIRouter(prefix="/v1", tags=["inspections"])

MAX_LIST = 1000
PHOTO_MAX_AGE_S = 7 * 24 * 3600  # a kept photo never changes (its ETag is its SHA-256)
InspectionId = Annotated[int, Path(ge=1, le=MAX_ID, description="the check's id")]
District = Annotated[str | None, Query(pattern=r"^\d{6}$", description="a district's adcode")]
# The form POST /v1/inspections reads (by hand: its photos are read up to the byte cap).
_FORM_SCHEMA = {
    "type": "object",
    "required": ["station_id", "results"],
    "properties": {
        "station_id": {"type": "integer", "minimum": 1},
        "announced": {"type": "boolean", "description": "true: announced; false: 暗访"},
        "results": {
            "type": "string",
            "description": "JSON object: item code → true (合格) / false (不合格)",
            "examples": ['{"signage": true, "hygiene": false}'],
        },
        "note": {"type": "string"},
        "inspected_at": {"type": "string", "format": "date-time"},
        "photos": {"type": "array", "items": {"type": "string", "format": "binary"}},
    },
}
FORM_FIELDS = ("station_id", "announced", "results", "note", "inspected_at", "photos", "csrf")


def checklist_of(request: Request) -> Checklist:
    """The checklist read at start-up (api/app.py), or now for an app made without it."""
    found: Checklist | None = getattr(request.app.state, "checklist", None)
    if found is None:
        found = load_checklist(get_services(request).settings.checklist_file)
        request.app.state.checklist = found
    return found


ChecklistDep = Annotated[Checklist, Depends(checklist_of)]


def photo_caps(services: Services) -> inspection_service.PhotoCaps:
    s = services.settings
    return inspection_service.PhotoCaps(
        s.photo_max_bytes, s.photo_max_pixels, s.photos_per_inspection
    )


async def form_photos(
    form: FormData, caps: inspection_service.PhotoCaps
) -> list[tuple[str, bytes]]:
    """The ``photos`` parts as (file name, bytes), each read up to one byte past the cap
    (so that an oversized photo is refused without holding more of it); empty file inputs
    (a form sent with no photo chosen) are skipped."""
    out: list[tuple[str, bytes]] = []
    for n, part in enumerate(form.getlist("photos"), 1):
        if not isinstance(part, UploadFile):
            msg = f"photos 第 {n} 项不是文件：照片请作为文件上传（multipart/form-data）"
            raise PhotoRefusedError(msg)
        name = (part.filename or f"第 {n} 张").rsplit("/", 1)[-1][:80]
        data = await part.read(caps.max_bytes + 1)
        if data or part.filename:
            out.append((name, data))
    return out


@dataclass(frozen=True, slots=True)
class InspectionForm:
    """A POST /v1/inspections multipart form, parsed (not yet checked against the
    checklist: the service does that)."""

    station_id: int
    announced: bool
    results: Any
    note: str
    inspected_at: datetime | None
    photos: list[tuple[str, bytes]]


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Problem("invalid_parameter", f"{name}: send text, not a file")
    return value


def _invalid(field: str, message: str) -> Problem:
    return Problem(
        "invalid_inspection",
        message,
        errors=[{"field": field, "code": "invalid", "message": message}],
    )


async def read_inspection_form(request: Request) -> InspectionForm:
    """Parse the multipart form of a check (the whole body is within the app's upload
    limit already); 422 ``invalid_inspection`` for a missing or unreadable field."""
    caps = photo_caps(get_services(request))
    if not request.headers.get("content-type", "").startswith(
        ("multipart/form-data", "application/x-www-form-urlencoded")
    ):
        raise _invalid("body", "请以 multipart/form-data 表单提交抽查结果")
    form = await request.form(max_files=caps.per_inspection + 1, max_fields=len(FORM_FIELDS) * 4)
    try:
        return await _parsed(form, caps)
    finally:
        await form.close()  # the photos are read: their spooled files go now


async def _parsed(form: FormData, caps: inspection_service.PhotoCaps) -> InspectionForm:
    raw_id = (_text(form, "station_id") or "").strip()
    if not (raw_id.isascii() and raw_id.isdigit() and 1 <= int(raw_id) <= MAX_ID):
        raise _invalid("station_id", "station_id 应为驿站编号（正整数）")
    announced = (_text(form, "announced") or "false").strip().lower()
    if announced not in ("true", "false", "1", "0", "on", "off"):
        raise _invalid("announced", "announced 应为 true（事先通知）或 false（暗访）")
    results_text = _text(form, "results")
    if results_text is None:
        raise _invalid("results", "缺少 results：检查项编号 → true/false 的 JSON 对象")
    try:
        results = orjson.loads(results_text)
    except orjson.JSONDecodeError:
        raise _invalid("results", "results 不是有效的 JSON") from None
    at_text = _text(form, "inspected_at")
    return InspectionForm(
        station_id=int(raw_id),
        announced=announced in ("true", "1", "on"),
        results=results,
        note=_text(form, "note") or "",
        inspected_at=parse_time(at_text) if at_text else None,
        photos=await form_photos(form, caps),
    )


def _stamp(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(TZ).isoformat(timespec="seconds")


def inspection_doc(i: Inspection, checklist: Checklist) -> dict[str, Any]:
    labels = {item.code: item.label for item in checklist.items}
    return {
        "id": i.id,
        "station_id": i.station_id,
        "owner": i.owner,
        "district_adcode": i.district_adcode,
        "inspected_at": _stamp(i.inspected_at),
        "recorded_at": _stamp(i.recorded_at),
        "actor": i.actor,
        "announced": i.announced,
        "results": i.results,
        "failed": [
            {"code": code, "label": labels.get(code) or _amenity_label(code, checklist)}
            for code in i.failed
        ],
        "note": i.note,
        "checklist_version": i.checklist_version,
        "photo_count": i.photo_count,
        "photos": [
            {
                "url": f"/v1/inspections/{i.id}/photos/{seq}.jpg",
                "thumb_url": f"/v1/inspections/{i.id}/photos/{seq}.jpg?size=thumb",
            }
            for seq in range(1, i.photo_count + 1)
        ],
    }


def _amenity_label(code: str, checklist: Checklist) -> str:
    amenity = code.removeprefix("amenity.")
    try:
        return checklist.amenity_item(amenity).label
    except KeyError:
        return code


def rectification_doc(r: Rectification, now: datetime) -> dict[str, Any]:
    return {
        "id": r.id,
        "station_id": r.station_id,
        "district_adcode": r.district_adcode,
        "item_code": r.item_code,
        "item_label": r.item_label,
        "opened_at": _stamp(r.opened_at),
        "due_at": _stamp(r.due_at),
        "overdue": r.overdue(now),
        "failed_again": r.failed_again,
        "inspection_id": r.inspection_id,
        "closed_at": _stamp(r.closed_at),
    }


@router.get("/inspections/checklist", summary="The spot-check checklist (public)")
def get_checklist(
    services: ServicesDep,
    checklist: ChecklistDep,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> Response:
    """Each item's `code`, Chinese `label`, `group` (六有 / 设施 / 运营 / 安全) and
    `deadline_days` (days a failed item has to be fixed). With `station_id`: that
    station's list, one `amenity.<code>` item per amenity its record claims, and
    `open_suggested` (whether its posted hours say it is open now)."""
    station, items = inspection_service.station_checklist(services.store, checklist, station_id)
    body: dict[str, Any] = {
        "version": checklist.version,
        "items": [item.as_dict() for item in items],
    }
    if station is not None:
        body["station_id"] = station.id
        body["open_suggested"] = inspection_service.open_suggestion(station, datetime.now(TZ))
    return json_response(body, headers={"Cache-Control": "no-cache"})


@router.post(
    "/inspections",
    status_code=201,
    summary="Record a spot check (city union or the station's district union)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"multipart/form-data": {"schema": _FORM_SCHEMA}},
        }
    },
)
def record(
    by: PrincipalDep,
    services: ServicesDep,
    checklist: ChecklistDep,
    form: Annotated[InspectionForm, Depends(read_inspection_form)],
) -> Response:
    """multipart/form-data: `station_id`; `announced` (true: announced, false: 暗访);
    `results`: a JSON object, every item of the station's checklist
    (`GET /v1/inspections/checklist?station_id=`) to true (合格) or false (不合格); `note`;
    `photos`: JPEG, PNG or WebP files (re-encoded, metadata removed); `inspected_at`
    (optional, ISO 8601, default now). Each failed item opens a rectification due its
    `deadline_days` after the check; a passed item closes the open one."""
    now = datetime.now(TZ)
    done = inspection_service.record_inspection(
        services.store,
        by,
        form.station_id,
        checklist=checklist,
        announced=form.announced,
        results=form.results,
        note=form.note,
        photos=form.photos,
        caps=photo_caps(services),
        inspected_at=form.inspected_at,
        now=now,
    )
    return json_response(
        inspection_doc(done, checklist),
        status=201,
        headers={"Location": f"/v1/inspections/{done.id}", "Cache-Control": "no-store"},
    )


@router.get("/inspections", summary="Spot checks the union may read, newest first")
def list_checks(
    by: PrincipalDep,
    services: ServicesDep,
    checklist: ChecklistDep,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    district: District = None,
    since: Annotated[str | None, Query(description="ISO 8601: checks from then on")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    """A district union reads its district's checks, an industry union its own stations',
    the city union all."""
    items, total = inspection_service.list_inspections(
        services.store,
        by,
        station_id=station_id,
        district=district,
        since=parse_time(since) if since else None,
        limit=limit,
        offset=offset,
    )
    return json_response(
        {
            "total": total,
            "limit": limit,
            "offset": offset,
            "items": [inspection_doc(i, checklist) for i in items],
        },
        headers={"Cache-Control": "no-store"},
    )


@router.get("/inspections/{inspection_id}", summary="One spot check")
def get_check(
    inspection_id: InspectionId, by: PrincipalDep, services: ServicesDep, checklist: ChecklistDep
) -> Response:
    found = inspection_service.get_inspection(services.store, by, inspection_id)
    return json_response(inspection_doc(found, checklist), headers={"Cache-Control": "no-store"})


@router.get(
    "/inspections/{inspection_id}/photos/{seq}.jpg",
    summary="A spot check's photo (JPEG; ?size=thumb: 320 px)",
    response_class=Response,
)
def get_photo(
    inspection_id: InspectionId,
    seq: Annotated[int, Path(ge=1, le=1000)],
    request: Request,
    by: PrincipalDep,
    services: ServicesDep,
    size: Annotated[str, Query(pattern="^(full|thumb)$")] = "full",
) -> Response:
    """Only for those who may read the check; `ETag` is the photo's SHA-256."""
    data, content_type, digest = inspection_service.photo(
        services.store, by, inspection_id, seq, thumb=size == "thumb"
    )
    headers = {
        "ETag": f'"{digest}"',
        "Cache-Control": f"private, max-age={PHOTO_MAX_AGE_S}",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=content_type, headers=headers)


@router.get("/rectifications", summary="Open rectifications, soonest due first")
def list_rectifications(
    by: PrincipalDep,
    services: ServicesDep,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    district: District = None,
    overdue: Annotated[bool, Query(description="true: only those past their deadline")] = False,
) -> Response:
    """Each failed item of a check not yet passed by a later check: `item_code`,
    `item_label`, `opened_at`, `due_at`, `overdue`, `failed_again` (failed again since),
    `inspection_id` (the check that opened it)."""
    now = datetime.now(TZ)
    items = inspection_service.list_rectifications(
        services.store, by, station_id=station_id, district=district, overdue=overdue, now=now
    )
    return json_response(
        {"items": [rectification_doc(r, now) for r in items]},
        headers={"Cache-Control": "no-store"},
    )
