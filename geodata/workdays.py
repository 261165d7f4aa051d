"""China's official day kinds: statutory holiday days off and make-up working days (调休).

A year comes from the State Council's notices as packaged by ``chinese_calendar`` when it
covers the year (2004–2026 at the time of writing). Later years come from the ``holidays``
package, which computes them by rule: its holiday days, plus weekend days that touch them
(the notices count such weekends as part of the break: "10月1日至8日放假调休"), minus any
weekend day it says is worked. Its make-up working days are read from its "Day off
(substituted from MM/DD/YYYY)" names, so they exist only where a notice has been published.

Measured against ``chinese_calendar`` for 2019–2026, the rule-based calendar gives the same
holidays and make-up days except 2024-06-08/09 (that notice said "与周末连休" and
``chinese_calendar`` leaves those weekend days ordinary); counting only weekend days lying
*between* two holiday days instead misses 43 days off in those years (2025-04-05/06 among
them), which is why the rule takes touching weekends.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import MAXYEAR, date, timedelta
from enum import StrEnum
from functools import cache

import chinese_calendar
import holidays

__all__ = [
    "DayKind",
    "calendar_source",
    "calendar_status",
    "covered_until",
    "day_kind",
    "special_days",
]

logger = logging.getLogger(__name__)

SOURCE_STATE_COUNCIL = "chinese_calendar"
SOURCE_RULE = "holidays_rule"

_ONE_DAY = timedelta(days=1)
# The en_US names of the ``holidays`` package; its default language follows the locale.
_SUBSTITUTED_FROM = re.compile(r"substituted from (\d{2})/(\d{2})/(\d{4})")
# The State Council publishes next year's arrangement in November (2025-11-04, 2024-11-12).
_NOTICE_MONTH = 11
# ``holidays.China`` starts with the People's Republic.
_FIRST_RULE_YEAR = 1950


class DayKind(StrEnum):
    """How China's official calendar treats one date."""

    ORDINARY = "ordinary"  # a weekday or weekend day like any other
    HOLIDAY = "holiday"  # a day off of a statutory holiday break, weekend days inside it included
    MAKEUP_WORKDAY = "makeup_workday"  # a weekend day worked in exchange for a day off (调休上班)


@dataclass(frozen=True)
class _Year:
    source: str
    days_off: frozenset[date]
    makeup_workdays: frozenset[date]


def day_kind(day: date) -> DayKind:
    """Return how China's official calendar treats ``day`` (a calendar date, Asia/Shanghai)."""
    year = _year(day.year)
    if day in year.days_off:
        return DayKind.HOLIDAY
    if day in year.makeup_workdays:
        return DayKind.MAKEUP_WORKDAY
    return DayKind.ORDINARY


def special_days(first: date, last: date) -> list[tuple[date, DayKind]]:
    """The days from ``first`` to ``last`` (inclusive) that are not ordinary, each with its
    kind (:func:`day_kind`), in date order: a few dozen a year, so a rule that treats
    ordinary days by their weekday alone need look at no other day."""
    found: list[tuple[date, DayKind]] = []
    for year in range(first.year, last.year + 1):
        y = _year(year)
        found += [(d, DayKind.HOLIDAY) for d in y.days_off if first <= d <= last]
        found += [(d, DayKind.MAKEUP_WORKDAY) for d in y.makeup_workdays if first <= d <= last]
    found.sort()
    return found


def calendar_source(year: int) -> str:
    """Return where ``year``'s calendar comes from.

    ``"chinese_calendar"``: the State Council's published notice. ``"holidays_rule"``:
    computed by rule, with make-up working days only where a notice has been published.
    """
    return _year(year).source


@cache
def covered_until() -> int:
    """Return the last year whose State Council notice the installed ``chinese_calendar`` has."""
    return max(d.year for d in chinese_calendar.constants.holidays)


def calendar_status(today: date) -> dict[str, object]:
    """Return what an operator or planner should know of the holiday calendar on ``today``.

    ``covered_until``: the last year from a published notice; ``source``: where this year's
    calendar comes from; ``warning`` (Chinese, or ``None``): set when this year is computed
    by rule, or from November of the last covered year on (the notice for the next year is
    published around then: 2025-11-04 for 2026), since a year computed by rule may put a
    holiday a day off and lacks make-up working days (调休上班).
    """
    last = covered_until()
    warning = None
    if today.year > last or (today.year == last and today.month >= _NOTICE_MONTH):
        first = max(last + 1, today.year)
        warning = (
            f"节假日日历只收录到 {last} 年：{first} 年起的节假日按规则推算，可能与国务院通知不符，"
            "调休上班日也不全。国务院公布次年安排后，请升级 chinese-calendar 包"
            "（pip install -U chinese-calendar）并重启服务"
        )
    return {"covered_until": last, "source": calendar_source(today.year), "warning": warning}


@cache
def _year(year: int) -> _Year:
    published = _state_council_year(year)
    if published is not None:
        return published
    logger.warning(
        "chinese_calendar does not cover %d; using the rule-based calendar of the holidays "
        "package (make-up working days only where the State Council has published them)",
        year,
    )
    return _rule_year(year)


def _state_council_year(year: int) -> _Year | None:
    try:
        chinese_calendar.is_holiday(date(year, 1, 1))
    except NotImplementedError:
        return None
    return _Year(
        source=SOURCE_STATE_COUNCIL,
        days_off=frozenset(d for d in chinese_calendar.constants.holidays if d.year == year),
        makeup_workdays=frozenset(d for d in chinese_calendar.constants.workdays if d.year == year),
    )


def _rule_year(year: int) -> _Year:
    # Neighbouring years too: a break or its make-up day can cross New Year.
    years = [y for y in (year - 1, year, year + 1) if _FIRST_RULE_YEAR <= y <= MAXYEAR - 1]
    calendar = holidays.China(years=years, language="en_US")
    makeup = {
        date(int(m[3]), int(m[1]), int(m[2]))
        for name in calendar.values()
        for m in _SUBSTITUTED_FROM.finditer(name)
    }
    days_off = set(calendar)
    for day in list(days_off):
        for step in (_ONE_DAY, -_ONE_DAY):
            d = day + step
            while d.weekday() >= 5 and d not in makeup and d not in days_off:
                days_off.add(d)
                d += step
    return _Year(
        source=SOURCE_RULE,
        days_off=frozenset(d for d in days_off if d.year == year),
        makeup_workdays=frozenset(d for d in makeup if d.year == year),
    )
