"""Uploads by unions: plan row by row (a dry run), then commit atomically, or revert.

An upload is planned into the store in chunks, so a 100,000-row file needs bounded memory
and the report can be paged. Committing applies the planned changes in one batch; it is
refused when a station the plan changes was changed by someone else since (its version
moved on) or another upload took the same code. Reverting applies the inverse of the
committed batch from the audit trail, again refused if anything was changed since.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

import numpy as np

from geodata.crs import CoordinateSystem
from geodata.districts import DEFAULT_BORDER_TOLERANCE_M, Districts
from geodata.hours import TZ
from geodata.nearest import NearestIndex
from stations.auth import Principal
from stations.model import Owner, Station, Status
from stations.records import station_from_dict
from stations.store import (
    Change,
    Create,
    Delete,
    ForbiddenError,
    StationQuery,
    Store,
    StoreError,
    Update,
    WriteResult,
)
from stations.validation import Problem, ValidationError, build_station

RowAction = Literal["create", "update", "close", "unchanged", "rejected"]
DUPLICATE_RADIUS_M = 30.0
CHUNK_ROWS = 1000


class UploadStatus(StrEnum):
    PLANNING = "planning"  # rows are being checked; not ready to commit
    DRY_RUN = "dry_run"  # checked; nothing changed yet
    COMMITTED = "committed"
    REVERTED = "reverted"


class UploadStateError(StoreError):
    """The upload cannot do that in its present state (commit twice, revert uncommitted…)."""

    code = "upload_state"


class UploadNotFoundError(StoreError, LookupError):
    code = "upload_not_found"

    def __init__(self, upload_id: str) -> None:
        self.upload_id = upload_id
        super().__init__(f"no upload {upload_id!r}")


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded file and what became of it."""

    id: str
    actor: str
    owner: str | None  # the uploading union; None for the city union
    filename: str
    crs: str
    full_list: bool
    created_at: datetime
    base_version: int  # the registry's version when the plan was made
    status: UploadStatus = UploadStatus.PLANNING
    counts: dict[str, int] = field(default_factory=dict)
    unknown_columns: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)  # field -> header in the file
    batch_id: int | None = None
    revert_batch_id: int | None = None


@dataclass(frozen=True, slots=True)
class UploadRow:
    """What the upload does with one row of the file (or one station it closes)."""

    seq: int
    row: int | None  # the row number the clerk sees; None for a station closed as absent
    action: RowAction
    external_id: str
    station_id: int | None = None
    expected_version: int | None = None
    station: Station | None = None
    changed: tuple[str, ...] = ()
    problems: tuple[dict[str, Any], ...] = ()
    warnings: tuple[dict[str, Any], ...] = ()


_BOOKKEEPING = ("id", "version", "updated_at")
# What was uploaded (raw coordinates and hours text) is provenance: the same station
# re-uploaded from another export or in another system is not a change.
_PROVENANCE = ("source_lon", "source_lat", "source_crs", "hours_text")


def changed_fields(old: Station, new: Station) -> tuple[str, ...]:
    """The record fields that differ between two versions of a station."""
    skip = _BOOKKEEPING + _PROVENANCE
    names = [f for f in old.__dataclass_fields__ if f not in skip]
    return tuple(n for n in names if getattr(old, n) != getattr(new, n))


def new_upload_id() -> str:
    return secrets.token_hex(8)


def _problem(p: Problem, columns: dict[str, str]) -> dict[str, Any]:
    out = p.as_dict()
    out["column"] = columns.get(p.field, p.field)
    return out


