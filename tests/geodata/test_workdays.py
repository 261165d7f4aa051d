"""China's official calendar: holiday breaks, make-up working days, and years not yet published."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta

import chinese_calendar
import pytest

from geodata import workdays
from geodata.workdays import DayKind, calendar_source, day_kind


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@pytest.fixture
def fresh_calendar() -> Iterator[None]:
    workdays._year.cache_clear()
    yield
    workdays._year.cache_clear()


@pytest.mark.parametrize("day", days(date(2025, 10, 1), date(2025, 10, 8)), ids=str)
def test_national_day_2025_is_off_from_october_1_to_8(day):
    assert day_kind(day) is DayKind.HOLIDAY


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        pytest.param(date(2025, 9, 27), DayKind.ORDINARY, id="2025-09-27-saturday-before"),
        pytest.param(date(2025, 9, 28), DayKind.MAKEUP_WORKDAY, id="2025-09-28-sunday-worked"),
        pytest.param(date(2025, 9, 30), DayKind.ORDINARY, id="2025-09-30-tuesday"),
        pytest.param(date(2025, 10, 4), DayKind.HOLIDAY, id="2025-10-04-saturday-in-break"),
        pytest.param(date(2025, 10, 9), DayKind.ORDINARY, id="2025-10-09-back-to-work"),
        pytest.param(date(2025, 10, 11), DayKind.MAKEUP_WORKDAY, id="2025-10-11-saturday-worked"),
        pytest.param(date(2025, 10, 12), DayKind.ORDINARY, id="2025-10-12-sunday"),
        pytest.param(date(2026, 1, 4), DayKind.MAKEUP_WORKDAY, id="2026-01-04-sunday-worked"),
        pytest.param(date(2026, 10, 1), DayKind.HOLIDAY, id="2026-10-01-national-day"),
        pytest.param(date(2027, 10, 1), DayKind.HOLIDAY, id="2027-10-01-by-rule"),
        pytest.param(date(2027, 10, 3), DayKind.HOLIDAY, id="2027-10-03-sunday-in-break"),
        pytest.param(date(2027, 10, 8), DayKind.ORDINARY, id="2027-10-08-friday"),
    ],
)
def test_day_kind(day, kind):
    assert day_kind(day) is kind


def test_day_kinds_are_plain_strings_for_json():
    assert DayKind.MAKEUP_WORKDAY == "makeup_workday"


@pytest.mark.parametrize(
    ("year", "source"),
    [
        (2004, "chinese_calendar"),
        (2025, "chinese_calendar"),
        (2026, "chinese_calendar"),
        (2027, "holidays_rule"),
        (2030, "holidays_rule"),
        (2003, "holidays_rule"),
    ],
    ids=str,
)
def test_calendar_source_says_published_or_computed(year, source):
    assert calendar_source(year) == source


def test_chinese_calendar_still_stops_at_2026():
    # If this fails, chinese_calendar has published 2027: move the 2027 cases above to 2028.
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_holiday(date(2027, 1, 1))


@pytest.mark.parametrize("year", range(2019, 2027), ids=str)
def test_rule_based_calendar_reproduces_the_state_councils_recent_years(year):
    rule = workdays._rule_year(year)
    published = workdays._state_council_year(year)
    assert published is not None
    # The 2024 notice said "6月10日放假，与周末连休": chinese_calendar leaves that weekend ordinary.
    exceptions = {date(2024, 6, 8), date(2024, 6, 9)}
    assert rule.days_off - exceptions == published.days_off
    assert rule.makeup_workdays == published.makeup_workdays


def test_make_up_day_in_december_for_next_years_break_is_found():
    # 2018-12-29 (Saturday) was worked for the 2019 New Year break.
    assert date(2018, 12, 29) in workdays._rule_year(2018).makeup_workdays


def test_falling_back_to_the_rule_is_logged_once_per_year(fresh_calendar, caplog):
    with caplog.at_level(logging.WARNING, logger="geodata.workdays"):
        day_kind(date(2031, 1, 1))
        day_kind(date(2031, 10, 1))
        calendar_source(2031)
        day_kind(date(2025, 10, 1))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1
    assert "2031" in messages[0]


def test_importing_computes_no_calendar():
    code = "import geodata.workdays as w; print(w._year.cache_info().currsize)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
