"""Opening hours: union text becomes OSM; "open now" follows China's holidays and 调休."""

from __future__ import annotations

import logging
import pickle
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from time import perf_counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.hours import TZ, Hours, HoursError, HoursReading, hours, parse_hours, read_hours
from geodata.workdays import calendar_source

# An ordinary week: 2025-09-15 is a Monday; no holiday or make-up day until the 28th.
_WEEK = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def wk(when: str) -> datetime:
    """``"We 10:00"`` -> that wall time in the ordinary week of 2025-09-15, naive (Shanghai)."""
    day, clock = when.split()
    hh, mm = map(int, clock.split(":"))
    return datetime(2025, 9, 15 + _WEEK.index(day), hh, mm)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def form(name, text, osm, *, open_at=(), closed_at=()):
    """One accepted way of writing hours: its canonical OSM and times to check it at."""
    return pytest.param(text, osm, open_at, closed_at, id=name)


NATIONAL_DAY = "2025-10-01 10:00"  # Wednesday, statutory holiday

# fmt: off
ACCEPTED = [
    # OSM syntax is taken as it is, in the library's normal form.
    form("osm-weekdays", "Mo-Fr 08:00-20:00", "Mo-Fr 08:00-20:00",
         open_at=["Mo 08:00", "Fr 19:59"], closed_at=["Mo 07:59", "Mo 20:00", "Sa 10:00"]),
    form("osm-24-7", "24/7", "24/7", open_at=["Su 03:00", NATIONAL_DAY]),
    form("osm-ph-off", "Mo-Fr 09:00-17:00; PH off", "Mo-Fr 09:00-17:00; PH off",
         open_at=["We 10:00"], closed_at=["Sa 10:00", NATIONAL_DAY]),
    form("osm-every-day-ph-off", "Mo-Su 09:00-17:00; PH off", "09:00-17:00; PH off",
         open_at=["Su 10:00"], closed_at=[NATIONAL_DAY]),
    form("osm-closed-is-off", "Mo-Fr 09:00-17:00; PH closed", "Mo-Fr 09:00-17:00; PH off"),
    form("osm-day-list", "Mo,Tu,We,Th,Fr 8:00-20:00", "Mo-Fr 08:00-20:00"),
    # Times alone: every day.
    form("times", "08:00-20:00", "08:00-20:00",
         open_at=["Su 08:00"], closed_at=["Su 20:00"]),
    form("em-dash", "8:00—20:00", "08:00-20:00"),
    form("tilde", "8:00~20:00", "08:00-20:00"),
    form("dian", "8点-20点", "08:00-20:00", open_at=["Sa 12:00"], closed_at=["Sa 21:00"]),
    form("full-width", "８：００－２０：００", "08:00-20:00"),
    form("dian-ban", "8点半-17点半", "08:30-17:30",
         open_at=["Mo 17:15"], closed_at=["Mo 08:15"]),
    form("zao-wan", "早8点-晚8点", "08:00-20:00", open_at=["Mo 19:30"]),
    form("shangwu-xiawu", "上午9:00-12:00，下午2:00-5:30", "09:00-12:00,14:00-17:30",
         open_at=["Mo 17:00"], closed_at=["Mo 13:00", "Mo 05:00"]),
    form("overnight", "22:00-06:00", "22:00-06:00",
         open_at=["Tu 02:00", "Tu 23:00"], closed_at=["Tu 12:00"]),
    form("overnight-ciri", "22:00-次日6:00", "22:00-06:00"),
    # Days.
    # Monday to Friday and nothing said of holidays: an office's working days.
    form("zhou-zhi", "周一至周五 9:00-18:00", "Mo-Fr 09:00-18:00; PH off",
         open_at=["Fr 17:59"], closed_at=["Sa 10:00", NATIONAL_DAY]),
    form("zhou-dao-no-space", "周一到周五9:00-18:00", "Mo-Fr 09:00-18:00; PH off"),
    form("xingqi", "星期一至星期五 9:00-17:00", "Mo-Fr 09:00-17:00; PH off"),
    form("days-after-times", "8:00-20:00 周一至周五", "Mo-Fr 08:00-20:00; PH off",
         closed_at=["Su 10:00"]),
    form("zhi-between-times", "周一至周五 9:00至18:00", "Mo-Fr 09:00-18:00; PH off"),
    form("dao-between-times", "每天 9:00到18:00", "09:00-18:00"),
    form("full-width-weekdays", "周一至周五 ９：００～１８：００", "Mo-Fr 09:00-18:00; PH off"),
    form("dunhao-bare-days", "周一、三、五 9:00-17:00", "Mo,We,Fr 09:00-17:00; PH off",
         open_at=["We 16:00"], closed_at=["Tu 10:00", "Sa 10:00", NATIONAL_DAY]),
    form("dunhao-bare-digits", "周1、3、5 9:00-17:00", "Mo,We,Fr 09:00-17:00; PH off"),
    form("dunhao-bare-range", "周一、三至五 9:00-17:00", "Mo,We-Fr 09:00-17:00; PH off"),
    # 午休: a break inside the hours, written before or after its times.
    form("wuxiu-in-brackets", "9:00-18:00（12:00-13:30午休）", "09:00-12:00,13:30-18:00",
         open_at=["Su 11:59", "Su 13:30"], closed_at=["Su 12:00", "Su 13:29"]),
    form("wuxiu-before-times", "周一至周五 9:00-18:00 午休12:00-13:30",
         "Mo-Fr 09:00-12:00,13:30-18:00; PH off", closed_at=["Mo 12:30"]),
    form("zhongwu-xiuxi", "8:30-17:30，中午12:00-13:30休息", "08:30-12:00,13:30-17:30",
         closed_at=["Mo 13:00"]),
    form("wuxiu-divides", "9:00-12:00 午休 14:00-18:00", "09:00-12:00,14:00-18:00"),
    form("shangwu-xiawu-24h-clock", "上午9:00-12:00 下午14:00-18:00", "09:00-12:00,14:00-18:00"),
    form("mon-sat-times", "周一至周六 8:00-18:00", "Mo-Sa 08:00-18:00",
         open_at=["Sa 10:00"], closed_at=["Su 10:00"]),
    form("mon-sat-no-times-unknown", "周一至周六", "Mo-Sa unknown",
         closed_at=["Mo 10:00", "Su 10:00"]),
    form("sat-dunhao-sun", "周六、周日 10:00-16:00", "Sa-Su 10:00-16:00",
         open_at=["Su 10:00"], closed_at=["Fr 10:00"]),
    form("sat-comma-sun", "周六,周日 10:00-16:00", "Sa-Su 10:00-16:00"),
    form("sun-to-thu-wraps", "周日至周四 10:00-22:00", "Mo-Th,Su 10:00-22:00",
         closed_at=["Fr 12:00"]),
    form("every-day-sunday-off", "每天 9:00-18:00，周日休息", "Mo-Sa 09:00-18:00",
         closed_at=["Su 10:00"]),
    form("meitian", "每天 8:00-20:00", "08:00-20:00", open_at=["Su 08:00", NATIONAL_DAY]),
    form("quannian-wuxiu", "全年无休 8:00-22:00", "08:00-22:00",
         open_at=[NATIONAL_DAY, "Su 21:00"]),
    form("24h-quannian-wuxiu", "24小时全年无休", "24/7", open_at=[NATIONAL_DAY]),
    form("every-day-with-holidays", "周一至周日（含节假日）8:00—20:00", "08:00-20:00",
         open_at=["Su 08:00", NATIONAL_DAY], closed_at=["Su 20:00"]),
    form("jiejiari-buxiu", "节假日不休 9:00-18:00", "09:00-18:00", open_at=[NATIONAL_DAY]),
    # 工作日: Monday to Friday, not on public holidays; weekend hours beside it are the
    # rest days' hours, holidays included.
    form("gongzuori-zhoumo", "工作日 9:00-17:00 周末 10:00-16:00",
         "Mo-Fr 09:00-17:00; PH,Sa,Su 10:00-16:00",
         open_at=["Mo 16:30", "Sa 15:30", "2025-10-01 15:30"],
         closed_at=["Sa 16:30", "2025-10-01 16:30"]),
    form("weekdays-weekend", "周一至周五 9:00-18:00 周六、周日 10:00-16:00",
         "Mo-Fr 09:00-18:00; PH,Sa,Su 10:00-16:00", open_at=["2025-10-01 15:30"]),
    form("gongzuori-two-spans", "工作日9:00-12:00,14:00-17:30",
         "Mo-Fr 09:00-12:00,14:00-17:30; PH off",
         open_at=["Mo 09:00", "Mo 15:00"], closed_at=["Mo 13:00", NATIONAL_DAY]),
    # All day.
    form("quantian", "全天", "24/7", open_at=["Su 03:00", NATIONAL_DAY]),
    form("24-xiaoshi", "24小时", "24/7"),
    form("quantian-24-xiaoshi", "全天24小时", "24/7", open_at=["Su 03:00", NATIONAL_DAY]),
    form("full-width-7x24", "７×２４小时", "24/7"),
    form("24-xiaoshi-kaifang", "24小时开放", "24/7"),
    form("24-xiaoshi-zizhu", "24小时自助开放", "24/7"),
    form("7x24-xiaoshi", "7×24小时", "24/7"),
    form("7-star-24", "7*24", "24/7"),
    form("7-tian-24-xiaoshi", "7天24小时", "24/7"),
    form("weekdays-quantian", "周一至周五全天", "Mo-Fr; PH off",
         open_at=["Mo 00:00", "Fr 23:59"], closed_at=["Sa 10:00"]),
    # Public holidays.
    form("jiejiari-xiuxi", "周一至周五 9:00-18:00，节假日休息", "Mo-Fr 09:00-18:00; PH off",
         open_at=["Mo 10:00"], closed_at=[NATIONAL_DAY]),
    form("fading-jiejiari-xiuxi", "每天 8:00-20:00，法定节假日休息", "08:00-20:00; PH off",
         open_at=["Su 10:00"], closed_at=[NATIONAL_DAY]),
    form("jiejiari-chuwai", "周一至周五 8:30-17:30（节假日除外）", "Mo-Fr 08:30-17:30; PH off"),
    form("24-xiaoshi-jiejiari-xiuxi", "24小时，节假日休息", "24/7; PH off",
         open_at=["Mo 03:00"], closed_at=["2025-10-01 03:00"]),
    form("jiejiari-zhaochang", "周一至周五 9:00-18:00 节假日照常", "Mo-Fr 09:00-18:00",
         open_at=[NATIONAL_DAY]),
    form("jiejiari-hours", "周一至周五 9:00-17:00，周末及节假日 10:00-12:00",
         "Mo-Fr 09:00-17:00; PH,Sa,Su 10:00-12:00",
         open_at=["Sa 11:00", "2025-10-01 11:00"], closed_at=["2025-10-01 15:00"]),
    form("weekdays-no-times-jiejiari-xiuxi", "周一至周五，节假日休息", "Mo-Fr unknown; PH off",
         closed_at=["Mo 10:00"]),
    # 每周 before the days, as clerks often write it.
    form("meizhou-weekdays", "每周一至周五 9:00-18:00", "Mo-Fr 09:00-18:00; PH off",
         open_at=["Mo 10:00"], closed_at=["Sa 10:00", NATIONAL_DAY]),
    form("meizhou-sat-sun", "每周六、日 10:00-16:00", "Sa-Su 10:00-16:00",
         open_at=["Su 11:00"], closed_at=["Mo 11:00"]),
    form("mei-xingqi", "每星期二至星期日 9:00-17:00", "Tu-Su 09:00-17:00",
         closed_at=["Mo 10:00"]),
    form("meizhoumo", "每周末 10:00-16:00", "Sa-Su 10:00-16:00", closed_at=["Fr 11:00"]),
]
# fmt: on


