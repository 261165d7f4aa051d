"""The sample's station operations: made through the riders' and clerks' own services, the
same from the same seed, and every console page has something to show."""

from __future__ import annotations

from datetime import date, datetime

from geodata.hours import TZ
from stations.cli.registry import operation_settings
from stations.config import Settings
from stations.domain.cases import CaseState
from stations.domain.visits import UsageQuery
from stations.services.sample import load_demo
from stations.services.sample_ops import load_sample_operations
from stations.storage.schema import COLUMNS
from stations.storage.sqlite import SQLiteStore

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=TZ)


def _load(path, districts):
    store = SQLiteStore(path)
    load_demo(store, districts, seed=7, total=400)
    done = load_sample_operations(
        store, settings=operation_settings(store, Settings()), seed=7, now=NOW
    )
    return store, done


def test_the_sample_has_check_ins_ratings_cases_checks_and_stars(tmp_path, districts):
    store, done = _load(tmp_path / "a.sqlite3", districts)
    try:
        assert done.check_ins > 100 and done.ratings > 10 and done.inspections == 8
        usage = store.usage(UsageQuery(by="occupation", since=date(2026, 11, 10), until=NOW.date()))
        assert sum(b.n for b in usage) > 0
        rows = store.export_table("cases")
        assert len(rows) >= done.reports  # every report (and low rating with a comment)
        states = {r[COLUMNS["cases"].index("state")] for r in rows}
        assert CaseState.RESOLVED.value in states and CaseState.OPEN.value in states
        assert store.export_table("rectifications")  # a check with failed items
        assert store.export_table("inspection_photos")
        # Only checked stations are rated: the eight sample checks.
        assert 0 < len(store.latest_star_ratings()) <= 8
        # No real rider's address: the sample's come from 198.18.0.0/15 and are hashed.
        raw = (tmp_path / "a.sqlite3").read_bytes()
        assert b"198.18." not in raw
    finally:
        store.close()


def test_the_same_seed_gives_the_same_figures(tmp_path, districts):
    a, done_a = _load(tmp_path / "a.sqlite3", districts)
    b, done_b = _load(tmp_path / "b.sqlite3", districts)
    try:
        assert done_a == done_b
        assert a.export_table("visit_counts") == b.export_table("visit_counts")
    finally:
        a.close()
        b.close()
