"""A weekly event's occurrences, read from its weekday pattern and the holiday calendar, are
the ones its opening-hours rule gives judged day by day (the build before issue 19's
closing note: ``hours(weekly_rule(spec)).is_open`` at each day's start), for any weekdays,
times, holidays switch and window, across 国庆, 春节 and their 调休 days and into the years
the calendar computes by rule (2027 on)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.hours import TZ, hours
from geodata.workdays import DayKind, day_kind
from stations.domain.events import Event, check_event, occurrences, weekly_rule

WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def _day_by_day(spec: Event, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The reference: every day from the first to the last, the rule judged at its start."""
    duration = spec.duration
    origin = spec.start.astimezone(TZ)
    clock = origin.time().replace(tzinfo=None)
    rule = hours(weekly_rule(spec))
    assert spec.recurrence.until is not None
    day = max((start - duration).astimezone(TZ).date(), origin.date())
    last = min(end.astimezone(TZ).date(), spec.recurrence.until)
    found = []
    while day <= last:
        s = datetime.combine(day, clock, tzinfo=TZ)
        if rule.is_open(s) and s < end and s + duration > start:
            found.append((s, s + duration))
        day += timedelta(days=1)
    return found


@st.composite
def weekly_events(draw: st.DrawFn) -> Event:
    first = draw(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 6, 30)))
    clock = time(draw(st.integers(0, 23)), draw(st.sampled_from((0, 15, 30, 45))))
    start = datetime.combine(first, clock, tzinfo=TZ)
    minutes = draw(st.integers(15, 24 * 60 - 1))  # overnight ones too
    days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1))
    until = first + timedelta(days=draw(st.integers(0, 366)))
    body = {
        "title": "每周活动",
        "kind": "free_meal",
        "station_ids": [1],
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=minutes)).isoformat(),
        "recurrence": {
            "kind": "weekly",
            "weekdays": sorted(days, key=WEEKDAYS.index),
            "until": until.isoformat(),
            "skip_holidays": draw(st.booleans()),
        },
    }
    return Event.stored(check_event(body), id=1, owner="district:500103", actor="t", at=start)


@settings(max_examples=300, deadline=None)
@given(
    spec=weekly_events(),
    offset_days=st.integers(-40, 400),
    hour=st.integers(0, 23),
    length_days=st.integers(1, 120),
)
def test_weekly_occurrences_are_the_rule_judged_day_by_day(spec, offset_days, hour, length_days):
    lo = datetime.combine(spec.start.date() + timedelta(days=offset_days), time(hour), tzinfo=TZ)
    hi = lo + timedelta(days=length_days)
    got = [(o.start, o.end) for o in occurrences(spec, lo, hi)]
    assert got == _day_by_day(spec, lo, hi)


def test_the_property_crosses_holidays_and_makeup_days():
    """The windows above reach 国庆 2026 and its 调休 Saturday: the cases that differ from
    a plain weekday pattern (else the property could hold of a rule without holidays)."""
    body = {
        "title": "周六维修",
        "kind": "repair",
        "station_ids": [1],
        "start": "2026-09-05 13:00",
        "end": "2026-09-05 17:00",
        "recurrence": {"kind": "weekly", "weekdays": ["Fr", "Sa"], "until": "2026-10-31"},
    }
    spec = Event.stored(check_event(body), id=1, owner="x", actor="t", at=datetime.now(TZ))
    lo = datetime(2026, 9, 25, tzinfo=TZ)
    hi = datetime(2026, 10, 20, tzinfo=TZ)
    got = [o.start.date() for o in occurrences(spec, lo, hi)]
    assert got == [s.date() for s, _ in _day_by_day(spec, lo, hi)]
    assert day_kind(date(2026, 10, 2)) is DayKind.HOLIDAY and date(2026, 10, 2) not in got
    # 10 October works as the nearest ordinary weekday (a Friday): the Friday rule is on.
    assert day_kind(date(2026, 10, 10)) is DayKind.MAKEUP_WORKDAY and date(2026, 10, 10) in got
    assert date(2026, 10, 3) not in got  # a Saturday inside the break
