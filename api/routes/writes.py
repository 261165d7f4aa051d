"""Writes by authenticated unions: stations one by one, and uploads of whole files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Header, Query, Request, UploadFile
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import (
    MAX_ID,
    MAX_OFFSET,
    ServicesDep,
    StationId,
    one_file_part,
    parse_crs_param,
)
from api.problems import Problem
from api.representation import station_json
from api.responses import json_response
from api.uploaded import uploaded_copy
from stations.domain import validation
from stations.domain.auth import Principal
from stations.domain.model import Station
from stations.domain.uploads import UploadRow
from stations.domain.validation import Problem as ValidationProblem
from stations.formats.fields import field_label
from stations.formats.io import detect_format
from stations.formats.template import template_xlsx
from stations.services import stations as station_service
from stations.services import uploads as upload_service

router = APIRouter(prefix="/v1", tags=["writes"])

_STATION_EXAMPLE = {
    "external_id": "YZ-0001",
    "name": "解放碑工会驿站",
    "address": "重庆市渝中区民族路1号",
    "host": "渝中区总工会",
    "lon": 106.5836,
    "lat": 29.5547,
    "crs": "gcj02",
    "hours": "周一至周五 9:00-18:00，节假日休息",
    "amenities": ["hot_water", "microwave", "phone_charging", "toilet"],
    "entry_methods": ["staffed"],
    "listings": [
        {
            "provider": "amap",
            "listed": True,
            "poi_id": "B0FFXXXX",
            "listed_lon": 106.5837,
            "listed_lat": 29.5546,
            "keyword_linked": True,
        }
    ],
}

# A mobile station (流动驿站): a bus serving three stops; positions in the body's crs, each
# stop's hours written like a station's. Without lon/lat it is based at its first stop.
_BUS_EXAMPLE = {
    "external_id": "YZ-BUS-1",
    "name": "渝中流动驿站一号车",
    "host": "渝中区总工会",
    "crs": "gcj02",
    "lon": 106.5836,
    "lat": 29.5547,
    "hours": "周一至周六 10:00-16:00",
    "amenities": ["hot_water", "phone_charging"],
    "entry_methods": ["staffed"],
    "mobile": True,
    "stops": [
        {"name": "解放碑", "lon": 106.5836, "lat": 29.5547, "hours": "周一、三、五 10:00-14:00"},
        {"name": "大坪", "lon": 106.5262, "lat": 29.5372, "hours": "周二、四 10:00-14:00"},
        {"name": "较场口", "lon": 106.5764, "lat": 29.5476, "hours": "Sa 09:00-12:00"},
    ],
}


def _station_response(
    station: Station,
    services: ServicesDep,
    status: int = 200,
    warnings: list[ValidationProblem] | None = None,
) -> Response:
    doc = station_json(
        station, districts=services.districts, threshold_m=services.settings.precise_threshold_m
    )
    if warnings:  # accepted, but the writer should look again (位置靠近区界…)
        doc["warnings"] = [w.as_dict() for w in warnings]
    return json_response(
        doc,
        status=status,
        headers={"ETag": f'"{station.version}"', "Location": f"/v1/stations/{station.id}"},
    )


def _expected_version(if_match: str | None, body_version: Any) -> int:
    raw = if_match.strip().removeprefix("W/").strip('"') if if_match else body_version
    if if_match and isinstance(raw, str):  # GET's tag "<version>.<hash>": its version
        version, dot, digest = raw.partition(".")
        raw = version if dot and len(digest) == 8 and digest.isalnum() else raw
    if raw is None or raw == "":
        raise Problem(
            "precondition_required",
            "say which version you are changing: an If-Match header with the ETag from GET, "
            'or "version" in the body; this prevents overwriting someone else\'s change',
        )
    whole = (
        raw
        if isinstance(raw, int) and not isinstance(raw, bool)
        else int(raw)
        if isinstance(raw, str) and raw.isascii() and raw.isdigit()
        else None
    )
    if whole is None or not 0 <= whole <= MAX_ID:
        field = "If-Match" if if_match else "version"
        raise Problem(
            "invalid_parameter",
            f"{field} {raw!r} is not a version: a whole number, as in the ETag from GET",
            errors=[{"field": field, "code": "not_a_version", "message": "a whole number"}],
        )
    return whole


def _station_body(body: dict[str, Any]) -> dict[str, Any]:
    """The record fields of a request body; ``version`` (and ``id``, as GET answers it) are
    the request's, not the record's."""
    return {k: v for k, v in body.items() if k not in ("version", "id")}


@router.post("/stations", status_code=201, summary="Create a station (authenticated)")
def create_station(
    by: PrincipalDep,
    services: ServicesDep,
    body: Annotated[dict[str, Any], Body(examples=[_STATION_EXAMPLE, _BUS_EXAMPLE])],
) -> Response:
    """Fields as in the record; `crs` says the system of `lon`/`lat` (and of the stops');
    `hours` as written. A district or industry union's station is owned by that union.

    A mobile station (流动驿站, `"mobile": true`) gives its timetable as `stops`:
    `[{"name", "lon", "lat", "hours"}]` (1 to 64), each stop's `hours` written like a
    station's (`周一、三、五 10:00-14:00`, `Sa 09:00-12:00`; overnight only as
    `22:00-次日06:00`); no two stops may stand at once. Its `lon`/`lat` are its base (the
    first stop's if left out); a district union's stops lie in its district."""
    written = station_service.create_station(
        services.store,
        services.districts,
        by,
        _station_body(body),
        border_tolerance_m=services.settings.border_tolerance_m,
    )
    return _station_response(written.station, services, 201, written.warnings)


@router.patch("/stations/{station_id}", summary="Change a station (authenticated)")
def patch_station(
    station_id: StationId,
    by: PrincipalDep,
    services: ServicesDep,
    body: Annotated[
        dict[str, Any],
        Body(
            examples=[
                {"hours": "24小时", "version": 3},
                {"stops": _BUS_EXAMPLE["stops"][:2], "crs": "gcj02", "version": 4},
                {"mobile": False, "stops": [], "version": 5},
            ]
        ),
    ],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A JSON merge patch of record fields. Send the version you read (If-Match or
    `version`): a station changed since is refused with 409, not overwritten. `stops` is
    replaced as a whole (in the patch's `crs`); `{"mobile": false, "stops": []}` makes a
    mobile station fixed."""
    current = station_service.station_to_change(services.store, by, station_id)
    written = station_service.patch_station(
        services.store,
        services.districts,
        by,
        current,
        _station_body(body),
        expected_version=_expected_version(if_match, body.get("version")),
        border_tolerance_m=services.settings.border_tolerance_m,
    )
    return _station_response(written.station, services, warnings=written.warnings)


@router.delete("/stations/{station_id}", status_code=204, summary="Delete a station")
def delete_station(
    station_id: StationId,
    by: PrincipalDep,
    services: ServicesDep,
    if_match: Annotated[str | None, Header()] = None,
    version: Annotated[int | None, Query(description="the version you read")] = None,
) -> Response:
    """Removes the station (the audit trail keeps it). To stop listing a station but keep
    it, PATCH its status to closed instead."""
    current = station_service.station_to_change(services.store, by, station_id)
    station_service.delete_station(
        services.store, by, current, expected_version=_expected_version(if_match, version)
    )
    return Response(status_code=204)


# -- uploads -----------------------------------------------------------------------------


def _row_doc(r: UploadRow) -> dict[str, Any]:
    return {
        "row": r.row,
        "action": r.action,
        "external_id": r.external_id,
        "station_id": r.station_id,
        "changed": list(r.changed),
        "problems": list(r.problems),
        "warnings": list(r.warnings),
    }


def _upload_doc(
    services: ServicesDep,
    upload_id: str,
    by: Principal,
    *,
    actions: list[str] | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    report = upload_service.upload_report(
        services.store,
        upload_id,
        by=by,
        actions=actions,
        limit=limit,
        offset=offset,
        max_close_share=services.settings.full_list_max_close_share,
    )
    upload, check = report.upload, report.closures
    return {
        "id": upload.id,
        "status": upload.status.value,
        "filename": upload.filename,
        "crs": upload.crs,
        "full_list": upload.full_list,
        "closures": check.as_dict() if check is not None else None,
        "owner": upload.owner,
        "actor": upload.actor,
        "created_at": upload.created_at.isoformat(),
        "counts": upload.counts,
        "notes": list(upload.notes),
        "proposed_crs": upload.proposed_crs,
        "columns": [
            {"header": header, "field": key, "label": field_label(key)}
            for key, header in upload.columns.items()
        ],
        "unknown_columns": list(upload.unknown_columns),
        "batch_id": upload.batch_id,
        "revert_batch_id": upload.revert_batch_id,
        "rows": [_row_doc(r) for r in report.rows],
        "links": {
            "self": f"/v1/uploads/{upload.id}",
            "commit": f"/v1/uploads/{upload.id}/commit",
            "revert": f"/v1/uploads/{upload.id}/revert",
            "rejected": f"/v1/uploads/{upload.id}/rejected.xlsx",
        },
    }


@router.get("/uploads/template.xlsx", summary="The upload template (Excel)")
def upload_template() -> Response:
    """An Excel template: Chinese headers, an example row, and a sheet of allowed values."""
    return Response(
        template_xlsx(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="yizhan-template.xlsx"'},
    )


def _commit(
    services: ServicesDep,
    upload_id: str,
    by: Principal,
    confirm: int | None,
    accepted_only: bool = False,
) -> Any:
    return upload_service.commit_upload(
        services.store,
        upload_id,
        by=by,
        confirm_closures=confirm,
        max_close_share=services.settings.full_list_max_close_share,
        accepted_only=accepted_only,
    )


_SHEET_HELP = (
    "the workbook's sheet to read; needed (422 choose_sheet, with the names in `sheets`) "
    "when several sheets hold stations"
)
_CONFIRM_HELP = (
    "a full list closing more than YIZHAN_FULL_LIST_MAX_CLOSE_SHARE of the union's open "
    "stations (or any, with no valid row) commits only when this is the number it closes"
)


@router.post(
    "/uploads",
    status_code=201,
    summary="Upload a union's stations (dry run first)",
    dependencies=[Depends(one_file_part)],
)
def create_upload(
    request: Request,
    by: PrincipalDep,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="CSV (UTF-8/GBK), XLSX or GeoJSON")],
    crs: Annotated[
        str | None,
        Form(
            description="wgs84 | gcj02 | bd09 | cgcs2000 of the positions: gcj02 if copied "
            "from Amap (高德) or Tencent (腾讯), bd09 from Baidu (百度), wgs84 from GPS or "
            "Tianditu (天地图). Required, unless the file says it: a GeoJSON file is WGS-84 "
            "(RFC 7946), a position header naming a system (经纬度（高德）) proposes it "
            "(`proposed_crs`; this field, when given, stays final), a file with a crs "
            "(坐标系) column names it row by row"
        ),
    ] = None,
    dry_run: Annotated[bool, Form(description="only report (default)")] = True,
    full_list: Annotated[
        bool, Form(description="the file is the union's full list: close stations missing")
    ] = False,
    confirm_closures: Annotated[int | None, Form(ge=0, description=_CONFIRM_HELP)] = None,
    sheet: Annotated[str | None, Query(max_length=200, description=_SHEET_HELP)] = None,
) -> Response:
    """Checks every row and answers with the report: rows to add, change, close, unchanged
    and rejected (row, column, value, why, in Chinese, with a stable code), likely
    duplicates, and `notes` on how the file was read (header row, rows passed, position
    order; `proposed_crs`: the system its headers name, used when `crs` is not given).
    Nothing changes until `POST /v1/uploads/{id}/commit` (or `dry_run=false`, which
    commits when no row is rejected)."""
    given = parse_crs_param(crs) if crs is not None and crs.strip() else None
    name = validation.check_text("file", Path(file.filename or "upload.csv").name)
    try:
        fmt = detect_format(Path(name))
    except ValueError as exc:
        raise Problem("unsupported_file", str(exc)) from None
    settings = services.settings
    with uploaded_copy(file, f"upload.{fmt}", prefix="yizhan-upload-") as path:
        upload = upload_service.plan_upload_file(
            path,
            format=fmt,
            filename=name,
            crs=given,
            store=services.store,
            districts=services.districts,
            by=by,
            full_list=full_list,
            limits=settings.file_limits,
            retention_h=settings.dry_run_retention_hours,
            border_tolerance_m=settings.border_tolerance_m,
            sheet=sheet,
        )
    if not dry_run and not upload.counts.get("rejected"):
        _commit(services, upload.id, by, confirm_closures)
    doc = _upload_doc(
        services,
        upload.id,
        by,
        actions=["create", "update", "close", "rejected"],
        limit=1000,
        offset=0,
    )
    return json_response(doc, status=201, headers={"Location": f"/v1/uploads/{upload.id}"})


@router.get("/uploads/{upload_id}", summary="An upload's row-by-row report")
def get_upload(
    upload_id: str,
    by: PrincipalDep,
    services: ServicesDep,
    action: Annotated[
        list[str] | None, Query(description="create, update, close, unchanged, rejected")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Response:
    return json_response(
        _upload_doc(services, upload_id, by, actions=action, limit=limit, offset=offset)
    )


@router.post("/uploads/{upload_id}/commit", summary="Apply a reviewed upload, all or nothing")
def commit(
    upload_id: str,
    by: PrincipalDep,
    services: ServicesDep,
    confirm_closures: Annotated[int | None, Query(ge=0, description=_CONFIRM_HELP)] = None,
    accepted_only: Annotated[
        bool, Query(description="commit the accepted rows, leaving the rejected ones out")
    ] = False,
) -> Response:
    """Refused (409) if it has rejected rows (unless `accepted_only`: then its accepted
    rows are committed, all or none), was committed already, a station it changes was
    changed by someone else since the dry run, or it is a full list closing many stations
    without `confirm_closures`."""
    result = _commit(services, upload_id, by, confirm_closures, accepted_only)
    upload = upload_service.get_upload(services.store, upload_id, by=by)
    return json_response(
        {
            "id": upload_id,
            "status": upload.status.value,
            "batch_id": result.batch.id,
            "changes": result.batch.changes,
        }
    )


@router.get(
    "/uploads/{upload_id}/rejected.xlsx", summary="An upload's rejected rows, to fix (Excel)"
)
def rejected_rows(upload_id: str, by: PrincipalDep, services: ServicesDep) -> Response:
    """The rejected rows with the file's own columns and values and a 问题 column; fix
    them and upload the workbook again (the 问题 column is passed over)."""
    data = upload_service.rejected_rows_xlsx(services.store, upload_id, by=by)
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="rejected-{upload_id}.xlsx"'},
    )


@router.post("/uploads/{upload_id}/revert", summary="Put back what an upload changed")
def revert(upload_id: str, by: PrincipalDep, services: ServicesDep) -> Response:
    """Refused (409) if a station the upload touched was changed since."""
    result = upload_service.revert_upload(services.store, upload_id, by=by)
    return json_response(
        {
            "id": upload_id,
            "status": "reverted",
            "batch_id": result.batch.id,
            "changes": result.batch.changes,
        }
    )
