"""The sample's events: made through the service at sample stations, marked 示例,
deterministic for a seed and a day, replaced (not doubled) when loaded again."""

from __future__ import annotations

from datetime import datetime

from click.testing import CliRunner

from geodata.hours import TZ
from stations.cli import main
from stations.services.events import EventsCalendar, load_sample_events
from stations.storage.sqlite import SQLiteStore


def test_demo_loads_marked_sample_events_the_same_for_a_seed(tmp_path):
    runner = CliRunner()
    path = tmp_path / "a.sqlite3"
    result = runner.invoke(main, ["demo", "--total", "300", "--database", f"sqlite:///{path}"])
    assert result.exit_code == 0, result.output
    assert "示例活动" in result.output
    at = datetime(2026, 12, 2, 8, 0, tzinfo=TZ)
    with SQLiteStore(path) as store:
        stations = list(store.iter_all())
        one = load_sample_events(store, stations, seed=7, at=at)
        two = load_sample_events(store, stations, seed=7, at=at)
        kept = store.list_events()
        assert len(kept) == len(two) == len(one) >= 5  # replaced, not doubled
        assert [(e.title, e.station_ids, e.start) for e in one] == [
            (e.title, e.station_ids, e.start) for e in two
        ]
        by_id = {s.id: s for s in stations}
        for event in kept:
            assert event.title.endswith("（示例）")
            assert all(by_id[i].sample for i in event.station_ids)
            assert event.owner == str(by_id[event.station_ids[0]].owner)
        # Something is on the day it was loaded, so the pages have something to show.
        calendar = EventsCalendar.build(kept, version=store.events_version(), at=at)
        noon = at.replace(hour=12)
        assert any(calendar.station_events(i, noon)[0] for i in by_id)
