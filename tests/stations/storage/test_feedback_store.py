"""Riders' reports in the store: schema 3, atomic rate limits, keyed client hashes."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.feedback import (
    FeedbackKind,
    FeedbackQuery,
    InvalidFeedbackError,
    NewFeedback,
    RateLimit,
    TooManyReportsError,
    check_report,
    client_hash,
)
from stations.storage import sqlite as sqlite_module
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station

T0 = datetime(2025, 10, 9, 12, 0, tzinfo=TZ)


def report(station_id=1, *, at=T0, client="c1", kind=FeedbackKind.LOCKED):
    return NewFeedback(station_id, "district:500103", kind, "", client, at)


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def test_a_limit_counts_reports_inside_its_window_and_says_when_to_retry(store):
    limit = [RateLimit("client", 2, 3600)]
    store.add_feedback(report(at=T0), limits=limit)
    store.add_feedback(report(at=T0 + timedelta(minutes=10)), limits=limit)
    with pytest.raises(TooManyReportsError) as caught:
        store.add_feedback(report(at=T0 + timedelta(minutes=30)), limits=limit)
    assert caught.value.retry_after_s == 30 * 60  # when the first report leaves the window
    assert caught.value.scope == "client"
    # An hour after the first one, one report is free again; other clients never counted.
    store.add_feedback(report(at=T0 + timedelta(minutes=61)), limits=limit)
    store.add_feedback(report(at=T0 + timedelta(minutes=30), client="c2"), limits=limit)
    assert store.list_feedback(FeedbackQuery())[1] == 4


def test_concurrent_reports_cannot_slip_past_a_limit_together(db_path):
    stores = [SQLiteStore(db_path) for _ in range(8)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(stores))

    def one(s: SQLiteStore) -> None:
        barrier.wait()
        try:
            s.add_feedback(report(), limits=[RateLimit("station", 3, 3600)])
            outcomes.append("ok")
        except TooManyReportsError:
            outcomes.append("limited")

    threads = [threading.Thread(target=one, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert sorted(outcomes) == ["limited"] * 5 + ["ok"] * 3


def test_unresolved_counts_leave_out_old_and_resolved_reports(store):
    store.add_feedback(report(1, at=T0 - timedelta(days=8)))
    store.add_feedback(report(1, at=T0, kind=FeedbackKind.FACILITY_BROKEN))
    done = store.add_feedback(report(1, at=T0))
    store.add_feedback(report(2, at=T0))
    store.resolve_feedback(done.id, actor="admin", note="", at=T0)
    counts = store.unresolved_feedback_counts([1, 2, 3], since=T0 - timedelta(days=7))
    assert counts == {1: {"facility_broken": 1}, 2: {"locked": 1}}
    assert store.unresolved_feedback_counts([], since=T0) == {}


def test_a_version_2_registry_gets_the_feedback_table_and_a_secret_salt(db_path, districts):
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    sqlite_module.MIGRATIONS[0](conn)
    sqlite_module.MIGRATIONS[1](conn)
    conn.execute("PRAGMA user_version = 2")
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")
    conn.execute("COMMIT")
    conn.close()

    s = SQLiteStore(db_path)
    salt = s.feedback_salt()
    station = s.create(make_station(districts), actor="a")
    s.add_feedback(report(station.id or 0))
    s.close()
    assert len(salt) == 32
    assert SQLiteStore(db_path).feedback_salt() == salt  # made once, kept
    assert db_path.with_name(db_path.name + ".v2.bak").exists()
    other = SQLiteStore(db_path.with_name("other.sqlite3"))
    assert other.feedback_salt() != salt  # each registry its own
    other.close()


def test_client_hashes_are_keyed_and_name_an_ipv6_client_by_its_slash_64():
    salt = b"s" * 32
    assert client_hash("198.51.100.7", salt) != client_hash("198.51.100.7", b"t" * 32)
    assert client_hash("198.51.100.7", salt) != client_hash("198.51.100.8", salt)
    assert client_hash("2001:db8:1:2::1", salt) == client_hash("2001:db8:1:2:ffff::9", salt)
    assert client_hash("2001:db8:1:2::1", salt) != client_hash("2001:db8:1:3::1", salt)
    assert client_hash("::ffff:198.51.100.7", salt) == client_hash("198.51.100.7", salt)
    assert "198" not in client_hash("198.51.100.7", salt)


def test_check_report_cleans_the_note_and_explains_problems_in_chinese():
    assert check_report("locked", "  门锁着\r\n ") == (FeedbackKind.LOCKED, "门锁着")
    assert check_report("facility_broken", None) == (FeedbackKind.FACILITY_BROKEN, "")
    with pytest.raises(InvalidFeedbackError) as caught:
        check_report("nope", "x")
    assert caught.value.problems[0]["code"] == "unknown_kind"
    assert "问题类型" in str(caught.value)


def test_a_reports_address_hash_is_cleared_once_no_limit_counts_it(store, districts):
    """Kept only while a rate limit may count it (the longest window), then cleared."""
    from datetime import datetime, timedelta

    from geodata.hours import TZ
    from stations.domain.feedback import FeedbackKind, NewFeedback, RateLimit

    station = store.create(make_station(districts), actor="t")
    start = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
    limits = (RateLimit("client", 10, 3600), RateLimit("station", 30, 3600))
    for minutes, client in ((0, "a" * 32), (30, "b" * 32), (90, "c" * 32)):
        store.add_feedback(
            NewFeedback(
                station.id,
                str(station.owner),
                FeedbackKind.LOCKED,
                "",
                client,
                start + timedelta(minutes=minutes),
            ),
            limits=limits,
        )
    kept = [r[0] for r in store._conn().execute("SELECT client_hash FROM feedback ORDER BY id")]
    assert kept == ["", "b" * 32, "c" * 32]  # the first was over an hour old at the third
