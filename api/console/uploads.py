"""A clerk's uploads in the console: upload and check (a dry run), the row-by-row report,
commit the accepted rows, download the rejected ones as Excel, undo.

Every page calls the upload services the JSON API calls (api/routes/writes.py) with the
signed-in person's Principal: the same checks, the same refusals. This module only turns
their answers into pages, and their refusals into a Chinese line on the page.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from starlette.responses import RedirectResponse, Response

from api.console.messages import problem_text
from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import ServicesDep
from api.uploaded import uploaded_copy
from geodata.crs import CoordinateSystem
from stations.domain.errors import DuplicateStationError, StaleWriteError, StationNotFoundError
from stations.domain.uploads import (
    ClosuresUnconfirmedError,
    CrsRequiredError,
    Upload,
    UploadRow,
    UploadStateError,
    UploadStatus,
)
from stations.domain.validation import ValidationError, check_text
from stations.formats.fields import field_label
from stations.formats.io import FileRefusedError, SheetChoiceError, detect_format
from stations.services import uploads as upload_service
from stations.storage.store import Store

router = APIRouter(include_in_schema=False)

PAGE_ROWS = 50  # rows of a report section per page
LIST_ROWS = 20  # uploads per page of the list
SCAN_ROWS = 1000  # rows read at a time when gathering a report's warnings

# The 坐标系 control: where a clerk's positions come from, and the system that means.
CRS_CHOICES: tuple[tuple[str, str], ...] = (
    ("file", "按表格注明（表头或坐标系列）"),
    ("gcj02", "高德地图 / 腾讯地图（GCJ-02）"),
    ("bd09", "百度地图（BD-09）"),
    ("wgs84", "GPS / 天地图 / 北斗（WGS-84）"),
)
CHOSEN_SYSTEMS = {value for value, _ in CRS_CHOICES if value != "file"}
CRS_NAMES = {
    "wgs84": "WGS-84（GPS / 天地图 / 北斗）",
    "gcj02": "GCJ-02（高德 / 腾讯）",
    "bd09": "BD-09（百度）",
    "cgcs2000": "CGCS2000（国家 2000）",
    "file": "逐行注明（坐标系列）",
}
ACTION_LABELS = {
    "create": "新增",
    "update": "更新",
    "close": "关闭",
    "unchanged": "无变化",
    "rejected": "有误",
}
# Row notes that say which code a row without one got: shown with the row's code in the
# changes, not among the warnings a clerk must look at.
CODE_NOTES = ("code_given", "code_matched")
# What a warning is about, in the warnings table (others: the field it is on).
WARNING_KINDS = {
    "possible_duplicate_name": "可能重复",
    "possible_duplicate_nearby": "可能重复",
    "likely_match_name": "可能是已有驿站",
    "likely_match_position": "可能是已有驿站",
    "near_district_border": "靠近区界",
}


@dataclass(frozen=True, slots=True)
class Section:
    """One page of a report section and where it is among its pages."""

    rows: list[Any]
    page: int
    pages: int
    total: int


def _pages(total: int) -> int:
    return max(1, math.ceil(total / PAGE_ROWS))


def _section(
    services: ServicesDep, user: ConsoleUser, upload: Upload, actions: list[str], page: int
) -> Section:
    total = sum(upload.counts.get(a, 0) for a in actions)
    page = min(max(page, 1), _pages(total))
    report = upload_service.upload_report(
        services.store,
        upload.id,
        by=user.principal,
        actions=actions,
        limit=PAGE_ROWS,
        offset=(page - 1) * PAGE_ROWS,
        max_close_share=services.settings.full_list_max_close_share,
    )
    return Section(report.rows, page, _pages(total), total)


def _warned_rows(services: ServicesDep, user: ConsoleUser, upload: Upload) -> Iterator[Any]:
    """(row, warning) of every accepted row's warnings, in file order (read a chunk at a
    time: the report's warnings are not a section the store pages). Unchanged rows carry
    none: only creates and updates are read."""
    offset = 0
    while True:
        chunk = upload_service.upload_report(
            services.store,
            upload.id,
            by=user.principal,
            actions=["create", "update"],
            limit=SCAN_ROWS,
            offset=offset,
        ).rows
        for row in chunk:
            for warning in row.warnings:
                if warning.get("code") not in CODE_NOTES:
                    yield row, warning
        if len(chunk) < SCAN_ROWS:
            return
        offset += SCAN_ROWS


@dataclass(frozen=True, slots=True)
class Warned:
    """One warning of the report, and the rows it is given for: the same words for many
    rows (a sheet's common opening hours) are one line, not forty."""

    message: str
    kind: str
    rows: list[UploadRow]

    @property
    def row_numbers(self) -> str:
        """The rows, runs written "4–43": "4–43、45"."""
        numbers = sorted(r.row for r in self.rows if r.row is not None)
        runs: list[list[int]] = []
        for n in numbers:
            if runs and n == runs[-1][-1] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        return "、".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else "、".join(map(str, r)) for r in runs)


