"""The planners' dashboard and 报表: the figures of each district (or one) and the city, as
a planner reads them, composed from what the JSON API serves.

- stations by status, 上图 per provider and on all three, precise, 24-hour sites, unified
  signage, coverage and cross coverage at the defaults and targets progress:
  :func:`stations.services.planning.headline_figures` (what ``/v1/districts`` shows);
- night coverage: :func:`stations.services.planning.index_coverage` of the stations open at
  02:00 today (Asia/Shanghai), as ``/v1/coverage?at=`` measures it;
- 上图 over time: the store's per-day history, summed by
  :func:`stations.domain.figures.mapped_history` (what ``/v1/history/mapped`` shows).

Who sees which district's figures is :meth:`stations.domain.auth.Principal.may_see_planning`.
The tables (:func:`report_tables`) are the one layout of the page and the workbook.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from geodata.coverage import AreaTooLargeError
from geodata.districts import Districts, whole_name
from geodata.hours import TZ
from stations.domain.auth import Principal, check_planning_view
from stations.domain.errors import InvalidOptionError
from stations.domain.figures import CITY, mapped_history
from stations.domain.model import PROVIDER_LABELS, STATUS_LABELS, Provider, Status
from stations.domain.stars import DistrictOps
from stations.formats.report import Column, Table
from stations.readmodel.index import StationIndex
from stations.services.planning import (
    CoverageOptions,
    check_district,
    headline_figures,
    index_coverage,
)
from stations.storage.store import Store

NIGHT = time(2, 0)  # "night": only the stations open at 02:00 (mostly 24-hour sites) count

TOO_MUCH_WORK = "登记的驿站太多，一次请求无法计算全市覆盖率：请选择一个区县查看"
NO_ACTIVE = "该区县没有运营中的驿站"

# The operations' figures of each district (the store's ops_figures_by_district): spot
# checks in the last OPS_DAYS days, rectifications and cases past their deadline today,
# the average of all ratings, check-ins in the last VISITS_DAYS days.
OPS_COLUMNS: tuple[Column, ...] = (
    Column("checks_365d", "抽查次数（365天）"),
    Column("rectifications_overdue", "逾期整改"),
    Column("cases_overdue", "逾期诉求"),
    Column("rating_average", "平均评分", "number", missing="还没有评价"),
    Column("visits_30d", "签到人次（30天）"),
)

DISTRICT_COLUMNS: tuple[Column, ...] = (
    Column("name", "区县", "text"),
    *(Column(f"status_{s.value}", STATUS_LABELS[s.value]) for s in Status),
    *(
        Column(
            f"listed_rate_{p.value}", f"{PROVIDER_LABELS[p.value]}上图率", "rate", True, NO_ACTIVE
        )
        for p in Provider
    ),
    Column("listed_all_rate", "三家均上图率", "rate", True, NO_ACTIVE),
    Column("precise_rate", "精准上图率", "rate", True, NO_ACTIVE),
    Column("self_service_24h", "24小时自助驿站"),
    Column("signage_rate", "统一标识率", "rate", True, NO_ACTIVE),
    Column("coverage", "1公里覆盖率", "rate", True, TOO_MUCH_WORK),
    Column("cross_coverage", "交叉覆盖率", "rate", True, TOO_MUCH_WORK),
    Column("night_coverage", "夜间覆盖率 02:00", "rate", True, TOO_MUCH_WORK),
    Column("targets_met", "目标达成", "text"),
    Column("targets_overdue", "逾期目标"),
    *OPS_COLUMNS,
)

OPS_DAYS, VISITS_DAYS = 365, 30

# The targets file's metrics (stations.domain.figures.METRICS) in Chinese.
METRIC_LABELS: dict[str, str] = {
    **{c.key: c.label for c in DISTRICT_COLUMNS},
    "stations_active": "运营中驿站数",
}

# How each metric's value is written: a share (the district columns' rates) or a count.
METRIC_KINDS: dict[str, str] = {c.key: c.kind for c in DISTRICT_COLUMNS}

TARGET_COLUMNS: tuple[Column, ...] = (
    Column("name", "区县", "text"),
    Column("metric_label", "指标", "text"),
    Column("target", "目标值", "number"),
    Column("current", "当前值", "number"),
    Column("completion", "完成度", "rate", True, "当前值无法计算"),
    Column("deadline", "时间节点", "date"),
    Column("days_left", "剩余天数"),
    Column("state", "状态", "text", alarm="逾期"),
    Column("note", "说明", "text"),
)

HISTORY_COLUMNS: tuple[Column, ...] = (
    Column("date", "日期", "date"),
    Column("active", "运营中"),
    Column("listed_all", "三家均上图"),
    Column("precise_all", "精准上图"),
    Column("listed_all_rate", "三家均上图率", "rate"),
    Column("precise_rate", "精准上图率", "rate"),
)


@dataclass(frozen=True)
class Dashboard:
    """What a planner sees: ``rows`` per district (one, for a district's scope), the city's
    row (None for a district's scope), the targets with progress, 上图 over time (the
    city's: the store keeps it for the city only; empty for a district's scope)."""

    scope: str | None  # an adcode, or None for the city
    scope_name: str
    today: date
    night: datetime
    rows: list[dict[str, Any]]
    city: dict[str, Any] | None
    targets: list[dict[str, Any]]
    history: list[dict[str, Any]]
    whole: str = "全市"  # what the whole registry is called (全国 at national scale)

    @property
    def overdue(self) -> list[dict[str, Any]]:
        return [t for t in self.targets if t["overdue"]]


def night_time(today: date) -> datetime:
    """02:00 of ``today`` in Asia/Shanghai: the time night coverage counts open stations at."""
    return datetime.combine(today, NIGHT, tzinfo=TZ)


def planning_scope(districts: Districts, by: Principal, district: str | None) -> str | None:
    """The district whose figures ``by`` asked for (None: the city; a district union's own
    district when it asks for none); ForbiddenError if ``by`` may not see them,
    InvalidOptionError for an unknown adcode."""
    scope = by.planning_scope if district is None else district
    check_planning_view(by, scope)
    return check_district(districts, scope)


def _coverage(
    index: StationIndex, districts: Districts, *, at: datetime | None, only: str | None
) -> dict[str, dict[str, Any]]:
    """Coverage at the defaults of ``only`` (None: the city and every district); {} when
    that is too much work for one request."""
    try:
        return index_coverage(index, districts, CoverageOptions(), at=at, only=only)
    except AreaTooLargeError:  # TooMuchWorkError too
        return {}


def _row(doc: dict[str, Any], night: dict[str, Any] | None) -> dict[str, Any]:
    row = {k: v for k, v in doc.items() if not isinstance(v, dict | list)}
    for status, count in doc["by_status"].items():
        row[f"status_{status}"] = count
    row["night_coverage"] = night["share"] if night else None
    targets = doc["targets"]
    row["targets_met"] = f"{sum(t['met'] for t in targets)}/{len(targets)}" if targets else ""
    row["targets_overdue"] = sum(t["overdue"] for t in targets)
    return row


def _ops_cells(ops: DistrictOps) -> dict[str, Any]:
    return {
        "checks_365d": ops.checks,
        "rectifications_overdue": ops.rectifications_overdue,
        "cases_overdue": ops.cases_overdue,
        "rating_average": ops.rating_average,
        "visits_30d": ops.visits,
    }


def _city_ops(figures: dict[str, DistrictOps]) -> DistrictOps:
    """The city's operations figures: the districts' summed, the rating averaged over all
    ratings."""
    rated = sum(f.rating_count for f in figures.values())
    weighted = sum((f.rating_average or 0) * f.rating_count for f in figures.values())
    return DistrictOps(
        checks=sum(f.checks for f in figures.values()),
        rectifications_overdue=sum(f.rectifications_overdue for f in figures.values()),
        cases_overdue=sum(f.cases_overdue for f in figures.values()),
        rating_average=round(weighted / rated, 2) if rated else None,
        rating_count=rated,
        visits=sum(f.visits for f in figures.values()),
    )


def _target_row(t: dict[str, Any], name: str) -> dict[str, Any]:
    current, target = t["current"], t["target"]
    is_rate = METRIC_KINDS.get(t["metric"]) == "rate"
    state = "已达成" if t["met"] else ("逾期" if t["overdue"] else "进行中")
    return {
        **t,
        "name": name,
        "metric_label": METRIC_LABELS.get(t["metric"], t["metric"]),
        "completion": min(current / target, 1.0) if current is not None and target else None,
        "state": state,
        "_kinds": {"target": "rate", "current": "rate"} if is_rate else {},
    }


def _history_row(day: dict[str, Any]) -> dict[str, Any]:
    active = day["active"]
    return {
        **day,
        "listed_all_rate": day["listed_all"] / active if active else None,
        "precise_rate": day["precise_all"] / active if active else None,
    }


def dashboard(
    index: StationIndex,
    districts: Districts,
    store: Store,
    by: Principal,
    *,
    district: str | None,
    targets_file: str | Path | None,
    today: date,
    now: datetime | None = None,
) -> Dashboard:
    """The dashboard of ``district`` (None: ``by``'s own scope, see :func:`planning_scope`)
    on ``today`` (the operations' figures up to ``now``, default the present).
    TargetsFileError if the targets file is broken."""
    scope = planning_scope(districts, by, district)
    docs = headline_figures(index, districts, targets_file=targets_file, today=today)
    if scope is not None and docs[scope]["coverage"] is None:  # the city's was too much work
        day = _coverage(index, districts, at=None, only=scope).get(scope)
        if day is not None:
            docs[scope]["coverage"], docs[scope]["cross_coverage"] = (
                day["share"],
                day["cross_share"],
            )
    night = night_time(today)
    by_night = _coverage(index, districts, at=night, only=scope)
    chosen = [d.adcode for d in districts if scope is None or d.adcode == scope]
    at = now or datetime.now(TZ)
    ops = store.ops_figures_by_district(
        at - timedelta(days=OPS_DAYS), at, visits_since=at - timedelta(days=VISITS_DAYS)
    )
    rows = [_row(docs[k], by_night.get(k)) | _ops_cells(ops.get(k, DistrictOps())) for k in chosen]
    whole = whole_name(districts)
    names = {d.adcode: d.name for d in districts} | {CITY: whole}
    targets = [
        _target_row(t, names.get(t["key"], t["key"]))
        for k in [*chosen, *([CITY] if scope is None else [])]
        for t in docs[k]["targets"]
    ]
    history = []
    if scope is None:
        days = store.mapped_history_days(threshold_m=index.threshold_m)
        history = [_history_row(d) for d in mapped_history(days)]
    return Dashboard(
        scope=scope,
        scope_name=names[scope] if scope else whole,
        today=today,
        night=night,
        rows=rows,
        city=_row(docs[CITY], by_night.get(CITY)) | _ops_cells(_city_ops(ops))
        if scope is None
        else None,
        targets=targets,
        history=history,
        whole=whole,
    )


def report_title(board: Dashboard) -> str:
    """The 报表's title: its scope and date."""
    return f"工会驿站规划报表（{board.scope_name}，{board.today.isoformat()}）"


def check_sort(by: str | None) -> str | None:
    """``by`` if it is None or a key of DISTRICT_COLUMNS, else InvalidOptionError."""
    if by is not None and by not in {c.key for c in DISTRICT_COLUMNS}:
        msg = f"sort={by!r}: use one of {', '.join(c.key for c in DISTRICT_COLUMNS)}"
        raise InvalidOptionError("sort", msg)
    return by


def sorted_rows(rows: list[dict[str, Any]], by: str | None) -> list[dict[str, Any]]:
    """``rows`` by the column ``by`` (a key of DISTRICT_COLUMNS; None: as they are),
    ascending so the laggards come first, the rows without a value last;
    InvalidOptionError for another key."""
    key = check_sort(by)
    if key is None:
        return rows
    present = [r for r in rows if r.get(key) not in (None, "")]
    missing = [r for r in rows if r.get(key) in (None, "")]
    return sorted(present, key=lambda r: r[key]) + missing


def report_tables(board: Dashboard, *, sort: str | None = None) -> list[Table]:
    """The tables of the page and of the workbook, in order: the districts' figures (with
    the city's row; sorted by the column ``sort``, see :func:`sorted_rows`), the targets,
    上图 over time."""
    night = f"夜间覆盖率只计 {board.night:%Y-%m-%d %H:%M} 开放的驿站（多为24小时自助驿站）。"
    tables = [
        Table(
            "各区县指标",
            DISTRICT_COLUMNS,
            sorted_rows(board.rows, sort),
            board.city,
            note="上图率、精准上图率、统一标识率均以运营中驿站为基数；覆盖率为1公里范围（约步行15分钟）"
            "内的面积占比，交叉覆盖为至少两个驿站覆盖。"
            + night
            + "逾期整改、逾期诉求为截至今天已过期限仍未"
            "完成的数量；平均评分为骑手全部评价的平均星数。",
        ),
        Table(
            "目标进度",
            TARGET_COLUMNS,
            board.targets,
            note="目标来自目标文件（YIZHAN_TARGETS_FILE）。",
            empty="没有目标：未设置目标文件，或其中没有这一范围的目标。",
        ),
    ]
    if board.scope is None:
        tables.append(
            Table(
                "上图进度",
                HISTORY_COLUMNS,
                board.history,
                note=f"{board.whole}，每个有变更的日期一行。",
            )
        )
    return tables
