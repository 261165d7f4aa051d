"""The embedded SQLite store: WAL, an R*Tree spatial index, batches, versions, audit."""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from stations.domain.errors import SchemaError
from stations.storage import schema
from stations.storage.codes_repo import backfill_schema_8
from stations.storage.sqlstore import SQLStore
from stations.storage.uploads_repo import backfill_schema_12, schema_12_table

APPLICATION_ID = 0x59495A48  # "YIZH": marks a file as a yizhan registry

_SCHEMA_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE stations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    external_id TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    status TEXT NOT NULL,
    self_service_24h INTEGER NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (owner, external_id)
);
CREATE INDEX stations_district ON stations (district_adcode);
CREATE VIRTUAL TABLE station_rtree USING rtree (id, min_lon, max_lon, min_lat, max_lat);
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    changes INTEGER NOT NULL
);
CREATE TABLE audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    batch_id INTEGER NOT NULL REFERENCES batches (id),
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    before TEXT,
    after TEXT
);
CREATE INDEX audit_station ON audit (station_id);
CREATE INDEX audit_batch ON audit (batch_id);
"""


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    # Statement by statement: executescript() would COMMIT the migration's transaction.
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _migrate_to_v1(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V1)


_SCHEMA_V2 = """
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'district', 'industry')),
    code TEXT,
    secret_sha256 TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    owner TEXT,
    filename TEXT NOT NULL,
    crs TEXT NOT NULL,
    full_list INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    planned INTEGER NOT NULL DEFAULT 0,
    counts TEXT NOT NULL DEFAULT '{}',
    unknown_columns TEXT NOT NULL DEFAULT '[]',
    columns TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE upload_rows (
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    seq INTEGER NOT NULL,
    row INTEGER,
    action TEXT NOT NULL,
    external_id TEXT NOT NULL,
    station_id INTEGER,
    expected_version INTEGER,
    station TEXT,
    changed TEXT NOT NULL DEFAULT '[]',
    problems TEXT NOT NULL DEFAULT '[]',
    warnings TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (upload_id, seq)
);
CREATE INDEX upload_rows_row ON upload_rows (upload_id, row);
ALTER TABLE batches ADD COLUMN upload_id TEXT REFERENCES uploads (id);
CREATE INDEX batches_upload ON batches (upload_id, kind);
"""


def _migrate_to_v2(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V2)


_SCHEMA_V3 = """
CREATE TABLE demand_layers (
    name TEXT PRIMARY KEY,
    sample INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    source TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE demand_points (
    layer TEXT NOT NULL REFERENCES demand_layers (name) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    weight REAL NOT NULL CHECK (weight >= 0),
    label TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (layer, seq)
);
"""


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V3)


# Riders' reports. `owner` is the station's owner when reported, used only once the
# station is gone; `client_hash` is a keyed hash of the reporter's address (never the
# address), for the rate limits; the salt is made here, once per registry.
_SCHEMA_V4 = """
CREATE TABLE feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL
        CHECK (kind IN ('closed_during_hours', 'locked', 'facility_broken', 'other')),
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    client_hash TEXT NOT NULL,
    resolved_at TEXT,
    resolved_by TEXT,
    resolution_note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX feedback_station ON feedback (station_id, created_at);
CREATE INDEX feedback_client ON feedback (client_hash, created_at);
CREATE INDEX feedback_owner ON feedback (owner, created_at);
INSERT INTO meta (key, value) VALUES ('feedback_salt', lower(hex(randomblob(32))))
"""


def _migrate_to_v4(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V4)


# Failed authentications, for a rate limit that every process shares (used with
# PostgreSQL, where workers run on several machines; here for the same schema): a keyed
# hash of the client's address and a time in seconds since 1970, kept for one window.
_SCHEMA_V5 = """
CREATE TABLE auth_failures (client_hash TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX auth_failures_client ON auth_failures (client_hash, at);
CREATE INDEX auth_failures_at ON auth_failures (at)
"""


def _migrate_to_v5(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V5)


# Demand layers get an owner (the city union's, "city", for those made before); and the
# 上图 history as one row per day with changes and precise-listing threshold (its net change
# that day), kept up to date by every write once a threshold has been asked for; ``rules``
# is the version of what counts (stations.domain.figures.MAPPED_COUNTS_RULES) it was built with.
_SCHEMA_V6 = """
ALTER TABLE demand_layers ADD COLUMN owner TEXT NOT NULL DEFAULT 'city';
CREATE TABLE mapped_history_thresholds (threshold_m REAL PRIMARY KEY, rules INTEGER NOT NULL);
CREATE TABLE mapped_history (
    threshold_m REAL NOT NULL,
    day TEXT NOT NULL,
    active INTEGER NOT NULL,
    listed_all INTEGER NOT NULL,
    precise_all INTEGER NOT NULL,
    PRIMARY KEY (threshold_m, day)
)
"""


def _migrate_to_v6(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V6)


# Console accounts and their sessions; each upload row keeps the file's own cells (schema 7).
_SCHEMA_V7 = """
ALTER TABLE upload_rows ADD COLUMN cells TEXT NOT NULL DEFAULT '{}';
ALTER TABLE uploads ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'district', 'industry')),
    code TEXT,
    password_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    password_changed_at TEXT NOT NULL,
    disabled_at TEXT,
    UNIQUE (username)
);
CREATE TABLE sessions (
    id_sha256 TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts (id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX sessions_account ON sessions (account_id)
"""


def _migrate_to_v7(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V7)


# Station operations: public codes, check-ins, ratings, cases, spot checks, stars (schema 8).
_SCHEMA_V8 = """
ALTER TABLE stations ADD COLUMN code TEXT;
CREATE TABLE station_codes (
    code TEXT PRIMARY KEY,
    station_id INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (station_id)
);
CREATE TABLE visits (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    client_hash TEXT NOT NULL,
    occupation TEXT NOT NULL
        CHECK (occupation IN ('delivery', 'courier', 'ride_hailing', 'truck', 'sanitation',
        'other')),
    at TEXT NOT NULL,
    via_poster INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX visits_station_client ON visits (station_id, client_hash, at);
CREATE INDEX visits_client ON visits (client_hash, at);
CREATE INDEX visits_station ON visits (station_id, at);
CREATE INDEX visits_at ON visits (at);
CREATE TABLE visit_counts (
    station_id INTEGER NOT NULL,
    district_adcode TEXT NOT NULL,
    day TEXT NOT NULL,
    hour INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    n INTEGER NOT NULL DEFAULT 0,
    n_delivery INTEGER NOT NULL DEFAULT 0,
    n_courier INTEGER NOT NULL DEFAULT 0,
    n_ride_hailing INTEGER NOT NULL DEFAULT 0,
    n_truck INTEGER NOT NULL DEFAULT 0,
    n_sanitation INTEGER NOT NULL DEFAULT 0,
    n_other INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (station_id, day, hour)
);
CREATE INDEX visit_counts_district ON visit_counts (district_adcode, day);
CREATE INDEX visit_counts_day ON visit_counts (day);
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    owner TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    client_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    case_id INTEGER,
    UNIQUE (station_id, client_hash)
);
CREATE INDEX ratings_station ON ratings (station_id, created_at);
CREATE INDEX ratings_client ON ratings (client_hash, created_at);
CREATE TABLE cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    owner TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('report', 'rating')),
    kind TEXT NOT NULL,
    feedback_id INTEGER REFERENCES feedback (id),
    rating_id INTEGER REFERENCES ratings (id),
    state TEXT NOT NULL CHECK (state IN ('open', 'in_progress', 'resolved', 'confirmed')),
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state_at TEXT NOT NULL,
    resolved_at TEXT,
    confirmed_at TEXT,
    reply TEXT NOT NULL DEFAULT '',
    replied_at TEXT,
    replied_by TEXT,
    reopened INTEGER NOT NULL DEFAULT 0,
    receipt_sha256 TEXT,
    version INTEGER NOT NULL DEFAULT 1,
    UNIQUE (feedback_id),
    UNIQUE (rating_id),
    UNIQUE (receipt_sha256)
);
CREATE INDEX cases_owner ON cases (owner, state, due_at);
CREATE INDEX cases_district ON cases (district_adcode, state, due_at);
CREATE INDEX cases_station ON cases (station_id, opened_at);
CREATE TABLE case_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id, at);
CREATE TABLE inspections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    owner TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    inspected_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    announced INTEGER NOT NULL,
    results TEXT NOT NULL,
    checklist_version TEXT NOT NULL,
    station_version INTEGER NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inspections_station ON inspections (station_id, inspected_at);
