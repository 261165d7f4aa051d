"""Where a mobile station stands at a time, evaluated like opening hours (holidays too)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from geodata.hours import TZ
from stations.domain.mobile import next_visits, place
from stations.domain.model import Status, Stop
from stations.domain.records import station_from_dict, station_input, station_to_dict
from tests.builders import make_station

TOWN_A = Stop(
    "辛口镇政府", 117.05, 39.10, "Mo,We,Fr 10:00-14:00; PH off", "周一、三、五 10:00-14:00"
)
TOWN_B = Stop("精武镇市场", 117.10, 39.05, "Sa 09:00-12:00", "Sa 09:00-12:00")


def _bus(districts, **changes):
    base = make_station(districts)
    return replace(base, mobile=True, stops=(TOWN_A, TOWN_B), **changes)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ)


def test_a_bus_stands_at_the_stop_whose_hours_are_open(districts) -> None:
    bus = _bus(districts)
    found = place(bus, _at("2026-12-02T11:00"))  # a Wednesday
    assert found is not None
    assert found.stop == TOWN_A and found.index == 0
    assert found.until == _at("2026-12-02T14:00")
    saturday = place(bus, _at("2026-12-05T09:30"))
    assert saturday is not None and saturday.stop == TOWN_B


def test_between_stops_and_on_holidays_it_is_nowhere(districts) -> None:
    bus = _bus(districts)
    assert place(bus, _at("2026-12-02T15:00")) is None  # after the Wednesday stand
    assert place(bus, _at("2026-12-03T11:00")) is None  # Thursday: no stop
    assert place(bus, _at("2026-10-02T11:00")) is None  # 国庆 Friday: PH off


def test_a_closed_or_fixed_station_is_never_placed(districts) -> None:
    assert place(_bus(districts, status=Status.TEMPORARILY_CLOSED), _at("2026-12-02T11:00")) is None
    assert place(make_station(districts), _at("2026-12-02T11:00")) is None


def test_next_visits_are_in_time_order_from_the_one_in_progress(districts) -> None:
    visits = next_visits(_bus(districts), _at("2026-12-02T11:00"), limit=4)
    assert [(v.stop.name, v.start, v.end) for v in visits] == [
        ("辛口镇政府", _at("2026-12-02T11:00"), _at("2026-12-02T14:00")),
        ("辛口镇政府", _at("2026-12-04T10:00"), _at("2026-12-04T14:00")),
        ("精武镇市场", _at("2026-12-05T09:00"), _at("2026-12-05T12:00")),
        ("辛口镇政府", _at("2026-12-07T10:00"), _at("2026-12-07T14:00")),
    ]


def test_the_stored_form_round_trips_and_fixed_stations_keep_theirs(districts) -> None:
    bus = _bus(districts)
    assert station_from_dict(station_to_dict(bus)) == bus
    fixed = make_station(districts)
    assert "mobile" not in station_to_dict(fixed) and "stops" not in station_to_dict(fixed)
    given = station_input(bus)
    assert given["stops"][0] == {
        "name": "辛口镇政府",
        "lon": 117.05,
        "lat": 39.10,
        "hours": "周一、三、五 10:00-14:00",
    }
