"""The store contract on every backend: atomic batches, optimistic versions, audit trail,
queries; and the SQLite file's own schema upgrades."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from geodata.districts import Districts
from stations.domain.changes import Create, Delete, StationQuery, Update
from stations.domain.codes import is_valid
from stations.domain.errors import (
    DuplicateStationError,
    SchemaError,
    StaleWriteError,
    StationNotFoundError,
)
from stations.domain.model import Owner, Status
from stations.domain.records import station_to_dict
from stations.storage import sqlite as sqlite_module
from stations.storage.sqlite import SQLiteStore
from tests.builders import GUANYINQIAO, make_station


@pytest.fixture
def store(any_store):
    """The contract tests run on every backend (SQLite, and PostGIS when it is here)."""
    return any_store


def test_created_station_gets_id_version_and_reads_back_equal(store, districts: Districts):
    station = make_station(districts)
    stored = store.create(station, actor="alice")
    assert stored.id is not None and stored.version == 1 and stored.updated_at is not None
    again = store.get(stored.id)
    assert again == stored
    assert again.amenities == ("hot_water", "microwave", "phone_charging")
    assert again.owner == Owner.parse("district:500103")


def test_sqlite_uses_wal_and_rtree(db_path: Path, districts):
    with SQLiteStore(db_path) as store:
        store.create(make_station(districts), actor="a")
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM station_rtree").fetchone()[0] == 1
    conn.close()


def test_batch_lands_whole_or_not_at_all(store, districts):
    first = store.create(make_station(districts, external_id="A"), actor="a")
    before = store.data_version()
    changes = [
        Create(make_station(districts, external_id="B")),
        Update(first.with_changes(name="改名"), first.version),
        Create(make_station(districts, external_id="A")),  # duplicate: the batch must fail
    ]
    with pytest.raises(DuplicateStationError):
        store.apply(changes, actor="a")
    assert store.count() == 1
    assert store.get(first.id).name == first.name
    assert store.data_version() == before
    assert len(store.audit()) == 1  # only the first create


def test_stale_write_is_refused_not_applied(store, districts):
    stored = store.create(make_station(districts), actor="a")
    store.update(stored.with_changes(name="甲改"), expected_version=1, actor="a")
    with pytest.raises(StaleWriteError) as exc:
        store.update(stored.with_changes(name="乙改"), expected_version=1, actor="b")
    assert exc.value.actual == 2
    assert store.get(stored.id).name == "甲改"


def test_delete_checks_version_and_missing_station(store, districts):
    stored = store.create(make_station(districts), actor="a")
    with pytest.raises(StaleWriteError):
        store.delete(stored.id, expected_version=7, actor="a")
    store.delete(stored.id, expected_version=1, actor="a")
    assert store.find(stored.id) is None
    with pytest.raises(StationNotFoundError):
        store.get(stored.id)
    with pytest.raises(StationNotFoundError):
        store.delete(stored.id, expected_version=None, actor="a")


def test_ids_are_never_reused(store, districts):
    a = store.create(make_station(districts, external_id="A"), actor="a")
    store.delete(a.id, expected_version=1, actor="a")
    b = store.create(make_station(districts, external_id="B"), actor="a")
    assert b.id != a.id


def test_audit_trail_records_who_when_batch_and_before_after(store, districts):
    stored = store.create(make_station(districts), actor="alice")
    updated = store.update(stored.with_changes(name="新名"), expected_version=1, actor="bob")
    result = store.apply(
        [Delete(updated.id, updated.version)], actor="carol", kind="import", note="file.csv"
    )
    trail = store.audit(station_id=stored.id)
    assert [(e.action, e.actor) for e in trail] == [
        ("create", "alice"),
        ("update", "bob"),
        ("delete", "carol"),
    ]
    assert trail[0].before is None and trail[0].after["name"] == "解放碑工会驿站"
    assert trail[1].before["name"] == "解放碑工会驿站" and trail[1].after["name"] == "新名"
    assert trail[2].before["version"] == 2 and trail[2].after is None
    assert trail[2].batch_id == result.batch.id
    assert store.batches()[0].kind == "import" and store.batches()[0].note == "file.csv"
    assert all(e.at.utcoffset().total_seconds() == 8 * 3600 for e in trail)


def test_query_filters_and_paging(store, districts):
    store.apply(
        [
            Create(make_station(districts, external_id="A")),
            Create(
                make_station(
                    districts,
                    external_id="B",
                    lon=GUANYINQIAO[0],
                    lat=GUANYINQIAO[1],
                    owner="district:500105",
                )
            ),
            Create(make_station(districts, external_id="C", status="planned", amenities="toilet")),
        ],
        actor="a",
    )
    assert store.query(StationQuery(district="500105")).total == 1
    assert store.query(StationQuery(status=(Status.PLANNED,))).total == 1
    assert store.query(StationQuery(amenities=("microwave",))).total == 2
    assert store.query(StationQuery(amenities=("microwave", "toilet"))).total == 0
    box = (
        GUANYINQIAO[0] - 0.01,
        GUANYINQIAO[1] - 0.01,
        GUANYINQIAO[0] + 0.01,
        GUANYINQIAO[1] + 0.01,
    )
    assert [s.external_id for s in store.query(StationQuery(bbox=box)).items] == ["B"]
    page = store.query(StationQuery(), limit=2, offset=1)
    assert page.total == 3 and [s.external_id for s in page.items] == ["B", "C"]
    assert store.query(StationQuery(owner="district:500103")).total == 2


def test_data_version_grows_with_each_batch(store, districts):
    v0 = store.data_version()
    store.create(make_station(districts), actor="a")
    assert store.data_version() == v0 + 1


def test_concurrent_writers_lose_nothing(db_path, districts):
    stations = [
        make_station(districts, external_id=f"T{i}-{j}") for i in range(4) for j in range(25)
    ]
    errors: list[BaseException] = []

    def writer(chunk):
        s = SQLiteStore(db_path)
        try:
            for st in chunk:
                s.create(st, actor="t")
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    SQLiteStore(db_path).close()
    threads = [threading.Thread(target=writer, args=(stations[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = SQLiteStore(db_path)
    assert s.count() == 100 and s.data_version() == 100
    s.close()


def test_reopening_keeps_everything(db_path, districts):
    s = SQLiteStore(db_path)
    stored = s.create(make_station(districts), actor="a")
    s.close()
    s = SQLiteStore(db_path)
    assert s.get(stored.id) == stored and len(s.audit()) == 1
    s.close()


def test_a_newer_schema_is_refused_untouched(db_path, districts):
    SQLiteStore(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(SchemaError, match="newer yizhan"):
        SQLiteStore(db_path)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


def test_a_foreign_database_is_refused_untouched(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.execute("INSERT INTO customers VALUES (1)")
    conn.commit()
    conn.close()
    with pytest.raises(SchemaError, match="not a yizhan registry"):
        SQLiteStore(db_path)
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 1
    conn.close()


def test_an_older_schema_is_upgraded_with_data_kept_and_a_backup(db_path, districts, monkeypatch):
    s = SQLiteStore(db_path)
    stored = s.create(make_station(districts), actor="a")
    s.close()

    def add_note_column(conn):
        conn.execute("ALTER TABLE stations ADD COLUMN note TEXT NOT NULL DEFAULT ''")

    monkeypatch.setattr(sqlite_module, "MIGRATIONS", [*sqlite_module.MIGRATIONS, add_note_column])
    s = SQLiteStore(db_path)
    assert s.get(stored.id) == stored
    s.close()
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(sqlite_module.MIGRATIONS)
    assert conn.execute("SELECT note FROM stations").fetchone()[0] == ""
    conn.close()
    backup = db_path.with_name(db_path.name + f".v{len(sqlite_module.MIGRATIONS) - 1}.bak")
    conn = sqlite3.connect(backup)
    assert conn.execute("SELECT count(*) FROM stations").fetchone()[0] == 1
    conn.close()


def test_a_failing_upgrade_leaves_the_file_as_it_was(db_path, districts, monkeypatch):
    s = SQLiteStore(db_path)
    s.create(make_station(districts), actor="a")
    s.close()

    def broken(conn):
        conn.execute("ALTER TABLE stations ADD COLUMN half TEXT")
        raise RuntimeError("migration bug")

    before = sqlite_module.schema_version()
    monkeypatch.setattr(sqlite_module, "MIGRATIONS", [*sqlite_module.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        SQLiteStore(db_path)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == before
    cols = [r[1] for r in conn.execute("PRAGMA table_info(stations)")]
    assert "half" not in cols
    assert conn.execute("SELECT count(*) FROM stations").fetchone()[0] == 1
    conn.close()


def test_a_version_1_registry_is_upgraded_to_the_current_schema(db_path, districts):
    # Write a registry exactly as schema 1 stored it, with plain SQL.
    station = make_station(districts)
    doc = station_to_dict(station)
    for key in ("id", "version", "updated_at"):
        doc.pop(key)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    sqlite_module.MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")
    conn.execute(
        "INSERT INTO stations VALUES (7, ?, ?, ?, 'active', 0, ?, ?, 3, ?, ?)",
        (
            str(station.owner),
            station.external_id,
            station.district_adcode,
            station.lon,
            station.lat,
            "2025-01-01T00:00:00+08:00",
            json.dumps(doc, ensure_ascii=False),
        ),
    )
    conn.execute(
        "INSERT INTO station_rtree VALUES (7, ?, ?, ?, ?)",
        (station.lon, station.lon, station.lat, station.lat),
    )
    conn.execute(
        "INSERT INTO batches (actor, at, kind, note, changes) "
        "VALUES ('a', '2025-01-01T00:00:00+08:00', 'api', '', 1)"
    )
    conn.execute("COMMIT")
    conn.close()

    s = SQLiteStore(db_path)
    upgraded = s.get(7)
    assert upgraded.version == 3
    assert upgraded.with_changes(id=None, version=0, updated_at=None) == station
    assert upgraded.code is not None and is_valid(upgraded.code)  # schema 8 gave it a code
    assert s.station_for_code(upgraded.code) == 7
    assert s.list_tokens() == []  # the tables schema 2 added are there
    assert s.data_version() == 1
    s.create(make_station(districts, external_id="NEW"), actor="a")  # and writes work
    s.close()
    assert db_path.with_name(db_path.name + ".v1.bak").exists()


def test_failed_authentications_are_kept_per_client_for_one_window_only(store):
    import time

    assert store.auth_failure_ages("a" * 32, window_s=60) == []
    store.add_auth_failure("a" * 32, keep_s=60)
    time.sleep(0.05)
    store.add_auth_failure("a" * 32, keep_s=60)
    store.add_auth_failure("b" * 32, keep_s=60)
    ages = store.auth_failure_ages("a" * 32, window_s=60)
    assert len(ages) == 2
    assert ages[0] > ages[1] >= 0  # oldest first, in seconds
    assert ages[0] - ages[1] == pytest.approx(0.05, abs=0.04)
    assert len(store.auth_failure_ages("b" * 32, window_s=60)) == 1
    time.sleep(0.3)
    assert store.auth_failure_ages("a" * 32, window_s=0.2) == []  # outside the window
    # Recording one forgets everyone's older than it keeps: nothing piles up.
    store.add_auth_failure("c" * 32, keep_s=0.2)
    assert store.auth_failure_ages("a" * 32, window_s=60) == []
    assert store.auth_failure_ages("b" * 32, window_s=60) == []
    assert len(store.auth_failure_ages("c" * 32, window_s=60)) == 1


def test_sqlite_and_postgis_are_at_the_same_schema_version():
    from stations.storage import postgis

    assert sqlite_module.schema_version() == postgis.schema_version() == 12


def test_a_version_7_registrys_reports_become_cases_and_its_stations_get_codes(db_path, districts):
    """Schema 8's backfill: every station a code; each report a case of the owning union,
    open (due 72 h after it came) or resolved with its resolution note as the reply."""
    station = make_station(districts)
    doc = station_to_dict(station)
    for key in ("id", "version", "updated_at", "code"):
        doc.pop(key)
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("BEGIN")
    for step in range(7):
        sqlite_module.MIGRATIONS[step](conn)
    conn.execute("PRAGMA user_version = 7")
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")
    conn.execute(
        "INSERT INTO stations (id, owner, external_id, district_adcode, status, "
        "self_service_24h, lon, lat, version, updated_at, doc) "
        "VALUES (7, ?, ?, ?, 'active', 0, ?, ?, 1, '2026-01-01T00:00:00+08:00', ?)",
        (
            str(station.owner),
            station.external_id,
            station.district_adcode,
            station.lon,
            station.lat,
            json.dumps(doc, ensure_ascii=False),
        ),
    )
    conn.execute("INSERT INTO station_rtree VALUES (7, 1, 1, 1, 1)")
    conn.execute(
        "INSERT INTO feedback (station_id, owner, kind, note, created_at, client_hash) "
        "VALUES (7, ?, 'locked', '锁门', '2026-11-01T20:00:00+08:00', 'h')",
        (str(station.owner),),
    )
    conn.execute(
        "INSERT INTO feedback (station_id, owner, kind, note, created_at, client_hash, "
        "resolved_at, resolved_by, resolution_note) VALUES (99, 'district:500103', "
        "'facility_broken', '', '2026-10-01T09:00:00+08:00', 'h', "
        "'2026-10-02T09:00:00+08:00', 'district:500103 渝中区总工会', '已修好')"
    )
    conn.execute("COMMIT")
    conn.close()

    s = SQLiteStore(db_path)
    code = s.get(7).code
    assert code is not None and is_valid(code) and s.station_for_code(code) == 7
    cases = (
        s._conn()
        .execute(
            "SELECT station_id, owner, district_adcode, source, kind, feedback_id, state, "
            "opened_at, due_at, reply FROM cases ORDER BY id"
        )
        .fetchall()
    )
    assert [tuple(c) for c in cases] == [
        (
            7,
            str(station.owner),
            station.district_adcode,
            "report",
            "locked",
            1,
            "open",
            "2026-11-01T20:00:00+08:00",
            "2026-11-04T20:00:00+08:00",
            "",
        ),
        (
            99,
            "district:500103",
            "",  # the station is gone: its district is not known
            "report",
            "facility_broken",
            2,
            "resolved",
            "2026-10-01T09:00:00+08:00",
            "2026-10-04T09:00:00+08:00",
            "已修好",
        ),
    ]
    events = s._conn().execute("SELECT case_id, to_state FROM case_events ORDER BY id").fetchall()
    assert [tuple(e) for e in events] == [(1, "open"), (2, "open"), (2, "resolved")]
    s.close()