def _warnings(services: ServicesDep, user: ConsoleUser, upload: Upload, page: int) -> Section:
    grouped: dict[str, Warned] = {}
    for row, warning in _warned_rows(services, user, upload):
        message = str(warning.get("message", ""))
        code = str(warning.get("code", ""))
        kind = WARNING_KINDS.get(code) or field_label(str(warning.get("field", "")))
        found = grouped.setdefault(message, Warned(message, kind, []))
        if not found.rows or found.rows[-1] is not row:
            found.rows.append(row)
    items = list(grouped.values())
    page = min(max(page, 1), _pages(len(items)))
    start = (page - 1) * PAGE_ROWS
    return Section(items[start : start + PAGE_ROWS], page, _pages(len(items)), len(items))


def code_note(row: UploadRow) -> str | None:
    """How a row without a code got its code (matched or new), for the changes table."""
    for warning in row.warnings:
        if warning.get("code") in CODE_NOTES:
            return "已对应本工会已有驿站" if warning["code"] == "code_matched" else "新编号"
    return None


def _report_page(
    request: Request,
    services: ServicesDep,
    user: ConsoleUser,
    upload_id: str,
    *,
    pages: dict[str, int] | None = None,
    status_code: int = 200,
    **context: Any,
) -> Response:
    pages = {"rejected": 1, "warnings": 1, "changes": 1, **(pages or {})}

    def page_link(section: str) -> Callable[[int], str]:
        return lambda n: (
            "?" + urlencode({f"{k}_page": n if k == section else v for k, v in pages.items()})
        )

    upload = upload_service.get_upload(services.store, upload_id, by=user.principal)
    closures = upload_service.closure_check(
        services.store, upload, max_share=services.settings.full_list_max_close_share
    )
    return render(
        request,
        "uploads_report.html",
        user=user,
        status_code=status_code,
        upload=upload,
        closures=closures,
        rejected=_section(services, user, upload, ["rejected"], pages.get("rejected", 1)),
        warnings=_warnings(services, user, upload, pages.get("warnings", 1)),
        changes=_section(
            services, user, upload, ["create", "update", "close"], pages.get("changes", 1)
        ),
        accepted=upload.accepted,
        crs_names=CRS_NAMES,
        action_labels=ACTION_LABELS,
        field_label=field_label,
        code_note=code_note,
        page_link=page_link,
        rejected_xlsx=upload.counts.get("rejected", 0) > 0,
        **context,
    )


def _list_page(
    request: Request,
    services: ServicesDep,
    user: ConsoleUser,
    *,
    page: int = 1,
    status_code: int = 200,
    **context: Any,
) -> Response:
    page = max(page, 1)
    uploads, total = upload_service.list_uploads(
        services.store, by=user.principal, limit=LIST_ROWS, offset=(page - 1) * LIST_ROWS
    )
    form = {"crs": "file", "full_list": False, "sheets": [], **context.pop("form", {})}
    return render(
        request,
        "uploads.html",
        user=user,
        status_code=status_code,
        uploads=uploads,
        page=page,
        pages=max(1, math.ceil(total / LIST_ROWS)),
        total=total,
        crs_choices=CRS_CHOICES,
        form=form,
        page_link=lambda n: f"?page={n}",
        max_bytes=services.settings.max_upload_bytes,
        **context,
    )


@router.get("/console/uploads")
def uploads_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    return _list_page(request, services, user, page=page)


_TEMP_NAME = re.compile(r"\bupload\.(?:csv|xlsx|geojson|json)\b")


def _refusal(exc: Exception, filename: str) -> str:
    """The Chinese line for a file the upload refused as a whole (the readers name the
    temporary copy: the clerk's own file name is put back)."""
    if isinstance(exc, SheetChoiceError):
        return (
            f"“{filename}”中有几个工作表（{'、'.join(exc.sheets)}），请在下面选择要上传的"
            "工作表，并重新选择文件（出于安全原因，浏览器不会保留刚才选的文件）。"
        )
    if isinstance(exc, CrsRequiredError):
        return (
            "表格没有注明坐标系，请在“坐标系”中选择位置的来源：从高德或腾讯地图取的点选 GCJ-02，"
            "从百度地图取的选 BD-09，GPS、天地图或北斗的选 WGS-84。然后重新选择文件上传。"
        )
    return _TEMP_NAME.sub(lambda _: filename, problem_text(exc))