@pytest.mark.parametrize(("text", "osm", "open_at", "closed_at"), ACCEPTED)
def test_accepted_form_becomes_canonical_osm(text, osm, open_at, closed_at):
    assert parse_hours(text) == osm


@pytest.mark.parametrize(("text", "osm", "open_at", "closed_at"), ACCEPTED)
def test_canonical_osm_is_its_own_canonical_form(text, osm, open_at, closed_at):
    assert parse_hours(osm) == osm


@pytest.mark.parametrize(("text", "osm", "open_at", "closed_at"), ACCEPTED)
def test_accepted_form_evaluates_as_written(text, osm, open_at, closed_at):
    h = hours(parse_hours(text))
    for when in open_at:
        t = wk(when) if when[:2] in _WEEK else at(when)
        assert h.is_open(t), f"{text!r} should be open at {t}"
    for when in closed_at:
        t = wk(when) if when[:2] in _WEEK else at(when)
        assert not h.is_open(t), f"{text!r} should be closed at {t}"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("看情况", id="vague"),
        pytest.param("随时", id="anytime"),
        pytest.param("节假日休息", id="holidays-off-alone"),
        pytest.param("法定节假日休息", id="statutory-holidays-off-alone"),
        pytest.param("周日休息", id="sunday-off-alone"),
        pytest.param("PH off", id="osm-only-closes"),
        pytest.param("节假日", id="holidays-alone"),
        pytest.param("8:00", id="no-end"),
        pytest.param("8-20", id="bare-hours"),
        pytest.param("25:00-26:00", id="hour-25"),
        pytest.param("8:00-20:60", id="minute-60"),
        pytest.param("上午13点-14点", id="morning-13"),
        pytest.param("10:00-10:00", id="start-equals-end-osm"),
        pytest.param("8点-8点", id="start-equals-end-chinese"),
        pytest.param("8:00-次日10:00", id="longer-than-a-day"),
        pytest.param("上午9点-5点", id="morning-start-ambiguous-end"),
        pytest.param("9:00-18:00 9:00-12:00", id="overlapping-times"),
        pytest.param("全年无休 8:00-22:00，节假日休息", id="never-closed-yet-closed"),
        pytest.param("工作日 9:00-17:00，节假日照常", id="workdays-yet-holidays-open"),
        pytest.param("周一至周五 7×24", id="weekdays-and-7x24"),
        pytest.param("周一至周五 9:00-18:00 午休", id="unknown-word"),
        pytest.param("PH Mo 10:00-12:00", id="osm-ph-intersection"),
        pytest.param("Mo-Fr 09:00-17:00; PH +1 day off", id="osm-ph-offset"),
        pytest.param("sunrise-sunset", id="osm-solar"),
        pytest.param("SH 10:00-12:00", id="osm-school-holidays"),
        pytest.param("不定时开放", id="no-fixed-hours"),
        pytest.param("以实际为准", id="as-it-turns-out"),
        pytest.param("周一至周五 9:00-18:00（以实际为准）", id="hours-then-as-it-turns-out"),
        pytest.param("9:00-12:00（14:00-15:00午休）", id="lunch-break-outside-hours"),
        pytest.param("三、五 9:00-17:00", id="bare-days-without-zhou"),
    ],
)
def test_what_is_not_understood_is_refused_quoting_the_text(text):
    with pytest.raises(HoursError) as exc:
        parse_hours(text)
    assert exc.value.text == text
    assert f"“{text}”" in exc.value.reason
    assert exc.value.code == "hours_unparseable"
    assert isinstance(exc.value, ValueError)


