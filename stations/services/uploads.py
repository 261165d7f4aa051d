"""Uploads by unions: plan row by row (a dry run), then commit atomically, or revert.

An upload is planned into the store in chunks, so a 100,000-row file needs bounded memory
and the report can be paged. Committing applies the planned changes in one batch; it is
refused when a station the plan changes was changed by someone else since (its version
moved on) or another upload took the same code. Reverting applies the inverse of the
committed batch from the audit trail, again refused if anything was changed since.
"""

from __future__ import annotations

import gc
import re
import threading
import unicodedata
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from geodata.crs import CoordinateSystem, from_wgs84, parse_crs
from geodata.districts import DEFAULT_BORDER_TOLERANCE_M, Districts
from geodata.hours import TZ
from geodata.nearest import NearestIndex
from stations.domain.auth import Principal, check_upload_access
from stations.domain.changes import (
    Change,
    Create,
    CreateRecord,
    Delete,
    StationQuery,
    Update,
    WriteResult,
)
from stations.domain.errors import StaleWriteError, StationNotFoundError
from stations.domain.model import Owner, Station, Status
from stations.domain.records import station_from_dict
from stations.domain.uploads import (
    CHUNK_ROWS,
    CRS_HELP,
    DRY_RUN_RETENTION_H,
    DUPLICATE_RADIUS_M,
    MAX_CLOSE_SHARE,
    ClosureCheck,
    ClosuresUnconfirmedError,
    PlannedCreate,
    Upload,
    UploadNotFoundError,
    UploadRow,
    UploadStateError,
    UploadStatus,
    changed_fields,
    crs_notes,
    new_upload_id,
    said_by_file,
    upload_crs,
)
from stations.domain.validation import (
    Converted,
    Problem,
    ValidationError,
    build_station,
    convert_positions,
    hours_warnings,
    parse_bool,
    plain_hours_warnings,
    plain_records,
    plain_station,
    self_service_problems,
    text_problem,
    visible,
)
from stations.formats.fields import MAX_HEADER_CHARS, POSITION, field_label
from stations.formats.io import (
    FileLimits,
    FileRefusedError,
    StationRows,
    read_rows,
    rejected_workbook,
)
from stations.formats.table import Cells, Row
from stations.storage.store import Store


def closure_check(
    store: Store, upload: Upload, *, max_share: float = MAX_CLOSE_SHARE
) -> ClosureCheck | None:
    """For a full list: how many of the union's open stations it closes (None otherwise)."""
    if not upload.full_list or upload.owner is None:
        return None
    c = upload.counts
    open_now = sum(
        1 for s in _owned(store, Owner.parse(upload.owner)) if s.status is not Status.CLOSED
    )
    return ClosureCheck(
        would_close=c.get("close", 0),
        of_stations=max(open_now, c.get("close", 0)),
        accepted_rows=upload.accepted,
        max_share=max_share,
    )


