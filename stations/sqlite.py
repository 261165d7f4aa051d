"""The embedded SQLite store: WAL, an R*Tree spatial index, batches, versions, audit."""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geodata.hours import TZ
from stations.auth import Role, TokenRecord
from stations.feedback import FeedbackQuery
from stations.model import Owner, Station
from stations.records import station_from_dict, station_to_dict
from stations.store import (
    AuditEntry,
    Batch,
    Change,
    Create,
    Delete,
    DuplicateStationError,
    Page,
    SchemaError,
    StaleWriteError,
    StationNotFoundError,
    StationQuery,
    Store,
    Update,
    WriteResult,
)

if TYPE_CHECKING:
    from stations.feedback import Feedback, NewFeedback, RateLimit
    from stations.uploads import Upload, UploadRow

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


# Riders' reports. `owner` is the station's owner when reported, used only once the
# station is gone; `client_hash` is a keyed hash of the reporter's address (never the
# address), for the rate limits; the salt is made here, once per registry.
_SCHEMA_V3 = """
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


def _migrate_to_v3(conn: sqlite3.Connection) -> None:
    _run_script(conn, _SCHEMA_V3)


# MIGRATIONS[n] takes a database at schema version n to n + 1, inside one transaction.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _migrate_to_v1,
    _migrate_to_v2,
    _migrate_to_v3,
]


def schema_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


def _now() -> datetime:
    return datetime.now(TZ)


def _dump(doc: dict[str, Any] | None) -> str | None:
    return None if doc is None else json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _dump_any(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _stamp(at: datetime) -> str:
    # One fixed form (Asia/Shanghai, microseconds), so that stored times compare as text.
    return at.astimezone(TZ).isoformat(timespec="microseconds")


class SQLiteStore(Store):
    """A registry in one SQLite file. Safe to share between threads (a connection each)."""

    def __init__(self, path: str | os.PathLike[str], *, timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._lock = threading.Lock()
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
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

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
            for step in range(current, schema_version()):
                MIGRATIONS[step](c)
            if current != schema_version():
                c.execute(f"PRAGMA user_version = {schema_version()}")
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")

    # -- reads -------------------------------------------------------------------------

    @staticmethod
    def _station(row: sqlite3.Row) -> Station:
        doc = json.loads(row["doc"])
        doc["id"] = row["id"]
        doc["version"] = row["version"]
        doc["updated_at"] = row["updated_at"]
        return station_from_dict(doc)

    def find(self, station_id: int) -> Station | None:
        row = self._conn().execute("SELECT * FROM stations WHERE id = ?", (station_id,)).fetchone()
        return None if row is None else self._station(row)

    def find_by_external_id(self, owner: Owner, external_id: str) -> Station | None:
        row = (
            self._conn()
            .execute(
                "SELECT * FROM stations WHERE owner = ? AND external_id = ?",
                (str(owner), external_id),
            )
            .fetchone()
        )
        return None if row is None else self._station(row)

    def _where(self, q: StationQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if q.district:
            clauses.append("district_adcode = ?")
            params.append(q.district)
        if q.owner:
            clauses.append("owner = ?")
            params.append(str(Owner.parse(q.owner)))
        if q.status:
            clauses.append(f"status IN ({','.join('?' * len(q.status))})")
            params.extend(s.value for s in q.status)
        if q.self_service is not None:
            clauses.append("self_service_24h = ?")
            params.append(int(q.self_service))
        for amenity in q.amenities:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(stations.doc, '$.amenities') WHERE value = ?)"
            )
            params.append(amenity)
        if q.bbox is not None:
            clauses.append(
                "id IN (SELECT id FROM station_rtree WHERE min_lon >= ? AND max_lon <= ? "
                "AND min_lat >= ? AND max_lat <= ?)"
            )
            minx, miny, maxx, maxy = q.bbox
            params.extend([minx, maxx, miny, maxy])
        if q.ids is not None:
            clauses.append(f"id IN ({','.join('?' * len(q.ids))})")
            params.extend(q.ids)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def query(self, q: StationQuery, *, limit: int | None = None, offset: int = 0) -> Page:
        where, params = self._where(q)
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM stations{where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT * FROM stations{where} ORDER BY id LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, offset],
        ).fetchall()
        return Page([self._station(r) for r in rows], total)

    def iter_all(self) -> Iterator[Station]:
        for row in self._conn().execute("SELECT * FROM stations ORDER BY id"):
            yield self._station(row)

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM stations").fetchone()[0])

    def data_version(self) -> int:
        row = self._conn().execute("SELECT max(id) FROM batches").fetchone()
        return int(row[0] or 0)

    def changes_since(self, version: int) -> dict[int, Station | None]:
        rows = self._conn().execute(
            "SELECT station_id, after FROM audit WHERE batch_id > ? ORDER BY id", (version,)
        )
        return {
            r["station_id"]: station_from_dict(json.loads(r["after"])) if r["after"] else None
            for r in rows
        }

    # -- writes ------------------------------------------------------------------------

    def apply(
        self,
        changes: Iterable[Change],
        *,
        actor: str,
        kind: str = "api",
        note: str = "",
        upload_id: str | None = None,
    ) -> WriteResult:
        at = _now()
        stamp = at.isoformat()
        ids: list[int] = []
        with self._write() as c:
            if upload_id is not None:
                self._check_upload_state(c, upload_id, kind)
            cur = c.execute(
                "INSERT INTO batches (actor, at, kind, note, changes, upload_id) "
                "VALUES (?, ?, ?, ?, 0, ?)",
                (actor, stamp, kind, note, upload_id),
            )
            batch_id = int(cur.lastrowid or 0)
            for change in changes:
                ids.append(self._apply_one(c, change, at, actor, batch_id))
            c.execute("UPDATE batches SET changes = ? WHERE id = ?", (len(ids), batch_id))
        return WriteResult(Batch(batch_id, actor, at, kind, note, len(ids)), tuple(ids))

    @staticmethod
    def _check_upload_state(c: sqlite3.Connection, upload_id: str, kind: str) -> None:
        from stations.uploads import UploadStateError

        kinds = {
            r[0] for r in c.execute("SELECT kind FROM batches WHERE upload_id = ?", (upload_id,))
        }
        if kind == "upload" and "upload" in kinds:
            msg = f"upload {upload_id} was committed already"
            raise UploadStateError(msg)
        if kind == "revert" and ("upload" not in kinds or "revert" in kinds):
            msg = f"upload {upload_id} is not committed, or was reverted already"
            raise UploadStateError(msg)

    def _apply_one(
        self, c: sqlite3.Connection, change: Change, at: datetime, actor: str, batch_id: int
    ) -> int:
        if isinstance(change, Create):
            return self._insert(c, change.station, at, actor, batch_id)
        if isinstance(change, Update):
            return self._replace(c, change.station, change.expected_version, at, actor, batch_id)
        if isinstance(change, Delete):
            self._remove(c, change.station_id, change.expected_version, at, actor, batch_id)
            return change.station_id
        msg = f"unknown change {change!r}"
        raise TypeError(msg)

    def _audit(
        self,
        c: sqlite3.Connection,
        station_id: int,
        batch_id: int,
        actor: str,
        at: datetime,
        action: str,
        before: Station | None,
        after: Station | None,
    ) -> None:
        c.execute(
            "INSERT INTO audit (station_id, batch_id, actor, at, action, before, after) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                station_id,
                batch_id,
                actor,
                at.isoformat(),
                action,
                _dump(station_to_dict(before) if before else None),
                _dump(station_to_dict(after) if after else None),
            ),
        )

    @staticmethod
    def _doc(station: Station) -> str:
        doc = station_to_dict(station)
        for key in ("id", "version", "updated_at"):
            doc.pop(key)  # kept in their own columns, the one source of truth
        return json.dumps(doc, ensure_ascii=False, sort_keys=True)

    def _insert(
        self, c: sqlite3.Connection, station: Station, at: datetime, actor: str, batch_id: int
    ) -> int:
        stored = station.with_changes(version=1, updated_at=at)
        try:
            cur = c.execute(
                "INSERT INTO stations (id, owner, external_id, district_adcode, status, "
                "self_service_24h, lon, lat, version, updated_at, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    station.id,  # None assigns a new id; a revert puts a deleted one back
                    str(station.owner),
                    station.external_id,
                    station.district_adcode,
                    station.status.value,
                    int(station.self_service_24h),
                    station.lon,
                    station.lat,
                    1,
                    at.isoformat(),
                    self._doc(station),
                ),
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc) and "external_id" in str(exc):
                raise DuplicateStationError(station.owner, station.external_id) from None
            raise
        station_id = int(cur.lastrowid or 0)
        stored = stored.with_changes(id=station_id)
        c.execute(
            "INSERT INTO station_rtree VALUES (?, ?, ?, ?, ?)",
            (station_id, station.lon, station.lon, station.lat, station.lat),
        )
        self._audit(c, station_id, batch_id, actor, at, "create", None, stored)
        return station_id

    def _current(self, c: sqlite3.Connection, station_id: int) -> Station | None:
        row = c.execute("SELECT * FROM stations WHERE id = ?", (station_id,)).fetchone()
        return None if row is None else self._station(row)

    def _replace(
        self,
        c: sqlite3.Connection,
        station: Station,
        expected_version: int,
        at: datetime,
        actor: str,
        batch_id: int,
    ) -> int:
        if station.id is None:
            msg = "an update needs the id of the station it changes"
            raise ValueError(msg)
        before = self._current(c, station.id)
        if before is None:
            raise StationNotFoundError(station.id)
        if before.version != expected_version:
            raise StaleWriteError(station.id, expected_version, before.version)
        stored = station.with_changes(version=before.version + 1, updated_at=at)
        try:
            c.execute(
                "UPDATE stations SET owner = ?, external_id = ?, district_adcode = ?, "
                "status = ?, self_service_24h = ?, lon = ?, lat = ?, version = ?, "
                "updated_at = ?, doc = ? WHERE id = ? AND version = ?",
                (
                    str(station.owner),
                    station.external_id,
                    station.district_adcode,
                    station.status.value,
                    int(station.self_service_24h),
                    station.lon,
                    station.lat,
                    stored.version,
                    at.isoformat(),
                    self._doc(station),
                    station.id,
                    expected_version,
                ),
            )
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise DuplicateStationError(station.owner, station.external_id) from None
            raise
        c.execute(
            "UPDATE station_rtree SET min_lon = ?, max_lon = ?, min_lat = ?, max_lat = ? "
            "WHERE id = ?",
            (station.lon, station.lon, station.lat, station.lat, station.id),
        )
        self._audit(c, station.id, batch_id, actor, at, "update", before, stored)
        return station.id

    def _remove(
        self,
        c: sqlite3.Connection,
        station_id: int,
        expected_version: int | None,
        at: datetime,
        actor: str,
        batch_id: int,
    ) -> None:
        before = self._current(c, station_id)
        if before is None:
            raise StationNotFoundError(station_id)
        if expected_version is not None and before.version != expected_version:
            raise StaleWriteError(station_id, expected_version, before.version)
        c.execute("DELETE FROM stations WHERE id = ?", (station_id,))
        c.execute("DELETE FROM station_rtree WHERE id = ?", (station_id,))
        self._audit(c, station_id, batch_id, actor, at, "delete", before, None)

    # -- history -----------------------------------------------------------------------

    def audit(
        self, *, station_id: int | None = None, batch_id: int | None = None
    ) -> list[AuditEntry]:
        clauses, params = [], []
        if station_id is not None:
            clauses.append("station_id = ?")
            params.append(station_id)
        if batch_id is not None:
            clauses.append("batch_id = ?")
            params.append(batch_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = self._conn().execute(f"SELECT * FROM audit{where} ORDER BY id", params)
        return [
            AuditEntry(
                id=r["id"],
                station_id=r["station_id"],
                batch_id=r["batch_id"],
                actor=r["actor"],
                at=datetime.fromisoformat(r["at"]),
                action=r["action"],
                before=json.loads(r["before"]) if r["before"] else None,
                after=json.loads(r["after"]) if r["after"] else None,
            )
            for r in rows
        ]

    def batches(self, *, limit: int = 100) -> list[Batch]:
        rows = self._conn().execute("SELECT * FROM batches ORDER BY id DESC LIMIT ?", (limit,))
        return [
            Batch(
                r["id"],
                r["actor"],
                datetime.fromisoformat(r["at"]),
                r["kind"],
                r["note"],
                r["changes"],
            )
            for r in rows
        ]

    # -- tokens ------------------------------------------------------------------------

    def save_token(self, record: TokenRecord) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO tokens (id, name, role, code, secret_sha256, created_at, revoked_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.name,
                    record.role.value,
                    record.code,
                    record.secret_sha256,
                    record.created_at.isoformat(),
                    record.revoked_at.isoformat() if record.revoked_at else None,
                ),
            )

    @staticmethod
    def _token(r: sqlite3.Row) -> TokenRecord:
        return TokenRecord(
            id=r["id"],
            name=r["name"],
            role=Role(r["role"]),
            code=r["code"],
            secret_sha256=r["secret_sha256"],
            created_at=datetime.fromisoformat(r["created_at"]),
            revoked_at=datetime.fromisoformat(r["revoked_at"]) if r["revoked_at"] else None,
        )

    def find_token(self, token_id: str) -> TokenRecord | None:
        row = self._conn().execute("SELECT * FROM tokens WHERE id = ?", (token_id,)).fetchone()
        return None if row is None else self._token(row)

    def list_tokens(self) -> list[TokenRecord]:
        rows = self._conn().execute("SELECT * FROM tokens ORDER BY created_at, id")
        return [self._token(r) for r in rows]

    def revoke_token(self, token_id: str, at: datetime) -> bool:
        with self._write() as c:
            cur = c.execute(
                "UPDATE tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                (at.isoformat(), token_id),
            )
            return cur.rowcount > 0

    # -- uploads -----------------------------------------------------------------------

    def create_upload(self, upload: Upload) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO uploads (id, actor, owner, filename, crs, full_list, created_at, "
                "base_version, unknown_columns, columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.id,
                    upload.actor,
                    upload.owner,
                    upload.filename,
                    upload.crs,
                    int(upload.full_list),
                    upload.created_at.isoformat(),
                    upload.base_version,
                    _dump_any(list(upload.unknown_columns)),
                    _dump_any(upload.columns),
                ),
            )

    def add_upload_rows(self, upload_id: str, rows: Sequence[UploadRow]) -> None:
        with self._write() as c:
            c.executemany(
                "INSERT INTO upload_rows (upload_id, seq, row, action, external_id, station_id, "
                "expected_version, station, changed, problems, warnings) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        upload_id,
                        r.seq,
                        r.row,
                        r.action,
                        r.external_id,
                        r.station_id,
                        r.expected_version,
                        _dump(station_to_dict(r.station)) if r.station else None,
                        _dump_any(list(r.changed)),
                        _dump_any(list(r.problems)),
                        _dump_any(list(r.warnings)),
                    )
                    for r in rows
                ],
            )

    def add_upload_warnings(self, upload_id: str, by_row: dict[int, dict[str, Any]]) -> None:
        with self._write() as c:
            for row, warning in by_row.items():
                found = c.execute(
                    "SELECT seq, warnings FROM upload_rows WHERE upload_id = ? AND row = ?",
                    (upload_id, row),
                ).fetchone()
                if found is not None:
                    warnings = [*json.loads(found["warnings"]), warning]
                    c.execute(
                        "UPDATE upload_rows SET warnings = ? WHERE upload_id = ? AND seq = ?",
                        (_dump_any(warnings), upload_id, found["seq"]),
                    )

    def finish_upload(self, upload_id: str, counts: dict[str, int]) -> None:
        with self._write() as c:
            c.execute(
                "UPDATE uploads SET planned = 1, counts = ? WHERE id = ?",
                (_dump_any(counts), upload_id),
            )

    def find_upload(self, upload_id: str) -> Upload | None:
        from stations.uploads import Upload, UploadStatus

        conn = self._conn()
        r = conn.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        if r is None:
            return None
        batches = {
            b["kind"]: b["id"]
            for b in conn.execute(
                "SELECT id, kind FROM batches WHERE upload_id = ? ORDER BY id", (upload_id,)
            )
        }
        if "revert" in batches:
            status = UploadStatus.REVERTED
        elif "upload" in batches:
            status = UploadStatus.COMMITTED
        else:
            status = UploadStatus.DRY_RUN if r["planned"] else UploadStatus.PLANNING
        return Upload(
            id=r["id"],
            actor=r["actor"],
            owner=r["owner"],
            filename=r["filename"],
            crs=r["crs"],
            full_list=bool(r["full_list"]),
            created_at=datetime.fromisoformat(r["created_at"]),
            base_version=r["base_version"],
            status=status,
            counts=json.loads(r["counts"]),
            unknown_columns=tuple(json.loads(r["unknown_columns"])),
            columns=json.loads(r["columns"]),
            batch_id=batches.get("upload"),
            revert_batch_id=batches.get("revert"),
        )

    def iter_upload_rows(
        self,
        upload_id: str,
        *,
        actions: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[UploadRow]:
        from stations.uploads import UploadRow

        where = "upload_id = ?"
        params: list[Any] = [upload_id]
        if actions:
            where += f" AND action IN ({','.join('?' * len(actions))})"
            params.extend(actions)
        # A fresh connection per stream: the caller may write (apply) while reading.
        rows = self._conn().execute(
            f"SELECT * FROM upload_rows WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, offset],
        )
        for r in rows:
            yield UploadRow(
                seq=r["seq"],
                row=r["row"],
                action=r["action"],
                external_id=r["external_id"],
                station_id=r["station_id"],
                expected_version=r["expected_version"],
                station=station_from_dict(json.loads(r["station"])) if r["station"] else None,
                changed=tuple(json.loads(r["changed"])),
                problems=tuple(json.loads(r["problems"])),
                warnings=tuple(json.loads(r["warnings"])),
            )

    # -- riders' reports -----------------------------------------------------------------

    def feedback_salt(self) -> bytes:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'feedback_salt'").fetchone()
        if row is None:  # pragma: no cover - the v3 migration makes it
            msg = "the registry has no feedback salt; it was not migrated to schema 3"
            raise SchemaError(msg)
        return bytes.fromhex(row[0])

    @staticmethod
    def _feedback(r: sqlite3.Row) -> Feedback:
        from stations.feedback import Feedback, FeedbackKind

        return Feedback(
            id=r["id"],
            station_id=r["station_id"],
            owner=r["owner"],
            kind=FeedbackKind(r["kind"]),
            note=r["note"],
            created_at=datetime.fromisoformat(r["created_at"]),
            resolved_at=datetime.fromisoformat(r["resolved_at"]) if r["resolved_at"] else None,
            resolved_by=r["resolved_by"],
            resolution_note=r["resolution_note"],
        )

    def add_feedback(self, report: NewFeedback, *, limits: Sequence[RateLimit] = ()) -> Feedback:
        from stations.feedback import TooManyReportsError

        now = report.created_at
        with self._write() as c:
            for limit in limits:
                column, value = (
                    ("client_hash", report.client_hash)
                    if limit.scope == "client"
                    else ("station_id", report.station_id)
                )
                start = now - timedelta(seconds=limit.window_s)
                rows = c.execute(
                    f"SELECT created_at FROM feedback WHERE {column} = ? AND created_at > ? "
                    "ORDER BY created_at",
                    (value, _stamp(start)),
                ).fetchall()
                if len(rows) >= limit.count:
                    # Free again when the oldest report that counts leaves the window.
                    oldest = datetime.fromisoformat(rows[len(rows) - limit.count][0])
                    wait = (oldest + timedelta(seconds=limit.window_s) - now).total_seconds()
                    raise TooManyReportsError(limit.scope, max(1, math.ceil(wait)))
            cur = c.execute(
                "INSERT INTO feedback (station_id, owner, kind, note, created_at, client_hash) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    report.station_id,
                    report.owner,
                    report.kind.value,
                    report.note,
                    _stamp(now),
                    report.client_hash,
                ),
            )
            feedback_id = int(cur.lastrowid or 0)
        return self.get_feedback(feedback_id)

    def find_feedback(self, feedback_id: int) -> Feedback | None:
        found, _ = self.list_feedback(FeedbackQuery(feedback_id=feedback_id))
        return found[0] if found else None

    def list_feedback(
        self, q: FeedbackQuery, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Feedback], int]:
        clauses: list[str] = []
        params: list[Any] = []
        if q.owner is not None:
            # The station's owner now (a transferred station's reports go with it); the
            # owner when reported once the station is deleted.
            clauses.append("coalesce(s.owner, f.owner) = ?")
            params.append(q.owner)
        if q.unresolved is not None:
            clauses.append("f.resolved_at IS NULL" if q.unresolved else "f.resolved_at IS NOT NULL")
        if q.station_id is not None:
            clauses.append("f.station_id = ?")
            params.append(q.station_id)
        if q.feedback_id is not None:
            clauses.append("f.id = ?")
            params.append(q.feedback_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        source = "feedback f LEFT JOIN stations s ON s.id = f.station_id"
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM {source}{where}", params).fetchone()[0]
        rows = conn.execute(
            "SELECT f.id, f.station_id, coalesce(s.owner, f.owner) AS owner, f.kind, f.note, "
            "f.created_at, f.resolved_at, f.resolved_by, f.resolution_note "
            f"FROM {source}{where} "
            "ORDER BY f.created_at DESC, f.id DESC LIMIT ? OFFSET ?",
            [*params, -1 if limit is None else limit, offset],
        ).fetchall()
        return [self._feedback(r) for r in rows], int(total)

    def resolve_feedback(
        self, feedback_id: int, *, actor: str, note: str, at: datetime
    ) -> Feedback:
        from stations.feedback import FeedbackNotFoundError, FeedbackResolvedError

        with self._write() as c:
            row = c.execute("SELECT * FROM feedback WHERE id = ?", (feedback_id,)).fetchone()
            if row is None:
                raise FeedbackNotFoundError(feedback_id)
            if row["resolved_at"] is not None:
                raise FeedbackResolvedError(feedback_id)
            c.execute(
                "UPDATE feedback SET resolved_at = ?, resolved_by = ?, resolution_note = ? "
                "WHERE id = ?",
                (_stamp(at), actor, note, feedback_id),
            )
        return self.get_feedback(feedback_id)

    def unresolved_feedback_counts(
        self, station_ids: Sequence[int], *, since: datetime
    ) -> dict[int, dict[str, int]]:
        if not station_ids:
            return {}
        ids = sorted(set(station_ids))
        rows = self._conn().execute(
            "SELECT station_id, kind, count(*) AS n FROM feedback "
            f"WHERE station_id IN ({','.join('?' * len(ids))}) AND created_at > ? "
            "AND resolved_at IS NULL GROUP BY station_id, kind",
            [*ids, _stamp(since)],
        )
        out: dict[int, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["station_id"], {})[r["kind"]] = r["n"]
        return out