@pytest.mark.parametrize("text", ["不定时开放", "以实际为准", "视情况而定"])
def test_no_fixed_hours_is_refused_saying_what_to_write(text):
    with pytest.raises(HoursError) as exc:
        parse_hours(text)
    assert "没有写固定的开放时刻" in exc.value.reason
    assert "“周一至周五 9:00-18:00”" in exc.value.reason


@pytest.mark.parametrize(
    ("text", "words"),
    [
        pytest.param("周一至周五 9:00-18:00", ["按工作日理解", "节假日照常"], id="workdays"),
        pytest.param("周一、三、五 9:00-17:00", ["按工作日理解", "节假日照常"], id="some-weekdays"),
        pytest.param(
            "工作日9:00-18:00 周末10:00-16:00", ["按周末的时间", "节假日休息"], id="rest-days"
        ),
        pytest.param("周一至周六 9:00-18:00", ["按当天是星期几", "节假日休息"], id="mon-sat"),
    ],
)
def test_reading_of_unsaid_holidays_is_told_with_how_to_say_otherwise(text, words):
    note = read_hours(text).note
    assert note is not None
    for word in words:
        assert word in note


@pytest.mark.parametrize(
    ("text", "osm"),
    [
        ("周一至周五 9:00-18:00，节假日照常", "Mo-Fr 09:00-18:00"),
        ("周一至周五 9:00-18:00，节假日休息", "Mo-Fr 09:00-18:00; PH off"),
        ("每天 8:00-20:00", "08:00-20:00"),
        ("24小时", "24/7"),
        ("Mo-Fr 09:00-18:00", "Mo-Fr 09:00-18:00"),  # OSM syntax says what it means
    ],
)
def test_nothing_is_told_where_nothing_was_assumed(text, osm):
    assert read_hours(text) == HoursReading(osm, None)


