"""The PostgreSQL + PostGIS store, for deployments with many workers on many machines.

Every statement is shared with the SQLite store (the repositories of sqlstore.py); this
module adds the connections (a psycopg pool; ``?`` placeholders translated), the schema
(created from schema.py, or migrated, under an advisory lock, so workers starting together
do it once), and the spatial index: a generated ``geography(Point, 4326)`` column with a
GiST index, used for bounding boxes and for PostGIS's own KNN (``ORDER BY geog <-> point``);
and server-side time limits (``statement_timeout``, ``lock_timeout``), so that no query
holds a worker's thread for ever: short ones for a request's queries, long ones for writes,
migrations and bulk reads (see :class:`~stations.storage.store.Timeouts`).
"""

from __future__ import annotations

import logging
import re
import secrets
import select
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool

from stations.domain.errors import (
    DatabaseTimeoutError,
    DatabaseUnavailableError,
    ReadOnlyError,
    SchemaError,
)
from stations.storage import schema
from stations.storage.codes_repo import backfill_schema_8
from stations.storage.redaction import redact, remember_password
from stations.storage.sqlstore import SQLStore
from stations.storage.store import Timeouts
from stations.storage.uploads_repo import backfill_schema_12, schema_12_table

__all__ = ["DatabaseTimeoutError", "DatabaseUnavailableError", "PostGISStore"]

log = logging.getLogger("yizhan.store")

# While the database cannot be reached, one connection attempt at a time finds out whether
# it is back, the first at once, then after doubling waits up to these (the other callers
# meanwhile fail at once): a server that is down or restarting is back within a second;
# one that turned us away (a wrong or missing password, no such database) needs an
# operator, and its log need not get a failed login every second from every worker.
_RETRY_FIRST_S = 0.25
_RETRY_MAX_S = 1.0
_RETRY_MAX_REFUSED_S = 10.0

_SCHEMA_V1 = """
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE TABLE stations (
    id BIGSERIAL PRIMARY KEY,
    owner TEXT NOT NULL,
    external_id TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    status TEXT NOT NULL,
    self_service_24h INTEGER NOT NULL,
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    geog geography(Point, 4326)
        GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography) STORED,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (owner, external_id)
);
CREATE INDEX stations_district ON stations (district_adcode);
CREATE INDEX stations_geog ON stations USING gist (geog);
CREATE TABLE batches (
    id BIGSERIAL PRIMARY KEY,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    changes INTEGER NOT NULL
);
CREATE TABLE audit (
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    before TEXT,
    after TEXT
);
CREATE INDEX audit_station ON audit (station_id);
CREATE INDEX audit_batch ON audit (batch_id)
"""

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
    base_version BIGINT NOT NULL,
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
    station_id BIGINT,
    expected_version INTEGER,
    station TEXT,
    changed TEXT NOT NULL DEFAULT '[]',
    problems TEXT NOT NULL DEFAULT '[]',
    warnings TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (upload_id, seq)
);
CREATE INDEX upload_rows_row ON upload_rows (upload_id, row);
ALTER TABLE batches ADD COLUMN upload_id TEXT REFERENCES uploads (id);
CREATE INDEX batches_upload ON batches (upload_id, kind)
"""

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
    lon DOUBLE PRECISION NOT NULL,
    lat DOUBLE PRECISION NOT NULL,
    weight DOUBLE PRECISION NOT NULL CHECK (weight >= 0),
    label TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (layer, seq)
)
"""

