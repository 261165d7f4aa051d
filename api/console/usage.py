"""使用情况: how much the stations are used, from workers' check-ins, in three charts and a
table. District clerks see their own district; the city union (and an industry union) the
whole city or the district it picks.

The figures come from stations/services/usage.py, the same as GET /v1/usage's: counts only.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.console.charts import CJK_MARGIN, CONFIG, _svg
from api.console.pygal_offline import pygal
from api.console.session import ConsoleUser, UserDep
from api.console.templating import render
from api.deps import MAX_ID, Services, ServicesDep
from geodata.districts import whole_name
from geodata.hours import TZ
from stations.domain.errors import InvalidOptionError
from stations.domain.visits import UsageBucket
from stations.services.usage import UsageReport, usage_report, usage_scope

router = APIRouter(include_in_schema=False)  # pages, not API: as api/console/home.py

DEFAULT_DAYS = 30


def day_chart(buckets: list[UsageBucket], *, title: str) -> str:
    """Check-ins per day over the range (one point a day, a dozen labels at most)."""
    chart = pygal.Bar(
        **CONFIG,
        title=title,
        show_legend=False,
        x_label_rotation=30,
        show_minor_x_labels=False,
        x_labels_major_count=12,
        min_scale=4,
    )
    chart.x_labels = [b.label for b in buckets]
    chart.add("签到", [b.n for b in buckets])
    return _svg(chart)


def hour_chart(buckets: list[UsageBucket], *, title: str) -> str:
    """Check-ins by hour of the day (Beijing time), all 24."""
    chart = pygal.Bar(
        **{**CONFIG, "width": 650}, title=title, show_legend=False, min_scale=4, x_label_rotation=0
    )
    chart.x_labels = [str(int(b.key)) for b in buckets]
    chart.x_title = "时（北京时间）"
    chart.add("签到", [b.n for b in buckets])
    return _svg(chart)


def occupation_chart(buckets: list[UsageBucket], *, title: str) -> str:
    """Check-ins by occupation, one bar a line with its value printed."""
    chart = pygal.HorizontalBar(
        **{**CONFIG, "width": 650},
        title=title,
        show_legend=False,
        print_values=True,
        margin_left=CJK_MARGIN,
        min_scale=4,
    )
    # pygal draws the first bar at the bottom: reversed, the list reads top-down.
    chart.x_labels = [b.label for b in reversed(buckets)]
    chart.add("签到", [b.n for b in reversed(buckets)])
    return _svg(chart)


def _dates(since: date | None, until: date | None) -> tuple[date, date]:
    last = until or datetime.now(TZ).date()
    return since or last - timedelta(days=DEFAULT_DAYS - 1), last


def _page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    report: UsageReport | None,
    *,
    district: str | None,
    station_id: int | None,
    since: date,
    until: date,
    error: str | None = None,
) -> Response:
    index = services.index.current()
    scope = usage_scope(user.principal, district)
    positions = index.select(district=scope).tolist() if scope else []
    names = {d.adcode: d.name for d in services.districts}
    whole = whole_name(services.districts)
    scope_name = names.get(scope or "", whole) if scope else whole
    charts = []
    if report is not None:
        charts = [
            day_chart(report.by_day, title=f"{scope_name}每日签到"),
            hour_chart(report.by_hour, title="各时段签到"),
            occupation_chart(report.by_occupation, title="签到者职业"),
        ]
    return render(
        request,
        "usage.html",
        user=user,
        status_code=400 if error else 200,
        error=error,
        report=report,
        charts=charts,
        scope=scope,
        scope_name=scope_name,
        district_choices=[] if user.principal.planning_scope else sorted(names.items()),
        whole=whole,
        station_choices=[(index.stations[p].id, index.stations[p].name) for p in positions],
        station=index.get(station_id) if station_id else None,
        station_id=station_id,
        since=since,
        until=until,
    )


@router.get("/console/usage")
def usage_page(
    request: Request,
    services: ServicesDep,
    user: UserDep,
    district: Annotated[str | None, Query(max_length=6)] = None,
    station_id: Annotated[str | None, Query(max_length=12)] = None,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
) -> Response:
    """The figures for the chosen scope and range (default: the last 30 days)."""
    first, last = _dates(since, until)
    chosen = int(station_id) if station_id and station_id.isdigit() else None
    chosen = chosen if chosen is not None and 1 <= chosen <= MAX_ID else None
    area = district or None
    try:
        report = usage_report(
            services.store,
            user.principal,
            since=first,
            until=last,
            district=area,
            station_id=chosen,
            known_districts=services.districts,
        )
    except InvalidOptionError as exc:
        text = "没有这个区县。" if exc.code == "unknown_district" else _range_text(first, last)
        return _page(
            request,
            services,
            user,
            None,
            district=None,
            station_id=chosen,
            since=first,
            until=last,
            error=text,
        )
    return _page(
        request, services, user, report, district=area, station_id=chosen, since=first, until=last
    )


def _range_text(first: date, last: date) -> str:
    if first > last:
        return f"开始日期（{first}）晚于结束日期（{last}），请重新选择。"
    return "日期范围太长：一次最多查看 400 天。"
