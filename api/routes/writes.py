"""Writes by authenticated unions: stations one by one, and uploads of whole files."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, Header, Query, Request, UploadFile
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import ServicesDep, StationId, one_file_part, parse_crs_param
from api.problems import Problem
from api.representation import station_json
from api.responses import json_response
from stations.domain import validation
from stations.domain.auth import Principal
from stations.domain.changes import Delete
from stations.domain.model import Provider, Station
from stations.domain.records import station_input
from stations.domain.uploads import ClosuresUnconfirmedError, CrsRequiredError, Upload, upload_crs
from stations.domain.validation import Problem as ValidationProblem
from stations.domain.validation import build_station
from stations.formats.io import FileRefusedError, detect_format, read_rows
from stations.formats.template import template_xlsx
from stations.services.uploads import closure_check, commit_upload, plan_upload, revert_upload

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
    if whole is None or not 0 <= whole < 2**63:
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


def _allowed(by: Principal, station: Station) -> None:
    if not by.may_write(station.owner):
        raise Problem("forbidden", f"{by.name} may not change stations of {station.owner}")


@router.post("/stations", status_code=201, summary="Create a station (authenticated)")
def create_station(
    by: PrincipalDep,
    services: ServicesDep,
    body: Annotated[dict[str, Any], Body(examples=[_STATION_EXAMPLE])],
) -> Response:
    """Fields as in the record; `crs` says the system of `lon`/`lat`; `hours` as written.
    A district or industry union's station is owned by that union."""
    raw = _station_body(body)
    if by.owner is not None:
        if raw.get("owner") not in (None, "", str(by.owner)):
            raise Problem("forbidden", f"{by.name} may only create stations of {by.owner}")
        raw["owner"] = str(by.owner)
    warnings: list[ValidationProblem] = []
    station = build_station(
        raw,
        districts=services.districts,
        crs=parse_crs_param(str(raw.get("crs") or "wgs84")),
        strict=True,
        border_tolerance_m=services.settings.border_tolerance_m,
        warnings=warnings,
    )
    _allowed(by, station)
    stored = services.store.create(station, actor=by.actor)
    return _station_response(stored, services, 201, warnings)


# Stored fields a PATCH that leaves them alone may keep though today's rules refuse them
# (a telephone, text or hours saved before a rule was added), with a stand-in that passes
# the rules while the rest is checked.
_KEPT_AS_STORED: dict[str, tuple[tuple[str, ...], Any]] = {
    "external_id": (("external_id",), "kept"),
    "name": (("name",), "kept"),
    "address": (("address",), ""),
    "host": (("host",), ""),
    "contact_phone": (("contact_phone",), ""),
    "brand": (("brand",), ""),
    "hours": (("hours", "hours_text"), "24/7"),
    "listings": (("listings",), []),
}


def _problem_key(problem: ValidationProblem) -> str:
    return "listings" if problem.field.startswith("listings") else problem.field


def _build_patched(
    services: ServicesDep,
    current: Station,
    patch: dict[str, Any],
    raw: dict[str, Any],
    warnings: list[ValidationProblem],
) -> tuple[Station, list[ValidationProblem]]:
    """The patched station, and warnings for stored fields kept as they were.

    A stored field the patch does not touch is not held to rules added since it was saved:
    a clerk can still change the hours of a station whose stored telephone is now refused.
    It is kept as stored, with a warning saying to correct it."""
    flat = tuple(f"{p.value}_" for p in Provider)
    touched = {"listings" if k.startswith(flat) else k for k in patch}
    if "hours_text" in touched:
        touched.add("hours")

    def build(fields: dict[str, Any]) -> Station:
        return build_station(
            fields,
            districts=services.districts,
            crs=parse_crs_param(str(fields.get("crs") or "wgs84")),
            existing=current,
            strict=True,
            border_tolerance_m=services.settings.border_tolerance_m,
            warnings=warnings,
        )

    try:
        return build(raw), []
    except validation.ValidationError as exc:
        keys = {_problem_key(p) for p in exc.problems}
        if not keys <= set(_KEPT_AS_STORED) or keys & touched:
            # Only the patch's own problems are the clerk's to fix now.
            own = [
                p
                for p in exc.problems
                if _problem_key(p) in touched or _problem_key(p) not in _KEPT_AS_STORED
            ]
            raise validation.ValidationError(own or exc.problems) from None
        old = exc.problems
    stand_in = dict(raw)
    for key in keys:
        stand_in[key] = _KEPT_AS_STORED[key][1]
    warnings.clear()
    station = build(stand_in)
    kept = {f: getattr(current, f) for key in keys for f in _KEPT_AS_STORED[key][0]}
    notes = [
        validation.Problem(
            p.field,
            p.code,
            f"{p.message}（此项是以前保存的，本次没有修改，已保留原样；请尽快更正）",
            p.value,
        )
        for p in old
    ]
    return replace(station, **kept), notes