def _plan(
    services: ServicesDep,
    user: ConsoleUser,
    file: UploadFile | None,
    *,
    crs: CoordinateSystem | None,
    full_list: bool,
    sheet: str | None,
) -> Upload:
    """Plan the uploaded file as the JSON API's POST /v1/uploads does (a dry run)."""
    if file is None or not file.filename:
        raise FileRefusedError("no_file", "请先选择要上传的文件（Excel、CSV 或 GeoJSON）。")
    name = check_text("file", Path(file.filename).name)
    try:
        fmt = detect_format(Path(name))
    except ValueError:
        msg = (
            "不支持这种文件类型：请上传 Excel（.xlsx）、CSV（UTF-8 或 GBK）或 GeoJSON。"
            "旧版 Excel 的 .xls 文件请先在 Excel 或 WPS 中“另存为” .xlsx。"
        )
        raise FileRefusedError("unsupported_file", msg) from None
    settings = services.settings
    with uploaded_copy(file, f"upload.{fmt}", prefix="yizhan-console-") as path:
        return upload_service.plan_upload_file(
            path,
            format=fmt,
            filename=name,
            crs=crs,
            store=services.store,
            districts=services.districts,
            by=user.principal,
            full_list=full_list,
            limits=settings.file_limits,
            retention_h=settings.dry_run_retention_hours,
            border_tolerance_m=settings.border_tolerance_m,
            sheet=sheet or None,
        )


@router.post("/console/uploads")
def upload_file(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    file: Annotated[UploadFile | None, File()] = None,
    crs: Annotated[str, Form(max_length=16)] = "file",
    full_list: Annotated[bool, Form()] = False,
    sheet: Annotated[str | None, Form(max_length=256)] = None,
) -> Response:
    """Check the chosen file (a dry run: nothing changes) and show its report."""
    form = {"crs": crs, "full_list": full_list, "sheets": [], "sheet": sheet}
    system = CoordinateSystem(crs) if crs in CHOSEN_SYSTEMS else None
    name = Path(file.filename).name if file is not None and file.filename else ""
    try:
        upload = _plan(services, user, file, crs=system, full_list=full_list, sheet=sheet)
    except (FileRefusedError, CrsRequiredError, ValidationError) as exc:
        if isinstance(exc, SheetChoiceError):
            form["sheets"] = list(exc.sheets)
        return _list_page(
            request, services, user, status_code=422, error=_refusal(exc, name), form=form
        )
    return RedirectResponse(f"/console/uploads/{upload.id}", status_code=303)


def _done_notice(upload: Upload, done: str | None) -> str | None:
    c = upload.counts
    if done == "commit" and upload.status is UploadStatus.COMMITTED:
        text = (
            f"已提交：新增 {c.get('create', 0)} 个、更新 {c.get('update', 0)} 个、"
            f"关闭 {c.get('close', 0)} 个驿站"
        )
        if c.get("rejected"):
            text += f"；有误的 {c['rejected']} 行未提交，可下载改正后重新上传"
        return text + "。"
    if done == "revert" and upload.status is UploadStatus.REVERTED:
        return "已撤销本次上传：它新增的驿站已删除，更新和关闭的已恢复原样。"
    return None


@router.get("/console/uploads/{upload_id}")
def upload_report_page(
    upload_id: str,
    request: Request,
    services: ServicesDep,
    user: UserDep,
    rejected_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    warnings_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    changes_page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    done: Annotated[str | None, Query(max_length=16)] = None,
) -> Response:
    upload = upload_service.get_upload(services.store, upload_id, by=user.principal)
    pages = {"rejected": rejected_page, "warnings": warnings_page, "changes": changes_page}
    return _report_page(
        request, services, user, upload.id, pages=pages, notice=_done_notice(upload, done)
    )


def _station_named(store: Store, station_id: int) -> str:
    """A station as a clerk knows it: its name and code (ids are the registry's)."""
    try:
        station = store.get(station_id)
    except StationNotFoundError:
        return "其中一个驿站（已被删除）"
    return f"驿站“{station.name}”（编号 {station.external_id}）"


