"""What the SQL stores share: stations, batches, audit, tokens, uploads, demand layers.

The SQLite and PostGIS stores differ in their connections, schema management and spatial
index; every statement here is written once, with ``?`` placeholders (the PostGIS store's
connections translate them), ``RETURNING`` for new ids, and TEXT for times (ISO 8601)
and JSON, so both hold the same values.
"""

from __future__ import annotations

import json
import math
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from geodata.hours import TZ
from stations.domain.auth import Role, TokenRecord
from stations.domain.changes import (
    AuditEntry,
    Batch,
    Change,
    Create,
    Delete,
    Page,
    StationQuery,
    Update,
    WriteResult,
)
from stations.domain.demand import DemandLayer
from stations.domain.errors import (
    DuplicateStationError,
    ForbiddenError,
    ReadOnlyError,
    SchemaError,
    StaleWriteError,
    StationNotFoundError,
)
from stations.domain.feedback import (
    Feedback,
    FeedbackKind,
    FeedbackNotFoundError,
    FeedbackQuery,
    FeedbackResolvedError,
    NewFeedback,
    RateLimit,
    TooManyReportsError,
)
from stations.domain.figures import MAPPED_COUNTS_RULES, mapped_counts, mapped_totals
from stations.domain.model import Owner, Station
from stations.domain.records import station_from_dict, station_to_dict
from stations.domain.uploads import Upload, UploadRow, UploadStateError, UploadStatus
from stations.storage.schema import COLUMNS, KEYS, TABLES
from stations.storage.store import Store

__all__ = ["COLUMNS", "KEYS", "TABLES", "SQLStore", "migrate"]

# Each change of a write: the station before and after it (None: not there).
_Touched = list[tuple[Station | None, Station | None]]


def _minus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _plus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


def _now() -> datetime:
    return datetime.now(TZ)


def _dump(doc: dict[str, Any] | None) -> str | None:
    return None if doc is None else json.dumps(doc, ensure_ascii=False, sort_keys=True)