def test_hours_error_survives_pickling():
    with pytest.raises(HoursError) as exc:
        parse_hours("看情况")
    copy = pickle.loads(pickle.dumps(exc.value))
    assert (copy.text, copy.reason, copy.code) == ("看情况", exc.value.reason, "hours_unparseable")


def test_invalid_osm_cannot_be_evaluated():
    with pytest.raises(HoursError) as exc:
        hours("Mo-Fr 25:00-26:00")
    assert exc.value.text == "Mo-Fr 25:00-26:00"
    assert "“Mo-Fr 25:00-26:00”" in exc.value.reason


def test_hours_are_cached_per_string():
    assert hours("Mo-Fr 09:00-17:00; PH off") is hours("Mo-Fr 09:00-17:00; PH off")


# ----------------------------------------------------------- holidays and 调休 (2025: Oct 1–8
# off; Sunday Sep 28 and Saturday Oct 11 worked)

WEEKDAYS_PH_OFF = [
    pytest.param("Mo-Fr 09:00-17:00; PH off", id="osm-ph-off"),
    pytest.param("工作日 9:00-17:00", id="gongzuori"),
]


@pytest.mark.parametrize("text", WEEKDAYS_PH_OFF)
@pytest.mark.parametrize("day", ["2025-10-01", "2025-10-02", "2025-10-08"])
def test_closed_during_the_national_day_break(text, day):
    assert not hours(parse_hours(text)).is_open(at(f"{day} 10:00"))


