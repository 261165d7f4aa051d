"""Events, the domain: validation field by field in Chinese, and occurrences judged with
China's holidays and 调休 as opening hours are."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from geodata.hours import TZ
from geodata.workdays import DayKind, day_kind
from stations.domain.events import (
    Event,
    EventKind,
    InvalidEventError,
    Repeat,
    check_event,
    current_and_next,
    merged,
    occurrences,
)


def event(**changes) -> Event:
    body = {
        "title": "免费午餐",
        "kind": "free_meal",
        "station_ids": [1],
        "start": "2026-09-28 11:30",
        "end": "2026-09-28 13:00",
    }
    body.update(changes)
    spec = check_event(body)
    at = datetime(2026, 9, 1, tzinfo=TZ)
    return Event.stored(spec, id=1, owner="district:500103", actor="t", at=at)


def starts(e: Event, first: str, last: str) -> list[str]:
    lo = datetime.fromisoformat(first).replace(tzinfo=TZ)
    hi = datetime.fromisoformat(last).replace(tzinfo=TZ)
    return [f"{o.start:%m-%d %a}" for o in occurrences(e, lo, hi)]


WEEKDAYS_LUNCH = {"kind": "weekly", "weekdays": "1,2,3,4,5", "until": "2026-10-16"}


def test_a_weekday_lunch_skips_national_day_and_is_on_the_makeup_saturday():
    assert day_kind(date(2026, 10, 2)) is DayKind.HOLIDAY
    assert day_kind(date(2026, 10, 10)) is DayKind.MAKEUP_WORKDAY
    lunch = event(recurrence=WEEKDAYS_LUNCH)
    got = starts(lunch, "2026-09-28", "2026-10-13")
    assert got == [
        "09-28 Mon",
        "09-29 Tue",
        "09-30 Wed",  # 1–7 October: 国庆
        "10-08 Thu",
        "10-09 Fri",
        "10-10 Sat",  # the 调休 Saturday works
        "10-12 Mon",
    ]


def test_without_skip_holidays_the_weekdays_are_literal():
    lunch = event(recurrence={**WEEKDAYS_LUNCH, "skip_holidays": False})
    got = starts(lunch, "2026-09-28", "2026-10-13")
    assert "10-02 Fri" in got and "10-10 Sat" not in got


def test_a_date_list_and_the_current_and_next_occurrence():
    e = event(recurrence={"kind": "dates", "dates": ["2026-10-15", "2026-11-01"]})
    assert starts(e, "2026-09-01", "2026-12-01") == ["09-28 Mon", "10-15 Thu", "11-01 Sun"]
    during = datetime(2026, 10, 15, 12, 0, tzinfo=TZ)
    current, coming = current_and_next(e, during)
    assert current is not None and current.start == datetime(2026, 10, 15, 11, 30, tzinfo=TZ)
    assert coming is not None and coming.start.date() == date(2026, 11, 1)
    current, coming = current_and_next(e, datetime(2026, 11, 2, tzinfo=TZ))
    assert current is None and coming is None


def test_an_event_overlapping_the_window_start_is_listed():
    e = event(start="2026-09-28 22:00", end="2026-09-29 02:00")
    lo = datetime(2026, 9, 29, 1, tzinfo=TZ)
    assert [o.end for o in occurrences(e, lo, lo + timedelta(hours=1))] == [
        datetime(2026, 9, 29, 2, tzinfo=TZ)
    ]


def test_kinds_are_taken_by_code_or_chinese_name():
    assert event(kind="普法").kind is EventKind.LEGAL_AID
    assert event(kind="义诊/健康").kind is EventKind.HEALTH
    assert event(kind="repair").kind is EventKind.REPAIR


@pytest.mark.parametrize(
    ("changes", "field", "code"),
    [
        ({"title": " "}, "title", "required"),
        ({"title": "长" * 81}, "title", "too_long"),
        ({"kind": "聚会"}, "kind", "unknown_kind"),
        ({"station_ids": []}, "station_ids", "required"),
        ({"station_ids": ["x"]}, "station_ids", "bad_station"),
        ({"start": "明天"}, "start", "bad_time"),
        ({"end": "2026-09-28 11:00"}, "end", "end_before_start"),
        ({"end": "2026-11-28 11:00"}, "end", "too_long"),
        ({"while_supplies_last": "是"}, "while_supplies_last", "not_boolean"),
        ({"recurrence": {"kind": "monthly"}}, "recurrence.kind", "bad_recurrence"),
        (
            {"recurrence": {"kind": "weekly", "weekdays": ["周八"], "until": "2026-10-01"}},
            "recurrence.weekdays",
            "bad_weekday",
        ),
        ({"recurrence": {"kind": "weekly", "weekdays": ["周一"]}}, "recurrence.until", "required"),
        (
            {"recurrence": {"kind": "weekly", "weekdays": ["Mo"], "until": "2026-09-01"}},
            "recurrence.until",
            "before_start",
        ),
        (
            {"recurrence": {"kind": "weekly", "weekdays": ["Mo"], "until": "2028-01-01"}},
            "recurrence.until",
            "too_far",
        ),
        (
            {"recurrence": {"kind": "dates", "dates": ["2026-02-30"]}},
            "recurrence.dates",
            "bad_date",
        ),
        (
            {"end": "2026-09-29 13:00", "recurrence": {"kind": "dates", "dates": ["2026-10-01"]}},
            "end",
            "too_long_to_repeat",
        ),
    ],
)
def test_each_problem_names_its_field_in_chinese(changes, field, code):
    with pytest.raises(InvalidEventError) as caught:
        event(**changes)
    found = [p for p in caught.value.problems if p["field"] == field]
    assert found and found[0]["code"] == code, caught.value.problems
    assert any("\u4e00" <= ch <= "\u9fff" for ch in found[0]["message"])


def test_a_patch_is_merged_and_validated_whole():
    e = event(recurrence=WEEKDAYS_LUNCH)
    changed = merged(e, {"title": "午餐（改）", "station_id": 7})
    assert changed.title == "午餐（改）" and changed.station_ids == (7,)
    assert changed.recurrence.repeat is Repeat.WEEKLY
    with pytest.raises(InvalidEventError):
        merged(e, {"end": "2026-09-28 10:00"})