CREATE INDEX inspections_district ON inspections (district_adcode, inspected_at);
CREATE TABLE inspection_photos (
    inspection_id INTEGER NOT NULL REFERENCES inspections (id),
    seq INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BLOB NOT NULL,
    thumb BLOB NOT NULL,
    PRIMARY KEY (inspection_id, seq)
);
CREATE TABLE rectifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    station_id INTEGER NOT NULL,
    district_adcode TEXT NOT NULL,
    inspection_id INTEGER NOT NULL REFERENCES inspections (id),
    item_code TEXT NOT NULL,
    item_label TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by INTEGER REFERENCES inspections (id),
    failed_again INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX rectifications_open ON rectifications (station_id, item_code)
    WHERE closed_at IS NULL;
CREATE INDEX rectifications_station ON rectifications (station_id, opened_at);
CREATE INDEX rectifications_due ON rectifications (district_adcode, closed_at, due_at);
CREATE TABLE star_ratings (
    station_id INTEGER NOT NULL,
    computed_at TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    score REAL NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    rules_version TEXT NOT NULL,
    PRIMARY KEY (station_id, computed_at)
);
CREATE INDEX star_ratings_at ON star_ratings (computed_at)
"""


def _migrate_to_v8(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V8)
    backfill_schema_8(conn.execute)


# Schema 9 (issue 17): street networks for routing by travel, and their station lists.
_SCHEMA_V9 = """
CREATE TABLE networks (
    profile TEXT PRIMARY KEY CHECK (profile IN ('walk', 'ebike')),
    version INTEGER NOT NULL,
    source_name TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    nodes INTEGER NOT NULL,
    edges INTEGER NOT NULL,
    ways INTEGER NOT NULL,
    min_lon REAL NOT NULL,
    min_lat REAL NOT NULL,
    max_lon REAL NOT NULL,
    max_lat REAL NOT NULL,
    speeds TEXT NOT NULL DEFAULT '{}',
    stats TEXT NOT NULL DEFAULT '{}',
    format INTEGER NOT NULL,
    arrays BLOB NOT NULL
);
CREATE TABLE network_station_lists (
    profile TEXT PRIMARY KEY,
    network_version INTEGER NOT NULL,
    stations_key TEXT NOT NULL,
    built_at TEXT NOT NULL,
    arrays BLOB NOT NULL
)
"""


def _migrate_to_v9(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V9)


# Schema 10 (issue 18): the change feed's epoch and floor (meta rows), and updated_since.
_SCHEMA_V10 = """
CREATE INDEX stations_updated ON stations (updated_at)
"""


def _migrate_to_v10(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V10)
    for statement, params in schema.feed_rows():
        conn.execute(statement, params)


# Schema 11 (issue 19): events at the stations and their audit trail.
_SCHEMA_V11 = """
CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    kind TEXT NOT NULL,
    station_ids TEXT NOT NULL DEFAULT '[]',
    starts_at TEXT NOT NULL,
    ends_at TEXT NOT NULL,
    last_day TEXT NOT NULL,
    recurrence TEXT NOT NULL DEFAULT '{}',
    offer TEXT NOT NULL DEFAULT '',
    audience TEXT NOT NULL DEFAULT '',
    while_supplies_last INTEGER NOT NULL DEFAULT 0,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE INDEX events_owner ON events (owner, starts_at);