class _DuplicateFinder:
    """Flags likely duplicates: another station of the same name, or any within 30 m."""

    def __init__(self, store_stations: Iterable[Station]) -> None:
        existing = list(store_stations)
        self.names: dict[str, list[tuple[str, int | None]]] = {}
        for s in existing:
            self.names.setdefault(s.name, []).append((f"{s.owner}/{s.external_id}", s.id))
        self.ids = [s.id for s in existing]
        self.keys = [f"{s.owner}/{s.external_id}" for s in existing]
        self.index = NearestIndex(
            np.array([s.lon for s in existing], np.float64),
            np.array([s.lat for s in existing], np.float64),
        )
        self.file_points: list[tuple[float, float, str, int]] = []

    def check(self, station: Station, row: int) -> list[dict[str, Any]]:
        key = f"{station.owner}/{station.external_id}"
        warnings: list[dict[str, Any]] = []
        same_name = [k for k, _ in self.names.get(station.name, []) if k != key]
        if same_name:
            warnings.append(
                {
                    "code": "possible_duplicate_name",
                    "field": "name",
                    "message": f"已有同名驿站“{station.name}”（{same_name[0]}），"
                    "请确认不是重复登记",
                }
            )
        self.names.setdefault(station.name, []).append((key, None))
        if len(self.index):
            found = self.index.query(station.lon, station.lat, k=5, radius_m=DUPLICATE_RADIUS_M)
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
        self.file_points.append((station.lon, station.lat, key, row))
        return warnings

    def within_file(self) -> dict[int, dict[str, Any]]:
        """Rows lying within 30 m of another row of the same file."""
        if len(self.file_points) < 2:
            return {}
        lon = np.array([p[0] for p in self.file_points])
        lat = np.array([p[1] for p in self.file_points])
        index = NearestIndex(lon, lat)
        out: dict[int, dict[str, Any]] = {}
        for j, (x, y, _key, row) in enumerate(self.file_points):
            found = index.query(x, y, k=2, radius_m=DUPLICATE_RADIUS_M)
            other = [i for i in found.index if i != j]
            if other:
                out[row] = {
                    "code": "possible_duplicate_nearby",
                    "field": "lon",
                    "message": f"与文件第 {self.file_points[other[0]][3]} 行相距不到 "
                    f"{DUPLICATE_RADIUS_M:.0f} 米，请确认不是重复登记",
                }
        return out


def _chunks(rows: Iterable[UploadRow], size: int = CHUNK_ROWS) -> Iterator[list[UploadRow]]:
    chunk: list[UploadRow] = []
    for r in rows:
        chunk.append(r)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def plan_upload(
    rows: Iterable[tuple[int, dict[str, Any]]],
    *,
    store: Store,
    districts: Districts,
    by: Principal,
    filename: str,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    full_list: bool = False,
    unknown_columns: Iterable[str] = (),
    columns: dict[str, str] | None = None,
    on_row: Callable[[int], None] | None = None,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
) -> Upload:
    """Check every row against the registry and store the plan (a dry run); change nothing.

    A district union's rows must lie in its district, or within ``border_tolerance_m``
    of it (filed as its own, with a row warning); a union may only touch its own
    stations. With ``full_list``, the union's stations missing from the file are closed.
    """
    crs = CoordinateSystem(crs) if isinstance(crs, str) else crs
    columns = columns or {}
    upload = Upload(
        id=new_upload_id(),
        actor=by.actor,
        owner=str(by.owner) if by.owner else None,
        filename=filename,
        crs=crs.value,
        full_list=full_list,
        created_at=datetime.now(TZ),
        base_version=store.data_version(),
        unknown_columns=tuple(unknown_columns),
        columns=columns,
    )
    store.create_upload(upload)
    finder = _DuplicateFinder(store.iter_all())
    counts = {"create": 0, "update": 0, "close": 0, "unchanged": 0, "rejected": 0}
    seen: dict[tuple[str, str], int] = {}
    seq = 0

    def planned() -> Iterator[UploadRow]:
        nonlocal seq
        for count, (number, raw) in enumerate(rows, start=1):
            if on_row is not None:
                on_row(count)
            seq += 1
            result = _plan_row(
                seq,
                number,
                raw,
                store,
                districts,
                by,
                crs,
                seen,
                finder,
                columns,
                border_tolerance_m,
            )
            counts[result.action] += 1
            yield result
        if full_list and by.owner is not None:
            listed = {ext for (owner, ext) in seen if owner == str(by.owner)}
            for s in _owned(store, by.owner):
                if s.external_id not in listed and s.status is not Status.CLOSED:
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

    for chunk in _chunks(planned()):
        store.add_upload_rows(upload.id, chunk)
    nearby = finder.within_file()
    if nearby:
        store.add_upload_warnings(upload.id, nearby)
    store.finish_upload(upload.id, counts)
    return store.get_upload(upload.id)


