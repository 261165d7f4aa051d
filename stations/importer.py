"""Plan an import row by row against the registry, then commit it as one batch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from geodata.crs import CoordinateSystem
from geodata.districts import Districts
from stations.model import Owner, Station
from stations.store import Change, Create, Store, Update, WriteResult
from stations.validation import Problem, ValidationError, build_station

Action = Literal["create", "update", "unchanged", "rejected"]


@dataclass(frozen=True, slots=True)
class RowResult:
    """What an import would do with one row of the file."""

    row: int
    action: Action
    external_id: str
    station: Station | None = None
    changed_fields: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()


@dataclass
class ImportPlan:
    """Every row's outcome, and the changes to apply if nothing was rejected."""

    rows: list[RowResult] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> list[RowResult]:
        return [r for r in self.rows if r.action == "rejected"]

    def counts(self) -> dict[str, int]:
        out = {"create": 0, "update": 0, "unchanged": 0, "rejected": 0}
        for r in self.rows:
            out[r.action] += 1
        return out


_BOOKKEEPING = ("id", "version", "updated_at")
# What was uploaded (raw coordinates and hours text) is provenance: re-uploading the same
# station from another export, in another system, does not change the station.
_PROVENANCE = ("source_lon", "source_lat", "source_crs", "hours_text")


def changed_fields(old: Station, new: Station) -> tuple[str, ...]:
    """The record fields that differ between two versions of a station."""
    skip = _BOOKKEEPING + _PROVENANCE
    names = [f for f in old.__dataclass_fields__ if f not in skip]
    return tuple(n for n in names if getattr(old, n) != getattr(new, n))


def plan_import(
    rows: Iterable[tuple[int, dict[str, Any]]],
    *,
    store: Store,
    districts: Districts,
    crs: CoordinateSystem | str = CoordinateSystem.WGS84,
    owner: Owner | None = None,
    on_row: Callable[[int], None] | None = None,
) -> ImportPlan:
    """Validate every row and compare it with the registry; change nothing.

    A row whose (owner, external_id) exists becomes an update (or unchanged); otherwise a
    create. A second row with the same external_id as an earlier one in the file is rejected.
    """
    plan = ImportPlan()
    seen: dict[tuple[str, str], int] = {}
    for count, (number, raw) in enumerate(rows, start=1):
        if on_row is not None:
            on_row(count)
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
            station = build_station(raw, districts=districts, crs=crs, owner=owner)
        except ValidationError as exc:
            plan.rows.append(RowResult(number, "rejected", ext, problems=exc.problems))
            continue
        key = (str(station.owner), station.external_id)
        if key in seen:
            problem = Problem(
                "external_id",
                "duplicate_in_file",
                f"编号 {station.external_id} 在文件中重复（与第 {seen[key]} 行相同）",
                station.external_id,
            )
            plan.rows.append(RowResult(number, "rejected", ext, problems=(problem,)))
            continue
        seen[key] = number
        existing = store.find_by_external_id(station.owner, station.external_id)
        if existing is None:
            plan.rows.append(RowResult(number, "create", ext, station))
            plan.changes.append(Create(station))
            continue
        station = replace(station, id=existing.id, version=existing.version)
        diff = changed_fields(existing, station)
        if not diff:
            plan.rows.append(RowResult(number, "unchanged", ext, existing))
            continue
        plan.rows.append(RowResult(number, "update", ext, station, diff))
        plan.changes.append(Update(station, existing.version))
    return plan


def commit_plan(
    plan: ImportPlan, store: Store, *, actor: str, note: str = "", kind: str = "import"
) -> WriteResult:
    """Apply a plan with no rejected rows as one atomic batch."""
    if plan.rejected:
        msg = f"{len(plan.rejected)} rows were rejected; fix them first, nothing was changed"
        raise ValueError(msg)
    return store.apply(plan.changes, actor=actor, kind=kind, note=note)
