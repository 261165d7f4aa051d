"""What is kept of orjson's output holds its own length, not the buffer orjson grew."""

from __future__ import annotations

import tracemalloc

import orjson

from stations.domain.jsonbytes import kept_json, trimmed

BRIEF = {
    "id": 12,
    "title": "冬日送温暖：姜茶与热饭" * 3,
    "kind": "warmth",
    "start": "2026-12-04T11:30:00+08:00",
    "end": "2026-12-04T13:00:00+08:00",
}


def held_bytes(make) -> float:
    """The memory each of 200 values made by ``make`` holds (tracemalloc), in bytes."""
    tracemalloc.start()
    try:
        kept = [make() for _ in range(200)]
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(kept) == 200
    return held / 200


def test_kept_json_is_orjsons_bytes_in_an_allocation_of_their_length():
    text = orjson.dumps(BRIEF)
    assert kept_json(BRIEF) == text
    assert kept_json(BRIEF, option=orjson.OPT_SORT_KEYS) == orjson.dumps(
        BRIEF, option=orjson.OPT_SORT_KEYS
    )
    # A bytes object's header is ~33 bytes; the list's slot 8 more.
    assert held_bytes(lambda: kept_json(BRIEF)) < len(text) + 100


def test_trimmed_keeps_the_bytes():
    assert trimmed(b"") == b""
    assert trimmed(b'{"a":1}') == b'{"a":1}'


def test_the_events_calendar_keeps_trimmed_briefs(tmp_path, districts):
    from datetime import datetime, timedelta

    from geodata.hours import TZ
    from stations.domain.events import check_event
    from stations.services.events import EventsCalendar
    from stations.storage.sqlite import SQLiteStore
    from tests.builders import make_station

    at = datetime(2026, 12, 4, 9, 0, tzinfo=TZ)
    store = SQLiteStore(tmp_path / "r.sqlite3")
    try:
        station = store.create(make_station(districts, external_id="J1"), actor="t")
        spec = {
            "title": BRIEF["title"],
            "kind": "warmth",
            "station_ids": [station.id],
            "start": (at + timedelta(hours=2)).isoformat(),
            "end": (at + timedelta(hours=4)).isoformat(),
        }
        event = store.add_event(check_event(spec), owner="district:500103", actor="c", at=at)
    finally:
        store.close()
    calendar = EventsCalendar.build([event], version=1, at=at)
    (brief,) = calendar.by_station[station.id].briefs
    text = orjson.dumps(brief)
    tracemalloc.start()
    try:
        copies = [EventsCalendar.build([event], version=1, at=at) for _ in range(50)]
        held = tracemalloc.get_traced_memory()[0] / 50
    finally:
        tracemalloc.stop()
    assert copies
    # A whole calendar of one event: well under orjson's untrimmed buffer (4 KB or more).
    assert held < len(text) + 3000, held
