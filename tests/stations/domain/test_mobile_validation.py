"""A mobile station's timetable as a union gives it: every rule, in Chinese, naming the stop."""

from __future__ import annotations

import re
import time
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geodata.crs import from_wgs84, to_wgs84
from geodata.hours import TZ, hours
from geodata.workdays import DayKind, day_kind
from stations.domain.mobile_validation import (
    MAX_STOPS,
    StopChecks,
    parse_stops_text,
    read_timetable,
    stops_text,
)
from stations.domain.validation import ValidationError, build_station
from tests.builders import BUS_STOPS, GUANYINQIAO, bus_row, make_bus, point_beyond_border


def _problems(districts, **overrides):
    with pytest.raises(ValidationError) as info:
        build_station(bus_row(**overrides), districts=districts, strict=True)
    return info.value.problems


def _stops(*hours_texts):
    return [
        {"name": f"站{i + 1}", "lon": s["lon"], "lat": s["lat"], "hours": h}
        for i, (s, h) in enumerate(zip(BUS_STOPS, hours_texts, strict=False))
    ]


def test_a_bus_with_three_stops_is_read_with_canonical_hours_and_the_text_kept(districts):
    bus = make_bus(districts)
    assert bus.mobile is True
    assert [s.name for s in bus.stops] == ["解放碑", "大坪", "较场口"]
    first = bus.stops[0]
    assert (first.lon, first.lat) == (BUS_STOPS[0]["lon"], BUS_STOPS[0]["lat"])
    assert first.hours == "Mo,We,Fr 10:00-14:00; PH off"  # the station's own hours reader
    assert first.hours_text == "周一、三、五 10:00-14:00"
    assert bus.district_adcode == "500103"


def test_stops_in_gcj02_are_converted_exactly_as_the_station_position(districts):
    gcj = [from_wgs84(s["lon"], s["lat"], crs="gcj02") for s in BUS_STOPS]
    stops = [
        {**s, "lon": float(x), "lat": float(y)} for s, (x, y) in zip(BUS_STOPS, gcj, strict=True)
    ]
    bus = make_bus(districts, crs="gcj02", stops=stops, lon=stops[1]["lon"], lat=stops[1]["lat"])
    for stop, (x, y) in zip(bus.stops, gcj, strict=True):
        assert (stop.lon, stop.lat) == tuple(float(v) for v in to_wgs84(x, y, crs="gcj02"))
        # the station's own reading of the same point gives the same floats, to the bit
    assert (bus.lon, bus.lat) == (bus.stops[1].lon, bus.stops[1].lat)
    assert abs(bus.stops[0].lon - BUS_STOPS[0]["lon"]) < 1e-8  # and lands where it was


def test_a_mobile_station_without_a_base_is_based_at_its_first_stop(districts):
    bus = make_bus(districts, lon=None, lat=None)
    assert (bus.lon, bus.lat) == (BUS_STOPS[0]["lon"], BUS_STOPS[0]["lat"])


def test_mobile_reads_chinese_yes_and_no(districts):
    assert make_bus(districts, mobile="是").mobile is True
    fixed = build_station(bus_row(mobile="否", stops=""), districts=districts)
    assert fixed.mobile is False and fixed.stops == ()
    (bad,) = _problems(districts, mobile="也许")
    assert (bad.field, bad.code) == ("mobile", "invalid_boolean")


def test_a_mobile_station_needs_a_stop_and_a_fixed_one_has_none(districts):
    (none,) = _problems(districts, stops=[])
    assert none.code == "mobile_without_stops" and "至少填写一个停靠点" in none.message
    (some,) = _problems(districts, mobile=False)
    assert some.code == "stops_without_mobile" and "固定驿站请清空停靠点" in some.message


def test_a_stop_needs_a_name_a_position_and_hours_each_problem_naming_it(districts):
    stops = [
        {"lon": 106.5772, "lat": 29.557, "hours": "Mo 10:00-12:00"},
        {"name": "大坪", "hours": "Tu 10:00-12:00"},
        {"name": "较场口", "lon": 106.57, "lat": 29.55},
        {"name": "朝天门", "lon": 106.58, "lat": 29.56, "hours": "看情况"},
    ]
    found = {(p.field, p.code): p.message for p in _problems(districts, stops=stops)}
    assert found[("stops[0].name", "missing_field")] == "第 1 个停靠点缺少名称"
    assert found[("stops[1].lon", "missing_field")].startswith("第 2 个停靠点“大坪”：缺少经纬度")
    assert "第 3 个停靠点“较场口”缺少停靠时间" in found[("stops[2].hours", "missing_field")]
    assert found[("stops[3].hours", "hours_unparseable")].startswith("第 4 个停靠点“朝天门”：")