def _problem(
    p: Problem, columns: dict[str, str], source: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A row's problem for the report: the file's own header of its field (the one-column
    position's for lon/lat; the field's Chinese name when the file has no such column)
    and, when the problem names none, the cell's value as uploaded."""
    out = p.as_dict()
    column = columns.get(p.field)
    if column is None and p.field in ("lon", "lat"):
        column = columns.get(POSITION)
    stop = p.field.startswith("stops[")  # a stop's problem: the stops column's
    if column is None and stop:
        column = columns.get("stops")
    out["column"] = column if column is not None else field_label("stops" if stop else p.field)
    if out.get("value") is None and source and column is not None:
        value = source.get(column[:MAX_HEADER_CHARS])
        if value is not None and str(value).strip():
            out["value"] = value
    return out


class _DuplicateFinder:
    """Flags likely duplicates: another station of the same name, or any within 30 m."""

    def __init__(self, store_stations: Iterable[Station]) -> None:
        # name -> the first two distinct keys (owner/code) of that name, registry then file:
        # the first of them that is not a row's own is the one its warning names.
        # (One key as itself, two as a tuple: no list per name.)
        self.names: dict[str, str | tuple[str, str]] = {}
        self.keys: list[str] = []
        lon, lat = array("d"), array("d")
        for s in store_stations:  # one at a time: the registry's records are not all kept
            key = f"{s.owner}/{s.external_id}"
            self._named(s.name, key)
            self.keys.append(key)
            lon.append(s.lon)
            lat.append(s.lat)
        self.index = NearestIndex(np.frombuffer(lon), np.frombuffer(lat))
        # The file's accepted rows: position and row number, for within_file.
        self.file_lon, self.file_lat, self.file_rows = array("d"), array("d"), array("q")

    def _named(self, name: str, key: str) -> None:
        keys = self.names.get(name)
        if keys is None:
            self.names[name] = key
        elif isinstance(keys, str) and keys != key:
            self.names[name] = (keys, key)

    def _keys_named(self, name: str) -> tuple[str, ...]:
        keys = self.names.get(name)
        return () if keys is None else (keys,) if isinstance(keys, str) else keys

    def near_registry(self, lon: list[float], lat: list[float]) -> list[bool]:
        """For a chunk of rows' positions: whether any registered station may lie within
        DUPLICATE_RADIUS_M (one tree query; False proves none does)."""
        if not len(self.index) or not lon:
            return [False] * len(lon)
        x, y = np.array(lon, np.float64), np.array(lat, np.float64)
        return (self.index.count_near(x, y, DUPLICATE_RADIUS_M, k=1) > 0).tolist()

    def check(self, station: Station, row: int, *, near: bool = True) -> list[dict[str, Any]]:
        """The row's duplicate warnings; ``near`` False: no registered station lies within
        DUPLICATE_RADIUS_M (near_registry said so), none is looked for."""
        return self.check_at(
            f"{station.owner}/{station.external_id}",
            station.name,
            station.lon,
            station.lat,
            row,
            near=near,
        )

    def check_at(
        self, key: str, name: str, lon: float, lat: float, row: int, *, near: bool = True
    ) -> list[dict[str, Any]]:
        """check() of the station ``key`` (owner/code) named ``name`` at ``lon``/``lat``."""
        warnings: list[dict[str, Any]] = []
        keys = self.names.get(name)
        if keys is None:
            self.names[name] = key
        else:
            if isinstance(keys, str):
                same_name = None if keys == key else keys
            else:
                same_name = keys[0] if keys[0] != key else keys[1] if keys[1] != key else None
            if same_name is not None:
                warnings.append(
                    {
                        "code": "possible_duplicate_name",
                        "field": "name",
                        "message": f"已有同名驿站“{name}”（{same_name}），请确认不是重复登记",
                    }
                )
                self._named(name, key)
        if near and len(self.index):
            found = self.index.query(lon, lat, k=5, radius_m=DUPLICATE_RADIUS_M)
            others = [
                (self.keys[i], d)
                for i, d in zip(found.index, found.distance_m, strict=True)
                if self.keys[i] != key
            ]
            if others:
                other, dist = others[0]
                warnings.append(
                    {
                        "code": "possible_duplicate_nearby",
                        "field": "lon",
                        "message": f"{dist:.0f} 米内已有驿站（{other}），请确认不是重复登记",
                    }
                )
        self.file_lon.append(lon)
        self.file_lat.append(lat)
        self.file_rows.append(row)
        return warnings

    def within_file(self) -> dict[int, dict[str, Any]]:
        """Rows lying within 30 m of another row of the same file."""
        if len(self.file_rows) < 2:
            return {}
        lon, lat = np.frombuffer(self.file_lon), np.frombuffer(self.file_lat)
        index = NearestIndex(lon, lat)
        out: dict[int, dict[str, Any]] = {}
        # Each point finds itself: only those with a second point near are looked at.
        maybe = np.flatnonzero(index.count_near(lon, lat, DUPLICATE_RADIUS_M, k=2) >= 2)
        for j in maybe.tolist():
            x, y, row = self.file_lon[j], self.file_lat[j], self.file_rows[j]
            found = index.query(x, y, k=2, radius_m=DUPLICATE_RADIUS_M)
            other = [i for i in found.index if i != j]
            if other:
                out[row] = {
                    "code": "possible_duplicate_nearby",
                    "field": "lon",
                    "message": f"与文件第 {self.file_rows[other[0]]} 行相距不到 "
                    f"{DUPLICATE_RADIUS_M:.0f} 米，请确认不是重复登记",
                }
        return out


MATCH_RADIUS_M = 100.0  # a row without a code is its union's station of that name within this


def _normal_name(name: str) -> str:
    return re.sub(r"[\s·•・()（）]+", "", unicodedata.normalize("NFKC", name)).lower()


@dataclass(slots=True)
class _OwnStations:
    """One union's stations, for matching the rows of a sheet without its codes."""

    by_name: dict[str, list[Station]]
    stations: list[Station]
    index: NearestIndex
    codes: set[str]
    next_number: int = 1

    @classmethod
    def of(cls, store: Store, owner: Owner) -> _OwnStations:
        stations = list(_owned(store, owner))
        by_name: dict[str, list[Station]] = {}
        for s in stations:
            by_name.setdefault(_normal_name(s.name), []).append(s)
        index = NearestIndex(
            np.array([s.lon for s in stations], np.float64),
            np.array([s.lat for s in stations], np.float64),
        )
        return cls(by_name, stations, index, {s.external_id for s in stations})

    def new_code(self, owner: Owner) -> str:
        """The next free code ``<union code>-0001`` (deterministic: the same sheet gets the
        same codes in the same order)."""
        while True:
            code = f"{owner.code}-{self.next_number:04d}"
            self.next_number += 1
            if code not in self.codes:
                self.codes.add(code)
                return code


def _name(station: Station) -> str:
    return f"“{station.name}”（编号 {station.external_id}）"


def _match(
    own: _OwnStations, station: Station, taken: set[str]
) -> tuple[str | None, list[dict[str, Any]]]:
    """The code of the union's station this row (without a code) is, and likely matches.

    Same name within MATCH_RADIUS_M: that station. Same name farther, or another name
    within it: a likely match, said in a warning; never merged silently."""
    same = [
        s for s in own.by_name.get(_normal_name(station.name), []) if s.external_id not in taken
    ]
    near: list[tuple[Station, float]] = []
    if len(own.index):
        found = own.index.query(station.lon, station.lat, k=5, radius_m=MATCH_RADIUS_M)
        near = [
            (own.stations[i], float(d))
            for i, d in zip(found.index, found.distance_m, strict=True)
            if own.stations[i].external_id not in taken
        ]
    for s, _d in near:
        if _normal_name(s.name) == _normal_name(station.name):
            return s.external_id, []
    warnings: list[dict[str, Any]] = []
    if same:
        warnings.append(
            {
                "code": "likely_match_name",
                "field": "name",
                "message": f"本工会已有同名驿站{_name(same[0])}，但位置相距超过 "
                f"{MATCH_RADIUS_M:.0f} 米；已作为新驿站（新编号），"
                "如是同一驿站请在文件中填写其编号",
            }
        )
    elif near:
        other, dist = near[0]
        warnings.append(
            {
                "code": "likely_match_position",
                "field": "name",
                "message": f"{dist:.0f} 米内已有本工会驿站{_name(other)}，名称不同；"
                "已作为新驿站（新编号），如是同一驿站请在文件中填写其编号",
            }
        )
    return None, warnings


_T = TypeVar("_T")


def _chunks(rows: Iterable[_T], size: int = CHUNK_ROWS) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# While any upload is planned, the cyclic collector's youngest generation runs after this
# many more container allocations than frees (the interpreter's default: 700). Planning makes
# a few containers per row (cells, a record, its lists), nearly all freed by reference
# counting or kept in the chunk; at 700 a 100,000-row dry run spent ~1 s of ~7 s CPU in
# ~1,000 collections that found nothing to free; at 10,000, 0.04 s.
_PLANNING_GC_THRESHOLD = 10_000
_planning_gc = {"plans": 0, "threshold": 0}
_planning_gc_lock = threading.Lock()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """The collector's first threshold raised while a plan runs (the setting is the
    process's: the first plan to start raises it, the last to end puts back what it was)."""
    with _planning_gc_lock:
        if _planning_gc["plans"] == 0:
            first, *rest = gc.get_threshold()
            _planning_gc["threshold"] = first
            if first and first < _PLANNING_GC_THRESHOLD:  # 0: collection is off, left so
                gc.set_threshold(_PLANNING_GC_THRESHOLD, *rest)
        _planning_gc["plans"] += 1
    try:
        yield
    finally:
        with _planning_gc_lock:
            _planning_gc["plans"] -= 1
            if _planning_gc["plans"] == 0 and gc.get_threshold()[0] == _PLANNING_GC_THRESHOLD:
                gc.set_threshold(_planning_gc["threshold"], *gc.get_threshold()[1:])


def plan_upload(
    rows: Iterable[tuple[int, dict[str, Any]]],
    *,
    store: Store,
    districts: Districts,
    by: Principal,
    filename: str,
    crs: CoordinateSystem | str | None,
    full_list: bool = False,
    unknown_columns: Iterable[str] = (),
    columns: dict[str, str] | None = None,
    on_row: Callable[[int], None] | None = None,
    retention_h: float = DRY_RUN_RETENTION_H,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
    notes: Callable[[], Iterable[str]] | None = None,
) -> Upload:
    """Check every row against the registry and store the plan (a dry run); change nothing.

    A row without a code is matched to its union's station by name and position (see
    :func:`_match`), else given a new code. ``notes``: how the file was read, asked once
    every row is (the reader gathers them as it goes), stored with the upload.

    A district union's rows must lie in its district, or within ``border_tolerance_m``
    of it (filed as its own, with a row warning); a union may only touch its own
    stations. With ``full_list``, the union's stations missing from the file are closed.
    ``crs`` None: each row names its own system (a row that does not is rejected). Dry runs
    older than ``retention_h`` hours are removed first. If reading the rows fails, the
    half-made plan is removed and the error raised: no upload is left "planning".
    """
    crs = parse_crs(crs) if crs is not None else None
    # A header may hold anything a file does; what is stored holds no control character.
    columns = {k: visible(str(v)) for k, v in (columns or {}).items()}
    now = datetime.now(TZ)
    store.purge_uploads(created_before=now - timedelta(hours=retention_h))
    upload = Upload(
        id=new_upload_id(),
        actor=by.actor,
        owner=str(by.owner) if by.owner else None,
        filename=visible(filename),
        crs=crs.value if crs is not None else "file",
        full_list=full_list,
        created_at=now,
        base_version=store.data_version(),
        unknown_columns=tuple(visible(str(c)) for c in unknown_columns),
        columns=columns,
    )
    store.create_upload(upload)
    finder = _DuplicateFinder(store.iter_all())
    counts = {"create": 0, "update": 0, "close": 0, "unchanged": 0, "rejected": 0}
    ctx = _RowContext(
        store,
        districts,
        by,
        crs,
        finder,
        columns,
        border_tolerance_m,
        fill_from_stored=_to_fill(columns),
    )
    seen = ctx.seen
    seq = 0

    def planned() -> Iterator[UploadRow | PlannedCreate]:
        # A chunk at a time: its positions converted and looked up in one pass, then each
        # row checked in file order, then the registry asked once for the chunk's codes.
        nonlocal seq
        count = 0
        plain = _PlainLane.of(rows, ctx)
        if plain is not None:
            for raw_chunk in _raw_chunks(plain.rows):
                for result in plain.chunk(raw_chunk, seq, count, on_row):
                    counts[result.action] += 1
                    yield result
                seq, count = plain.seq, plain.count
        for chunk in _chunks(rows if plain is None else ()):
            _from_stored(ctx, [raw for _, raw in chunk])
            converted = convert_positions(
                [raw for _, raw in chunk], crs=crs or CoordinateSystem.WGS84, districts=districts
            )
            checked: list[UploadRow | _Checked] = []
            for number, raw in chunk:
                count += 1
                if on_row is not None:
                    on_row(count)
                seq += 1
                checked.append(_check_row(ctx, seq, number, raw, converted))
            for result in _finish_chunk(ctx, checked):
                counts[result.action] += 1
                yield result
        if full_list and by.owner is not None:
            listed = set(seen.get(str(by.owner), ()))
            # A rejected row's station is in the file, only wrong: not closed as missing.
            kept = listed | ctx.protected
            for s in _owned(store, by.owner):
                if s.external_id not in kept and s.status is not Status.CLOSED:
                    seq += 1
                    counts["close"] += 1
                    yield UploadRow(
                        seq,
                        None,
                        "close",
                        s.external_id,
                        s.id,
                        s.version,
                        s.with_changes(status=Status.CLOSED),
                        ("status",),
                    )

    try:
        with _fewer_collections():
            for chunk in _chunks(planned()):
                store.add_upload_rows(upload.id, chunk)
        nearby = finder.within_file()
        if nearby:
            store.add_upload_warnings(upload.id, nearby)
        lines = [visible(str(n)) for n in notes()] if notes is not None else None
        if ctx.protected and full_list:
            lines = [
                *(lines or []),
                f"有 {len(ctx.protected)} 个本工会驿站出现在被退回的行中，完整名单不会关闭它们",
            ]
        store.finish_upload(upload.id, counts, lines)
    except BaseException:
        store.delete_upload(upload.id)
        raise
    return store.get_upload(upload.id)


def _raw_chunks(rows: StationRows, size: int = CHUNK_ROWS) -> Iterator[list[Row]]:
    return rows.raw_chunks(size)


@dataclass(slots=True)
class _PlainLane:
    """A CSV's rows planned a chunk at a time: the plain valid rows read a column at a time
    (plain_records) and planned without a Station, every other row (and any plain row the
    registry holds, or whose code the file repeats) by the row-by-row checks, in file
    order, so each message and warning is theirs."""

    rows: StationRows
    ctx: _RowContext
    width: int
    fields: dict[str, int]  # field -> its column (the last, as a row's cells keep it)
    seq: int = 0
    count: int = 0
    hours: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    writable: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Iterable[Any], ctx: _RowContext) -> _PlainLane | None:
        """The lane for ``rows``, when they are a CSV's (a one-column position, free-text
        amenities or rows naming their own system each: row by row)."""
        if (
            not isinstance(rows, StationRows)
            or not rows.text_cells
            or ctx.crs is None
            or rows.free_text
            or ctx.fill_from_stored  # a bus's timetable half, say: each row read with it
        ):
            return None
        fields = {k: i for i, k in enumerate(rows.mapping) if k is not None}
        if POSITION in fields:
            return None
        return cls(rows, ctx, len(rows.mapping), fields)

    def _records(self, chunk: list[Row]) -> list[dict[str, Any] | None]:
        width, quoted = self.width, self.rows.quoted
        at = [
            i
            for i, r in enumerate(chunk)
            if r.point is None and not r.problems and len(r.values) == width
        ]
        out: list[dict[str, Any] | None] = [None] * len(chunk)
        if not at:
            return out
        columns = list(zip(*(chunk[i].values for i in at), strict=True))
        cells = {k: columns[i] for k, i in self.fields.items()}
        ok = [True] * len(at)
        if quoted:  # a cell our export quoted (a leading '): the reader's own path
            for column in cells.values():
                joined = "\x00".join(column)
                if joined.startswith("'") or "\x00'" in joined:
                    for j, c in enumerate(column):
                        if c[:1] == "'":
                            ok[j] = False
        ctx = self.ctx
        assert ctx.crs is not None
        records = plain_records(
            cells, len(at), districts=ctx.districts, crs=ctx.crs, owner=ctx.by.owner
        )
        for j, i in enumerate(at):
            if ok[j]:
                out[i] = records[j]
        return out

    def _may_write(self, owner: str) -> bool:
        found = self.writable.get(owner)
        if found is None:
            found = self.writable[owner] = self.ctx.by.may_write(Owner.parse(owner))
        return found

    def chunk(
        self, chunk: list[Row], seq: int, count: int, on_row: Callable[[int], None] | None
    ) -> Iterator[UploadRow | PlannedCreate]:
        ctx = self.ctx
        records = self._records(chunk)
        # The other rows as the reader gives them (a total or note row passed), in order.
        cells: list[tuple[int, dict[str, Any]] | None] = [
            None if r is not None else self.rows.cells(row)
            for row, r in zip(chunk, records, strict=True)
        ]
        reads = [c[1] for c in cells if c is not None]
        _from_stored(ctx, reads)
        converted = convert_positions(
            reads, crs=ctx.crs or CoordinateSystem.WGS84, districts=ctx.districts
        )
        checked: list[UploadRow | _Checked | tuple[int, Row, dict[str, Any]]] = []
        seen, writable = ctx.seen, self.writable
        for row, record, read in zip(chunk, records, cells, strict=True):
            if record is not None:
                owner, ext = record["owner"], record["external_id"]
                codes = seen.get(owner)
                may = writable.get(owner)
                if may is None:
                    may = self._may_write(owner)
                if may and (codes is None or ext not in codes):
                    count += 1
                    if on_row is not None:
                        on_row(count)
                    seq += 1
                    if codes is None:
                        codes = seen[owner] = {}
                    codes[ext] = row.number
                    checked.append((seq, row, record))
                    continue
                read = self.rows.cells(row)  # rejected: the row-by-row checks word it
            if read is None:
                continue
            count += 1
            if on_row is not None:
                on_row(count)
            seq += 1
            checked.append(_check_row(ctx, seq, read[0], read[1], converted))
        self.seq, self.count = seq, count
        yield from self._finish(checked)

    def _finish(
        self, checked: list[UploadRow | _Checked | tuple[int, Row, dict[str, Any]]]
    ) -> Iterator[UploadRow | PlannedCreate]:
        """_finish_chunk, the plain rows the registry does not hold planned as creates."""
        ctx = self.ctx
        keys: list[tuple[str, str]] = []
        lon: list[float] = []
        lat: list[float] = []
        for c in checked:
            if type(c) is tuple:  # a plain row's (seq, row, record)
                r = c[2]
                keys.append((r["owner"], r["external_id"]))
                lon.append(r["lon"])
                lat.append(r["lat"])
            elif isinstance(c, _Checked):
                keys.append((str(c.station.owner), c.station.external_id))
                lon.append(c.station.lon)
                lat.append(c.station.lat)
        stored = ctx.store.find_by_external_ids(keys)
        near = iter(ctx.finder.near_registry(lon, lat))
        finder, hours = ctx.finder, self.hours
        for c in checked:
            # isinstance, not type() is: one check either way, and it narrows ``c`` (no
            # row in ``checked`` is of a subclass of tuple: UploadRow and _Checked are not).
            if not isinstance(c, tuple):
                yield c if isinstance(c, UploadRow) else _finish_row(ctx, c, stored, next(near))
            else:
                seq, row, r = c
                number = row.number
                owner, ext = r["owner"], r["external_id"]
                if (owner, ext) in stored:
                    station = station_from_dict(r)
                    read = self.rows.cells(row)  # its cells, should the update be refused
                    cells: dict[str, Any] = read[1] if read is not None else {}
                    yield _finish_row(
                        ctx, _Checked(seq, number, cells, station, [], []), stored, next(near)
                    )
                    continue
                said = (r["hours_text"], r["hours"])
                on_hours = hours.get(said)
                if on_hours is None:
                    if len(hours) >= 4096:
                        hours.clear()
                    on_hours = hours[said] = plain_hours_warnings(*said)
                warnings = finder.check_at(
                    f"{owner}/{ext}", r["name"], r["lon"], r["lat"], number, near=next(near)
                )
                yield PlannedCreate(seq, number, ext, r, (*warnings, *on_hours))