# Riders' reports; and the registry's settings table, which SQLite has had since schema 1.
# The feedback salt is made by _upgrade with the secrets module.
_SCHEMA_V4 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE feedback (
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
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
CREATE INDEX feedback_owner ON feedback (owner, created_at)
"""

# Failed authentications, so that the limit holds across every worker of every machine: a
# keyed hash of the client's address and the database's time, kept for one window. Not
# UNLOGGED: a read replica's workers must be able to read it.
_SCHEMA_V5 = """
CREATE TABLE auth_failures (client_hash TEXT NOT NULL, at DOUBLE PRECISION NOT NULL);
CREATE INDEX auth_failures_client ON auth_failures (client_hash, at);
CREATE INDEX auth_failures_at ON auth_failures (at)
"""

# Demand layers get an owner (the city union's, "city", for those made before); and the
# 上图 history as one row per day with changes and precise-listing threshold (its net change
# that day), kept up to date by every write once a threshold has been asked for; ``rules``
# is the version of what counts (stations.domain.figures.MAPPED_COUNTS_RULES) it was built with.
_SCHEMA_V6 = """
ALTER TABLE demand_layers ADD COLUMN owner TEXT NOT NULL DEFAULT 'city';
CREATE TABLE mapped_history_thresholds (
    threshold_m DOUBLE PRECISION PRIMARY KEY,
    rules INTEGER NOT NULL
);
CREATE TABLE mapped_history (
    threshold_m DOUBLE PRECISION NOT NULL,
    day TEXT NOT NULL,
    active INTEGER NOT NULL,
    listed_all INTEGER NOT NULL,
    precise_all INTEGER NOT NULL,
    PRIMARY KEY (threshold_m, day)
)
"""

# Console accounts and their sessions; each upload row keeps the file's own cells (schema 7).
_SCHEMA_V7 = """
ALTER TABLE upload_rows ADD COLUMN cells TEXT NOT NULL DEFAULT '{}';
ALTER TABLE uploads ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
CREATE TABLE accounts (
    id BIGSERIAL PRIMARY KEY,
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
    account_id BIGINT NOT NULL REFERENCES accounts (id),
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX sessions_account ON sessions (account_id)
"""

# Station operations: public codes, check-ins, ratings, cases, spot checks, stars (schema 8).
_SCHEMA_V8 = """
ALTER TABLE stations ADD COLUMN code TEXT;
CREATE TABLE station_codes (
    code TEXT PRIMARY KEY,
    station_id BIGINT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (station_id)
);
CREATE TABLE visits (
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
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
    station_id BIGINT NOT NULL,
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
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
    owner TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    client_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    case_id BIGINT,
    UNIQUE (station_id, client_hash)
);
CREATE INDEX ratings_station ON ratings (station_id, created_at);
CREATE INDEX ratings_client ON ratings (client_hash, created_at);
CREATE TABLE cases (
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
    owner TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('report', 'rating')),
    kind TEXT NOT NULL,
    feedback_id BIGINT REFERENCES feedback (id),
    rating_id BIGINT REFERENCES ratings (id),
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
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX case_events_case ON case_events (case_id, at);
CREATE TABLE inspections (
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
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
    inspection_id BIGINT NOT NULL REFERENCES inspections (id),
    seq INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    data BYTEA NOT NULL,
    thumb BYTEA NOT NULL,
    PRIMARY KEY (inspection_id, seq)
);
CREATE TABLE rectifications (
    id BIGSERIAL PRIMARY KEY,
    station_id BIGINT NOT NULL,
    district_adcode TEXT NOT NULL,
    inspection_id BIGINT NOT NULL REFERENCES inspections (id),
    item_code TEXT NOT NULL,
    item_label TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    closed_at TEXT,
    closed_by BIGINT REFERENCES inspections (id),
    failed_again INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX rectifications_open ON rectifications (station_id, item_code)
    WHERE closed_at IS NULL;
CREATE INDEX rectifications_station ON rectifications (station_id, opened_at);
CREATE INDEX rectifications_due ON rectifications (district_adcode, closed_at, due_at);
CREATE TABLE star_ratings (
    station_id BIGINT NOT NULL,
    computed_at TEXT NOT NULL,
    district_adcode TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    score DOUBLE PRECISION NOT NULL,
    reasons TEXT NOT NULL DEFAULT '[]',
    rules_version TEXT NOT NULL,
    PRIMARY KEY (station_id, computed_at)
);
CREATE INDEX star_ratings_at ON star_ratings (computed_at)
"""


# Schema 9 (issue 17): street networks for routing by travel, and their station lists.
_SCHEMA_V9 = """
CREATE TABLE networks (
    profile TEXT PRIMARY KEY CHECK (profile IN ('walk', 'ebike')),
    version BIGINT NOT NULL,
    source_name TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL,
    nodes INTEGER NOT NULL,
    edges INTEGER NOT NULL,
    ways INTEGER NOT NULL,
    min_lon DOUBLE PRECISION NOT NULL,
    min_lat DOUBLE PRECISION NOT NULL,
    max_lon DOUBLE PRECISION NOT NULL,
    max_lat DOUBLE PRECISION NOT NULL,
    speeds TEXT NOT NULL DEFAULT '{}',
    stats TEXT NOT NULL DEFAULT '{}',
    format INTEGER NOT NULL,
    arrays BYTEA NOT NULL
);
CREATE TABLE network_station_lists (
    profile TEXT PRIMARY KEY,
    network_version BIGINT NOT NULL,
    stations_key TEXT NOT NULL,
    built_at TEXT NOT NULL,
    arrays BYTEA NOT NULL
)
"""

# Schema 10 (issue 18): the change feed's epoch and floor (meta rows, added by _upgrade), and
# an index for updated_since.
_SCHEMA_V10 = """
CREATE INDEX stations_updated ON stations (updated_at)
"""

# Schema 11 (issue 19): events at the stations and their audit trail.
_SCHEMA_V11 = """
CREATE TABLE events (
    id BIGSERIAL PRIMARY KEY,
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
    id BIGSERIAL PRIMARY KEY,
    event_id BIGINT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX event_audit_event ON event_audit (event_id, id)
"""

# Schema 12 (issue 18): a plan's rows stored a chunk per row (see sqlite.py); the per-row
# table (and its key and reference, named after it) renamed, packed by backfill_schema_12,
# dropped.
_SCHEMA_V12 = """
DROP INDEX upload_rows_row;
ALTER TABLE upload_rows RENAME TO upload_rows_v11;
ALTER INDEX upload_rows_pkey RENAME TO upload_rows_v11_pkey;
ALTER TABLE upload_rows_v11 RENAME CONSTRAINT upload_rows_upload_id_fkey
    TO upload_rows_v11_upload_id_fkey;
""" + schema_12_table("BYTEA")

# MIGRATIONS[n] takes a database at schema version n to n + 1 (the same versions as SQLite):
# they upgrade older registries; a new one is created from stations.storage.schema (the
# same schema, as tests/stations/storage/test_schema.py checks).
MIGRATIONS: tuple[str, ...] = (
    _SCHEMA_V1,
    _SCHEMA_V2,
    _SCHEMA_V3,
    _SCHEMA_V4,
    _SCHEMA_V5,
    _SCHEMA_V6,
    _SCHEMA_V7,
    _SCHEMA_V8,
    _SCHEMA_V9,
    _SCHEMA_V10,
    _SCHEMA_V11,
    _SCHEMA_V12,
)
# Tables in the current schema that are neither ours nor an extension's (PostGIS keeps
# spatial_ref_sys there): a database holding any is someone else's.
_OTHER_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm')
  AND c.relname <> 'yizhan_schema'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
"""
_WRITE_LOCK = 0x59495A48  # pg_advisory_xact_lock key ("YIZH"): writes and migrations
# The two-key advisory locks' class of tallies' keys (a key space apart from _WRITE_LOCK's).
_TALLY_LOCKS = 0x5954414C  # "YTAL"
_PLACEHOLDER = re.compile(r"\?")


def schema_version() -> int:
    return len(MIGRATIONS)


def _translate(sql: str) -> str:
    # Our statements use ? and never contain a literal ? or %: psycopg wants %s.
    return _PLACEHOLDER.sub("%s", sql)


class _Row(tuple):
    """A result row readable by position and by column name, like sqlite3.Row."""

    __slots__ = ()
    _names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


_ROW_TYPES: dict[tuple[str, ...], type[_Row]] = {}


def _row_factory(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    names = tuple(c.name for c in cursor.description or ())
    row_type = _ROW_TYPES.get(names)
    if row_type is None:
        index = {n: i for i, n in enumerate(names)}
        row_type = _ROW_TYPES[names] = type("Row", (_Row,), {"_names": index, "__slots__": ()})
    return row_type


class _Connection:
    """A psycopg connection that speaks the ? dialect the shared statements use."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] = (), *, binary: bool = False) -> Any:
        return self.raw.execute(_translate(sql), tuple(params), binary=binary)

    def executemany(self, sql: str, rows: Any) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(_translate(sql), [tuple(r) for r in rows])


class PostGISStore(SQLStore):
    """A registry in PostgreSQL with PostGIS; safe to share between threads (a pool)."""

    _AMENITY_CLAUSE = "(stations.doc::jsonb -> 'amenities') @> jsonb_build_array(?::text)"
    _BBOX_CLAUSE = "lon >= ? AND lon <= ? AND lat >= ? AND lat <= ?"
    _NEW_ID = "coalesce(?::bigint, nextval('stations_id_seq'))"
    _UTF8_TEXT = "convert_from(?::bytea, 'UTF8')"
    _NO_LIMIT = None
    _SKIP_LOCKED = " FOR UPDATE SKIP LOCKED"
    _NOW_S = "extract(epoch FROM clock_timestamp())::double precision"
    _DATABASE_CLOCK = True
    networked = True

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 8,
        timeouts: Timeouts | None = None,
        start_unavailable: bool = False,
    ) -> None:
        """Open the registry at ``url``, creating or migrating its schema. If the database
        cannot be reached, raise DatabaseUnavailableError saying why in one line; or, with
        ``start_unavailable`` (a server), open anyway: every use raises that error at once
        until the database answers (tried again with backoff), and the schema is checked
        then."""
        remember_password(url)  # before anything can quote it
        self.url = url
        self.timeouts = timeouts or Timeouts()
        self._lz4: bool | None = None  # whether the server compresses TOAST with lz4
        self._local = threading.local()
        self._ready = False  # the schema checked (and migrated) on a live connection
        self._outage: _Outage | None = None  # known unreachable since, and why
        self._probing = threading.Lock()  # one connection attempt at a time
        self._pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": _row_factory},
            configure=self._configure,
            open=False,
            reconnect_timeout=5,
        )
        try:
            self._pool.open(wait=False)
            self._reachable()
        except DatabaseUnavailableError:
            if not start_unavailable:
                self._pool.close()
                raise
        except BaseException:
            self._pool.close()
            raise

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """A new connection's limits: a request's (reads); a write raises its own."""
        t = self.timeouts
        # A transaction left open (a stalled thread holding the write lock) is ended by the
        # server too, as long after its last statement as a write's statement may run.
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false), "
            "set_config('lock_timeout', %s, false), "
            "set_config('idle_in_transaction_session_timeout', %s, false)",
            (_ms(t.read_s), _ms(t.lock_s), _ms(t.write_s)),
        )

    @staticmethod
    def _long_limits(c: _Connection, timeout_s: float) -> None:
        """Give the rest of the current transaction ``timeout_s`` per statement and lock."""
        c.raw.execute(
            "SELECT set_config('statement_timeout', %s, true), "
            "set_config('lock_timeout', %s, true)",
            (_ms(timeout_s), _ms(timeout_s)),
        )

    # -- whether the database can be reached ----------------------------------------------

    def _reachable(self) -> None:
        """Return if the database is (believed) reachable and the schema ready; else raise
        DatabaseUnavailableError with the cause, at once while a retry is not due."""
        if self._ready and self._outage is None:
            return
        if getattr(self._local, "upgrading", False):
            return  # the schema check's own statements
        outage = self._outage
        if not self._probing.acquire(blocking=False):  # another thread is finding out
            if self._ready and (outage is None or not outage.confirmed):
                return  # only suspected (a pool busy for long, a restart): carry on
            raise DatabaseUnavailableError(
                outage.message if outage else "cannot reach the database yet: connecting"
            )
        try:
            outage = self._outage
            if outage is not None and time.monotonic() < outage.retry_at:
                raise DatabaseUnavailableError(outage.message)
            self._probe(outage)
            if not self._ready:
                self._local.upgrading = True
                try:
                    self._upgrade()
                finally:
                    self._local.upgrading = False
                self._ready = True
                self._opened()
        finally:
            self._probing.release()

    def _probe(self, outage: _Outage | None) -> None:
        """One connection outside the pool, which would say only that it timed out: the
        database's own answer is the cause (a refused connection, a wrong password)."""
        try:
            psycopg.connect(self.url, connect_timeout=5, autocommit=True).close()
        except psycopg.Error as exc:
            cause = _one_line(exc)
            refused = exc.sqlstate is not None or "password" in cause
            limit_s = _RETRY_MAX_REFUSED_S if refused else _RETRY_MAX_S
            wait_s = min(limit_s, max(_RETRY_FIRST_S, 2 * outage.wait_s if outage else 0.0))
            message = f"cannot reach the database: {cause}"
            if outage is None or outage.message != message:
                log.warning("%s (trying again every %.0f s at most)", message, limit_s)
            self._outage = _Outage(message, time.monotonic() + wait_s, wait_s, confirmed=True)
            raise DatabaseUnavailableError(message) from None
        if outage is not None:
            self._outage = None
            if outage.confirmed:
                log.warning("the database can be reached again")

    def _suspect(self) -> None:
        """A connection failed: ask the database directly before the next use."""
        if self._outage is None:
            message = "cannot reach the database: a connection failed"
            self._outage = _Outage(message, 0.0, 0.0, confirmed=False)

    def _opened(self) -> None:
        """Said once the registry is open: whether this is a read replica."""
        row = self._conn().execute("SELECT pg_is_in_recovery()").fetchone()
        self.read_only = bool(row[0])
        if self.read_only:
            log.warning(
                "the database is a read-only replica (hot standby): this server answers "
                "reads, and writes with 503 /problems/read_only (send them to the primary)"
            )

    @contextmanager
    def _borrow(self) -> Iterator[_Connection]:
        try:
            self._reachable()
            conn = self._lend(timeout_s=5)
            try:
                with conn:
                    yield _Connection(conn)
            finally:
                self._pool.putconn(conn)  # a broken one is replaced, not kept
        except pg_errors.ReadOnlySqlTransaction:
            msg = (
                "this database takes no writes (a read replica): send writes to the workers "
                "on the primary"
            )
            raise ReadOnlyError(msg) from None
        except (pg_errors.QueryCanceled, pg_errors.LockNotAvailable) as exc:
            # Before OperationalError, their base: the database is there, but a statement
            # took too long or waited too long on a lock (statement_timeout, lock_timeout).
            # The transaction was rolled back; the connection stays usable.
            lock = isinstance(exc, pg_errors.LockNotAvailable)
            what = "waiting for a lock" if lock else "running a statement"
            msg = f"the database gave up {what} (timeouts {self.timeouts}): {_safe(exc)}"
            raise DatabaseTimeoutError(msg, lock=lock) from None
        except (psycopg.OperationalError, pg_errors.AdminShutdown) as exc:
            self._suspect()
            msg = f"the database is unavailable: {_one_line(exc)}"
            raise DatabaseUnavailableError(msg) from None

    def _lend(self, *, timeout_s: float) -> psycopg.Connection[Any]:
        """A pooled connection the server has not closed.

        After a restart or a failover every idle connection is dead. The pool's own check
        would find that out with a round trip on every loan, and back off a second, then
        two, then four between dead ones; here a healthy idle connection costs no round
        trip, and dead ones are handed back at once until a live or a new one comes.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            conn = self._pool.getconn(timeout=max(0.001, deadline - time.monotonic()))
            if not _closed_by_server(conn):
                return conn
            self._pool.putconn(conn)
            # A restart, a failover, or the server is down: if down, say so now rather
            # than wait for the pool to give up reconnecting.
            self._suspect()
            self._reachable()

    def _conn(self) -> Any:
        return _Reader(self)

    def _bulk_conn(self) -> Any:
        return _Reader(self, timeout_s=self.timeouts.write_s)

    # Street networks' blobs (networks_repo): one row of 25-50 MB per million edges.
    def _blob_conn(self) -> Any:
        return _Reader(self, timeout_s=self.timeouts.write_s, binary=True)

    def _before_blob_write(self, c: Any) -> None:
        # TOAST's default pglz spends ~3.5 s on a 37 MB network and saves ~nothing; lz4
        # takes 0.4 s, keeps ~10 %, and decompresses faster than the bytes travel.
        if self._lz4 is None:
            row = c.execute(
                "SELECT enumvals FROM pg_settings WHERE name = 'default_toast_compression'"
            ).fetchone()
            self._lz4 = row is not None and "lz4" in (row[0] or ())
        if self._lz4:
            c.execute("SET LOCAL default_toast_compression = 'lz4'")

    @contextmanager
    def _write(self) -> Iterator[Any]:
        # (On a read replica the first write statement raises ReadOnlyError; see _borrow.)
        with self._borrow() as c, c.raw.transaction():
            # A write's statements (a 20 MB upload's commit among them) and its wait for
            # its turn behind other writers get the long limit, set before that wait.
            self._long_limits(c, self.timeouts.write_s)
            # Writers queue, as SQLite's BEGIN IMMEDIATE makes them: batch ids are then
            # taken in commit order, so data_version (the last batch id) never skips a
            # batch that commits late.
            c.execute(f"SELECT pg_advisory_xact_lock({_WRITE_LOCK})")
            yield c

    @contextmanager
    def _snapshot(self) -> Iterator[Any]:
        # REPEATABLE READ: every statement sees the snapshot of the first (a hot standby
        # gives it too); the long limits of bulk reads.
        with self._borrow() as c, c.raw.transaction():
            c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._long_limits(c, self.timeouts.write_s)
            yield c

    @contextmanager
    def _keyed_write(self, keys: Sequence[str]) -> Iterator[Any]:
        # Not the writers' lock: a tally makes no batch, so it need not take a batch id in
        # commit order. Writes of the same keys still queue (a client's de-duplication and
        # limits stay exact); the keys in one order, so two never wait for each other.
        with self._borrow() as c, c.raw.transaction():
            self._long_limits(c, self.timeouts.write_s)
            for key in sorted(set(keys)):
                c.execute(
                    "SELECT pg_advisory_xact_lock(?::integer, hashtext(?))", (_TALLY_LOCKS, key)
                )
            yield c

    def close(self) -> None:
        self._pool.close()

    def _is_unique_violation(self, exc: BaseException) -> bool:
        return isinstance(exc, pg_errors.UniqueViolation)

    def _new_ids(self, c: Any, n: int) -> list[int]:
        # Drawn from the sequence _NEW_ID draws from, in one round trip.
        rows = c.execute(
            "SELECT nextval('stations_id_seq') FROM generate_series(1, ?::integer)", (n,)
        ).fetchall()
        return sorted(int(r[0]) for r in rows)

    def _schema(self) -> int | None:
        """The registry's schema version; None in a database holding no registry."""
        c = self._conn()
        if c.execute("SELECT to_regclass('yizhan_schema')").fetchone()[0] is None:
            return None
        row = c.execute("SELECT version FROM yizhan_schema").fetchone()
        return 0 if row is None else int(row[0])

    def _upgrade(self) -> None:
        # Read first, write only to migrate: a registry at this version opens on a
        # read-only hot standby (a read replica) too.
        if self._schema() == schema_version():
            return
        with self._write() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS yizhan_schema (version INTEGER NOT NULL, "
                "app TEXT NOT NULL DEFAULT 'yizhan')"
            )
            row = c.execute("SELECT version, app FROM yizhan_schema").fetchone()
            current = 0 if row is None else int(row[0])
            if current > schema_version():
                msg = (
                    f"the database was written by a newer yizhan (schema {current}, this is "
                    f"{schema_version()}); nothing was changed. Upgrade yizhan to use it."
                )
                raise SchemaError(msg)
            if current == 0:
                others = [r[0] for r in c.execute(_OTHER_TABLES)]
                if others:
                    msg = (
                        "the database is not a yizhan registry (it holds the tables "
                        f"{', '.join(sorted(others)[:5])}); nothing was changed. Point "
                        "YIZHAN_DATABASE_URL at a new, empty database."
                    )
                    raise SchemaError(msg)
            start = current
            if current == 0:  # a new registry: made from the one definition
                schema.create(c.execute, "postgis")
                start = schema.VERSION
            for step in range(start, schema_version()):
                for statement in MIGRATIONS[step].split(";\n"):
                    if statement.strip():
                        c.raw.execute(statement)
                if step == 3:
                    c.execute(
                        "INSERT INTO meta (key, value) VALUES ('feedback_salt', ?)",
                        (secrets.token_hex(32),),
                    )
                if step == 7:
                    backfill_schema_8(c.execute)
                if step == 9:
                    for statement, params in schema.feed_rows():
                        c.execute(statement, params)
                if step == 11:
                    backfill_schema_12(c.execute)
            if row is None:
                c.execute("INSERT INTO yizhan_schema (version) VALUES (?)", (schema_version(),))
            elif current != schema_version():
                c.execute("UPDATE yizhan_schema SET version = ?", (schema_version(),))

    def _after_import(self, c: Any) -> None:
        # Every copied table with a serial id (accounts too): new rows follow the copied.
        serial = [t.name for t in schema.SCHEMA if t.copied and t.columns[0].type == "id"]
        for table in serial:
            c.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )

    # -- what only PostGIS does ---------------------------------------------------------

    def knn(self, lon: float, lat: float, *, k: int) -> list[tuple[int, float]]:
        """PostGIS's own k nearest (GiST ``<->`` on geography), re-ranked by its exact
        ellipsoidal distance (``ST_Distance`` on the spheroid): (id, metres), nearest first."""
        with self._borrow() as c:
            # The point is a parameter, not a column: only then can the GiST index give
            # the candidates in <-> order (a KNN scan) instead of sorting every row.
            rows = c.raw.execute(
                "SELECT id, ST_Distance(geog, ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography,"
                " true) AS d FROM (SELECT id, geog FROM stations ORDER BY geog <-> "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography LIMIT %s) AS cand "
                "ORDER BY d, id LIMIT %s",
                (lon, lat, lon, lat, 4 * k + 16, k),
            ).fetchall()
        return [(int(r[0]), float(r[1])) for r in rows]


class _Reader:
    """Autocommit reads, each on a connection borrowed from the pool for that statement;
    with ``timeout_s``, each in a transaction of its own limited to that instead."""

    def __init__(
        self, store: PostGISStore, *, timeout_s: float | None = None, binary: bool = False
    ) -> None:
        self._store = store
        self._timeout_s = timeout_s
        self._binary = binary  # results in binary: a BYTEA without hex text (3x faster)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._store._borrow() as c:
            if self._timeout_s is None:
                cur = c.execute(sql, params, binary=self._binary)
                rows = cur.fetchall() if cur.description else []
                return _Result(rows, cur.rowcount)
            with c.raw.transaction():
                self._store._long_limits(c, self._timeout_s)
                cur = c.execute(sql, params, binary=self._binary)
                rows = cur.fetchall() if cur.description else []
                return _Result(rows, cur.rowcount)


class _Result:
    """Fetched rows of a statement (the connection went back to the pool)."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def fetchone(self) -> Any:
        return self._rows[0] if self._rows else None

    def fetchall(self) -> list[Any]:
        return self._rows

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)


def _closed_by_server(conn: psycopg.Connection[Any]) -> bool:
    """Whether the server has closed this idle connection (a restart, a failover, an idle
    timeout). Only then is there something to read on its socket, the server's goodbye:
    only then is the server asked (a round trip, which closes a dead connection)."""
    if conn.closed:
        return True
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        ConnectionPool.check_connection(conn)
    except psycopg.Error:
        return True
    return False


@dataclass(frozen=True, slots=True)
class _Outage:
    message: str  # what a caller is told (the cause, in one line)
    retry_at: float  # time.monotonic() of the next connection attempt
    wait_s: float  # the wait before it, doubled after each failure
    confirmed: bool  # by a connection attempt (else only suspected: ask at the next use)


def _one_line(exc: BaseException) -> str:
    """``exc``'s message without credentials, on one line (libpq's run over several)."""
    return " ".join(_safe(exc).split())


def _ms(seconds: float) -> str:
    """A PostgreSQL time setting in milliseconds; 0 (no limit) only for 0."""
    return str(max(1, round(seconds * 1000)) if seconds > 0 else 0)


def _safe(exc: BaseException) -> str:
    """An error message without credentials (a URL's password never reaches a log)."""
    return redact(str(exc)).strip()
