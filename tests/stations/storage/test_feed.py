"""The change feed's storage on both stores: pages of the audit trail by id, row checks, the
feed's meta rows (schema 10), the export snapshot, and batch times in commit order."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from stations.domain.changes import Create, Delete, Update
from stations.domain.errors import StaleWriteError
from stations.domain.feed import row_check
from stations.storage import stations_repo
from stations.storage.open import open_store
from stations.storage.schema import VERSION
from stations.storage.sqlite import SQLiteStore
from stations.storage.transfer import migrate
from tests.builders import make_station


def _creates(districts, prefix: str, n: int) -> list[Create]:
    base = make_station(districts)
    return [
        Create(dataclasses.replace(base, external_id=f"{prefix}{i}", name=f"站{prefix}{i}"))
        for i in range(n)
    ]


def _audit_ids(store) -> list[int]:
    return [e.id for e in store.audit()]


def test_a_new_registry_has_a_random_feed_epoch_and_floor_zero(tmp_path: Path):
    metas = []
    for name in ("a", "b"):
        with SQLiteStore(tmp_path / f"{name}.sqlite3") as store:
            metas.append(store.feed_meta())
    assert metas[0].epoch != metas[1].epoch
    assert all(len(m.epoch) == 16 and m.floor == 0 for m in metas)
    with SQLiteStore(tmp_path / "a.sqlite3") as store:  # made once, kept
        assert store.feed_meta() == metas[0]


def test_pages_follow_the_audit_trail_by_id_on_both_stores(any_store, districts):
    empty = any_store.changes_page(0, 10)
    assert empty.rows == () and empty.next_id == 0 and empty.head_id == 0
    assert any_store.head_cursor() == (0, "0")

    first = any_store.apply(_creates(districts, "A", 5), actor="t")
    station = any_store.get(first.ids[0])
    any_store.update(dataclasses.replace(station, name="改名"), expected_version=1, actor="t")
    any_store.delete(first.ids[1], expected_version=1, actor="t")
    ids = _audit_ids(any_store)
    assert len(ids) == 7

    # A cursor inside the first batch (5 rows): the rest of it comes next.
    page = any_store.changes_page(0, 3)
    assert [r.id for r in page.rows] == ids[:3]
    assert page.next_id == ids[2] and page.head_id == ids[-1]
    rest = any_store.changes_page(page.next_id, 100)
    assert [r.id for r in rest.rows] == ids[3:]
    assert rest.next_id == rest.head_id == ids[-1]
    assert rest.rows[-1].after is None and rest.rows[-1].station_id == first.ids[1]
    assert rest.rows[-2].after["name"] == "改名" and rest.rows[-2].after["version"] == 2
    # The records are what the trail kept, exactly the stored form.
    assert rest.rows[-2].after == any_store.audit(station_id=station.id)[-1].after
    # At the head: an empty page that keeps the cursor.
    tail = any_store.changes_page(ids[-1], 100)
    assert tail.rows == () and tail.next_id == ids[-1] == tail.head_id
    # Past the head (a replica behind): empty, the cursor kept, the head not moved back.
    ahead = any_store.changes_page(ids[-1] + 50, 100)
    assert ahead.rows == () and ahead.next_id == ids[-1] + 50


def test_a_rolled_back_write_leaves_a_gap_the_feed_steps_over(any_store, districts):
    ids = any_store.apply(_creates(districts, "G", 2), actor="t").ids
    with pytest.raises(StaleWriteError):  # its audit row was written, then rolled back
        any_store.apply(
            [Create(make_station(districts, external_id="LOST")), Delete(ids[0], 7)], actor="t"
        )
    any_store.apply(_creates(districts, "H", 1), actor="t")
    trail = _audit_ids(any_store)
    assert len(trail) == 3
    got = []
    cursor = 0
    while page := any_store.changes_page(cursor, 1).rows:
        got.extend(r.id for r in page)
        cursor = page[-1].id
    assert got == trail


def test_row_checks_name_the_row_they_were_made_for(any_store, districts):
    any_store.apply(_creates(districts, "C", 2), actor="t")
    entries = any_store.audit()
    for e in entries:
        assert any_store.feed_row_check(e.id) == row_check(e.id, e.batch_id, e.at.isoformat())
    assert any_store.feed_row_check(entries[-1].id + 1) is None
    assert any_store.feed_row_check(0) == "0"
    head_id, check = any_store.head_cursor()
    assert head_id == entries[-1].id and check == any_store.feed_row_check(head_id)
    assert len({any_store.feed_row_check(e.id) for e in entries}) == 2


def test_the_export_snapshot_is_one_state_and_its_cursor(any_store, districts):
    ids = any_store.apply(_creates(districts, "E", 2500), actor="t").ids
    head_before = any_store.head_cursor()
    with any_store.export_snapshot() as snap:
        assert (snap.head_id, snap.head_check) == head_before and snap.count == 2500
        got = [next(snap.stations) for _ in range(10)]
        # Writes while the export is read (pages beyond the first are read after them).
        any_store.delete(ids[-1], expected_version=1, actor="t")
        any_store.apply(_creates(districts, "F", 3), actor="t")
        got.extend(snap.stations)
        assert snap.meta == any_store.feed_meta()
    assert [s.id for s in got] == list(ids)
    assert got[-1].name == "站E2499"
    assert any_store.head_cursor()[0] > head_before[0]


def test_batch_times_follow_commit_order_under_concurrent_writers(any_store, districts):
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            n = 0
            while not stop.is_set() and n < 40:
                any_store.apply(_creates(districts, f"W{k}-{n}-", 1 + n % 3), actor=f"w{k}")
                n += 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    batches = sorted(any_store.batches(limit=1000), key=lambda b: b.id)
    assert len(batches) == 160
    times = [b.at for b in batches]
    assert times == sorted(times)
    # Every station's updated_at is its batch's time.
    entries = any_store.audit()
    by_batch = {b.id: b.at for b in batches}
    assert all(e.at == by_batch[e.batch_id] for e in entries)


def test_a_clock_stepping_back_never_dates_a_batch_before_the_last(
    db_path: Path, districts, monkeypatch
):
    with SQLiteStore(db_path) as store:
        store.apply(_creates(districts, "A", 1), actor="t")
        last = store.batches(limit=1)[0].at
        monkeypatch.setattr(stations_repo, "now", lambda: last - timedelta(seconds=30))
        store.apply(_creates(districts, "B", 1), actor="t")
        [newest, previous] = store.batches(limit=2)
        assert newest.at == previous.at == last
        station = store.find_by_external_id(make_station(districts).owner, "B0")
        assert station is not None and station.updated_at == last


# Schema 12's undone: the plan's rows one per row again, as schema 11 held them.
_UNDO_SCHEMA_12 = (
    "DROP TABLE upload_rows",
    "CREATE TABLE upload_rows (upload_id TEXT NOT NULL REFERENCES uploads (id), "
    "seq INTEGER NOT NULL, row INTEGER, action TEXT NOT NULL, external_id TEXT NOT NULL, "
    "station_id BIGINT, expected_version INTEGER, station TEXT, "
    "changed TEXT NOT NULL DEFAULT '[]', problems TEXT NOT NULL DEFAULT '[]', "
    "warnings TEXT NOT NULL DEFAULT '[]', cells TEXT NOT NULL DEFAULT '{}', "
    "PRIMARY KEY (upload_id, seq))",
    "CREATE INDEX upload_rows_row ON upload_rows (upload_id, row)",
)


def _downgrade_sqlite_to_9(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _UNDO_SCHEMA_12:
        conn.execute(statement)
    conn.execute("DROP TABLE event_audit")  # schema 11's
    conn.execute("DROP TABLE events")
    conn.execute("DROP INDEX stations_updated")
    conn.execute("DELETE FROM meta WHERE key IN ('feed_epoch', 'feed_floor')")
    conn.execute("PRAGMA user_version = 9")
    conn.close()


def test_a_schema_9_sqlite_registry_upgrades_in_place(db_path: Path, districts):
    with SQLiteStore(db_path) as store:
        ids = store.apply(_creates(districts, "U", 3), actor="t").ids
        salt = store.feedback_salt()
    _downgrade_sqlite_to_9(db_path)
    with SQLiteStore(db_path) as store:
        meta = store.feed_meta()
        assert len(meta.epoch) == 16 and meta.floor == 0
        assert [r.station_id for r in store.changes_page(0, 10).rows] == list(ids)
        assert store.feedback_salt() == salt
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == VERSION
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT id FROM stations WHERE updated_at >= ?", ("2025",)
    ).fetchall()
    conn.close()
    assert "stations_updated" in str(plan)
    assert db_path.with_name(db_path.name + ".v9.bak").exists()


@pytest.mark.slow
def test_a_schema_9_postgis_registry_upgrades_in_place(pg_cluster, districts):
    import psycopg

    from tests.conftest import PG_TEMPLATE

    url = pg_cluster.new_database(template=PG_TEMPLATE)
    with open_store(url) as store:
        ids = store.apply(_creates(districts, "U", 3), actor="t").ids
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _UNDO_SCHEMA_12:
            conn.execute(statement)
        conn.execute("DROP TABLE event_audit")  # schema 11's
        conn.execute("DROP TABLE events")
        conn.execute("DROP INDEX stations_updated")
        conn.execute("DELETE FROM meta WHERE key IN ('feed_epoch', 'feed_floor')")
        conn.execute("UPDATE yizhan_schema SET version = 9")
    with open_store(url) as store:
        meta = store.feed_meta()
        assert len(meta.epoch) == 16 and meta.floor == 0
        assert [r.station_id for r in store.changes_page(0, 10).rows] == list(ids)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT version FROM yizhan_schema").fetchone()[0] == VERSION
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'stations_updated'"
        ).fetchone()
        assert index is not None and "(updated_at)" in index[0]


@pytest.mark.slow
def test_postgis_audit_and_batch_ids_are_drawn_one_at_a_time(pg_cluster):
    """CACHE 1: with a larger cache each connection would hold its own run of ids, and ids
    would no longer follow commit order (the feed's cursor relies on it)."""
    import psycopg

    from tests.conftest import PG_TEMPLATE

    url = pg_cluster.new_database(template=PG_TEMPLATE)
    open_store(url).close()
    with psycopg.connect(url) as conn:
        caches = dict(
            conn.execute(
                "SELECT sequencename, cache_size FROM pg_sequences "
                "WHERE sequencename IN ('audit_id_seq', 'batches_id_seq')"
            ).fetchall()
        )
    assert caches == {"audit_id_seq": 1, "batches_id_seq": 1}


def test_migrate_copies_the_feed_epoch_with_the_audit_ids(tmp_path: Path, districts):
    with SQLiteStore(tmp_path / "src.sqlite3") as source:
        source.apply(_creates(districts, "M", 3), actor="t")
        with SQLiteStore(tmp_path / "dst.sqlite3") as target:
            assert target.feed_meta() != source.feed_meta()
            migrate(source, target)
            assert target.feed_meta() == source.feed_meta()
            assert target.head_cursor() == source.head_cursor()


def test_an_update_in_the_feed_is_the_state_after_it(any_store, districts):
    [sid] = any_store.apply(_creates(districts, "V", 1), actor="t").ids
    s = any_store.get(sid)
    any_store.apply([Update(dataclasses.replace(s, hours="24小时"), 1)], actor="t")
    rows = any_store.changes_page(0, 10).rows
    assert [r.after["version"] for r in rows] == [1, 2]
    assert datetime.fromisoformat(rows[1].after["updated_at"]) == any_store.get(sid).updated_at


def test_an_updates_record_keeps_the_station_code(any_store, districts):
    """The audit record after an update (what the feed and the read index's catch-up read)
    says the station's code, which the update does not change; a trail written before this
    was fixed (records without it) is read with the code too."""
    [sid] = any_store.apply(_creates(districts, "K", 1), actor="t").ids
    code = any_store.get(sid).code
    any_store.update(
        dataclasses.replace(any_store.get(sid), name="新"), expected_version=1, actor="t"
    )
    assert any_store.audit(station_id=sid)[-1].after["code"] == code
    assert any_store.changes_since(0)[sid].code == code
    with any_store._write() as c:  # raw SQL: a record as updates wrote it before
        row = c.execute("SELECT id, after FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        doc = json.loads(row[1])
        doc["code"] = None
        c.execute("UPDATE audit SET after = ? WHERE id = ?", (json.dumps(doc), row[0]))
    assert [r.after["code"] for r in any_store.changes_page(0, 10).rows] == [code, code]


def test_audit_rows_are_written_in_one_place_only():
    """The feed's order rests on every audit row being written inside a batch's write
    transaction (StationsRepo.apply, under the write lock): audit rows are inserted by the
    stations' repository alone (the mirror test checks the rest)."""
    storage = Path(stations_repo.__file__).parent
    writers = {
        p.name for p in storage.glob("*.py") if "INSERT INTO audit" in p.read_text(encoding="utf-8")
    }
    assert writers == {"stations_repo.py"}


def test_postgis_dates_batches_by_the_database_clock(any_store, districts, monkeypatch):
    """Several hosts write to one PostgreSQL: their batches take its clock, not their own
    (a host whose clock runs ahead would otherwise hold every later batch at its time)."""
    from stations.storage import sqlbase

    ahead = datetime(2099, 1, 1, tzinfo=sqlbase.TZ)
    monkeypatch.setattr(sqlbase, "now", lambda: ahead)
    any_store.apply(_creates(districts, "Z", 1), actor="t")
    at = any_store.batches(limit=1)[0].at
    if any_store.networked:
        assert abs((at - datetime.now(sqlbase.TZ)).total_seconds()) < 60
    else:
        assert at == ahead