def _from_stored(ctx: _RowContext, raws: list[dict[str, Any]]) -> None:
    """What a file has no column for but a row's checks need, taken from the registered
    station of the row's code (one query a chunk). Changes ``raws`` in place.

    - No position column (a ledger of hours, say): the row is read at the stored position
      (WGS-84, as stored: no move); a row naming no registered station is refused, saying
      why.
    - No 开放时间 or 名称 column: the row has the stored ones (so the checks pass; the
      file changes only what it has columns for).
    - A 流动驿站 column without 停靠点 (or the other way round): a registered bus's row
      keeps its timetable (its stops, or its 流动驿站 mark, as stored), unless its 流动驿站
      cell says 否 (then it is a fixed station now, as the clerk says).
    """
    fill = ctx.fill_from_stored
    if not fill:
        return
    keys: dict[int, tuple[str, str]] = {}
    for i, raw in enumerate(raws):
        if isinstance(raw, Cells) and not raw.problems:
            ext = visible(str(raw.get("external_id") or "").strip())
            owner = _row_owner(raw, ctx.by.owner)
            if ext and owner is not None:
                keys[i] = (str(owner), ext)
    stored = ctx.store.find_by_external_ids(set(keys.values())) if keys else {}
    for i, raw in enumerate(raws):
        if not isinstance(raw, Cells) or raw.problems:
            continue
        found = stored.get(keys[i]) if i in keys else None
        try:  # the system the row's positions are read in (its own, or the upload's)
            system = parse_crs(str(raw.get("crs") or "") or (ctx.crs or CoordinateSystem.WGS84))
        except ValueError:
            continue  # the checks say what is wrong with the cell
        if found is not None and found.mobile:
            _timetable_as_stored(raw, found, fill, system)
        if found is not None and "hours" in fill:
            raw.setdefault("hours", found.hours_text or found.hours)
        if found is not None and "name" in fill:
            raw.setdefault("name", found.name)
        if "position" not in fill or "lon" in raw or "lat" in raw:
            continue
        if found is not None:
            # In the row's system (its stops' too), at full precision: read back, the same
            # place as stored (said_by_file keeps the stored position to the bit).
            x, y = from_wgs84(found.lon, found.lat, crs=system)
            raw.update(lon=float(x), lat=float(y))
            continue
        if not _blank_cell(raw.get("stops")):
            continue  # a new bus, based at its first stop
        ext = str(raw.get("external_id") or "").strip()
        if _row_owner(raw, ctx.by.owner) is None:
            why = "这一行没有注明所属工会（或写得不对）"
        elif not ext:
            why = "这一行没有编号"
        else:
            why = f"编号“{ext[:40]}”不是这个工会已登记的驿站"
        raw.problems = (
            Problem(
                "lon",
                "position_needed",
                f"表格没有经纬度列，只能按编号修改本工会已登记的驿站：{why}。"
                "新驿站请在表格中加上经度、纬度两列（并注明坐标系）",
            ),
        )


