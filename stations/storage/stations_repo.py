"""The stations in SQL: the stations table and its spatial index, write batches, the audit
trail, the registry version and what changed since one, and the 上图 history per day.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import orjson

from stations.domain.changes import (
    AuditEntry,
    Batch,
    Change,
    Create,
    CreateRecord,
    Delete,
    Page,
    StationQuery,
    Update,
    WriteResult,
)
from stations.domain.errors import (
    DuplicateStationError,
    ReadOnlyError,
    StaleWriteError,
    StationNotFoundError,
)
from stations.domain.figures import MAPPED_COUNTS_RULES, mapped_counts, mapped_totals
from stations.domain.model import Owner, Station
from stations.domain.records import station_from_dict, station_to_dict
from stations.domain.uploads import UploadStateError
from stations.storage.codes_repo import assign_code, new_codes
from stations.storage.sqlbase import SQLBase, dump_doc, dump_doc_utf8
from stations.storage.store import StationStore

# The clock of new batches: None, the engine's (PostGIS: the database's, see
# SQLBase._batch_time); tests and benchmarks set a function to stage days.
now: Callable[[], datetime] | None = None


class _Touched:
    """Each change of a write, the station before and after it (None: not there), as the
    上图 history needs them: folded into the net totals of each threshold kept a page at a
    time, so that a write of 100,000 stations holds a page of them, not all."""

    _PAGE = 2000

    def __init__(self, c: Any) -> None:
        self._c = c
        self._pending: list[tuple[Station | None, Station | None]] = []
        self._net: dict[float, tuple[int, int, int]] | None = None  # threshold -> net
        self.changes = 0
        self.passed: dict[int, tuple[str, str]] = {}  # station id -> (old owner, new owner)

    def append(self, change: tuple[Station | None, Station | None]) -> None:
        self._pending.append(change)
        self.changes += 1
        if len(self._pending) >= self._PAGE:
            self._fold()

    def extend(self, changes: Iterable[tuple[Station | None, Station | None]]) -> None:
        for change in changes:
            self.append(change)

    def keeps_history(self) -> bool:
        """Whether any history is kept: else the records need not be made for it."""
        if self._net is None:  # the thresholds kept, read in the write's transaction
            kept = self._c.execute(
                "SELECT threshold_m FROM mapped_history_thresholds WHERE rules = ?",
                (MAPPED_COUNTS_RULES,),
            ).fetchall()
            self._net = {float(r[0]): (0, 0, 0) for r in kept}
        return bool(self._net)

    def count(self, n: int) -> None:
        """``n`` changes whose records no history needs (keeps_history said so)."""
        self.changes += n

    def _fold(self) -> None:
        if self.keeps_history():
            assert self._net is not None
            before = [b for b, _ in self._pending if b is not None]
            after = [a for _, a in self._pending if a is not None]
            for t, net in self._net.items():
                after_totals, before_totals = (
                    mapped_totals(after, threshold_m=t),
                    mapped_totals(before, threshold_m=t),
                )
                self._net[t] = _plus(net, _minus(after_totals, before_totals))
        self._pending.clear()

    def net(self) -> dict[float, tuple[int, int, int]]:
        """The write's net change of each kept threshold's totals (none kept: empty)."""
        self._fold()
        assert self._net is not None
        return self._net


def _minus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def _plus(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    return (a[0] + b[0], a[1] + b[1], a[2] + b[2])


# What a stored station's row holds beside its id, version, time and code: one home,
# its record (station_to_dict's), whether the write holds a Station or only the record.
_BOOKKEEPING = ("id", "version", "updated_at", "code")  # kept in their own columns


def record_columns(record: dict[str, Any]) -> tuple[Any, ...]:
    """The columns kept beside the document, for queries: owner to lat, in table order."""
    return (
        record["owner"],
        record["external_id"],
        record["district_adcode"],
        record["status"],
        int(record["self_service_24h"]),
        record["lon"],
        record["lat"],
    )


def record_doc(record: dict[str, Any]) -> str:
    """The stored document: the record without what its own columns keep (the one source
    of truth of those)."""
    return record_doc_utf8(record).decode()


def record_doc_utf8(record: dict[str, Any]) -> bytes:
    """record_doc's text as UTF-8 bytes (sqlbase.dump_doc_utf8)."""
    doc = dict(record)
    for key in _BOOKKEEPING:
        doc.pop(key, None)
    return dump_doc_utf8(doc)


