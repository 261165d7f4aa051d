"""The events calendar a worker serves: built off the request path (the previous one is
served while the next is built), and a write through this worker seen by the very next
read (an event's, or a station's that passes its events to another union)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.auth import Principal, Role
from stations.domain.changes import Update
from stations.domain.events import check_event
from stations.domain.model import Owner
from stations.services.events import EventsHolder, EventsQuery, create_event, on_or_coming
from tests.builders import make_station

OWNER = "district:500103"
CLERK = Principal("t1", "渝中区总工会", Role.DISTRICT, "500103")
NOW = datetime.now(TZ).replace(second=0, microsecond=0)


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


class Clock:
    """The holder's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def body(station_id: int, title: str = "冬日送温暖") -> dict:
    start = NOW - timedelta(hours=1)
    return {
        "title": title,
        "kind": "warmth",
        "station_ids": [station_id],
        "start": start.isoformat(),
        "end": (start + timedelta(hours=3)).isoformat(),
    }


def titles(holder: EventsHolder, station_id: int) -> str | None:
    on, _ = holder.current().station_events(station_id, datetime.now(TZ))
    return None if on is None else on.event.title


def test_another_workers_write_is_built_in_the_background_the_old_calendar_served(store, districts):
    station = store.create(make_station(districts, external_id="H1"), actor="t")
    clock = Clock()
    holder = EventsHolder(store, check_s=1.0, clock=clock)
    try:
        assert titles(holder, station.id) is None
        # Another worker writes (straight to the store: this holder is not told).
        store.add_event(check_event(body(station.id)), owner=OWNER, actor="c", at=NOW)
        first = holder.current()
        assert titles(holder, station.id) is None  # within check_s: not even asked
        clock.t += 1.5
        # Past check_s the read is answered at once with the calendar there is …
        assert holder.current() is first
        # … while the next one is built apart, and served once built.
        deadline = time.monotonic() + 10
        while titles(holder, station.id) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert titles(holder, station.id) == "冬日送温暖"
        assert holder.current() is not first
    finally:
        holder.close()


def test_this_workers_own_write_is_seen_by_the_next_read(store, districts):
    station = store.create(make_station(districts, external_id="H1"), actor="t")
    clock = Clock()  # never moves: no check_s ever passes
    holder = EventsHolder(store, check_s=3600.0, clock=clock)
    try:
        assert titles(holder, station.id) is None
        create_event(store, CLERK, body(station.id), stations=store.find, at=NOW, holder=holder)
        assert titles(holder, station.id) == "冬日送温暖"
    finally:
        holder.close()


def test_a_station_passed_by_this_worker_shows_its_event_with_the_new_union_at_once(
    store, districts
):
    station = store.create(make_station(districts, external_id="H1"), actor="t")
    holder = EventsHolder(store, check_s=3600.0, clock=Clock())
    try:
        create_event(store, CLERK, body(station.id), stations=store.find, at=NOW, holder=holder)
        on, _ = holder.current().station_events(station.id, datetime.now(TZ))
        assert on is not None and on.event.owner == OWNER
        passed = station.with_changes(owner=Owner.parse("industry:transport"))
        store.apply([Update(passed, station.version)], actor="city")
        on, _ = holder.current().station_events(station.id, datetime.now(TZ))
        assert on is not None and on.event.owner == "industry:transport"
    finally:
        holder.close()


def test_an_event_long_over_is_still_found_at_its_own_time(store, districts):
    """The calendar holds the events of the last month or so; an ``at`` of long ago (a
    listing of last September, asked in December) reads the store's older events, both for
    a station's event then and for the listing (CI found it on 4 December: an event that
    ended 31 October was missing from a listing at 28 September)."""
    station = store.create(make_station(districts, external_id="H1"), actor="t")
    event = store.add_event(check_event(body(station.id)), owner=OWNER, actor="c", at=NOW)
    later = NOW + timedelta(days=120)
    holder = EventsHolder(store, check_s=3600.0, clock=Clock(), now=lambda: later)
    try:
        calendar = holder.current()
        assert calendar.events == []  # over before the calendar's reach
        on, _ = calendar.station_events(station.id, NOW)
        assert on is not None and on.event.id == event.id
        q = EventsQuery(at=NOW, until=NOW + timedelta(days=1))
        listed = on_or_coming(calendar, q, store.find)
        assert [item.occurrence.event.id for item in listed] == [event.id]
        # Nor is the store asked for what the calendar holds: a time near now uses its own.
        assert calendar.events_at(later) is calendar.events
        # An answer at a past time asks for each of its stations: the store once per day.
        asked = []
        listed_before = store.list_events

        def counted(**kw):
            asked.append(kw)
            return listed_before(**kw)

        store.list_events = counted
        for _ in range(10):
            on, _ = calendar.station_events(station.id, NOW + timedelta(minutes=5))
            assert on is not None and on.event.id == event.id
        assert len(asked) <= 1
    finally:
        holder.close()