def _timetable_as_stored(
    raw: Cells, bus: Station, fill: frozenset[str], system: CoordinateSystem
) -> None:
    """A registered bus's row of a file with one of its two timetable columns: the other
    as stored, positions in the row's ``system`` (said_by_file then keeps the stored stops
    to the bit)."""
    if "stops" in fill:  # a 流动驿站 column, no 停靠点
        try:
            fixed = not _blank_cell(raw.get("mobile")) and not parse_bool(raw.get("mobile"))
        except ValueError:
            return  # the checks say what is wrong with the cell
        if fixed:
            return
        xs, ys = from_wgs84([s.lon for s in bus.stops], [s.lat for s in bus.stops], crs=system)
        raw["mobile"] = "是"
        raw["stops"] = [
            {"name": s.name, "lon": float(x), "lat": float(y), "hours": s.hours_text or s.hours}
            for s, x, y in zip(bus.stops, xs, ys, strict=True)
        ]
    elif "mobile" in fill and not _blank_cell(raw.get("stops")):  # 停靠点, no 流动驿站
        raw["mobile"] = "是"


def _blank_cell(value: Any) -> bool:
    return value is None or not str(value).strip()


def _to_fill(columns: dict[str, str]) -> frozenset[str]:
    """What a file with these columns lacks that its rows may take from the registry."""
    if not columns:
        return frozenset()
    fill = set()
    if not {"lon", "lat", POSITION} & columns.keys():
        fill.add("position")
    # The other fields every station has: a file without their column keeps them.
    if not {"hours", "hours_text"} & columns.keys():
        fill.add("hours")
    if "name" not in columns:
        fill.add("name")
    if ("mobile" in columns) != ("stops" in columns):
        fill.add("stops" if "mobile" in columns else "mobile")
    return frozenset(fill)