class SQLStations(SQLBase, StationStore):
    """The StationStore interface in SQL tables (plumbing: sqlbase.py)."""

    # -- reads -------------------------------------------------------------------------

    # What _station reads of a row: selecting only these costs reading the whole registry
    # (the read index's load) a third less in the database than ``SELECT *``.
    _STATION_COLUMNS = "id, version, updated_at, code, doc"

    @staticmethod
    def _station(row: Any) -> Station:
        doc = orjson.loads(row["doc"])
        doc["id"] = row["id"]
        doc["version"] = row["version"]
        doc["updated_at"] = row["updated_at"]
        doc["code"] = row["code"]
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

    _IN_PARAMS = 500  # values per IN (...): well under both engines' parameter limits

    def find_by_external_ids(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Station]:
        by_owner: dict[str, list[str]] = {}
        for owner, external_id in dict.fromkeys(keys):
            by_owner.setdefault(owner, []).append(external_id)
        found: dict[tuple[str, str], Station] = {}
        conn = self._conn()
        for owner, codes in by_owner.items():
            for start in range(0, len(codes), self._IN_PARAMS):
                part = codes[start : start + self._IN_PARAMS]
                rows = conn.execute(
                    "SELECT * FROM stations WHERE owner = ? "
                    f"AND external_id IN ({','.join('?' * len(part))})",
                    [owner, *part],
                )
                for row in rows:
                    found[(row["owner"], row["external_id"])] = self._station(row)
        return found

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
        query = f"SELECT {self._STATION_COLUMNS} FROM stations ORDER BY id"
        for row in self._bulk_conn().execute(query):
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
        ids: list[int] = []
        with self._write() as c:
            # Taken holding the write lock: batches' times then follow their commit order.
            at = self._batch_time(c, now)
            stamp = at.isoformat()
            if upload_id is not None:
                self._check_upload_state(c, upload_id, kind)
            batch_id = int(
                c.execute(
                    "INSERT INTO batches (actor, at, kind, note, changes, upload_id) "
                    "VALUES (?, ?, ?, ?, 0, ?) RETURNING id",
                    (actor, stamp, kind, note, upload_id),
                ).fetchone()[0]
            )
            touched = _Touched(c)
            ids.extend(self._apply_all(c, changes, at, actor, batch_id, touched))
            c.execute("UPDATE batches SET changes = ? WHERE id = ?", (len(ids), batch_id))
            if touched.passed:  # the stations' events pass with them, in this transaction
                self._stations_passed(c, touched.passed, actor, at)
            if touched.changes:
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

    # New stations inserted together (an upload's creates): one statement per table for
    # this many, instead of seven each. 1 (or less): each on its own, as before issue 18.
    _BULK_ROWS = 1000

    def _apply_all(
        self,
        c: Any,
        changes: Iterable[Change],
        at: datetime,
        actor: str,
        batch_id: int,
        touched: _Touched,
    ) -> Iterator[int]:
        """Apply the changes in order; runs of new stations go in bulk (_insert_many)."""
        run: list[dict[str, Any]] = []  # the run's records
        bulk = self._BULK_ROWS > 1
        for change in changes:
            # type() is, not isinstance: exactly these two kinds go in bulk (and the
            # checks narrow ``change`` for the type checker).
            if bulk and type(change) is CreateRecord:
                record = change.record
            elif bulk and type(change) is Create and change.station.id is None:
                record = station_to_dict(change.station)
            else:
                if run:
                    yield from self._insert_many(c, run, at, actor, batch_id, touched)
                    run = []
                yield self._apply_one(c, change, at, actor, batch_id, touched)
                continue
            run.append(record)
            if len(run) >= self._BULK_ROWS:
                yield from self._insert_many(c, run, at, actor, batch_id, touched)
                run = []
        if run:
            yield from self._insert_many(c, run, at, actor, batch_id, touched)

    def _taken_keys(self, c: Any, keys: list[tuple[str, str]]) -> bool:
        """Whether any (owner, external id) of ``keys`` is stored already, or twice in it."""
        return len(set(keys)) < len(keys) or bool(self._ids_of(c, keys))

    def _ids_of(self, c: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        by_owner: dict[str, list[str]] = {}
        for owner, external_id in keys:
            by_owner.setdefault(owner, []).append(external_id)
        found: dict[tuple[str, str], int] = {}
        for owner, codes in by_owner.items():
            for start in range(0, len(codes), self._IN_PARAMS):
                part = codes[start : start + self._IN_PARAMS]
                rows = c.execute(
                    "SELECT id, external_id FROM stations WHERE owner = ? "
                    f"AND external_id IN ({','.join('?' * len(part))})",
                    [owner, *part],
                ).fetchall()
                found.update(((owner, str(r[1])), int(r[0])) for r in rows)
        return found

    def _insert_many(
        self,
        c: Any,
        records: list[dict[str, Any]],
        at: datetime,
        actor: str,
        batch_id: int,
        touched: _Touched,
    ) -> list[int]:
        """Insert new stations given by their records (station_to_dict's, no id) as _insert
        does one by one: the same rows (from the same record_columns and record_doc), ids
        in order, codes, spatial index and audit entries, a statement per table. No Station
        is made unless a history is kept (it counts Stations)."""
        keys = [(r["owner"], r["external_id"]) for r in records]
        if self._taken_keys(c, keys):
            # One of them cannot go in: one by one, so the first that cannot says so.
            return [
                self._insert(c, station_from_dict(r), at, actor, batch_id, touched) for r in records
            ]
        self._before_bulk_insert(c)
        stamp = at.isoformat()
        codes = new_codes(c.execute, len(records))
        ids = self._new_ids(c, len(records))
        # Each statement's rows are made as it binds them (generators), not held as lists:
        # a chunk's documents then never live all at once (holding 1,000 freshly made
        # documents costs more than making them).
        c.executemany(
            "INSERT INTO stations (id, owner, external_id, district_adcode, status, "
            "self_service_24h, lon, lat, version, updated_at, doc, code) "
            f"VALUES ({self._NEW_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?, {self._UTF8_TEXT}, ?)",
            (
                (i, *record_columns(r), 1, stamp, record_doc_utf8(r), code)
                for i, r, code in zip(ids, records, codes, strict=True)
            ),
        )
        c.executemany(
            "INSERT INTO station_codes (code, station_id, created_at) VALUES (?, ?, ?)",
            ((code, i, stamp) for code, i in zip(codes, ids, strict=True)),
        )
        self._index_points(c, [(i, r["lon"], r["lat"]) for i, r in zip(ids, records, strict=True)])

        # The audit's record is station_to_dict of the stored station: the planned record
        # with what storing gave it (as _insert's, to the text).
        def afters() -> Iterator[dict[str, Any]]:
            for r, i, code in zip(records, ids, codes, strict=True):
                yield {**r, "id": i, "version": 1, "updated_at": stamp, "code": code}

        if touched.keeps_history():
            touched.extend((None, station_from_dict(a)) for a in afters())
        else:
            touched.count(len(records))
        c.executemany(
            "INSERT INTO audit (station_id, batch_id, actor, at, action, before, after) "
            f"VALUES (?, ?, ?, ?, 'create', NULL, {self._UTF8_TEXT})",
            (
                (i, batch_id, actor, stamp, dump_doc_utf8(a))
                for i, a in zip(ids, afters(), strict=True)
            ),
        )
        return ids

    def _apply_one(
        self, c: Any, change: Change, at: datetime, actor: str, batch_id: int, touched: _Touched
    ) -> int:
        if isinstance(change, Create):
            return self._insert(c, change.station, at, actor, batch_id, touched)
        if isinstance(change, CreateRecord):
            station = station_from_dict(change.record)
            return self._insert(c, station, at, actor, batch_id, touched)
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
                dump_doc(station_to_dict(before) if before else None),
                dump_doc(station_to_dict(after) if after else None),
            ),
        )

    def _insert(
        self, c: Any, station: Station, at: datetime, actor: str, batch_id: int, touched: _Touched
    ) -> int:
        stored = station.with_changes(version=1, updated_at=at)
        record = station_to_dict(station)
        try:
            cur = c.execute(
                "INSERT INTO stations (id, owner, external_id, district_adcode, status, "
                "self_service_24h, lon, lat, version, updated_at, doc) "
                f"VALUES ({self._NEW_ID}, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (
                    station.id,  # None assigns a new id; a revert puts a deleted one back
                    *record_columns(record),
                    1,
                    at.isoformat(),
                    record_doc(record),
                ),
            )
        except Exception as exc:
            if self._is_unique_violation(exc):
                raise DuplicateStationError(station.owner, station.external_id) from None
            raise
        station_id = int(cur.fetchone()[0])
        code = assign_code(c.execute, station_id, at.isoformat())
        c.execute("UPDATE stations SET code = ? WHERE id = ?", (code, station_id))
        stored = stored.with_changes(id=station_id, code=code)
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
        # The code is kept for ever (the row's column is not updated): the record says it.
        stored = station.with_changes(version=before.version + 1, updated_at=at, code=before.code)
        record = station_to_dict(station)
        try:
            c.execute(
                "UPDATE stations SET owner = ?, external_id = ?, district_adcode = ?, "
                "status = ?, self_service_24h = ?, lon = ?, lat = ?, version = ?, "
                "updated_at = ?, doc = ? WHERE id = ? AND version = ?",
                (
                    *record_columns(record),
                    stored.version,
                    at.isoformat(),
                    record_doc(record),
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
        if str(before.owner) != str(station.owner):
            old = touched.passed.get(station.id, (str(before.owner), ""))[0]
            touched.passed[station.id] = (old, str(station.owner))
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

        for t, net in touched.net().items():
            self._add_history(c, t, {day: net})

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
