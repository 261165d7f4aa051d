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
from geodata.workdays import DayKind, calendar_source, calendar_status, covered_until, day_kind


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


# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04), typed by hand from the notice.
NOTICE_2026_OFF = [
    (date(2026, 1, 1), date(2026, 1, 3)),  # 元旦
    (date(2026, 2, 15), date(2026, 2, 23)),  # 春节
    (date(2026, 4, 4), date(2026, 4, 6)),  # 清明节
    (date(2026, 5, 1), date(2026, 5, 5)),  # 劳动节
    (date(2026, 6, 19), date(2026, 6, 21)),  # 端午节
    (date(2026, 9, 25), date(2026, 9, 27)),  # 中秋节
    (date(2026, 10, 1), date(2026, 10, 7)),  # 国庆节
]
NOTICE_2026_WORKED = [
    date(2026, 1, 4),
    date(2026, 2, 14),
    date(2026, 2, 28),
    date(2026, 5, 9),
    date(2026, 9, 20),
    date(2026, 10, 10),
]


def test_2026_calendar_is_the_state_councils_notice_day_by_day():
    off = {d for first, last in NOTICE_2026_OFF for d in days(first, last)}
    assert len(off) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    for day in days(date(2026, 1, 1), date(2026, 12, 31)):
        expected = (
            DayKind.HOLIDAY
            if day in off
            else DayKind.MAKEUP_WORKDAY
            if day in NOTICE_2026_WORKED
            else DayKind.ORDINARY
        )
        assert day_kind(day) is expected, day


@pytest.mark.parametrize(
    ("today", "warned"),
    [
        pytest.param(date(2026, 6, 1), False, id="mid-2026"),
        pytest.param(date(2026, 11, 1), True, id="november-2026-next-year-due"),
        pytest.param(date(2027, 3, 1), True, id="2027-by-rule"),
    ],
)
def test_calendar_status_warns_where_the_calendar_runs_out(today, warned):
    status = calendar_status(today)
    assert status["covered_until"] == 2026 == covered_until()
    assert (status["warning"] is not None) is warned
    if warned:
        assert "2027" in status["warning"]
        assert "pip install -U chinese-calendar" in status["warning"]
    assert status["source"] == calendar_source(today.year)