def _row_owner(raw: dict[str, Any], owner: Owner | None) -> Owner | None:
    """The union a row names in its 所属工会 cell, else ``owner`` (None: neither)."""
    text = str(raw.get("owner") or "").strip()
    if not text:
        return owner
    try:
        return Owner.parse(text)
    except ValueError:
        return None


def _owned(store: Store, owner: Owner) -> Iterator[Station]:
    yield from store.query(StationQuery(owner=str(owner))).items


@dataclass(slots=True)
class _RowContext:
    """What planning each row of one upload reads: the same for every row of the file."""

    store: Store
    districts: Districts
    by: Principal
    crs: CoordinateSystem | None  # None: each row names its own
    finder: _DuplicateFinder
    columns: dict[str, str]  # field -> the file's header, for the report
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M
    # What the file has no column for, to take from the registered station (see
    # _from_stored): "position", "hours", "name", "stops" or "mobile".
    fill_from_stored: frozenset[str] = frozenset()
    # owner -> code -> row: the owner's text is kept once, not with each row's code
    seen: dict[str, dict[str, int]] = field(default_factory=dict)
    own: dict[str, _OwnStations] = field(default_factory=dict)  # owner -> its stations
    # Codes of the uploader's stations named in rejected rows: a full list keeps them.
    protected: set[str] = field(default_factory=set)

    def stations_of(self, owner: Owner) -> _OwnStations:
        key = str(owner)
        if key not in self.own:
            self.own[key] = _OwnStations.of(self.store, owner)
        return self.own[key]

    def protect(self, ext: str, raw: dict[str, Any]) -> None:
        """Keep the uploader's station a rejected row names (by code, else by name)."""
        if self.by.owner is None:
            return
        if ext:
            self.protected.add(ext)
            return
        name = raw.get("name")
        if isinstance(name, str) and name.strip():
            own = self.stations_of(self.by.owner)
            self.protected.update(s.external_id for s in own.by_name.get(_normal_name(name), []))


