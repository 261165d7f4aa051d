"""What every SQL store shares: connections, write transactions and the dialect hooks.

The SQLite and PostGIS stores differ in their connections, schema management and spatial
index; every statement of the repositories (stations_repo.py, uploads_repo.py, ...) is
written once, with ``?`` placeholders (the PostGIS store's connections translate them),
``RETURNING`` for new ids, and TEXT for times (ISO 8601) and JSON, so both hold the same
values.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson

from geodata.hours import TZ


def now() -> datetime:
    """The time of a write, as stored (Asia/Shanghai)."""
    return datetime.now(TZ)


def dump_doc(doc: dict[str, Any] | None) -> str | None:
    """A record as stored: compact JSON with sorted keys, so equal records are equal text
    (orjson: a tenth of the time of json.dumps, which wrote the records stored before
    issue 18, with spaces after its separators; both read back the same). A record is
    validated: its numbers are finite (orjson would write NaN as null)."""
    if doc is None:
        return None
    return dump_doc_utf8(doc).decode()


def dump_doc_utf8(doc: dict[str, Any]) -> bytes:
    """dump_doc's text as UTF-8 bytes, for a bulk write that binds them where the engine
    takes them as that text (``SQLBase._UTF8_TEXT``): decoding 200,000 documents to str
    for the driver to encode them again cost an upload's commit 0.3 s."""
    return orjson.dumps(doc, option=_DOC_OPTIONS, default=_plain)


_DOC_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _plain(value: Any) -> Any:
    """What json.dumps wrote of a value orjson does not take: a subclass of float, int or
    str (json took those as their base type)."""
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return base(value)
    msg = f"Type is not JSON serializable: {type(value).__name__}"
    raise TypeError(msg)


def dump_json(value: Any) -> str:
    """Any other JSON value as stored."""
    return json.dumps(value, ensure_ascii=False)


def stamp(at: datetime) -> str:
    # One fixed form (Asia/Shanghai, microseconds), so that stored times compare as text.
    return at.astimezone(TZ).isoformat(timespec="microseconds")


class SQLBase(ABC):
    """The plumbing the repositories use; subclasses supply connections, schema and
    spatial hooks."""

    # SQL fragments that differ between engines (each takes the parameters shown).
    _AMENITY_CLAUSE = ""  # one ?: the amenity code
    _BBOX_CLAUSE = ""  # four ?: minlon, maxlon, minlat, maxlat
    _NEW_ID = "?"  # one ?: the id, or NULL for a new one
    _UTF8_TEXT = "CAST(? AS TEXT)"  # one ?: UTF-8 bytes (dump_doc_utf8's), stored as text
    _NO_LIMIT: int | None = -1  # the LIMIT value that means none
    _NOW_S = ""  # the database's clock, in seconds since 1970 (a float)
    _SKIP_LOCKED = ""  # after a subquery's LIMIT: rows another writer holds are left to it

    @abstractmethod
    def _conn(self) -> Any:
        """This thread's connection (execute/executemany with ? placeholders)."""

    def _bulk_conn(self) -> Any:
        """A connection for reads of the whole registry or of a whole batch (the read index
        loading or catching up, a commit reading its upload, exports): these run under a
        write's time limit, not a request's."""
        return self._conn()

    # -- the engine's hooks for large rows (PostGIS overrides them): a network's arrays,
    # -- a plan's chunk of rows

    def _blob_conn(self) -> Any:
        """A connection for reading a blob row (the bulk limits: a 50 MB row is no query a
        request makes)."""
        return self._bulk_conn()

    def _before_blob_write(self, c: Any) -> None:
        """Called first in a transaction that writes a blob (PostGIS: a fast compression)."""
        return  # SQLite: nothing to set

    @abstractmethod
    def _write(self) -> AbstractContextManager[Any]:
        """A write transaction: commits on success, rolls back on any error."""

    def _keyed_write(self, keys: Sequence[str]) -> AbstractContextManager[Any]:
        """A write transaction for tallies outside the registry's batches (check-ins): it
        waits only for writes of the same ``keys`` (a client, a station), not for every
        writer, where the engine can; by default, any write transaction."""
        return self._write()

    @abstractmethod
    def _is_unique_violation(self, exc: BaseException) -> bool: ...

    # Whether a batch's time is the database's clock (several hosts write to one database)
    # rather than this process's.
    _DATABASE_CLOCK = False

    def _batch_time(self, c: Any, clock: Callable[[], datetime] | None = None) -> datetime:
        """The time of a new batch, inside its write transaction after the write lock: never
        before the previous batch's, so that batches' times (and stations' ``updated_at``)
        are in commit order even when a clock steps back or hosts' clocks differ. From
        ``clock`` if given, else the engine's."""
        if clock is not None:
            at = clock()
        elif self._DATABASE_CLOCK:
            at = datetime.fromtimestamp(float(c.execute(f"SELECT {self._NOW_S}").fetchone()[0]), TZ)
        else:
            at = now()
        last = c.execute("SELECT at FROM batches ORDER BY id DESC LIMIT 1").fetchone()
        return at if last is None else max(at, datetime.fromisoformat(last[0]))

    def _snapshot(self) -> AbstractContextManager[Any]:
        """A connection for reads that all see one snapshot of the registry (a whole
        export), on any thread, until the context ends."""
        raise NotImplementedError

    def _new_ids(self, c: Any, n: int) -> list[int]:
        """``n`` new station ids, in increasing order, inside the write transaction (which
        holds the writers' lock): as ``_NEW_ID`` would give them one by one."""
        raise NotImplementedError

    # Optional hooks (so not abstract): PostGIS keeps its index in the stations table.
    def _index_point(self, c: Any, station_id: int, lon: float, lat: float) -> None:  # noqa: B027
        """Add a station to the spatial index, if the engine keeps one apart."""

    def _index_points(self, c: Any, points: Sequence[tuple[int, float, float]]) -> None:
        """Add stations (id, lon, lat) to the spatial index, if the engine keeps one apart."""
        for station_id, lon, lat in points:
            self._index_point(c, station_id, lon, lat)

    def _before_bulk_insert(self, c: Any) -> None:  # noqa: B027
        """In a write transaction, before a bulk insert (a chunk of an upload's new
        stations): what the engine needs for it, kept until the transaction ends."""

    def _move_point(self, c: Any, station_id: int, lon: float, lat: float) -> None:  # noqa: B027
        """Move a station in the spatial index, if the engine keeps one apart."""

    def _unindex_point(self, c: Any, station_id: int) -> None:  # noqa: B027
        """Remove a station from the spatial index, if the engine keeps one apart."""

    def _stations_passed(  # noqa: B027
        self, c: Any, moved: dict[int, tuple[str, str]], actor: str, at: datetime
    ) -> None:
        """In a station write's transaction: stations that passed to another union
        (id -> (old owner, new owner)); what follows them (their events) follows here."""
