"""Events in the store (both backends): kept whole, changed with a version check, deleted,
every change audited, and a version every write changes."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from geodata.hours import TZ
from stations.domain.events import (
    EventKind,
    EventNotFoundError,
    Repeat,
    StaleEventError,
    check_event,
    merged,
)

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
OWNER = "district:500103"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def spec(**changes):
    body = {
        "title": "每周免费午餐",
        "kind": "免费餐",
        "station_ids": [3, 5],
        "start": "2026-06-01 11:30",
        "end": "2026-06-01 13:00",
        "offer": "盒饭 100 份",
        "audience": "外卖骑手",
        "while_supplies_last": True,
        "recurrence": {"kind": "weekly", "weekdays": ["周一", "周三"], "until": "2026-08-31"},
    }
    body.update(changes)
    return check_event(body)


def test_an_event_is_kept_whole_and_read_back_equal(store):
    made = store.add_event(spec(), owner=OWNER, actor="clerk", at=T0)
    got = store.get_event(made.id)
    assert got == made
    assert got.kind is EventKind.FREE_MEAL
    assert got.station_ids == (3, 5)
    assert got.recurrence.repeat is Repeat.WEEKLY
    assert got.recurrence.weekdays == (0, 2)
    assert got.recurrence.until == date(2026, 8, 31)
    assert got.start == datetime(2026, 6, 1, 11, 30, tzinfo=TZ)
    assert (got.owner, got.version, got.created_by) == (OWNER, 1, "clerk")


def test_a_change_bumps_the_version_and_a_stale_one_changes_nothing(store):
    made = store.add_event(spec(), owner=OWNER, actor="clerk", at=T0)
    v0 = store.events_version()
    changed = store.update_event(
        made.id, merged(made, {"title": "改期的午餐"}), actor="clerk2", at=T0, expected_version=1
    )
    assert (changed.title, changed.version, changed.updated_by) == ("改期的午餐", 2, "clerk2")
    assert store.events_version() > v0
    with pytest.raises(StaleEventError):
        store.update_event(made.id, spec(title="x"), actor="c", at=T0, expected_version=1)
    assert store.get_event(made.id).title == "改期的午餐"


def test_a_deleted_event_is_gone_and_its_history_says_what_it_was(store):
    made = store.add_event(spec(), owner=OWNER, actor="clerk", at=T0)
    store.update_event(made.id, spec(title="第二版"), actor="clerk", at=T0)
    store.delete_event(made.id, actor="boss", at=T0)
    assert store.find_event(made.id) is None
    with pytest.raises(EventNotFoundError):
        store.get_event(made.id)
    with pytest.raises(EventNotFoundError):
        store.delete_event(made.id, actor="boss", at=T0)
    history = store.event_history(made.id)
    assert [h["action"] for h in history] == ["create", "update", "delete"]
    assert history[-1]["actor"] == "boss"
    assert history[-1]["before"]["title"] == "第二版"
    assert history[-1]["after"] is None


def test_listing_by_owner_and_leaving_out_what_is_over(store):
    assert store.events_version() == 0
    old = store.add_event(
        spec(start="2026-01-05 10:00", end="2026-01-05 12:00", recurrence=None),
        owner=OWNER,
        actor="c",
        at=T0,
    )
    weekly = store.add_event(spec(), owner=OWNER, actor="c", at=T0)
    other = store.add_event(spec(), owner="industry:jt", actor="c", at=T0)
    assert [e.id for e in store.list_events()] == [old.id, weekly.id, other.id]
    assert [e.id for e in store.list_events(owner=OWNER)] == [old.id, weekly.id]
    # The weekly one runs until 31 August: still listed in July, the January one not.
    assert [e.id for e in store.list_events(from_day=date(2026, 7, 1))] == [weekly.id, other.id]


# -- a station passes to another union: its events pass with it ------------------------------

NEW_OWNER = "industry:transport"


def _stations(store, districts, n=2):
    from tests.builders import make_station

    return [
        store.create(make_station(districts, external_id=f"E{i}", name=f"驿站{i}"), actor="t")
        for i in range(n)
    ]


def _passed(station, owner=NEW_OWNER):
    from stations.domain.changes import Update
    from stations.domain.model import Owner

    return Update(station.with_changes(owner=Owner.parse(owner)), station.version)


def test_an_event_passes_with_its_station_to_the_new_union_audited(store, districts):
    (a, _b) = _stations(store, districts)
    made = store.add_event(spec(station_ids=[a.id]), owner=OWNER, actor="clerk", at=T0)
    v0 = store.events_version()
    store.apply([_passed(a)], actor="city-clerk")
    got = store.get_event(made.id)
    assert (got.owner, got.station_ids, got.version) == (NEW_OWNER, (a.id,), 2)
    assert got.updated_by == "city-clerk" and got.title == made.title
    assert store.events_version() > v0  # every worker's calendar sees it
    last = store.event_history(made.id)[-1]
    assert last["action"] == "update" and last["actor"] == "city-clerk"
    assert (last["before"]["owner"], last["after"]["owner"]) == (OWNER, NEW_OWNER)
    assert [e.id for e in store.list_events(owner=OWNER)] == []


def test_an_event_at_two_unions_stations_is_split_and_both_parts_are_audited(store, districts):
    a, b = _stations(store, districts)
    made = store.add_event(spec(station_ids=[a.id, b.id]), owner=OWNER, actor="clerk", at=T0)
    store.apply([_passed(a)], actor="city-clerk")
    kept = store.get_event(made.id)
    assert (kept.owner, kept.station_ids) == (OWNER, (b.id,))
    (copy,) = store.list_events(owner=NEW_OWNER)
    assert copy.station_ids == (a.id,) and copy.id != made.id
    assert (copy.title, copy.start, copy.recurrence) == (made.title, made.start, made.recurrence)
    assert (copy.created_by, copy.version) == ("city-clerk", 1)
    assert [h["action"] for h in store.event_history(copy.id)] == ["create"]
    assert store.event_history(made.id)[-1]["after"]["station_ids"] == [b.id]


def test_stations_passing_in_one_batch_keep_their_event_whole(store, districts):
    a, b = _stations(store, districts)
    made = store.add_event(spec(station_ids=[a.id, b.id]), owner=OWNER, actor="clerk", at=T0)
    other = store.add_event(spec(station_ids=[3]), owner=OWNER, actor="clerk", at=T0)
    store.apply([_passed(a), _passed(b)], actor="city-clerk")
    assert [(e.id, e.station_ids) for e in store.list_events(owner=NEW_OWNER)] == [
        (made.id, (a.id, b.id))
    ]
    assert store.get_event(other.id) == other  # at none of them: untouched


def test_a_station_write_that_fails_passes_no_event(store, districts):
    from stations.domain.changes import Update
    from stations.domain.errors import StaleWriteError
    from stations.domain.model import Owner

    (a, _b) = _stations(store, districts)
    made = store.add_event(spec(station_ids=[a.id]), owner=OWNER, actor="clerk", at=T0)
    stale = Update(a.with_changes(owner=Owner.parse(NEW_OWNER)), a.version + 5)
    with pytest.raises(StaleWriteError):
        store.apply([_passed(a), stale], actor="city-clerk")
    assert store.get_event(made.id) == made
    assert store.get(a.id).owner == a.owner