_PENDING = "（待编号）"  # the code of a row that has none, until it is matched or given one


def _rejected(
    ctx: _RowContext, seq: int, number: int, ext: str, raw: dict[str, Any], problems: Any
) -> UploadRow:
    source = raw.source if isinstance(raw, Cells) else {}
    ctx.protect(ext, raw)
    return UploadRow(
        seq,
        number,
        "rejected",
        ext,
        problems=tuple(_problem(p, ctx.columns, source) for p in problems),
        cells=source,
    )


@dataclass(frozen=True, slots=True)
class _Checked:
    """A row whose station is valid and whose code is its own in the file: what is left
    to say of it needs the registry (the chunk's duplicates and stored stations)."""

    seq: int
    number: int
    raw: dict[str, Any]
    station: Station
    matched: list[dict[str, Any]]
    notes: list[Problem]


def _finish_chunk(ctx: _RowContext, checked: list[UploadRow | _Checked]) -> Iterator[UploadRow]:
    """The chunk's rows in file order, those still to finish finished: one query for the
    stored stations of their codes, one tree query for the registry's near ones."""
    valid = [c for c in checked if isinstance(c, _Checked)]
    stored = ctx.store.find_by_external_ids(
        (str(c.station.owner), c.station.external_id) for c in valid
    )
    near = iter(
        ctx.finder.near_registry([c.station.lon for c in valid], [c.station.lat for c in valid])
    )
    for c in checked:
        yield c if isinstance(c, UploadRow) else _finish_row(ctx, c, stored, next(near))


def _check_row(
    ctx: _RowContext, seq: int, number: int, raw: dict[str, Any], converted: Converted
) -> UploadRow | _Checked:
    """What one row of the file does, as far as the file says: rejected (and why), or its
    station (see _finish_row)."""
    ext = visible(str(raw.get("external_id") or "").strip())
    try:
        if isinstance(raw, Cells) and raw.problems:  # found by the reader (not a point…)
            raise ValidationError(raw.problems)
        if ctx.crs is None and not str(raw.get("crs") or "").strip():
            raise ValidationError(
                [Problem("crs", "crs_missing", "这一行没有填写坐标系。" + CRS_HELP)]
            )
        notes: list[Problem] = []
        fields = raw if ext else {**raw, "external_id": _PENDING}
        # Most rows of a file are plain and valid: read without a problem list; the others
        # (and every problem and warning) by build_station.
        station = plain_station(
            fields,
            districts=ctx.districts,
            crs=ctx.crs or CoordinateSystem.WGS84,
            owner=ctx.by.owner,
            converted=converted,
        ) or build_station(
            fields,
            districts=ctx.districts,
            crs=ctx.crs or CoordinateSystem.WGS84,
            owner=ctx.by.owner,
            border_tolerance_m=ctx.border_tolerance_m,
            warnings=notes,
            converted=converted,
        )
    except ValidationError as exc:
        return _rejected(ctx, seq, number, ext, raw, exc.problems)
    if not ctx.by.may_write(station.owner):
        problem = Problem(
            "owner",
            "not_your_station",
            f"只能上传本工会（{ctx.by.owner}）的驿站，这一行属于 {station.owner}",
            str(station.owner),
        )
        return _rejected(ctx, seq, number, ext, raw, [problem])
    matched: list[dict[str, Any]] = []
    if not ext:
        own = ctx.stations_of(station.owner)
        taken = set(ctx.seen.get(str(station.owner), ()))
        code, matched = _match(own, station, taken)
        station = replace(station, external_id=code or own.new_code(station.owner))
        matched.append(
            {
                "code": "code_matched" if code else "code_given",
                "field": "external_id",
                "message": f"文件未填编号：按名称和位置对应本工会已有驿站，编号 {code}"
                if code
                else f"文件未填编号：作为新驿站，编号 {station.external_id}"
                "（以后上传同一表格会按名称和位置对应）",
            }
        )
    codes = ctx.seen.setdefault(str(station.owner), {})
    if station.external_id in codes:
        problem = Problem(
            "external_id",
            "duplicate_in_file",
            f"编号 {station.external_id} 在文件中重复（与第 {codes[station.external_id]} 行相同）",
            station.external_id,
        )
        return _rejected(ctx, seq, number, ext, raw, [problem])
    codes[station.external_id] = number
    return _Checked(seq, number, raw, station, matched, notes)


