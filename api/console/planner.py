"""The planners' pages: the dashboard, the gap suggestions, the printable report and the
报表 workbook. Parse → stations.services.dashboard (and gaps) → represent; who sees which
district is Principal.may_see_planning, checked in the service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.console.charts import (
    district_map,
    district_rates_chart,
    events_chart,
    mapped_history_chart,
    rates_chart,
)
from api.console.errors import error_page
from api.console.session import ConsoleUser, UserDep
from api.console.templating import render
from api.deps import IndexDep, Services, ServicesDep
from geodata.coverage import AreaTooLargeError
from geodata.crs import wgs84_to_gcj02
from geodata.districts import whole_name
from geodata.hours import TZ
from stations.domain.errors import ForbiddenError, InvalidOptionError
from stations.formats.report import BANDS, band, cell_band, cell_text, kind_of, report_xlsx
from stations.readmodel.index import StationIndex
from stations.services.dashboard import (
    DISTRICT_COLUMNS,
    Dashboard,
    check_sort,
    dashboard,
    planning_scope,
    report_tables,
    report_title,
)
from stations.services.events import events_by_district, planner_window
from stations.services.gaps import find_gaps, gap_options, gaps_document
from stations.services.planning import TargetsFileError, find_demand_layer

router = APIRouter(include_in_schema=False)  # pages, not API: as api/console/home.py

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CELLS: dict[str, Any] = {
    "fmt": cell_text,
    "band": band,
    "cell_band": cell_band,
    "kind_of": kind_of,
    "bands": BANDS,
}


def _board(
    index: StationIndex,
    services: Services,
    user: ConsoleUser,
    district: str | None,
    sort: str | None = None,
) -> Dashboard:
    check_sort(sort)
    return dashboard(
        index,
        services.districts,
        services.store,
        user.principal,
        district=district or None,
        targets_file=services.settings.targets_file,
        today=datetime.now(TZ).date(),
    )


def _query(scope: str | None, sort: str | None = None) -> str:
    asked = {k: v for k, v in (("district", scope), ("sort", sort)) if v}
    return "?" + urlencode(asked) if asked else ""


def _choices(user: ConsoleUser, services: Services) -> list[tuple[str, str]]:
    """The districts ``user`` may choose among (none for a district union: its own only)."""
    if user.principal.planning_scope is not None:
        return []
    return [(d.adcode, d.name) for d in services.districts]


def _events_chart(board: Dashboard, services: Services, index: StationIndex) -> str:
    """活动（按区县）: occurrences by kind over the last three months, this one and the next
    three; per district for the city, per month for one district."""
    start, end = planner_window(board.today)
    counts = events_by_district(services.store, index.get, start=start, end=end)
    last = end - timedelta(days=1)
    span = f"{start.year}年{start.month}月—{last.year}年{last.month}月"
    if board.scope is None:
        categories = [(d.adcode, d.name) for d in services.districts]
        return events_chart(counts, categories, of="district_adcode", title=f"活动（按区县）{span}")
    counts = [c for c in counts if c["district_adcode"] == board.scope]
    months, day = [], start
    while day < end:
        months.append((f"{day:%Y-%m}", f"{day.month}月"))
        day = (day + timedelta(days=32)).replace(day=1)
    title = f"活动（按区县）{board.scope_name}，{span}"
    return events_chart(counts, months, of="period", title=title)


def _charts(board: Dashboard, services: Services, index: StationIndex) -> list[str]:
    events = _events_chart(board, services, index)
    if board.scope is None:
        rates = {r["key"]: r["listed_all_rate"] for r in board.rows}
        return [
            mapped_history_chart(board.history, title=f"{board.whole}上图进度（按日）"),
            district_map(list(services.districts), rates, title="各区县三家均上图率"),
            district_rates_chart(board.rows, title="各区县上图率"),
            events,
        ]
    (row,) = board.rows
    labels = {c.key: c.label for c in DISTRICT_COLUMNS if c.kind == "rate"}
    own = rates_chart([(label, row[k]) for k, label in labels.items()], title=board.scope_name)
    return [own, events]


def _failed(request: Request, district: str | None, exc: Exception) -> Response:
    """The console's error page, in Chinese: 403 for another district's figures, 400 for
    an unknown district, 503 for a broken targets file or too much work."""
    if isinstance(exc, ForbiddenError):
        status, text = 403, "您只能查看本区县的规划数据（看板、报表、缺口建议）。"
    elif isinstance(exc, InvalidOptionError) and exc.option == "sort":
        status, text = 400, "无法按这一列排序：请从页面上的“排序”中选择。"
    elif isinstance(exc, InvalidOptionError) and exc.option == "gaps":
        status, text = 400, "覆盖半径、建议数量或需求图层不是页面上的选项：请在页面上重新选择。"
    elif isinstance(exc, InvalidOptionError):
        status, text = 400, f"没有区县代码为“{district}”的区县。"
    elif isinstance(exc, TargetsFileError):
        status, text = 503, f"目标文件有误，请联系市总工会管理员：{exc}"
    else:
        status, text = 503, "计算量过大，请选择一个区县后再试。"
    return error_page(request, status, text)


def _page(
    request: Request,
    user: ConsoleUser,
    index: StationIndex,
    services: Services,
    page: str,
    board: Dashboard,
    sort: str | None,
) -> Response:
    return render(
        request,
        page,
        user=user,
        board=board,
        tables=report_tables(board, sort=sort),
        sort=sort or "",
        sort_columns=[(c.key, c.label) for c in DISTRICT_COLUMNS],
        charts=_charts(board, services, index),
        title=report_title(board),
        query=_query(board.scope),
        sorted_query=_query(board.scope, sort),
        choices=_choices(user, services),
        whole=whole_name(services.districts),
        **CELLS,
    )


def _board_page(
    request: Request,
    user: ConsoleUser,
    index: StationIndex,
    services: Services,
    district: str | None,
    sort: str | None,
    template: str,
) -> Response:
    """The dashboard or its printable report: the same figures, another layout."""
    try:
        board = _board(index, services, user, district, sort or None)
    except (ForbiddenError, InvalidOptionError, TargetsFileError) as exc:
        return _failed(request, district, exc)
    return _page(request, user, index, services, template, board, sort or None)


@router.get("/console/dashboard")
def dashboard_page(
    request: Request,
    user: UserDep,
    index: IndexDep,
    services: ServicesDep,
    district: str | None = None,
    sort: str | None = None,
) -> Response:
    return _board_page(request, user, index, services, district, sort, "dashboard.html")


@router.get("/console/report")
def report_page(
    request: Request,
    user: UserDep,
    index: IndexDep,
    services: ServicesDep,
    district: str | None = None,
    sort: str | None = None,
) -> Response:
    return _board_page(request, user, index, services, district, sort, "report.html")


@router.get("/console/report.xlsx", response_model=None)
def report_workbook(
    request: Request,
    user: UserDep,
    index: IndexDep,
    services: ServicesDep,
    district: str | None = None,
    sort: str | None = None,
) -> Response:
    try:
        board = _board(index, services, user, district, sort or None)
    except (ForbiddenError, InvalidOptionError, TargetsFileError) as exc:
        return _failed(request, district, exc)
    body = report_xlsx(report_tables(board, sort=sort or None), title=report_title(board))
    name = f"yizhan-report-{board.scope or 'city'}-{board.today.isoformat()}.xlsx"
    filename = quote(f"工会驿站报表-{board.scope_name}-{board.today.isoformat()}.xlsx")
    return Response(
        body,
        media_type=XLSX,
        headers={
            "Content-Disposition": f"attachment; filename={name}; filename*=UTF-8''{filename}",
            "Cache-Control": "no-store",
        },
    )


def _with_gcj02(doc: dict[str, Any]) -> dict[str, Any]:
    """The gaps document with each site's position in GCJ-02 too (``gcj02``: "lon,lat"),
    as a clerk types it into Amap or Tencent to look at the place."""
    sites = []
    for site in doc["sites"]:
        lon, lat = wgs84_to_gcj02(site["lon"], site["lat"])
        sites.append({**site, "gcj02": f"{lon:.6f},{lat:.6f}"})
    return {**doc, "sites": sites}


# What a planner chooses on the gaps page (each one of GET /v1/gaps's values).
GAP_RADII = (500, 1000, 1500, 2000)
GAP_COUNTS = (5, 10, 20, 50)


@router.get("/console/gaps")
def gaps_page(
    request: Request,
    user: UserDep,
    index: IndexDep,
    services: ServicesDep,
    district: str | None = None,
    radius_m: int = 1000,
    n: int = 10,
    demand: str | None = None,
) -> Response:
    """The gap suggestions of ``GET /v1/gaps`` as a table: by area, or by a demand layer
    (where outdoor workers gather), within the reach and as many as chosen."""
    names = {d.adcode: d.name for d in services.districts}
    layers = [d["name"] for d in services.store.list_demand()]
    try:
        if radius_m not in GAP_RADII or n not in GAP_COUNTS or (demand and demand not in layers):
            raise InvalidOptionError("gaps", "not a choice of the page", code="out_of_range")
        scope = planning_scope(services.districts, user.principal, district or None)
        options = gap_options(services.districts, district=scope, radius_m=radius_m, n=n)
        layer = find_demand_layer(services.store, demand) if demand else None
        found = find_gaps(index, services.districts, options, demand=layer)
    except (ForbiddenError, InvalidOptionError, AreaTooLargeError) as exc:
        return _failed(request, district, exc)
    scope_name = names[scope] if scope else whole_name(services.districts)
    asked = {"district": scope, "radius_m": radius_m, "n": n, "demand": demand or None}
    return render(
        request,
        "gaps.html",
        user=user,
        gaps=_with_gcj02(gaps_document(found, options, layer, services.districts)),
        scope_name=scope_name,
        names=names,
        query=_query(scope),
        api_query="?" + urlencode({k: v for k, v in asked.items() if v}),
        choices=_choices(user, services),
        whole=whole_name(services.districts),
        asked=asked,
        radii=GAP_RADII,
        counts=GAP_COUNTS,
        layers=layers,
        **CELLS,
    )