@pytest.mark.parametrize("text", WEEKDAYS_PH_OFF)
def test_open_again_after_the_break(text):
    assert hours(parse_hours(text)).is_open(at("2025-10-09 10:00"))


def test_weekend_inside_the_break_is_a_holiday():
    h = hours("Mo-Su 09:00-17:00; PH off")
    assert not h.is_open(at("2025-10-04 10:00"))
    assert h.is_open(at("2025-09-27 10:00"))  # an ordinary Saturday


@pytest.mark.parametrize(
    "text", [*WEEKDAYS_PH_OFF, pytest.param("Mo-Su 09:00-17:00; PH off", id="osm-every-day-ph-off")]
)
@pytest.mark.parametrize("day", ["2025-09-28", "2025-10-11"], ids=["sunday-28", "saturday-11"])
def test_make_up_working_day_keeps_working_day_hours(text, day):
    h = hours(parse_hours(text))
    assert h.is_open(at(f"{day} 10:00"))
    assert not h.is_open(at(f"{day} 18:00"))


def test_schedule_without_ph_is_literal_on_make_up_days_and_holidays():
    h = hours("Mo-Fr 09:00-17:00")
    assert not h.is_open(at("2025-09-28 10:00"))
    assert h.is_open(at(NATIONAL_DAY))


def test_holiday_hours_apply_on_the_holiday_only():
    h = hours("Mo-Fr 09:00-17:00; PH 10:00-12:00")
    assert h.is_open(at("2025-10-01 11:00"))
    assert not h.is_open(at("2025-10-01 09:30"))
    assert h.is_open(at("2025-10-15 09:30"))  # an ordinary Wednesday


def test_month_selectors_stay_exact_on_a_holiday():
    h = hours("Jan-Sep Mo-Su 09:00-17:00; Oct-Dec Mo-Su 10:00-16:00; PH 12:00-13:00")
    assert h.is_open(at("2025-09-30 09:30"))
    assert not h.is_open(at("2025-10-09 09:30"))
    assert h.is_open(at("2025-10-01 12:30"))
    assert not h.is_open(at("2025-10-01 14:00"))


def test_2026_national_day_is_closed():
    assert not hours("Mo-Fr 09:00-17:00; PH off").is_open(at("2026-10-01 10:00"))