def _finish_row(
    ctx: _RowContext, c: _Checked, stored: dict[tuple[str, str], Station], near: bool
) -> UploadRow:
    """What a checked row does: create, update or unchanged, with its warnings."""
    seq, number, raw, station = c.seq, c.number, c.raw, c.station
    ext = station.external_id
    warnings = (
        *c.matched,
        *(_problem(p, ctx.columns) for p in c.notes),
        *(_problem(p, ctx.columns) for p in (raw.warnings if isinstance(raw, Cells) else ())),
        *ctx.finder.check(station, number, near=near),
        *hours_warnings(station),
    )
    existing = stored.get((str(station.owner), station.external_id))
    if existing is None:
        return UploadRow(seq, number, "create", ext, station=station, warnings=warnings)
    # What the file has no column for stays as stored (its 上图 listings, say).
    # The fields this row says: the file's columns it has a cell in (a GeoJSON feature may
    # lack a property others have; a short CSV row its last cells).
    said = ctx.columns.keys() & raw.keys() if isinstance(raw, Cells) else ctx.columns.keys()
    merged = said_by_file(existing, station, said)
    if merged is not station and (problems := self_service_problems(merged)):
        return _rejected(ctx, seq, number, ext, raw, problems)
    station = replace(merged, id=existing.id, version=existing.version)
    diff = changed_fields(existing, station)
    if not diff:
        return UploadRow(seq, number, "unchanged", ext, existing.id, existing.version)
    return UploadRow(
        seq, number, "update", ext, existing.id, existing.version, station, diff, warnings=warnings
    )


def _changes(store: Store, upload_id: str) -> Iterator[Change]:
    for action, expected_version, record in store.iter_planned_changes(upload_id):
        if action == "create":
            yield CreateRecord(record)  # the record as planned: no Station made again
        else:
            assert expected_version is not None
            yield Update(station_from_dict(record), expected_version)


def commit_upload(
    store: Store,
    upload_id: str,
    *,
    by: Principal,
    confirm_closures: int | None = None,
    max_close_share: float = MAX_CLOSE_SHARE,
    accepted_only: bool = False,
) -> WriteResult:
    """Apply a dry run's changes in one batch; all land or none (409 on conflicts).

    An upload with rejected rows is refused, unless ``accepted_only``: then its accepted
    rows are committed (all of them or none, one batch) and its notes say how many rows
    were left out. A full list that closes more than ``max_close_share`` of the union's
    open stations, or closes any while accepting no row, is refused
    (ClosuresUnconfirmedError) unless ``confirm_closures`` is exactly the number it closes.
    """
    upload = get_upload(store, upload_id, by=by)
    if upload.status is not UploadStatus.DRY_RUN:
        msg = f"upload {upload_id} is {upload.status.value}; only a dry run can be committed"
        raise UploadStateError(msg)
    rejected = upload.counts.get("rejected", 0)
    if rejected and not accepted_only:
        msg = (
            f"upload {upload_id} has {rejected} rejected rows; fix the file, or commit only "
            "the accepted rows (accepted_only)"
        )
        raise UploadStateError(msg)
    check = closure_check(store, upload, max_share=max_close_share)
    if check is not None and check.needs_confirmation and confirm_closures != check.would_close:
        raise ClosuresUnconfirmedError(check, upload_id)
    without = f" without {rejected} rejected rows" if rejected else ""
    result = store.apply(
        _changes(store, upload_id),
        actor=by.actor,
        kind="upload",
        note=f"upload {upload_id} {upload.filename}{without}",
        upload_id=upload_id,
    )
    if rejected:
        store.add_upload_note(
            upload_id,
            f"已提交无误的 {upload.accepted} 行，未提交被退回的 {rejected} 行",
        )
    return result


