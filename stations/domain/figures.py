"""Per-district and city figures for planners: status, 上图 rates, 24-hour sites, signage,
targets with deadlines (时间节点), and 上图 progress over time from the audit trail."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from stations.domain.listings import DEFAULT_PRECISE_THRESHOLD_M, MappedState, mapped_states
from stations.domain.model import Provider, Station, Status

CITY = "city"
METRICS = (
    "listed_rate_amap",
    "listed_rate_baidu",
    "listed_rate_tencent",
    "listed_all_rate",
    "precise_rate",
    "signage_rate",
    "self_service_24h",
    "stations_active",
    "coverage",
    "cross_coverage",
)

# The one definition of each headline figure: `yizhan summary`, /v1/districts and
# /v1/history/mapped count by these (computed here, in figures() and mapped_history()),
# and the API documentation quotes them.
DEFINITIONS: dict[str, str] = {
    "stations_total": "every station in the registry, whatever its status",
    "stations_active": (
        "stations whose status is `active`; every figure below counts active stations only "
        "(planned, temporarily closed and closed ones serve no one)"
    ),
    "self_service_24h": "active stations that are 24-hour self-service sites",
    "listed_all": (
        "active stations listed under the keyword 工会驿站 on all three providers (Amap, "
        "Baidu, Tencent), wherever the listed position is"
    ),
    "precise_all": (
        "active stations fully on the map (上图 state `full`): listed under the keyword on "
        "all three providers, each listed position within the precise threshold "
        "(YIZHAN_PRECISE_THRESHOLD_M, 50 m by default) of ours"
    ),
    "mapped_state": (
        "active stations by 上图 state: `full` (= precise_all), `partial` (listed somewhere, "
        "but not under the keyword precisely on all three), `none` (listed nowhere)"
    ),
}


def definitions_markdown(names: Iterable[str] = DEFINITIONS) -> str:
    """The definitions of ``names`` as a Markdown list, for the API documentation."""
    return "\n".join(f"* `{name}`: {DEFINITIONS[name]}." for name in names)


@dataclass
class Figures:
    """What a planner checks for one district (or the whole city, key ``city``).

    Rates are shares of *active* stations: listed with the keyword 工会驿站 on a provider;
    on all three; on all three and precise (within the threshold); with the unified sign.
    """

    key: str
    name: str
    by_status: dict[str, int] = field(default_factory=dict)
    stations_active: int = 0
    listed: dict[str, int] = field(default_factory=dict)  # provider -> listed with keyword
    listed_all: int = 0
    precise_all: int = 0
    self_service_24h: int = 0
    signage_unified: int = 0
    mapped: dict[str, int] = field(default_factory=dict)  # MappedState value -> active count

    def rate(self, count: int) -> float | None:
        return count / self.stations_active if self.stations_active else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "key": self.key,
            "name": self.name,
            "stations_total": sum(self.by_status.values()),
            "by_status": {s.value: self.by_status.get(s.value, 0) for s in Status},
            "stations_active": self.stations_active,
            "self_service_24h": self.self_service_24h,
            "listed_all": self.listed_all,
            "precise_all": self.precise_all,
            "mapped_state": {m.value: self.mapped.get(m.value, 0) for m in MappedState},
        }
        for p in Provider:
            out[f"listed_rate_{p.value}"] = self.rate(self.listed.get(p.value, 0))
        out["listed_all_rate"] = self.rate(self.listed_all)
        out["precise_rate"] = self.rate(self.precise_all)
        out["signage_rate"] = self.rate(self.signage_unified)
        return out


def figures(
    stations: Sequence[Station],
    names: Mapping[str, str],
    *,
    threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M,
    whole: str = "全市",
) -> dict[str, Figures]:
    """Figures per district adcode (every key of ``names``) and for the whole registry
    (``city``, named ``whole``: see :func:`geodata.districts.whole_name`)."""
    out = {k: Figures(k, n) for k, n in names.items()}
    out[CITY] = Figures(CITY, whole)
    states = mapped_states(stations, threshold_m=threshold_m)
    for station, state in zip(stations, states, strict=True):
        targets = [out[CITY]]
        if station.district_adcode in out:
            targets.append(out[station.district_adcode])
        for f in targets:
            f.by_status[station.status.value] = f.by_status.get(station.status.value, 0) + 1
        if station.status is not Status.ACTIVE:
            continue
        keyworded = keyworded_providers(station)
        for f in targets:
            f.stations_active += 1
            for p in keyworded:
                f.listed[p] = f.listed.get(p, 0) + 1
            f.listed_all += len(keyworded) == len(Provider)  # see listed_on_all
            f.precise_all += state is MappedState.FULL
            f.mapped[state.value] = f.mapped.get(state.value, 0) + 1
            f.self_service_24h += station.self_service_24h
            f.signage_unified += station.signage_unified
    return out


def stations_per_100km2(stations: int, area_m2: float) -> float:
    """Density: ``stations`` over an area of ``area_m2`` square metres, per 100 km²."""
    return stations / (area_m2 / 1e8)


def listed_on_all(station: Station) -> bool:
    """Whether ``station`` is listed with the keyword on every provider (``listed_all``)."""
    return len(keyworded_providers(station)) == len(Provider)


def keyworded_providers(station: Station) -> set[str]:
    """The providers on which ``station`` is listed with the keyword 工会驿站."""
    return {li.provider.value for li in station.listings if li.listed and li.keyword_linked}


# The version of what mapped_counts counts: bump it when that changes, and every history the
# stores keep is rebuilt from the audit trail when next asked for.
MAPPED_COUNTS_RULES = 1


def mapped_counts(
    stations: Sequence[Station], *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> list[tuple[int, int, int]]:
    """Whether each of ``stations`` counts in the 上图 history, as :func:`figures` counts
    it: (active, listed with the keyword on all three providers, and of those precisely)."""
    states = mapped_states(stations, threshold_m=threshold_m)
    out = []
    for station, state in zip(stations, states, strict=True):
        if station.status is not Status.ACTIVE:
            out.append((0, 0, 0))
            continue
        listed_all = listed_on_all(station)
        out.append((1, int(listed_all), int(state is MappedState.FULL)))
    return out


def mapped_totals(
    stations: Sequence[Station], *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> tuple[int, int, int]:
    """The sums of :func:`mapped_counts` over ``stations``."""
    counts = mapped_counts(stations, threshold_m=threshold_m)
    return (
        sum(c[0] for c in counts),
        sum(c[1] for c in counts),
        sum(c[2] for c in counts),
    )


@dataclass(frozen=True, slots=True)
class Target:
    """A goal for one district (or ``city``): reach ``value`` of ``metric`` by ``deadline``."""

    key: str
    metric: str
    value: float
    deadline: date
    note: str = ""


def load_targets(path: str | Path) -> list[Target]:
    """Read targets from a TOML file of ``[[target]]`` tables (key, metric, value, deadline)."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        msg = f"{path}: cannot read the targets file: {exc}"
        raise ValueError(msg) from exc
    targets: list[Target] = []
    problems: list[str] = []
    for i, t in enumerate(doc.get("target", []), start=1):
        metric = t.get("metric")
        key = str(t.get("district", t.get("key", CITY)))
        deadline = t.get("deadline")
        value = t.get("value")
        if metric not in METRICS:
            problems.append(f"target {i}: metric {metric!r} is not one of {', '.join(METRICS)}")
        if not isinstance(deadline, date):
            problems.append(f"target {i}: deadline must be a TOML date like 2026-12-31")
        if not isinstance(value, int | float):
            problems.append(f"target {i}: value must be a number")
        if not problems:
            assert isinstance(deadline, date)
            day = deadline.date() if isinstance(deadline, datetime) else deadline
            targets.append(Target(key, str(metric), float(value), day, str(t.get("note", ""))))
    if problems:
        msg = f"{path}: " + "; ".join(problems)
        raise ValueError(msg)
    return targets