def _owned(store: Store, owner: Owner) -> Iterator[Station]:
    yield from store.query(StationQuery(owner=str(owner))).items


def _plan_row(
    seq: int,
    number: int,
    raw: dict[str, Any],
    store: Store,
    districts: Districts,
    by: Principal,
    crs: CoordinateSystem,
    seen: dict[tuple[str, str], int],
    finder: _DuplicateFinder,
    columns: dict[str, str],
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
) -> UploadRow:
    ext = str(raw.get("external_id") or "").strip()
    try:
        if raw.get("_geometry_problem"):
            raise ValidationError(
                [
                    Problem(
                        "geometry",
                        "not_a_point",
                        f"几何类型须为点（Point），而不是 {raw['_geometry_problem']}",
                    )
                ]
            )
        notes: list[Problem] = []
        station = build_station(
            raw,
            districts=districts,
            crs=crs,
            owner=by.owner,
            border_tolerance_m=border_tolerance_m,
            warnings=notes,
        )
    except ValidationError as exc:
        return UploadRow(
            seq, number, "rejected", ext, problems=tuple(_problem(p, columns) for p in exc.problems)
        )
    if not by.may_write(station.owner):
        problem = Problem(
            "owner",
            "not_your_station",
            f"只能上传本工会（{by.owner}）的驿站，这一行属于 {station.owner}",
            str(station.owner),
        )
        return UploadRow(seq, number, "rejected", ext, problems=(_problem(problem, columns),))
    key = (str(station.owner), station.external_id)
    if key in seen:
        problem = Problem(
            "external_id",
            "duplicate_in_file",
            f"编号 {station.external_id} 在文件中重复（与第 {seen[key]} 行相同）",
            station.external_id,
        )
        return UploadRow(seq, number, "rejected", ext, problems=(_problem(problem, columns),))
    seen[key] = number
    warnings = (*(_problem(p, columns) for p in notes), *finder.check(station, number))
    existing = store.find_by_external_id(station.owner, station.external_id)
    if existing is None:
        return UploadRow(seq, number, "create", ext, station=station, warnings=warnings)
    station = replace(station, id=existing.id, version=existing.version)
    diff = changed_fields(existing, station)
    if not diff:
        return UploadRow(seq, number, "unchanged", ext, existing.id, existing.version)
    return UploadRow(
        seq, number, "update", ext, existing.id, existing.version, station, diff, warnings=warnings
    )


def _changes(store: Store, upload_id: str) -> Iterator[Change]:
    for row in store.iter_upload_rows(upload_id, actions=("create", "update", "close")):
        assert row.station is not None
        if row.action == "create":
            yield Create(row.station)
        else:
            assert row.expected_version is not None
            yield Update(row.station, row.expected_version)


def commit_upload(store: Store, upload_id: str, *, by: Principal) -> WriteResult:
    """Apply a dry run's changes in one batch; all land or none (409 on conflicts)."""
    upload = store.get_upload(upload_id)
    _check_access(upload, by)
    if upload.status is not UploadStatus.DRY_RUN:
        msg = f"upload {upload_id} is {upload.status.value}; only a dry run can be committed"
        raise UploadStateError(msg)
    if upload.counts.get("rejected"):
        msg = f"upload {upload_id} has {upload.counts['rejected']} rejected rows; fix the file"
        raise UploadStateError(msg)
    return store.apply(
        _changes(store, upload_id),
        actor=by.actor,
        kind="upload",
        note=f"upload {upload_id} {upload.filename}",
        upload_id=upload_id,
    )


def revert_upload(store: Store, upload_id: str, *, by: Principal) -> WriteResult:
    """Put back exactly what the committed upload changed; refused if changed since."""
    upload = store.get_upload(upload_id)
    _check_access(upload, by)
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
    return store.apply(
        inverse,
        actor=by.actor,
        kind="revert",
        note=f"revert upload {upload_id}",
        upload_id=upload_id,
    )


def _check_access(upload: Upload, by: Principal) -> None:
    if by.owner is not None and upload.owner != str(by.owner):
        msg = f"upload {upload.id} belongs to another union"
        raise ForbiddenError(msg)