CREATE INDEX events_last_day ON events (last_day);
CREATE TABLE event_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX event_audit_event ON event_audit (event_id, id)
"""


def _migrate_to_v11(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V11)


# Schema 12 (issue 18): a plan's rows stored a chunk per row (the rows of one chunk packed),
# the per-row table's rows packed into it (backfill_schema_12), then that table dropped.
_SCHEMA_V12 = """
DROP INDEX upload_rows_row;
ALTER TABLE upload_rows RENAME TO upload_rows_v11;
""" + schema_12_table("BLOB")


def _migrate_to_v12(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V12)
    backfill_schema_12(conn.execute)


# MIGRATIONS[n] takes a database at schema version n to n + 1, inside one transaction: they
# upgrade older registries; a new one is created from stations.storage.schema (the same
# schema, as tests/stations/storage/test_schema.py checks).
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_to_v1,
    _migrate_to_v2,
    _migrate_to_v3,
    _migrate_to_v4,
    _migrate_to_v5,
    _migrate_to_v6,
    _migrate_to_v7,
    _migrate_to_v8,
    _migrate_to_v9,
    _migrate_to_v10,
    _migrate_to_v11,
    _migrate_to_v12,
]


def schema_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


class SQLiteStore(SQLStore):
    """A registry in one SQLite file. Safe to share between threads (a connection each)."""

    _AMENITY_CLAUSE = (
        "EXISTS (SELECT 1 FROM json_each(stations.doc, '$.amenities') WHERE value = ?)"
    )
    _BBOX_CLAUSE = (
        "id IN (SELECT id FROM station_rtree WHERE min_lon >= ? AND max_lon <= ? "
        "AND min_lat >= ? AND max_lat <= ?)"
    )
    _NOW_S = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
        self._tally_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._upgrade()
        except BaseException:
            self.close()
            raise

    # -- connections -------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL mode survives a killed process; only power loss may drop the last
            # commits, never corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        # IMMEDIATE takes the write lock up front, so two writers queue instead of failing
        # halfway with SQLITE_BUSY on upgrade from a read lock.
        conn.execute("BEGIN IMMEDIATE")
        try:
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            self._after_bulk_insert(conn)

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        # A connection of its own (a streamed export is read on whichever thread runs each
        # step): one read transaction, whose snapshot is taken at its first SELECT (WAL
        # keeps it while writers go on).
        conn = sqlite3.connect(
            self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("BEGIN")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _keyed_write(self, keys: Sequence[str]) -> Iterator[sqlite3.Connection]:
        # SQLite has one writer at a time whatever the keys. Tallies (check-ins, hundreds a
        # second) queue on a lock in the process rather than in SQLite's busy handler, which
        # sleeps up to 100 ms between tries (p99 at 32 connections: 1.35-1.9 s -> 0.25 s).
        with self._tally_lock, self._write() as c:
            yield c

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    # -- schema ------------------------------------------------------------------------

    def _upgrade(self) -> None:
        current = self._conn().execute("PRAGMA user_version").fetchone()[0]
        if 0 < current < schema_version() and str(self.path) != ":memory:":
            # Keep the old file beside the new one until the user deletes it. (Outside the
            # write transaction: sqlite's backup waits forever on its own connection's lock.)
            backup = sqlite3.connect(self.path.with_name(f"{self.path.name}.v{current}.bak"))
            with backup:
                self._conn().backup(backup)
            backup.close()
        with self._write() as c:
            app_id = c.execute("PRAGMA application_id").fetchone()[0]
            current = c.execute("PRAGMA user_version").fetchone()[0]
            tables = c.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
            if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables > 0):
                msg = (
                    f"{self.path} is not a yizhan registry (it holds other tables); "
                    "nothing was changed. Point YIZHAN_DATABASE_URL at a new or yizhan file."
                )
                raise SchemaError(msg)
            if current > schema_version():
                msg = (
                    f"{self.path} was written by a newer yizhan (schema {current}, this is "
                    f"{schema_version()}); nothing was changed. Upgrade yizhan to open it."
                )
                raise SchemaError(msg)
            start = current
            if current == 0:  # a new registry: made from the one definition
                schema.create(c.execute, "sqlite")
                start = schema.VERSION
            for step in range(start, schema_version()):
                MIGRATIONS[step](c)
            if current != schema_version():
                c.execute(f"PRAGMA user_version = {schema_version()}")
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    def _is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)

    def _new_ids(self, c: Any, n: int) -> list[int]:
        # AUTOINCREMENT's next ids: the table's sequence is never below an id stored (an
        # explicit one included), and is moved on by the rows inserted with these.
        row = c.execute(
            "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'stations'), 0), "
            "coalesce((SELECT max(id) FROM stations), 0))"
        ).fetchone()
        start = int(row[0])
        return list(range(start + 1, start + n + 1))

    # A bulk insert's page cache (KiB), for its transaction only: each chunk of new
    # stations touches the station_codes index (keyed by random codes) all over, which
    # outgrows SQLite's default 2 MiB at ~50,000 stations; read back from the WAL each
    # time, it cost an upload of 100,000 a sixth of a second more. (A connection's cache
    # is kept as long as it lives: the larger one is not kept after the write.)
    _BULK_CACHE_KIB = 32768

    def _before_bulk_insert(self, c: Any) -> None:
        if getattr(self._local, "cache_size", None) is None:
            self._local.cache_size = int(c.execute("PRAGMA cache_size").fetchone()[0])
            c.execute(f"PRAGMA cache_size = -{self._BULK_CACHE_KIB}")

    def _after_bulk_insert(self, c: Any) -> None:
        kept = getattr(self._local, "cache_size", None)
        if kept is not None:
            c.execute(f"PRAGMA cache_size = {kept}")
            self._local.cache_size = None

    def _index_point(self, c: Any, station_id: int, lon: float, lat: float) -> None:
        c.execute(
            "INSERT INTO station_rtree VALUES (?, ?, ?, ?, ?)", (station_id, lon, lon, lat, lat)
        )

    def _index_points(self, c: Any, points: Sequence[tuple[int, float, float]]) -> None:
        c.executemany(
            "INSERT INTO station_rtree VALUES (?, ?, ?, ?, ?)",
            [(i, lon, lon, lat, lat) for i, lon, lat in points],
        )

    def _move_point(self, c: Any, station_id: int, lon: float, lat: float) -> None:
        c.execute(
            "UPDATE station_rtree SET min_lon = ?, max_lon = ?, min_lat = ?, max_lat = ? "
            "WHERE id = ?",
            (lon, lon, lat, lat, station_id),
        )

    def _unindex_point(self, c: Any, station_id: int) -> None:
        c.execute("DELETE FROM station_rtree WHERE id = ?", (station_id,))