def revert_upload(store: Store, upload_id: str, *, by: Principal) -> WriteResult:
    """Put back exactly what the committed upload changed; refused if changed since."""
    upload = get_upload(store, upload_id, by=by)
    if upload.status is not UploadStatus.COMMITTED or upload.batch_id is None:
        msg = f"upload {upload_id} is {upload.status.value}; only a committed upload reverts"
        raise UploadStateError(msg)
    inverse: list[Change] = []
    for entry in store.audit(batch_id=upload.batch_id):
        after_version = entry.after["version"] if entry.after else None
        if entry.action == "create":
            inverse.append(Delete(entry.station_id, after_version))
        elif entry.action == "update":
            assert entry.before is not None
            assert after_version is not None
            inverse.append(Update(station_from_dict(entry.before), after_version))
        else:
            assert entry.before is not None
            inverse.append(Create(station_from_dict(entry.before)))
    try:
        return store.apply(
            inverse,
            actor=by.actor,
            kind="revert",
            note=f"revert upload {upload_id}",
            upload_id=upload_id,
        )
    except StationNotFoundError as exc:
        # A station the upload made or changed was deleted since: changed since, as a newer
        # version is (the revert is refused whole), not a station the request named.
        raise StaleWriteError(exc.station_id, _expected(inverse, exc.station_id), None) from exc


def _expected(changes: list[Change], station_id: int) -> int:
    """The version the change of ``station_id`` among ``changes`` expected (0: none)."""
    for c in changes:
        if isinstance(c, Delete) and c.station_id == station_id:
            return c.expected_version or 0
        if isinstance(c, Update) and c.station.id == station_id:
            return c.expected_version
    return 0


def get_upload(store: Store, upload_id: str, *, by: Principal) -> Upload:
    """The upload ``upload_id``, if ``by`` may see it (UploadNotFoundError, ForbiddenError)."""
    if text_problem(upload_id, line_breaks=False):  # PostgreSQL refuses a NUL
        raise UploadNotFoundError(visible(upload_id))
    upload = store.get_upload(upload_id)
    check_upload_access(by, upload.owner)
    return upload


def _problems_text(row: UploadRow) -> str:
    said = [
        f"{p.get('column')}：{p.get('message')}" if p.get("column") else str(p.get("message"))
        for p in row.problems
    ]
    return f"第 {row.row} 行：" + "；".join(said)


def rejected_rows_xlsx(store: Store, upload_id: str, *, by: Principal) -> bytes:
    """The upload's rejected rows as a workbook to fix and upload again: the file's own
    headers and values as uploaded, in file order, and a 问题 column (every problem of the
    row, in Chinese, joined with "；"), which the reader passes over."""
    upload = get_upload(store, upload_id, by=by)
    rows = store.iter_upload_rows(upload.id, actions=["rejected"])
    return rejected_workbook((r.cells, _problems_text(r)) for r in rows)


@dataclass(frozen=True, slots=True)
class UploadReport:
    """An upload with a page of its rows and, for a full list, what it closes."""

    upload: Upload
    rows: list[UploadRow]
    closures: ClosureCheck | None


def upload_report(
    store: Store,
    upload_id: str,
    *,
    by: Principal,
    actions: Iterable[str] | None,
    limit: int,
    offset: int,
    max_close_share: float = MAX_CLOSE_SHARE,
) -> UploadReport:
    """The row-by-row report of an upload ``by`` may see."""
    upload = get_upload(store, upload_id, by=by)
    rows = list(
        store.iter_upload_rows(
            upload.id,
            actions=list(actions) if actions is not None else None,
            limit=limit,
            offset=offset,
        )
    )
    return UploadReport(upload, rows, closure_check(store, upload, max_share=max_close_share))


def plan_upload_file(
    path: Path,
    *,
    format: str | None = None,
    filename: str,
    crs: CoordinateSystem | None,
    store: Store,
    districts: Districts,
    by: Principal,
    full_list: bool = False,
    limits: FileLimits,
    retention_h: float = DRY_RUN_RETENTION_H,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
    on_row: Callable[[int], None] | None = None,
    sheet: str | None = None,
) -> Upload:
    """Read a union's file and plan it (:func:`plan_upload`); ``crs`` None: the file must say
    (a header such as 经纬度（高德） does: the upload's ``proposed_crs``); ``format`` None: its
    name says; ``sheet``: the workbook's sheet to read. The API and the CLI both upload
    through here.

    A file the readers cannot read raises FileRefusedError (``bad_file`` unless the reader
    named another problem); a workbook with several sheets of stations and no ``sheet``,
    SheetChoiceError (its ``sheets``); CrsRequiredError when nothing says the system.
    """
    try:
        source = read_rows(path, format=format, limits=limits, sheet=sheet)
    except FileRefusedError:
        raise
    except ValueError as exc:  # the readers' word for a file they cannot read
        msg = f"{filename}: 文件无法读取：{exc}"
        raise FileRefusedError("bad_file", msg) from None
    system = upload_crs(
        crs, format=source.format, columns=source.columns, default_crs=source.default_crs
    )
    _, said = crs_notes(crs, source.columns)
    # Rows are read as they are planned: a reader refusing the file part-way raises
    # FileRefusedError from inside plan_upload (which removes the half-made plan).
    try:
        return plan_upload(
            source.rows,
            store=store,
            districts=districts,
            by=by,
            filename=filename,
            border_tolerance_m=border_tolerance_m,
            crs=system,
            full_list=full_list,
            unknown_columns=source.unknown_columns,
            columns=source.columns,
            retention_h=retention_h,
            on_row=on_row,
            notes=lambda: [*source.notes(), *said],
        )
    finally:
        close = getattr(source.rows, "close", None)
        if close is not None:  # the reader's file, when planning stopped part-way
            close()


def list_uploads(
    store: Store, *, by: Principal, limit: int = 50, offset: int = 0
) -> tuple[list[Upload], int]:
    """The uploads ``by`` may see (a union's own; the city union's every union's), newest
    first, and how many there are."""
    owner = None if by.owner is None else str(by.owner)
    return store.list_uploads(owner=owner, every_owner=by.owner is None, limit=limit, offset=offset)
