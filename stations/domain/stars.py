"""The star rating (星级评定): a station's last year, scored by a documented rule (stars.toml),
turned into 1–5 stars with the reasons a union reads.

:func:`rate` is pure: :class:`StationYear` holds the year's figures (the store gathers them,
stations.storage.stars_repo), :class:`StarRule` the weights (:func:`load_rule`). Points add
up to the score; the thresholds turn the score into stars; the downgrades take stars off;
the result is kept between 1 and 5.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from stations.domain.listings import MappedState
from stations.domain.model import AMENITIES

SHIPPED = Path(__file__).with_name("stars.toml")
YEAR_DAYS = 365
MIN_STARS, MAX_STARS = 1, 5


class StarRuleError(ValueError):
    """The star-rating rule file is missing, not TOML, or lacks or mistypes a key."""


@dataclass(frozen=True, slots=True)
class StarRule:
    """The weights and thresholds of stars.toml (every key documented there)."""

    version: str
    min_checks: int
    check_points: float
    check_max: float
    passed_max: float
    unannounced_points: float
    unannounced_max: float
    expected_amenities: tuple[str, ...]
    facilities_max: float
    hours_item: str
    hours_max: float
    mapped_points: dict[MappedState, float]
    ratings_min_count: int
    ratings_max: float
    visits_per_day_for_max: float
    visits_max: float
    cases_max: float
    hours_failed_step: int
    overdue_step: int
    overdue_at: int
    thresholds: tuple[float, float, float, float]  # for 5, 4, 3, 2 stars
    check_in_day_min: int


@dataclass(frozen=True, slots=True)
class StationYear:
    """A station's figures over the last 365 days (the store's aggregate queries)."""

    checks: int = 0  # spot checks done
    checks_passed: int = 0  # of them, with every item passed
    items_checked: int = 0  # checklist items checked over those checks
    items_passed: int = 0
    unannounced_passed: int = 0  # unannounced checks with every item passed
    hours_checked: int = 0  # checks that checked the rule's hours item
    hours_kept: int = 0  # ... and found it open as posted
    amenities: tuple[str, ...] = ()
    mapped: MappedState = MappedState.NONE
    rating_average: float | None = None
    rating_count: int = 0
    visits: int = 0  # check-ins counted
    cases: int = 0  # cases opened
    cases_resolved_in_time: int = 0
    cases_overdue_unanswered: int = 0  # open past their deadline without a reply
    closed_confirmed: int = 0  # confirmed closed_during_hours cases

    @property
    def hours_failed(self) -> int:
        return self.hours_checked - self.hours_kept


@dataclass(frozen=True, slots=True)
class Reason:
    """One line of a rating: its Chinese text, the points it adds (downgrades: 0) and the
    stars it takes off (points lines: 0)."""

    text: str
    points: float = 0.0
    stars: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "points": self.points, "stars": self.stars}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Reason:
        return cls(str(doc["text"]), float(doc.get("points", 0)), int(doc.get("stars", 0)))


@dataclass(frozen=True, slots=True)
class StarResult:
    """A station's stars (1–5), its score (the sum of the reasons' points) and reasons."""

    stars: int
    score: float
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StarRating:
    """A computed rating as saved: a StarResult of a station, when, by which rule."""

    station_id: int
    district_adcode: str
    stars: int
    score: float
    reasons: list[Reason]
    computed_at: datetime
    rules_version: str


@dataclass(frozen=True, slots=True)
class StationOps:
    """What the public record shows of a station's operations (see the store's
    ops_summary): its rating, stars, and what confirmed it last (stations.domain.freshness)."""

    rating_average: float | None = None
    rating_count: int = 0
    stars: int | None = None
    last_inspection_at: datetime | None = None
    union_edit_at: datetime | None = None
    last_check_in_day: date | None = None


@dataclass(frozen=True, slots=True)
class DistrictOps:
    """A district's operations figures on the planners' dashboard."""

    checks: int = 0  # spot checks in the period
    rectifications_overdue: int = 0  # open past their deadline
    cases_overdue: int = 0  # open or in progress past their deadline
    rating_average: float | None = None
    rating_count: int = 0
    visits: int = 0  # check-ins in the period


def _share_points(share: float, top: float) -> float:
    return round(max(0.0, min(1.0, share)) * top, 1)


def _points(inputs: StationYear, rule: StarRule) -> list[Reason]:
    y = inputs
    # Points for checks passed in full, not for checks done: a check the station fails must
    # never score more than no check at all (checks are the unions' work, not the station's).
    out = [
        Reason(
            f"抽查全部合格 {y.checks_passed} 次（共抽查 {y.checks} 次）",
            round(min(y.checks_passed * rule.check_points, rule.check_max), 1),
        )
    ]
    if y.items_checked:
        share = y.items_passed / y.items_checked
        out.append(Reason(f"抽查项目合格率 {share:.0%}", _share_points(share, rule.passed_max)))
    else:
        out.append(Reason("一年内没有抽查项目", 0.0))
    out.append(
        Reason(
            f"暗访全部合格 {y.unannounced_passed} 次",
            round(min(y.unannounced_passed * rule.unannounced_points, rule.unannounced_max), 1),
        )
    )
    expected = rule.expected_amenities
    offered = sum(1 for a in expected if a in y.amenities)
    share = offered / len(expected) if expected else 1.0
    out.append(
        Reason(f"设施 {offered}/{len(expected)} 项", _share_points(share, rule.facilities_max))
    )
    if y.hours_checked:
        share = y.hours_kept / y.hours_checked
        out.append(
            Reason(
                f"按公示时间开放 {y.hours_kept}/{y.hours_checked} 次",
                _share_points(share, rule.hours_max),
            )
        )
    else:
        out.append(Reason("一年内没有核对开放时间", 0.0))
    state_text = {MappedState.FULL: "三家地图均精准上图", MappedState.PARTIAL: "部分上图"}
    out.append(Reason(state_text.get(y.mapped, "未上图"), round(rule.mapped_points[y.mapped], 1)))
    if y.rating_average is not None and y.rating_count >= rule.ratings_min_count:
        share = (y.rating_average - 1) / 4
        out.append(
            Reason(
                f"骑手评分 {y.rating_average:.1f}（{y.rating_count} 人）",
                _share_points(share, rule.ratings_max),
            )
        )
    else:
        out.append(
            Reason(f"评价不足 {rule.ratings_min_count} 条（{y.rating_count} 条），不计分", 0.0)
        )
    per_day = y.visits / YEAR_DAYS
    target = rule.visits_per_day_for_max
    out.append(
        Reason(
            f"签到 {y.visits} 人次（日均 {per_day:.1f}）",
            _share_points(per_day / target if target > 0 else 1.0, rule.visits_max),
        )
    )
    if y.cases:
        share = y.cases_resolved_in_time / y.cases
        out.append(
            Reason(
                f"诉求按期办结 {y.cases_resolved_in_time}/{y.cases} 件",
                _share_points(share, rule.cases_max),
            )
        )
    else:
        out.append(Reason("一年内没有诉求", round(rule.cases_max, 1)))
    return out


def _downgrades(inputs: StationYear, rule: StarRule) -> list[Reason]:
    out = []
    if inputs.hours_failed or inputs.closed_confirmed:
        found = []
        if inputs.hours_failed:
            found.append(f"抽查发现未按公示时间开放 {inputs.hours_failed} 次")
        if inputs.closed_confirmed:
            found.append(f"“开放时间内关门”诉求经确认 {inputs.closed_confirmed} 件")
        out.append(
            Reason(
                "；".join(found) + f"：降 {rule.hours_failed_step} 星",
                stars=-rule.hours_failed_step,
            )
        )
    if inputs.cases_overdue_unanswered >= rule.overdue_at:
        out.append(
            Reason(
                f"超期未答复的诉求 {inputs.cases_overdue_unanswered} 件（≥ {rule.overdue_at}）："
                f"降 {rule.overdue_step} 星",
                stars=-rule.overdue_step,
            )
        )
    return out


def stars_for_score(score: float, rule: StarRule) -> int:
    """The stars a score earns before downgrades (the thresholds of 5, 4, 3, 2 stars)."""
    for stars, least in zip((5, 4, 3, 2), rule.thresholds, strict=True):
        if score >= least:
            return stars
    return MIN_STARS


def rate(inputs: StationYear, rule: StarRule) -> StarResult:
    """The stars of a station whose last year is ``inputs``, under ``rule``."""
    points = _points(inputs, rule)
    score = round(sum(r.points for r in points), 1)
    earned = stars_for_score(score, rule)
    downs = _downgrades(inputs, rule)
    lowered = earned + sum(r.stars for r in downs)
    stars = max(MIN_STARS, min(MAX_STARS, lowered))
    after = (
        "" if not downs else f"，降级后 {stars} 星" + ("（最低 1 星）" if lowered < stars else "")
    )
    head = Reason(f"得分 {score:g}，{earned} 星{after}")
    return StarResult(stars=stars, score=score, reasons=[head, *points, *downs])


# -- the rule file ----------------------------------------------------------------------


def _get(doc: dict[str, Any], path: str, kind: type, where: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            raise StarRuleError(f"{where}: missing key {path}")
        value = value[part]
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise StarRuleError(f"{where}: {path} must be a {kind.__name__}, not {value!r}")
    if kind in (int, float) and value < 0:
        raise StarRuleError(f"{where}: {path} must not be negative")
    return value


def is_rated(year: StationYear, rule: StarRule) -> bool:
    """Whether the year holds enough evidence to rate the station at all: at least the
    rule's ``checks.min_checks`` spot checks (a station nobody checked gets no stars, not
    one star)."""
    return year.checks >= rule.min_checks


def parse_rule(text: str, *, where: str = "stars.toml") -> StarRule:
    """The rule in ``text`` (TOML, see stars.toml); StarRuleError saying what is wrong."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StarRuleError(f"{where}: not valid TOML: {exc}") from None
    expected = _get(doc, "facilities.expected", list, where)
    unknown = [a for a in expected if a not in AMENITIES]
    if unknown:
        raise StarRuleError(f"{where}: facilities.expected: unknown amenities {unknown}")
    thresholds = tuple(
        _get(doc, f"thresholds.{n}", float, where) for n in ("five", "four", "three", "two")
    )
    if list(thresholds) != sorted(thresholds, reverse=True):
        raise StarRuleError(f"{where}: thresholds must not rise from five to two")
    return StarRule(
        version=_get(doc, "version", str, where),
        min_checks=_get(doc, "checks.min_checks", int, where),
        check_points=_get(doc, "checks.points_per_check", float, where),
        check_max=_get(doc, "checks.max", float, where),
        passed_max=_get(doc, "passed.max", float, where),
        unannounced_points=_get(doc, "unannounced.points_per_check", float, where),
        unannounced_max=_get(doc, "unannounced.max", float, where),
        expected_amenities=tuple(expected),
        facilities_max=_get(doc, "facilities.max", float, where),
        hours_item=_get(doc, "hours.item", str, where),
        hours_max=_get(doc, "hours.max", float, where),
        mapped_points={s: _get(doc, f"mapped.{s.value}", float, where) for s in MappedState},
        ratings_min_count=_get(doc, "ratings.min_count", int, where),
        ratings_max=_get(doc, "ratings.max", float, where),
        visits_per_day_for_max=_get(doc, "visits.per_day_for_max", float, where),
        visits_max=_get(doc, "visits.max", float, where),
        cases_max=_get(doc, "cases.max", float, where),
        hours_failed_step=_get(doc, "downgrades.hours_failed", int, where),
        overdue_step=_get(doc, "downgrades.overdue_unanswered", int, where),
        overdue_at=max(1, _get(doc, "downgrades.overdue_unanswered_at", int, where)),
        thresholds=thresholds,
        check_in_day_min=max(1, _get(doc, "freshness.check_in_day_min", int, where)),
    )


def load_rule(path: str | Path | None = None) -> StarRule:
    """The rule of ``path`` (None: the shipped stars.toml); StarRuleError if it is broken."""
    source = Path(path) if path is not None else SHIPPED
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StarRuleError(f"{source}: cannot read the star-rating rule: {exc}") from None
    return parse_rule(text, where=str(source))