def test_2027_uses_the_rule_based_calendar():
    assert calendar_source(2027) == "holidays_rule"
    h = hours("Mo-Fr 09:00-17:00; PH off")
    assert not h.is_open(at("2027-10-01 10:00"))
    assert h.is_open(at("2027-10-08 10:00"))


def test_ph_that_cannot_follow_our_calendar_judges_holidays_as_ordinary_days(caplog):
    # Only reachable for strings stored without parse_hours, which refuses "PH Mo".
    h = hours("Mo-Fr 09:00-17:00; PH Mo 10:00-12:00")
    with caplog.at_level(logging.WARNING, logger="geodata.hours"):
        assert h.is_open(at("2025-10-02 10:00"))
        assert h.is_open(at("2025-10-03 10:00"))
    assert len(caplog.records) == 1


# ------------------------------------------------------------------------- next change


def test_next_change_later_the_same_day():
    h = hours("Mo-Fr 09:00-17:00; PH off")
    assert h.next_change(at("2025-09-30 16:00")) == datetime(2025, 9, 30, 17, tzinfo=TZ)


def test_next_opening_skips_the_national_day_break():
    h = hours("Mo-Fr 09:00-17:00; PH off")
    assert h.next_change(at("2025-09-30 18:00")) == datetime(2025, 10, 9, 9, tzinfo=TZ)


def test_next_opening_on_a_make_up_sunday():
    h = hours("Mo-Fr 09:00-17:00; PH off")
    assert h.next_change(at("2025-09-27 12:00")) == datetime(2025, 9, 28, 9, tzinfo=TZ)
    assert h.next_change(at("2025-09-28 10:00")) == datetime(2025, 9, 28, 17, tzinfo=TZ)


@pytest.mark.parametrize("when", ["2025-09-30 18:00", NATIONAL_DAY, "2027-02-06 03:00"])
def test_24_7_is_always_open_and_never_changes(when):
    h = hours(parse_hours("24小时"))
    assert h.is_24_7
    assert h.is_open(at(when))
    assert h.next_change(at(when)) is None


def test_24_7_closed_on_holidays_is_not_24_7():
    h = hours("24/7; PH off")
    assert not h.is_24_7
    assert h.next_change(at("2025-09-30 18:00")) == datetime(2025, 10, 1, tzinfo=TZ)


def test_next_change_is_none_when_nothing_changes_within_31_days():
    assert hours("Mo-Sa unknown").next_change(at("2025-09-30 18:00")) is None


# ----------------------------------------------------------------------------- time zones


def test_naive_times_are_shanghai_and_aware_ones_are_converted():
    h = hours("Mo-Fr 09:00-17:00; PH off")
    assert not h.is_open(datetime(2025, 10, 9, 2, 0))  # 02:00 in Shanghai
    assert h.is_open(datetime(2025, 10, 9, 2, 0, tzinfo=UTC))  # 10:00 in Shanghai
    assert h.is_open(datetime(2025, 10, 9, 10, 0, tzinfo=TZ))


def test_next_change_is_aware_in_shanghai_even_from_utc():
    change = hours("Mo-Fr 09:00-17:00").next_change(datetime(2025, 10, 9, 2, 0, tzinfo=UTC))
    assert change == datetime(2025, 10, 9, 17, 0, tzinfo=TZ)
    assert change is not None
    assert change.utcoffset() == timedelta(hours=8)


def test_overnight_hours_are_open_after_midnight():
    assert hours(parse_hours("22:00-06:00")).is_open(at("2025-09-16 02:00"))


# ------------------------------------------------------------------------------- property

PROPERTY_EXPRESSIONS = [
    "Mo-Fr 09:00-17:00; PH off",
    "Mo-Su 09:00-17:00; PH off",
    "Mo-Fr 09:00-17:00",
    "Mo-Fr 09:00-12:00,14:00-17:30; Sa-Su 10:00-16:00; PH off",
    "Mo-Fr 08:00-20:00; PH 10:00-12:00",
    "Mo-Fr 22:00-06:00; PH off",
    "24/7; PH off",
    "Mo-Fr 09:00-18:00; PH,Sa,Su 10:00-16:00",
    "Mo-Sa 20:00-02:00; PH off",
    "Mo-Fr 18:00-08:00; PH 10:00-12:00",
]