def progress(
    targets: Iterable[Target], values: Mapping[str, Mapping[str, Any]], *, today: date
) -> list[dict[str, Any]]:
    """Each target with its current value, whether it is met, and whether it is overdue."""
    out = []
    for t in targets:
        current = values.get(t.key, {}).get(t.metric)
        met = current is not None and current >= t.value
        out.append(
            {
                "key": t.key,
                "metric": t.metric,
                "target": t.value,
                "deadline": t.deadline.isoformat(),
                "current": current,
                "met": met,
                "overdue": (not met) and today > t.deadline,
                "days_left": (t.deadline - today).days,
                "note": t.note,
            }
        )
    return out


def mapped_history(days: Iterable[tuple[str, int, int, int]]) -> list[dict[str, Any]]:
    """上图 progress over time: per day with changes, ``active``, ``listed_all`` and
    ``precise_all`` as :data:`DEFINITIONS` defines them (the last day's are today's).

    ``days`` is each day's net change (day, active, listed_all, precise_all), in order of
    day, as :meth:`Store.mapped_history_days` keeps it; the figures are their running sums,
    what the registry said at the end of each day.
    """
    totals = [0, 0, 0]
    out = []
    for day, *change in days:
        for k in range(3):
            totals[k] += change[k]
        out.append(
            {"date": day, **dict(zip(("active", "listed_all", "precise_all"), totals, strict=True))}
        )
    return out
