"""The clerk's stations: the union's table and map, the Excel download, the form to create
or change one (with its 上图 listings), edit conflicts shown, never lost; and the form's
live checks (hours as typed, a position in any system).

Writes go through stations/services/stations.py with the signed-in person's Principal:
the same rule as the JSON API's (another union's station is refused there, 403).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response

from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import Services, ServicesDep, StationId
from api.responses import json_response
from api.routes.stations import ops_of
from geodata.hours import TZ
from stations.domain.codes import display_code
from stations.domain.errors import (
    DuplicateStationError,
    ForbiddenError,
    StaleWriteError,
    StationNotFoundError,
)
from stations.domain.mobile_validation import STOPS_FORM
from stations.domain.model import (
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    PROVIDER_LABELS,
    STATUS_LABELS,
    Owner,
    Station,
)
from stations.domain.validation import Problem, ValidationError
from stations.formats.io import FileRefusedError
from stations.services.console_queries import (
    CRS_LABELS,
    LISTING_CHOICES,
    PAGE_SIZE,
    SORTS,
    Conflict,
    StationFilters,
    blank_form,
    conflict,
    edit_patch,
    field_label,
    filed_apart,
    form_crs,
    form_record,
    form_values,
    hours_preview,
    map_points,
    merged_form,
    position_preview,
    read_form,
    station_as_loaded,
    stations_xlsx,
    stops_preview,
    typed_fields,
    union_stations,
)
from stations.services.stations import (
    Written,
    create_station,
    patch_station,
    station_to_change,
)

router = APIRouter(include_in_schema=False)

# The live checks echo what the clerk typed: never sniffed as markup, never cached.
JSON_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
LIST_FIELDS = ("amenities", "entry_methods")
FORM_TOO_LARGE = (
    "表单内容太多（超过 1,000 项，或某一项超过 1 MB），没有保存任何内容。"
    "请返回重新打开表单填写；驿站的每一项通常只有几十个字。"
)
POSITION_NAMES = {"lon": "经度", "lat": "纬度"}
WRITE_DEGREES = (
    "请填写小数形式的度数，如经度 106.5772、纬度 29.557（度分秒请先换算成小数）；"
    "从高德坐标拾取器复制的“106.5772,29.557”请分开填入经度、纬度两栏"
)
INVALID = "有几项填写有误，请看标红的说明，改正后再保存。"
GONE = (
    "保存被拒绝：这个驿站在你编辑期间已被删除。你填写的内容还在下面；"
    "如需恢复它，核对后按“保存”，会作为新驿站建立。"
)
STALE = "保存被拒绝：你打开这个驿站之后，别人修改了它。你填写的内容还在下面，请对照后再保存。"


async def posted_form(request: Request) -> dict[str, Any]:
    """The posted form's fields (lists for the checkbox groups); a form over the parser's
    limits (1,000 fields, 1 MB a field) refused as a whole, in Chinese, nothing saved."""
    try:
        form = await request.form()
    except StarletteHTTPException:
        raise FileRefusedError("payload_too_large", FORM_TOO_LARGE) from None
    out: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
    for key in LIST_FIELDS:
        out[key] = [v for v in form.getlist(key) if isinstance(v, str)]
    return out


PostedDep = Annotated[dict[str, Any], Depends(posted_form)]


def _tile_systems(services: Services) -> list[Any]:
    return [p.drawn_in for p in services.settings.rider_tile_providers]


def _district_names(services: Services) -> dict[str, str]:
    return {d.adcode: d.name for d in services.districts}


@router.get("/console/stations")
def stations_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> Response:
    filters = StationFilters.of(request.query_params)
    index = services.index.current()
    table = union_stations(index, user.principal, filters, offset=offset)
    asked = {k: v for k, v in request.query_params.items() if k != "offset" and v and len(v) < 200}
    owners = sorted({str(s.owner) for s in index.stations}) if user.is_city else []
    return render(
        request,
        "stations.html",
        user=user,
        table=table,
        filters=filters,
        points=map_points(table.stations, _tile_systems(services)),
        district_names=_district_names(services),
        owners=owners,
        status_labels=STATUS_LABELS,
        amenity_labels=AMENITY_LABELS,
        listing_choices=LISTING_CHOICES,
        sorts=SORTS,
        query=urlencode(asked),
        page_size=PAGE_SIZE,
        ops=ops_of(request),  # each station's stars
        tz=TZ,
    )


@router.get("/console/stations/export.xlsx")
def export_xlsx(request: Request, services: ServicesDep, user: UserDep) -> Response:
    """The union's stations (the table's filtered set, when filtered) as the upload
    template's workbook: uploaded back, it changes nothing."""
    filters = StationFilters.of(request.query_params)
    table = union_stations(services.index.current(), user.principal, filters)
    body = stations_xlsx(table.stations)
    stamp = datetime.now(TZ).strftime("%Y%m%d")
    which = "筛选" if filters.narrowed else "全部"
    name = f"驿站-{user.code or 'city'}-{which}-{stamp}.xlsx"
    # An industry code is free text (交通运输, quotes…): the fallback keeps its plain letters.
    plain = re.sub(r"[^A-Za-z0-9_-]+", "", user.code or "city") or "union"
    ascii_name = f"stations-{plain}-{stamp}.xlsx"
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''" + quote(name, safe="")
    return Response(
        body,
        media_type=XLSX,
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


def form_errors(problems: Sequence[Problem]) -> dict[str, list[str]]:
    """Each problem beside its field in the form: position, hours, listings, or the field."""
    out: dict[str, list[str]] = {}
    for p in problems:
        key = p.field
        if key in ("lon", "lat", "crs"):
            key = "position"
        elif key in ("hours", "hours_text"):
            key = "hours"
        elif key == "mobile" or key.startswith("stops"):
            key = "stops"
        elif key.startswith("listings") or key.split("_")[0] in PROVIDER_LABELS:
            key = "listings"
        text = f"{field_label(p.field)}：{p.message}" if key == "listings" else p.message
        if p.field in ("lon", "lat") and p.code == "invalid_number":
            text = f"{POSITION_NAMES[p.field]}{p.message}。{WRITE_DEGREES}"
        out.setdefault(key, []).append(text)
    return out


def refusal_errors(exc: ValidationError | DuplicateStationError) -> dict[str, list[str]]:
    """What the form shows beside its fields for a refused save."""
    if isinstance(exc, DuplicateStationError):
        taken = f"本工会已有编号为“{exc.external_id}”的驿站，请换一个编号（或打开那个驿站修改）"
        return {"external_id": [taken]}
    return form_errors(exc.problems)


def form_page(
    request: Request,
    services: ServicesDep,
    user: ConsoleUser,
    *,
    station: Station | None,
    values: dict[str, Any],
    base_version: int | None = None,
    expected_version: int | None = None,
    errors: dict[str, list[str]] | None = None,
    clash: Conflict | None = None,
    status_code: int = 200,
    saved_warnings: Sequence[str] = (),
    **context: Any,
) -> Response:
    """The station form (``station`` None: a new one) holding ``values``."""
    district = apart = ops = code = None
    if station is not None:
        found = services.districts.find(station.district_adcode)
        district = found.name if found else station.district_adcode
        apart = filed_apart(services.districts, station)
        ops = ops_of(request).fields(station.id)  # rating, stars, last_confirmed
        code = display_code(station.code) if station.code else None
    return render(
        request,
        "station_form.html",
        user=user,
        status_code=status_code,
        station=station,
        values=values,
        base_version=base_version if base_version is not None else getattr(station, "version", 0),
        expected_version=expected_version,
        district=district,
        filed_apart=apart,
        ops=ops,
        station_code=code,
        errors=errors or {},
        saved_warnings=saved_warnings,
        conflict=clash,
        owners=sorted({str(s.owner) for s in services.index.current().stations}),
        status_labels=STATUS_LABELS,
        amenity_labels=AMENITY_LABELS,
        entry_method_labels=ENTRY_METHOD_LABELS,
        provider_labels=PROVIDER_LABELS,
        crs_labels=CRS_LABELS,
        stops_form=STOPS_FORM,
        tile_systems=[s.value for s in _tile_systems(services)],
        tz=TZ,
        **context,
    )


@router.get("/console/stations/new")
def new_station(request: Request, services: ServicesDep, user: UserDep) -> Response:
    return form_page(request, services, user, station=None, values=blank_form())


@router.get("/console/stations/{station_id}")
def station_form(
    request: Request, services: ServicesDep, user: UserDep, station_id: StationId
) -> Response:
    station = station_to_change(services.store, user.principal, station_id)
    saved = request.query_params.get("saved")
    notice = {"1": "已保存", "0": "没有改动，未保存新版本"}.get(saved or "")
    return form_page(
        request, services, user, station=station, values=form_values(station), notice=notice
    )


@router.post("/console/stations")
def create(
    request: Request, services: ServicesDep, posted: PostedDep, user: FormUserDep
) -> Response:
    # ``posted`` before ``user``: an oversized form is refused by posted_form (in
    # Chinese) before the CSRF check's own parse could answer it as a broken request.
    values = read_form(posted)
    try:
        written = create_station(
            services.store,
            services.districts,
            user.principal,
            form_record(values),
            border_tolerance_m=services.settings.border_tolerance_m,
        )
    except (ValidationError, DuplicateStationError) as exc:
        return form_page(
            request,
            services,
            user,
            station=None,
            values=values,
            errors=refusal_errors(exc),
            status_code=422,
            error=INVALID,
        )
    return _saved(request, services, user, written)


def _version(posted: dict[str, Any], key: str) -> int:
    try:
        return max(0, int(str(posted.get(key, "0"))))
    except ValueError:
        return 0


@router.post("/console/stations/{station_id}")
def update(
    request: Request,
    services: ServicesDep,
    posted: PostedDep,  # before user: see create
    user: FormUserDep,
    station_id: StationId,
) -> Response:
    """Save the form: the clerk's changes to the version they loaded (``base_version``),
    refused if the station is no longer at ``expected_version`` (both the same, except
    when the clerk chose to apply their changes on top of someone else's)."""
    values = read_form(posted)
    base = _version(posted, "base_version")
    expected = _version(posted, "expected_version") or base
    refused: dict[str, Any]
    try:
        current = station_to_change(services.store, user.principal, station_id)
        loaded = station_as_loaded(services.store, current, base)
        patch = edit_patch(loaded, values, current)
        if not patch and current.version == expected:  # no new version, no audit entry
            # (A stale form changed nothing either, but is shown what changed meanwhile.)
            return RedirectResponse(f"/console/stations/{station_id}?saved=0", status_code=303)
        written = patch_station(
            services.store,
            services.districts,
            user.principal,
            current,
            patch,
            expected_version=expected,
            border_tolerance_m=services.settings.border_tolerance_m,
        )
    except StaleWriteError:
        fresh = station_to_change(services.store, user.principal, station_id)
        clash = conflict(services.store, loaded, fresh, values)
        # The form shows what "apply mine" saves: the current version, the clerk's on top.
        values = merged_form(form_values(loaded), values, form_values(fresh, form_crs(loaded)))
        base = fresh.version
        refused = {"station": fresh, "clash": clash, "status_code": 409, "error": STALE}
    except (ValidationError, DuplicateStationError) as exc:
        errors = refusal_errors(exc)
        refused = {"station": current, "errors": errors, "status_code": 422, "error": INVALID}
        refused["expected_version"] = expected  # after a conflict: still on top of theirs
    except ForbiddenError:
        # Not (or no longer: handed to another union) the clerk's: what they typed is shown.
        typed = typed_fields(values)
        return render(request, "stations_refused.html", user=user, status_code=403, typed=typed)
    except StationNotFoundError:
        # Deleted while the clerk edited it: their input kept, in a form that creates it anew.
        refused = {"station": None, "status_code": 409, "error": GONE}
    else:
        return _saved(request, services, user, written)
    return form_page(request, services, user, values=values, base_version=base, **refused)


def _saved(request: Request, services: Services, user: ConsoleUser, written: Written) -> Response:
    """After a save: the form again (a redirect), or, when the save was accepted with
    warnings (a position near the district's border, a stored field kept as it was), the
    saved form with them, so the clerk reads them (a repeated post saves nothing more:
    it changes nothing)."""
    station = written.station
    if not written.warnings:
        return RedirectResponse(f"/console/stations/{station.id}?saved=1", status_code=303)
    return form_page(
        request,
        services,
        user,
        station=station,
        values=form_values(station),
        notice="已保存",
        saved_warnings=[p.message for p in written.warnings],
    )


@router.get("/console/api/hours")
def hours_check(user: UserDep, text: Annotated[str, Query(max_length=20_000)] = "") -> Response:
    """How the hours typed read (for the form's live preview)."""
    return json_response(hours_preview(text, now=datetime.now(TZ)), headers=JSON_HEADERS)


@router.post("/console/api/stops")
def stops_check(
    services: ServicesDep,
    posted: PostedDep,  # before user: an oversized form refused as a whole (see create)
    user: FormUserDep,
) -> Response:
    """A timetable as typed (the form's live check and map of the stops): each stop read,
    or the Chinese problems. A POST (with the form's CSRF token) only because a timetable
    may be longer than a URL holds; nothing is written. ``station_id``: the station whose
    form it is (the clerk's own), so that the lines left alone are its stored stops;
    ``owner``: the city union's owner field (whose district the stops must lie in)."""
    station = None
    sid = str(posted.get("station_id") or "")
    if sid.isdigit():
        station = station_to_change(services.store, user.principal, int(sid))
    body = stops_preview(
        services.districts,
        str(posted.get("stops") or ""),
        str(posted.get("crs") or "wgs84"),
        owner=user.principal.owner or _typed_owner(posted) or (station.owner if station else None),
        border_tolerance_m=services.settings.border_tolerance_m,
        now=datetime.now(TZ),
        station=station,
    )
    return json_response(body, headers=JSON_HEADERS)


def _typed_owner(posted: dict[str, Any]) -> Owner | None:
    try:
        return Owner.parse(str(posted.get("owner") or "")) if posted.get("owner") else None
    except ValueError:
        return None  # the save says what is wrong with it


@router.get("/console/api/position")
def position_check(
    services: ServicesDep,
    user: UserDep,
    lon: float,
    lat: float,
    crs: Annotated[str, Query(max_length=20)] = "wgs84",
) -> Response:
    """A position in WGS-84, GCJ-02 and BD-09 and its district (the form converts nothing)."""
    return json_response(position_preview(services.districts, lon, lat, crs), headers=JSON_HEADERS)