@settings(deadline=None)
@given(
    osm=st.sampled_from(PROPERTY_EXPRESSIONS),
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31, 23, 59)),
    fractions=st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=6),
)
def test_state_holds_until_next_change_and_flips_there(osm, start, fractions):
    h = Hours(osm)
    local = start.replace(tzinfo=TZ)
    state = h.is_open(start)
    change = h.next_change(start)
    end = local + timedelta(days=31) if change is None else change
    assert end > local
    span_us = (end - local) // timedelta(microseconds=1)
    for f in fractions:
        inside = local + timedelta(microseconds=min(int(span_us * f), span_us - 1))
        assert h.is_open(inside) == state
    if change is not None:
        assert h.is_open(change) != state


# ------------------------------------------------- 2026, from the State Council's own notice
# 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04), typed here by hand so that these
# tests do not share geodata's calendar: 中秋节 9月25日（周五）至27日（周日）放假；国庆节
# 10月1日（周四）至7日（周三）放假调休，共7天；9月20日（周日）、10月10日（周六）上班.
DAYS_OFF_2026 = {date(2026, 9, d) for d in (25, 26, 27)} | {date(2026, 10, d) for d in range(1, 8)}
MAKEUP_2026 = {date(2026, 9, 20), date(2026, 10, 10)}
AUTUMN_2026 = [date(2026, 9, 14) + timedelta(days=i) for i in range(35)]  # Sep 14 – Oct 18


def works_2026(day: date) -> bool:
    """Whether ``day`` is a working day by the notice (weekdays, make-up days, not days off)."""
    return day in MAKEUP_2026 or (day.weekday() < 5 and day not in DAYS_OFF_2026)


def test_independent_2026_table_matches_the_notice_it_copies():
    assert len(DAYS_OFF_2026) == 10
    assert [d.weekday() for d in sorted(MAKEUP_2026)] == [6, 5]  # a Sunday and a Saturday
    assert date(2026, 10, 8).weekday() == 3 and works_2026(date(2026, 10, 8))


@pytest.mark.parametrize("day", AUTUMN_2026, ids=str)
def test_overnight_shift_belongs_to_the_evening_it_starts(day):
    h = hours("Mo-Fr 22:00-06:00; PH off")
    # The evening shift runs on working days; its morning part follows the evening before.
    assert h.is_open(datetime.combine(day, time(23))) == works_2026(day)
    assert h.is_open(datetime.combine(day, time(3))) == works_2026(day - timedelta(days=1))
    assert not h.is_open(datetime.combine(day, time(12)))


def test_overnight_shift_around_national_day_2026():
    h = hours(parse_hours("周一至周五 22:00-次日6:00，节假日休息"))
    assert h.is_open(at("2026-10-01 03:00"))  # began on Wednesday Sep 30, an ordinary evening
    assert not h.is_open(at("2026-10-01 23:00"))
    assert not h.is_open(at("2026-10-08 03:00"))  # would have begun on Oct 7, a holiday
    assert h.is_open(at("2026-10-08 23:00"))
    assert h.next_change(at("2026-10-01 03:00")) == datetime(2026, 10, 1, 6, tzinfo=TZ)
    assert h.next_change(at("2026-10-01 07:00")) == datetime(2026, 10, 8, 22, tzinfo=TZ)
    assert h.is_open(at("2026-10-11 03:00"))  # after the make-up Saturday's night shift


@pytest.mark.parametrize("day", AUTUMN_2026, ids=str)
def test_office_hours_follow_the_2026_working_days(day):
    h = hours(parse_hours("周一至周五 9:00-18:00"))
    assert h.is_open(datetime.combine(day, time(10))) == works_2026(day)
    assert not h.is_open(datetime.combine(day, time(18, 30)))


@pytest.mark.parametrize("day", AUTUMN_2026, ids=str)
def test_weekend_hours_are_the_rest_days_hours_in_2026(day):
    h = hours(parse_hours("工作日9:00-18:00 周末10:00-16:00"))
    working = works_2026(day)
    assert h.is_open(datetime.combine(day, time(9, 30))) == working
    assert h.is_open(datetime.combine(day, time(15)))
    assert h.is_open(datetime.combine(day, time(17))) == working