@router.patch("/stations/{station_id}", summary="Change a station (authenticated)")
def patch_station(
    station_id: StationId,
    by: PrincipalDep,
    services: ServicesDep,
    body: Annotated[dict[str, Any], Body(examples=[{"hours": "24小时", "version": 3}])],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A JSON merge patch of record fields. Send the version you read (If-Match or
    `version`): a station changed since is refused with 409, not overwritten."""
    current = services.store.get(station_id)
    _allowed(by, current)
    expected = _expected_version(if_match, body.get("version"))
    patch = _station_body(body)
    if "crs" in patch and not ("lon" in patch and "lat" in patch):
        # The stored position is WGS-84; read in the patch's system it would move the
        # station (and refile it under another district) without anyone moving it.
        raise validation.ValidationError(
            [
                validation.Problem(
                    "crs",
                    "crs_without_position",
                    "坐标系（crs）说明同时提交的经纬度用的是哪个坐标系；只改 crs 不会移动驿站。"
                    "要移动驿站，请同时提交 lon、lat 和 crs",
                    str(patch["crs"]),
                )
            ]
        )
    raw = {**station_input(current), **patch}
    if ("lon" in patch or "lat" in patch) and "crs" not in patch:
        raw["crs"] = "wgs84"
    warnings: list[ValidationProblem] = []
    station, kept = _build_patched(services, current, patch, raw, warnings)
    if "lon" not in patch and "lat" not in patch:  # keep what was uploaded originally
        warnings.clear()  # the position was taken before; only a new one is warned about
        station = replace(
            station,
            lon=current.lon,
            lat=current.lat,
            source_lon=current.source_lon,
            source_lat=current.source_lat,
            source_crs=current.source_crs,
        )
    _allowed(by, station)
    stored = services.store.update(station, expected_version=expected, actor=by.actor)
    return _station_response(stored, services, warnings=[*warnings, *kept])


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
    current = services.store.get(station_id)
    _allowed(by, current)
    expected = _expected_version(if_match, version)
    services.store.apply([Delete(station_id, expected)], actor=by.actor)
    return Response(status_code=204)


# -- uploads -----------------------------------------------------------------------------


def _upload_doc(
    services: ServicesDep, upload: Upload, *, actions: list[str] | None, limit: int, offset: int
) -> dict[str, Any]:
    rows = []
    for r in services.store.iter_upload_rows(
        upload.id, actions=actions, limit=limit, offset=offset
    ):
        rows.append(
            {
                "row": r.row,
                "action": r.action,
                "external_id": r.external_id,
                "station_id": r.station_id,
                "changed": list(r.changed),
                "problems": list(r.problems),
                "warnings": list(r.warnings),
            }
        )
    check = closure_check(
        services.store, upload, max_share=services.settings.full_list_max_close_share
    )
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
        "unknown_columns": list(upload.unknown_columns),
        "batch_id": upload.batch_id,
        "revert_batch_id": upload.revert_batch_id,
        "rows": rows,
        "links": {
            "self": f"/v1/uploads/{upload.id}",
            "commit": f"/v1/uploads/{upload.id}/commit",
            "revert": f"/v1/uploads/{upload.id}/revert",
        },
    }


def _upload_for(services: ServicesDep, upload_id: str, by: Principal) -> Upload:
    if validation.text_problem(upload_id, line_breaks=False):  # PostgreSQL refuses a NUL
        raise Problem("upload_not_found", f"no upload {validation.visible(upload_id)!r}")
    upload = services.store.get_upload(upload_id)
    if by.owner is not None and upload.owner != str(by.owner):
        raise Problem("forbidden", "this upload belongs to another union")
    return upload


@router.get("/uploads/template.xlsx", summary="The upload template (Excel)")
def upload_template() -> Response:
    """An Excel template: Chinese headers, an example row, and a sheet of allowed values."""
    return Response(
        template_xlsx(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": 'attachment; filename="yizhan-template.xlsx"'},
    )


def _file_problem(name: str, exc: Exception) -> Problem:
    if isinstance(exc, FileRefusedError):
        return Problem(exc.code, str(exc))
    return Problem("bad_file", f"{name}: 文件无法读取：{exc}")


def _commit(services: ServicesDep, upload_id: str, by: Principal, confirm: int | None) -> Any:
    try:
        return commit_upload(
            services.store,
            upload_id,
            by=by,
            confirm_closures=confirm,
            max_close_share=services.settings.full_list_max_close_share,
        )
    except ClosuresUnconfirmedError as exc:
        raise Problem(
            "closures_unconfirmed",
            str(exc),
            headers={"Location": f"/v1/uploads/{upload_id}"},
            upload_id=upload_id,
            **exc.check.as_dict(),
        ) from None


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
            "(RFC 7946), a file with a crs (坐标系) column names it row by row"
        ),
    ] = None,
    dry_run: Annotated[bool, Form(description="only report (default)")] = True,
    full_list: Annotated[
        bool, Form(description="the file is the union's full list: close stations missing")
    ] = False,
    confirm_closures: Annotated[int | None, Form(ge=0, description=_CONFIRM_HELP)] = None,
) -> Response:
    """Checks every row and answers with the report: rows to add, change, close, unchanged
    and rejected (row, column, value, why, in Chinese, with a stable code), and likely
    duplicates. Nothing changes until `POST /v1/uploads/{id}/commit` (or `dry_run=false`,
    which commits when no row is rejected)."""
    given = parse_crs_param(crs) if crs is not None and crs.strip() else None
    name = validation.check_text("file", Path(file.filename or "upload.csv").name)
    try:
        fmt = detect_format(Path(name))
    except ValueError as exc:
        raise Problem("unsupported_file", str(exc)) from None
    settings = services.settings
    with tempfile.TemporaryDirectory(prefix="yizhan-upload-") as tmp:
        path = Path(tmp) / f"upload.{fmt}"
        with path.open("wb") as out:
            while chunk := file.file.read(1 << 20):
                out.write(chunk)
        try:
            source = read_rows(path, format=fmt, limits=settings.file_limits)
            system = upload_crs(
                given, format=fmt, columns=source.columns, default_crs=source.default_crs
            )
        except CrsRequiredError as exc:
            raise Problem("crs_required", str(exc)) from None
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise _file_problem(name, exc) from None
        try:
            upload = plan_upload(
                source.rows,
                store=services.store,
                districts=services.districts,
                by=by,
                filename=name,
                border_tolerance_m=services.settings.border_tolerance_m,
                crs=system,
                full_list=full_list,
                unknown_columns=source.unknown_columns,
                columns=source.columns,
                retention_h=settings.dry_run_retention_hours,
            )
        except (ValueError, KeyError, UnicodeDecodeError) as exc:
            raise _file_problem(name, exc) from None
    if not dry_run and not upload.counts.get("rejected"):
        _commit(services, upload.id, by, confirm_closures)
        upload = services.store.get_upload(upload.id)
    doc = _upload_doc(
        services, upload, actions=["create", "update", "close", "rejected"], limit=1000, offset=0
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
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,  # SQLite takes no larger
) -> Response:
    upload = _upload_for(services, upload_id, by)
    return json_response(_upload_doc(services, upload, actions=action, limit=limit, offset=offset))


@router.post("/uploads/{upload_id}/commit", summary="Apply a reviewed upload, all or nothing")
def commit(
    upload_id: str,
    by: PrincipalDep,
    services: ServicesDep,
    confirm_closures: Annotated[int | None, Query(ge=0, description=_CONFIRM_HELP)] = None,
) -> Response:
    """Refused (409) if it has rejected rows, was committed already, a station it
    changes was changed by someone else since the dry run, or it is a full list closing
    many stations without `confirm_closures`."""
    _upload_for(services, upload_id, by)
    result = _commit(services, upload_id, by, confirm_closures)
    upload = services.store.get_upload(upload_id)
    return json_response(
        {
            "id": upload_id,
            "status": upload.status.value,
            "batch_id": result.batch.id,
            "changes": result.batch.changes,
        }
    )


@router.post("/uploads/{upload_id}/revert", summary="Put back what an upload changed")
def revert(upload_id: str, by: PrincipalDep, services: ServicesDep) -> Response:
    """Refused (409) if a station the upload touched was changed since."""
    _upload_for(services, upload_id, by)
    result = revert_upload(services.store, upload_id, by=by)
    return json_response(
        {
            "id": upload_id,
            "status": "reverted",
            "batch_id": result.batch.id,
            "changes": result.batch.changes,
        }
    )