def test_stop_positions_follow_the_station_rules_china_and_the_own_district(districts):
    gy = {"name": "观音桥", "lon": GUANYINQIAO[0], "lat": GUANYINQIAO[1], "hours": "Su 10:00-12:00"}
    paris = {"name": "巴黎", "lon": 2.35, "lat": 48.85, "hours": "Su 13:00-15:00"}
    swapped = {"name": "反了", "lon": 29.55, "lat": 106.58, "hours": "Su 16:00-17:00"}
    found = {p.field: p for p in _problems(districts, stops=[gy, paris, swapped])}
    assert found["stops[0].lon"].code == "outside_own_district"
    assert "第 1 个停靠点“观音桥”：位置在江北区" in found["stops[0].lon"].message
    assert found["stops[1].lon"].code == "outside_china"
    assert found["stops[2].lon"].code == "latlon_swapped"
    # An industry union's bus may stop in any district; the city's in any too.
    bus = make_bus(districts, owner="industry:transport", stops=[gy, *BUS_STOPS[:1]])
    assert bus.stops[0].name == "观音桥" and bus.owner.code == "transport"


def test_a_stop_just_over_the_border_is_kept_with_a_warning_naming_it(districts):
    lon, lat = point_beyond_border(districts, "500103", "500105", 150)
    warnings: list = []
    stops = [{"name": "边上", "lon": lon, "lat": lat, "hours": "Su 10:00-12:00"}]
    bus = build_station(bus_row(stops=stops), districts=districts, warnings=warnings)
    assert bus.stops[0].name == "边上"
    (w,) = [w for w in warnings if w.field.startswith("stops")]
    assert w.code == "near_district_border" and w.message.startswith("第 1 个停靠点“边上”：")


def test_a_stop_that_leaves_before_it_arrives_is_refused_unless_said_overnight(districts):
    (bad,) = _problems(districts, stops=_stops("10:00-09:00"))
    assert bad.code == "stop_leaves_before_arrival"
    assert "离开早于到达" in bad.message and "10:00-次日09:00" in bad.message
    night = make_bus(districts, stops=_stops("周六 22:00-次日06:00"))
    assert night.stops[0].hours == "Sa 22:00-06:00"
    assert make_bus(districts, stops=_stops("Sa 22:00-30:00")).stops[0].hours == "Sa 22:00-30:00"


def test_hours_that_never_stand_are_refused(districts):
    (days_only,) = _problems(districts, stops=_stops("周一至周六"))
    assert days_only.code == "stop_never_stands" and "今后一年内没有一次停靠" in days_only.message
    (gone,) = _problems(districts, stops=_stops("2020 Jan 01 10:00-12:00"))
    assert gone.code == "stop_never_stands"


def test_overlapping_stops_are_refused_with_the_first_moment_they_overlap(districts):
    (p,) = _problems(districts, stops=_stops("周一、三、五 10:00-14:00", "周三 13:00-15:00"))
    assert p.code == "stops_overlap" and p.field == "stops[1].hours"
    assert "第 1 个停靠点“站1”和第 2 个停靠点“站2”的停靠时间重叠" in p.message
    assert "周三 13:00–14:00" in p.message
    # Back to back is no overlap; neither are the same hours on other days.
    make_bus(districts, stops=_stops("Mo 10:00-12:00", "Mo 12:00-14:00", "Tu 10:00-12:00"))


def test_an_overlap_only_on_a_holiday_is_found_from_the_calendar(districts):
    # Weekdays only off on holidays; the second stop opens on holidays only: no overlap…
    make_bus(districts, stops=_stops("Mo-Fr 10:00-12:00; PH off", "PH 10:00-12:00"))
    # …but a stop open every day, holidays too, meets the holiday stop on the holiday.
    (p,) = _problems(districts, stops=_stops("Mo-Su 10:00-12:00", "PH 11:00-13:00"))
    assert p.code == "stops_overlap"
    named = re.search(r"（(\d{4}-\d{2}-\d{2}) 周. 11:00–12:00 两处都在停靠）", p.message)
    assert named is not None, p.message
    assert day_kind(date.fromisoformat(named[1])) is DayKind.HOLIDAY


def test_too_many_stops_are_refused_before_any_is_read(districts):
    many = [dict(BUS_STOPS[0], name=f"站{i}") for i in range(MAX_STOPS + 1)]
    (p,) = _problems(districts, stops=many)
    assert p.code == "too_many_stops" and f"最多 {MAX_STOPS} 个" in p.message
    cell = "\n".join(f"站{i} | 106.5772,29.557 | Mo 10:00-12:00" for i in range(10_000))
    started = time.perf_counter()
    (p,) = _problems(districts, stops=cell)
    assert p.code == "too_many_stops"
    assert time.perf_counter() - started < 0.5  # refused by its length, not stop by stop


def test_a_timetable_of_countless_stands_is_refused_cheaply(districts):
    # 50 stops, each one minute twenty times a day, every day (within the hours' length
    # limit, and never two at once): a year of 7,320 stands each.
    def dense(minute, times=20):
        return "Mo-Su " + ",".join(
            f"{h:02d}:{minute:02d}-{h:02d}:{minute + 1:02d}" for h in range(times)
        )

    stops = [
        {**BUS_STOPS[i % len(BUS_STOPS)], "name": f"站{i}", "hours": dense(i)} for i in range(50)
    ]
    started = time.perf_counter()
    problems = _problems(districts, stops=stops)
    took_s = time.perf_counter() - started
    assert [p.code for p in problems] == ["too_many_stands"], problems
    assert "停靠次数太多" in problems[0].message
    assert took_s < 0.5, took_s  # not a year of every stop's stands
    # A bus standing at five stops three times a day, every day, is an ordinary timetable.
    make_bus(districts, stops=[dict(s, hours=dense(i, 3)) for i, s in enumerate(stops[:5])])