def _dump_any(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _stamp(at: datetime) -> str:
    # One fixed form (Asia/Shanghai, microseconds), so that stored times compare as text.
    return at.astimezone(TZ).isoformat(timespec="microseconds")


class SQLStore(Store):
    """A registry in SQL tables; subclasses supply connections, schema and spatial hooks."""

    # SQL fragments that differ between engines (each takes the parameters shown).
    _AMENITY_CLAUSE = ""  # one ?: the amenity code
    _BBOX_CLAUSE = ""  # four ?: minlon, maxlon, minlat, maxlat
    _NEW_ID = "?"  # one ?: the id, or NULL for a new one
    _NO_LIMIT: int | None = -1  # the LIMIT value that means none
    _NOW_S = ""  # the database's clock, in seconds since 1970 (a float)

    @abstractmethod
    def _conn(self) -> Any:
        """This thread's connection (execute/executemany with ? placeholders)."""

    def _bulk_conn(self) -> Any:
        """A connection for reads of the whole registry or of a whole batch (the read index
        loading or catching up, a commit reading its upload, exports): these run under a
        write's time limit, not a request's."""
        return self._conn()

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A write transaction: commits on success, rolls back on any error."""

    @abstractmethod
    def _is_unique_violation(self, exc: BaseException) -> bool: ...

    def _index_point(self, c: Any, station_id: int, lon: float, lat: float) -> None:
        """Add a station to the spatial index, if the engine keeps one apart."""

    def _move_point(self, c: Any, station_id: int, lon: float, lat: float) -> None:
        """Move a station in the spatial index, if the engine keeps one apart."""

    def _unindex_point(self, c: Any, station_id: int) -> None:
        """Remove a station from the spatial index, if the engine keeps one apart."""

    # -- reads -------------------------------------------------------------------------

    @staticmethod
    def _station(row: Any) -> Station:
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
            clauses.append(self._AMENITY_CLAUSE)
            params.append(amenity)
        if q.bbox is not None:
            clauses.append(self._BBOX_CLAUSE)
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
            [*params, self._NO_LIMIT if limit is None else limit, offset],
        ).fetchall()
        return Page([self._station(r) for r in rows], total)

    def iter_all(self) -> Iterator[Station]:
        for row in self._bulk_conn().execute("SELECT * FROM stations ORDER BY id"):
            yield self._station(row)

    def count(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM stations").fetchone()[0])

    def data_version(self) -> int:
        row = self._conn().execute("SELECT max(id) FROM batches").fetchone()
        return int(row[0] or 0)

    def changes_since(self, version: int) -> dict[int, Station | None]:
        # In audit-id order, which is batch order (writers queue); said as (batch_id, id) so
        # that the batch index serves it, not a scan of the whole trail.
        rows = self._bulk_conn().execute(
            "SELECT station_id, after FROM audit WHERE batch_id > ? ORDER BY batch_id, id",
            (version,),
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
            batch_id = int(
                c.execute(
                    "INSERT INTO batches (actor, at, kind, note, changes, upload_id) "
                    "VALUES (?, ?, ?, ?, 0, ?) RETURNING id",
                    (actor, stamp, kind, note, upload_id),
                ).fetchone()[0]
            )
            touched: list[tuple[Station | None, Station | None]] = []
            for change in changes:
                ids.append(self._apply_one(c, change, at, actor, batch_id, touched))
            c.execute("UPDATE batches SET changes = ? WHERE id = ?", (len(ids), batch_id))
            if touched:
                self._keep_history(c, stamp[:10], touched)
        self._written(batch_id)
        return WriteResult(Batch(batch_id, actor, at, kind, note, len(ids)), tuple(ids))

    @staticmethod
    def _check_upload_state(c: Any, upload_id: str, kind: str) -> None:

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
        self, c: Any, change: Change, at: datetime, actor: str, batch_id: int, touched: _Touched
    ) -> int:
        if isinstance(change, Create):
            return self._insert(c, change.station, at, actor, batch_id, touched)
        if isinstance(change, Update):
            return self._replace(
                c, change.station, change.expected_version, at, actor, batch_id, touched
            )
        if isinstance(change, Delete):
            self._remove(
                c, change.station_id, change.expected_version, at, actor, batch_id, touched
            )
            return change.station_id
        msg = f"unknown change {change!r}"
        raise TypeError(msg)

    def _audit(
        self,
        c: Any,
        station_id: int,
        batch_id: int,
        actor: str,
        at: datetime,
        action: str,
        before: Station | None,
        after: Station | None,
        touched: _Touched,
    ) -> None:
        touched.append((before, after))
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
    def _columns(station: Station) -> tuple[Any, ...]:
        """The columns kept beside the document, for queries: owner to lat, in table order."""
        return (
            str(station.owner),
            station.external_id,
            station.district_adcode,
            station.status.value,
            int(station.self_service_24h),
            station.lon,
            station.lat,
        )

    @staticmethod
    def _doc(station: Station) -> str:
        doc = station_to_dict(station)
        for key in ("id", "version", "updated_at"):
            doc.pop(key)  # kept in their own columns, the one source of truth
        return json.dumps(doc, ensure_ascii=False, sort_keys=True)

    def _insert(
        self, c: Any, station: Station, at: datetime, actor: str, batch_id: int, touched: _Touched
    ) -> int:
        stored = station.with_changes(version=1, updated_at=at)
        try:
            cur = c.execute(
                "INSERT INTO stations (id, owner, external_id, district_adcode, status, "
                "self_service_24h, lon, lat, version, updated_at, doc) "
                f"VALUES ({self._NEW_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    station.id,  # None assigns a new id; a revert puts a deleted one back
                    *self._columns(station),
                    1,
                    at.isoformat(),
                    self._doc(station),
                ),
            )
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise DuplicateStationError(station.owner, station.external_id) from None
            raise
        station_id = int(cur.fetchone()[0])
        stored = stored.with_changes(id=station_id)
        self._index_point(c, station_id, station.lon, station.lat)
        self._audit(c, station_id, batch_id, actor, at, "create", None, stored, touched)
        return station_id

    def _current(self, c: Any, station_id: int) -> Station | None:
        row = c.execute("SELECT * FROM stations WHERE id = ?", (station_id,)).fetchone()
        return None if row is None else self._station(row)

    def _replace(
        self,
        c: Any,
        station: Station,
        expected_version: int,
        at: datetime,
        actor: str,
        batch_id: int,
        touched: _Touched,
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
                    *self._columns(station),
                    stored.version,
                    at.isoformat(),
                    self._doc(station),
                    station.id,
                    expected_version,
                ),
            )
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise DuplicateStationError(station.owner, station.external_id) from None
            raise
        self._move_point(c, station.id, station.lon, station.lat)
        self._audit(c, station.id, batch_id, actor, at, "update", before, stored, touched)
        return station.id

    def _remove(
        self,
        c: Any,
        station_id: int,
        expected_version: int | None,
        at: datetime,
        actor: str,
        batch_id: int,
        touched: _Touched,
    ) -> None:
        before = self._current(c, station_id)
        if before is None:
            raise StationNotFoundError(station_id)
        if expected_version is not None and before.version != expected_version:
            raise StaleWriteError(station_id, expected_version, before.version)
        c.execute("DELETE FROM stations WHERE id = ?", (station_id,))
        self._unindex_point(c, station_id)
        self._audit(c, station_id, batch_id, actor, at, "delete", before, None, touched)

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

    # -- the 上图 history (schema v6) -----------------------------------------------------

    # Audit entries replayed at a time when a history is built: memory stays one page's.
    _HISTORY_PAGE = 2000
    # Per threshold, a replay this process keeps where it cannot store one (a replica):
    # (days, what each station counts for, the last audit id replayed).
    _replays_lock = threading.Lock()

    @property
    def _replays(self) -> dict[float, Any]:
        found = self.__dict__.get("_history_replays")
        if found is None:
            found = self.__dict__["_history_replays"] = {}
        return found

    @staticmethod
    def _add_history(c: Any, threshold_m: float, days: dict[str, tuple[int, int, int]]) -> None:
        c.executemany(
            "INSERT INTO mapped_history (threshold_m, day, active, listed_all, precise_all) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (threshold_m, day) DO UPDATE SET "
            "active = mapped_history.active + excluded.active, "
            "listed_all = mapped_history.listed_all + excluded.listed_all, "
            "precise_all = mapped_history.precise_all + excluded.precise_all",
            [(threshold_m, day, *change) for day, change in days.items()],
        )

    def _keep_history(self, c: Any, day: str, touched: _Touched) -> None:
        """Add a write's net change to each history kept (one per precise threshold asked
        for), in the write's transaction."""

        kept = c.execute(
            "SELECT threshold_m FROM mapped_history_thresholds WHERE rules = ?",
            (MAPPED_COUNTS_RULES,),
        ).fetchall()
        if not kept:
            return
        before = [b for b, _ in touched if b is not None]
        after = [a for _, a in touched if a is not None]
        for (threshold_m,) in kept:
            t = float(threshold_m)
            now, then = mapped_totals(after, threshold_m=t), mapped_totals(before, threshold_m=t)
            self._add_history(c, t, {day: _minus(now, then)})

    def _replay_history(
        self,
        conn: Any,
        threshold_m: float,
        *,
        after_id: int,
        days: dict[str, tuple[int, int, int]],
        current: dict[int, tuple[int, int, int]],
    ) -> int:
        """Add to ``days`` each day's net change from the audit entries after ``after_id``,
        a page at a time, ``current`` holding what each station counts for now; return the
        last entry's id. Only the records after each change are read: the one before is
        the station's previous entry's."""

        last = after_id
        while rows := conn.execute(
            "SELECT id, station_id, at, after FROM audit WHERE id > ? ORDER BY id LIMIT ?",
            (last, self._HISTORY_PAGE),
        ).fetchall():
            afters = [station_from_dict(json.loads(r["after"])) for r in rows if r["after"]]
            counts = iter(mapped_counts(afters, threshold_m=threshold_m))
            for r in rows:
                old = current.pop(r["station_id"], (0, 0, 0))
                new = (0, 0, 0)
                if r["after"]:
                    new = current[r["station_id"]] = next(counts)
                day = r["at"][:10]
                days[day] = _plus(days.get(day, (0, 0, 0)), _minus(new, old))
            last = int(rows[-1]["id"])
        return last

    def _replayed_history(
        self,
        threshold_m: float,
        replay: tuple[dict[str, tuple[int, int, int]], dict[int, tuple[int, int, int]], int],
    ) -> list[tuple[str, int, int, int]]:
        with self._replays_lock:
            self._replays[threshold_m] = replay
        days = replay[0]
        return [(day, *days[day]) for day in sorted(days)]

    def mapped_history_days(self, *, threshold_m: float) -> list[tuple[str, int, int, int]]:

        conn = self._conn()
        check = "SELECT rules FROM mapped_history_thresholds WHERE threshold_m = ?"
        kept = conn.execute(check, (threshold_m,)).fetchone()
        if kept is None or kept[0] != MAPPED_COUNTS_RULES:
            # Built once per threshold from the whole trail (outside the writers' queue),
            # then, queued, from what was written meanwhile; every write keeps it after.
            # Memory: a page of the trail, and three counts per station.
            with self._replays_lock:
                days, current, upto = self._replays.pop(threshold_m, ({}, {}, 0))
            upto = self._replay_history(
                self._bulk_conn(), threshold_m, after_id=upto, days=days, current=current
            )
            try:
                with self._write() as c:
                    kept = c.execute(check, (threshold_m,)).fetchone()
                    if kept is None or kept[0] != MAPPED_COUNTS_RULES:
                        self._replay_history(
                            c, threshold_m, after_id=upto, days=days, current=current
                        )
                        for table in ("mapped_history", "mapped_history_thresholds"):
                            c.execute(f"DELETE FROM {table} WHERE threshold_m = ?", (threshold_m,))
                        self._add_history(c, threshold_m, days)
                        c.execute(
                            "INSERT INTO mapped_history_thresholds (threshold_m, rules) "
                            "VALUES (?, ?)",
                            (threshold_m, MAPPED_COUNTS_RULES),
                        )
            except ReadOnlyError:
                # A read replica cannot keep it (the primary will, once asked there): this
                # process keeps its own replay, and goes on from where it stopped.
                return self._replayed_history(threshold_m, (days, current, upto))
        rows = conn.execute(
            "SELECT day, active, listed_all, precise_all FROM mapped_history "
            "WHERE threshold_m = ? ORDER BY day",
            (threshold_m,),
        )
        return [(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows]

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
    def _token(r: Any) -> TokenRecord:
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

    _UNCOMMITTED = "NOT EXISTS (SELECT 1 FROM batches b WHERE b.upload_id = uploads.id)"

    def delete_upload(self, upload_id: str) -> bool:
        with self._write() as c:
            found = c.execute(
                f"SELECT id FROM uploads WHERE id = ? AND {self._UNCOMMITTED}", (upload_id,)
            ).fetchone()
            if found is None:
                return False
            c.execute("DELETE FROM upload_rows WHERE upload_id = ?", (upload_id,))
            c.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            return True

    def purge_uploads(self, *, created_before: datetime) -> int:
        # created_at is stored as ISO text in Asia/Shanghai, so text order is time order.
        cutoff = created_before.astimezone(TZ).isoformat()
        with self._write() as c:
            ids = [
                r["id"]
                for r in c.execute(
                    f"SELECT id FROM uploads WHERE created_at < ? AND {self._UNCOMMITTED}",
                    (cutoff,),
                ).fetchall()
            ]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                c.execute(f"DELETE FROM upload_rows WHERE upload_id IN ({marks})", chunk)
                c.execute(f"DELETE FROM uploads WHERE id IN ({marks})", chunk)
            return len(ids)

    def iter_upload_rows(
        self,
        upload_id: str,
        *,
        actions: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[UploadRow]:

        where = "upload_id = ?"
        params: list[Any] = [upload_id]
        if actions:
            where += f" AND action IN ({','.join('?' * len(actions))})"
            params.extend(actions)
        # A fresh connection per stream: the caller may write (apply) while reading. All of
        # an upload's rows is what a commit reads: a bulk read.
        conn = self._conn() if limit is not None else self._bulk_conn()
        rows = conn.execute(
            f"SELECT * FROM upload_rows WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",
            [*params, self._NO_LIMIT if limit is None else limit, offset],
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

    # -- demand layers ---------------------------------------------------------------------

    @staticmethod
    def _check_demand_owner(
        c: Any, name: str, may_change: Callable[[str], bool] | None
    ) -> str | None:
        """The owner of layer ``name`` (None if there is none), refused (ForbiddenError)
        unless ``may_change`` allows it: checked inside the write's transaction."""
        row = c.execute("SELECT owner FROM demand_layers WHERE name = ?", (name,)).fetchone()
        owner = None if row is None else str(row[0])
        if owner is not None and may_change is not None and not may_change(owner):
            msg = (
                f"需求图层 {name!r} 属于 {owner}，只有它的所有者或市总工会可以替换或删除它"
                f"（the demand layer {name!r} belongs to {owner}: only its owner or the city "
                "union may replace or delete it; pick another name）"
            )
            raise ForbiddenError(msg)
        return owner

    def save_demand(
        self,
        layer: DemandLayer,
        *,
        actor: str,
        may_replace: Callable[[str], bool] | None = None,
    ) -> None:
        labels = layer.labels or ("",) * len(layer)
        with self._write() as c:
            # A replaced layer keeps its owner (the city union may replace a district's).
            owner = self._check_demand_owner(c, layer.name, may_replace) or layer.owner
            c.execute("DELETE FROM demand_layers WHERE name = ?", (layer.name,))
            c.execute(
                "INSERT INTO demand_layers (name, sample, updated_at, actor, source, owner)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    layer.name,
                    int(layer.sample),
                    _now().isoformat(),
                    actor,
                    json.dumps(layer.source),
                    owner,
                ),
            )
            c.executemany(
                "INSERT INTO demand_points (layer, seq, lon, lat, weight, label)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    (layer.name, i, x, y, w, label)
                    for i, (x, y, w, label) in enumerate(
                        zip(
                            layer.lon.tolist(),
                            layer.lat.tolist(),
                            layer.weight.tolist(),
                            labels,
                            strict=True,
                        )
                    )
                ),
            )

    def find_demand(self, name: str) -> DemandLayer | None:

        conn = self._conn()
        head = conn.execute("SELECT * FROM demand_layers WHERE name = ?", (name,)).fetchone()
        if head is None:
            return None
        rows = conn.execute(
            "SELECT lon, lat, weight, label FROM demand_points WHERE layer = ? ORDER BY seq",
            (name,),
        ).fetchall()
        return DemandLayer(
            head["name"],
            np.array([r[0] for r in rows], np.float64),
            np.array([r[1] for r in rows], np.float64),
            np.array([r[2] for r in rows], np.float64),
            tuple(r[3] for r in rows),
            sample=bool(head["sample"]),
            updated_at=datetime.fromisoformat(head["updated_at"]),
            actor=head["actor"],
            source=json.loads(head["source"]),
            owner=head["owner"],
        )

    def list_demand(self) -> list[dict[str, Any]]:
        rows = self._conn().execute(
            "SELECT l.name, l.sample, l.updated_at, l.owner, COUNT(p.seq) AS points,"
            " COALESCE(SUM(p.weight), 0) AS total_weight"
            " FROM demand_layers l LEFT JOIN demand_points p ON p.layer = l.name"
            " GROUP BY l.name, l.sample, l.updated_at, l.owner ORDER BY l.name"
        )
        return [
            {
                "name": r["name"],
                "points": r["points"],
                "total_weight": round(r["total_weight"], 3),
                "sample": bool(r["sample"]),
                "updated_at": r["updated_at"],
                "owner": r["owner"],
            }
            for r in rows
        ]

    def delete_demand(self, name: str, *, may_delete: Callable[[str], bool] | None = None) -> bool:
        with self._write() as c:
            self._check_demand_owner(c, name, may_delete)
            return c.execute("DELETE FROM demand_layers WHERE name = ?", (name,)).rowcount > 0

    # -- riders' reports -----------------------------------------------------------------

    def feedback_salt(self) -> bytes:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'feedback_salt'").fetchone()
        if row is None:  # pragma: no cover - the schema-4 migration makes it
            msg = "the registry has no feedback salt; it was not migrated to schema 4"
            raise SchemaError(msg)
        return bytes.fromhex(row[0])

    @staticmethod
    def _feedback(r: Any) -> Feedback:

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
            feedback_id = int(
                c.execute(
                    "INSERT INTO feedback (station_id, owner, kind, note, created_at, client_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        report.station_id,
                        report.owner,
                        report.kind.value,
                        report.note,
                        _stamp(now),
                        report.client_hash,
                    ),
                ).fetchone()[0]
            )
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
            [*params, self._NO_LIMIT if limit is None else limit, offset],
        ).fetchall()
        return [self._feedback(r) for r in rows], int(total)

    def resolve_feedback(
        self, feedback_id: int, *, actor: str, note: str, at: datetime
    ) -> Feedback:

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

    # -- failed authentications ------------------------------------------------------------

    def auth_failure_ages(self, client_hash: str, *, window_s: float) -> list[float]:
        rows = self._conn().execute(
            f"SELECT {self._NOW_S} - at FROM auth_failures WHERE client_hash = ? "
            f"AND at > {self._NOW_S} - ? ORDER BY at",
            (client_hash, window_s),
        )
        return [float(r[0]) for r in rows]

    def add_auth_failure(self, client_hash: str, *, keep_s: float) -> None:
        # Not a write batch (no turn to wait for, no registry version): a note kept for one
        # rate-limit window, each statement its own transaction.
        c = self._conn()
        c.execute(
            f"INSERT INTO auth_failures (client_hash, at) VALUES (?, {self._NOW_S})",
            (client_hash,),
        )
        c.execute(f"DELETE FROM auth_failures WHERE at < {self._NOW_S} - ?", (keep_s,))

    # -- moving a registry between engines (yizhan migrate) -------------------------------

    def export_table(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of one of :data:`TABLES`, in :data:`COLUMNS` order, by key."""
        columns = COLUMNS[table]
        order = ", ".join(KEYS[table])
        rows = self._bulk_conn().execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
        )
        return [tuple(r[c] for c in columns) for r in rows]

    def is_empty(self) -> bool:
        # meta is made with the schema (the feedback salt): it does not count.
        return all(
            self._conn().execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0
            for t in TABLES
            if t != "meta"
        )

    def import_tables(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        """Load rows exported by :meth:`export_table` into this empty registry, in one
        transaction: ids, versions, times, audit and uploads exactly as they were."""
        with self._write() as c:
            for table in TABLES:
                rows = tables.get(table, [])
                if not rows:
                    continue
                columns = COLUMNS[table]
                if table == "meta":  # the source's values replace the new registry's
                    c.executemany("DELETE FROM meta WHERE key = ?", [(r[0],) for r in rows])
                marks = ", ".join("?" * len(columns))
                c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
                if table == "stations":
                    at = {name: i for i, name in enumerate(columns)}
                    for r in rows:
                        self._index_point(c, r[at["id"]], r[at["lon"]], r[at["lat"]])
            # The 上图 history is rebuilt from the imported audit trail when next asked.
            c.execute("DELETE FROM mapped_history")
            c.execute("DELETE FROM mapped_history_thresholds")
            self._after_import(c)

    def _after_import(self, c: Any) -> None:
        """Bring id generators past the imported ids, if the engine needs it."""


def migrate(source: SQLStore, target: SQLStore, *, log: Any = None) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``; return rows per table.

    Refuses a target that holds anything. Checks afterwards that every table came across
    row for row, field for field.
    """
    if not target.is_empty():
        msg = "the target registry is not empty; migrate only into a new, empty database"
        raise ValueError(msg)
    tables = {}
    for table in TABLES:
        tables[table] = source.export_table(table)
        if log:
            log(f"read {table}: {len(tables[table]):,} rows")
    target.import_tables(tables)
    for table in TABLES:
        if target.export_table(table) != tables[table]:
            msg = f"{table} differs after the copy; the target should be discarded"
            raise RuntimeError(msg)
    if log:
        log("checked: every table is the same, row for row")
    return {t: len(rows) for t, rows in tables.items()}