@pytest.mark.parametrize("day", AUTUMN_2026, ids=str)
def test_holidays_as_usual_is_the_literal_week_in_2026(day):
    h = hours(parse_hours("周一至周五 9:00-18:00，节假日照常"))
    assert h.is_open(datetime.combine(day, time(10))) == (day.weekday() < 5)


def test_next_opening_of_office_hours_across_national_day_2026():
    h = hours(parse_hours("周一至周五 9:00-18:00"))
    assert h.next_change(at("2026-09-30 18:00")) == datetime(2026, 10, 8, 9, tzinfo=TZ)
    assert h.next_change(at("2026-09-19 12:00")) == datetime(2026, 9, 20, 9, tzinfo=TZ)
    assert h.next_change(at("2026-10-09 18:30")) == datetime(2026, 10, 10, 9, tzinfo=TZ)


# ------------------------------------------------------------------- hostile hours cells


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("8:00-" + " " * 10_000 + "x", id="dash-then-spaces"),
        pytest.param("8:00-次日" + " " * 10_000 + "x", id="next-day-then-spaces"),
        pytest.param("8:00 " + "- " * 5_000 + "x", id="dashes-and-spaces"),
        pytest.param("周一-" + " " * 10_000 + "x", id="day-range-then-spaces"),
        pytest.param("7" + " " * 10_000 + "x", id="seven-then-spaces"),
        pytest.param("全天" + " " * 10_000 + "x", id="all-day-then-spaces"),
    ],
)
def test_a_hostile_10000_character_cell_is_refused_in_milliseconds(text):
    started = perf_counter()
    with pytest.raises(HoursError):
        read_hours(text)
    elapsed_s = perf_counter() - started
    assert elapsed_s < 0.1, f"{elapsed_s:.2f} s to refuse a {len(text)}-character cell"


def test_a_cell_longer_than_osm_allows_is_refused_saying_the_limit():
    text = "周一、" * 3_000 + "周五 9:00-18:00"  # read as "Mo unknown; PH off" before
    with pytest.raises(HoursError) as err:
        read_hours(text)
    assert "最多 255 字" in err.value.reason
    assert "备注" in err.value.reason
    assert len(err.value.reason) < 300  # the message does not repeat the whole cell


def test_a_cell_of_255_characters_is_still_read():
    text = "周一至周五 9:00-18:00" + " " * (255 - len("周一至周五 9:00-18:00"))
    assert parse_hours(text) == "Mo-Fr 09:00-18:00; PH off"


def test_a_refusal_names_the_days_in_chinese_not_osm_codes():
    with pytest.raises(HoursError) as err:
        read_hours("8:00-20:00，周一至周五；10:00-16:00，周末")
    assert "“周六、周日”没有写开放时间" in err.value.reason
    assert "Sa" not in err.value.reason


@settings(max_examples=30, deadline=None)
@given(
    expr=st.sampled_from(
        [
            "Mo,We,Fr 10:00-14:00; PH off",
            "Mo-Fr 22:00-06:00; PH off",
            "Mo-Fr 09:00-18:00; PH,Sa,Su 10:00-16:00",
            "Sa 22:00-30:00",
            "24/7",
            "Mo-Su 10:00-12:00",
        ]
    ),
    day=st.integers(0, 400),
)
def test_open_spans_are_the_instants_is_open_says_holidays_and_overnight_too(expr, day):
    start = datetime(2026, 9, 20, 7, 30, tzinfo=TZ) + timedelta(days=day)
    end = start + timedelta(days=12)
    spans = hours(expr).open_spans(start, end)
    assert all(a < b for a, b in spans) and all(b < c for (_, b), (c, _) in pairwise(spans))
    assert all(start <= a and b <= end for a, b in spans)
    t = start
    while t < end:  # every quarter hour, and each span's edges exactly
        assert any(a <= t < b for a, b in spans) == hours(expr).is_open(t), (expr, t)
        t += timedelta(minutes=15)
    for a, b in spans:
        assert hours(expr).is_open(a) and hours(expr).is_open(b - timedelta(seconds=1))
        assert b == end or not hours(expr).is_open(b)