def _commit_refusal(exc: Exception, upload: Upload, store: Store) -> str:
    if isinstance(exc, ClosuresUnconfirmedError):
        return (
            f"这份完整名单将关闭本工会 {exc.check.would_close} 个驿站，需要确认："
            f"请在“确认关闭的数量”中填写 {exc.check.would_close} 后再提交。未提交任何修改。"
        )
    if isinstance(exc, StaleWriteError):
        return (
            f"这份检查报告已过期：{_station_named(store, exc.station_id)}在检查之后又被修改过，"
            "本次上传未提交（全部或全不）。请重新上传表格再检查一次。"
        )
    if isinstance(exc, DuplicateStationError):
        # A create planned when the code was free: another upload or a clerk took it since.
        return (
            f"这份检查报告已过期：编号 {exc.external_id} 在检查之后已由另一次上传或别人登记，"
            "本次上传未提交（全部或全不）。请重新上传表格再检查一次，已登记的驿站会按修改处理。"
        )
    if upload.status is UploadStatus.DRY_RUN and upload.counts.get("rejected"):
        return (
            f"这次上传有 {upload.counts['rejected']} 行有误，不能全部提交："
            "请只提交无误的行，或下载有误的行改正后重新上传。"
        )
    return {
        "committed": "这次上传已经提交过，不能再次提交。",
        "reverted": "这次上传已经撤销，不能再提交：请重新上传表格。",
    }.get(upload.status.value, "这次上传还在检查中，现在不能提交，请稍后刷新页面。")


@router.post("/console/uploads/{upload_id}/commit")
def commit_upload(
    upload_id: str,
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    accepted_only: Annotated[bool, Form()] = False,
    confirm_closures: Annotated[int | None, Form(ge=0, le=10_000_000)] = None,
) -> Response:
    """Commit the checked upload (only its accepted rows with ``accepted_only``)."""
    upload = upload_service.get_upload(services.store, upload_id, by=user.principal)
    try:
        upload_service.commit_upload(
            services.store,
            upload.id,
            by=user.principal,
            confirm_closures=confirm_closures,
            max_close_share=services.settings.full_list_max_close_share,
            accepted_only=accepted_only,
        )
    except (
        ClosuresUnconfirmedError,
        StaleWriteError,
        DuplicateStationError,
        UploadStateError,
    ) as exc:
        return _report_page(
            request,
            services,
            user,
            upload.id,
            status_code=409,
            error=_commit_refusal(exc, upload, services.store),
        )
    return RedirectResponse(f"/console/uploads/{upload.id}?done=commit", status_code=303)


def _revert_refusal(exc: Exception, upload: Upload, store: Store) -> str:
    if isinstance(exc, StaleWriteError):
        return (
            f"{_station_named(store, exc.station_id)}在上传后又被修改过，不能撤销本次上传"
            "（撤销是全部或全不）。请到“驿站”中查看它的修改，需要时逐个改回。"
        )
    if upload.status is UploadStatus.REVERTED:
        return "这次上传已经撤销过了。"
    return "这次上传还没有提交，不能撤销：没有提交的上传不会改变任何驿站。"


@router.post("/console/uploads/{upload_id}/revert")
def revert_upload(
    upload_id: str, request: Request, services: ServicesDep, user: FormUserDep
) -> Response:
    """Put back what the committed upload changed; refused if something changed since."""
    upload = upload_service.get_upload(services.store, upload_id, by=user.principal)
    try:
        upload_service.revert_upload(services.store, upload.id, by=user.principal)
    except (StaleWriteError, DuplicateStationError, UploadStateError) as exc:
        return _report_page(
            request,
            services,
            user,
            upload.id,
            status_code=409,
            error=_revert_refusal(exc, upload, services.store),
        )
    return RedirectResponse(f"/console/uploads/{upload.id}?done=revert", status_code=303)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(filename: str) -> str:
    """A Content-Disposition naming a Chinese file: an ASCII fallback and RFC 5987's
    ``filename*`` (UTF-8, percent-encoded), which every current browser uses."""
    return f"attachment; filename=\"rejected-rows.xlsx\"; filename*=UTF-8''{quote(filename)}"


@router.get("/console/uploads/{upload_id}/rejected.xlsx")
def rejected_rows(upload_id: str, services: ServicesDep, user: UserDep) -> Response:
    """The rejected rows as Excel (the file's own columns and a 问题 column), to fix and
    upload again."""
    upload = upload_service.get_upload(services.store, upload_id, by=user.principal)
    data = upload_service.rejected_rows_xlsx(services.store, upload.id, by=user.principal)
    name = f"{Path(upload.filename).stem}-有误的行.xlsx"
    return Response(
        data,
        media_type=XLSX,
        headers={
            "Content-Disposition": attachment(name),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