def test_a_stop_s_unknown_field_is_refused_in_a_json_body(districts):
    stops = [{**BUS_STOPS[0], "arrive": "10:00"}]
    (p,) = _problems(districts, stops=stops)
    assert (p.field, p.code) == ("stops[0].arrive", "unknown_field")


def test_the_sheet_cell_form_reads_lines_and_semicolons_and_keeps_hours_semicolons():
    said: list = []
    cell = (
        "解放碑 | 106.5772,29.557 | 周一至周五 9:00-12:00；周六 10:00-11:00\n"
        "大坪｜106.52，29.54｜周二 14:00-16:00；较场口 | 106.57,29.55 | Su 09:00-12:00"
    )
    entries = parse_stops_text(cell, lambda *a: said.append(a))
    assert said == []
    assert [(e["name"], e["hours"]) for e in entries] == [
        ("解放碑", "周一至周五 9:00-12:00；周六 10:00-11:00"),
        ("大坪", "周二 14:00-16:00"),
        ("较场口", "Su 09:00-12:00"),
    ]
    assert (entries[1]["lon"], entries[1]["lat"]) == ("106.52", "29.54")
    assert parse_stops_text("解放碑 106.57 29.55 周一", lambda *a: said.append(a)) is None
    assert said[0][:2] == ("stops[0]", "invalid_stop")


def test_the_cell_written_reads_back_to_the_same_stops(districts):
    bus = make_bus(districts, stops=_stops("周一、三、五 10:00-14:00", "Tu 22:00-次日06:00"))
    again = make_bus(districts, stops=stops_text(bus.stops))
    assert again.stops == bus.stops


def test_a_name_with_a_separator_is_refused(districts):
    (p,) = _problems(districts, stops=[dict(BUS_STOPS[0], name="甲|乙")])
    assert p.code == "invalid_stop_name"


@settings(max_examples=25, deadline=None)
@given(
    first=st.tuples(st.integers(0, 6), st.integers(0, 22), st.integers(1, 6)),
    second=st.tuples(st.integers(0, 6), st.integers(0, 22), st.integers(1, 6)),
)
def test_overlap_verdict_agrees_with_brute_force_over_a_week(first, second):
    days = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")

    def expr(day, start, length):
        end = min(start + length, 24)
        return f"{days[day]} {start:02d}:00-{end:02d}:00"

    a, b = expr(*first), expr(*second)
    said: list = []
    ok = read_timetable(
        [
            {"name": "甲", "lon": 106.5772, "lat": 29.557, "hours": a},
            {"name": "乙", "lon": 106.52, "lat": 29.54, "hours": b},
        ],
        mobile=True,
        checks=_checks(said),
        now=datetime(2026, 12, 7, tzinfo=TZ),
    ).stops
    start = datetime(2026, 12, 7, tzinfo=TZ)
    both = any(
        hours(a).is_open(t) and hours(b).is_open(t)
        for t in (start + timedelta(minutes=30 * k) for k in range(48 * 7))
    )
    assert (not ok) == both, (a, b, said)


def _checks(said):
    return StopChecks(
        add=lambda *a: said.append(a),
        text=lambda _f, v: "" if v is None else str(v).strip(),
        position=lambda _f, _l, lon, lat: (float(lon), float(lat)),
    )


def test_a_stop_position_that_is_not_numbers_says_which_of_the_pair(districts):
    stops = [{"name": "大坪", "lon": "abc", "lat": "xyz", "hours": "周三 10:00-14:00"}]
    messages = [p.message for p in _problems(districts, stops=stops) if p.field.startswith("stops")]
    assert any("经度不是数字：abc" in m for m in messages)
    assert any("纬度不是数字：xyz" in m for m in messages)


def test_check_stops_applies_the_saves_rules_to_a_timetable_alone(districts):
    from geodata.crs import CoordinateSystem
    from stations.domain.model import Owner
    from stations.domain.validation import check_stops

    owner = Owner.parse("district:500103")
    good = "大坪 | 106.52,29.54 | 周三 10:00-14:00\n两路口 | 106.545,29.56 | 周六 9:00-12:00"
    read = check_stops(good, crs=CoordinateSystem.WGS84, owner=owner, districts=districts)
    assert [s.name for s in read.stops] == ["大坪", "两路口"] and read.problems == ()
    # In 江北区, far from 渝中区: not this district union's to place; nothing read.
    away = f"观音桥 | {GUANYINQIAO[0]},{GUANYINQIAO[1]} | 周一 10:00-12:00"
    read = check_stops(away, crs=CoordinateSystem.WGS84, owner=owner, districts=districts)
    assert read.stops == () and read.problems and read.problems[0].field == "stops[0].lon"
