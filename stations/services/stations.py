"""Stations one by one, as a union writes them: create, patch, delete.

The use cases behind ``POST/PATCH/DELETE /v1/stations`` (and the CLI): who may write,
which owner a new station gets, how a patch is merged onto the stored record, which
stored fields a patch keeps though today's rules refuse them. Routes parse the request
and represent the answer; what happens in between is here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from geodata.crs import CoordinateSystem, from_wgs84, parse_crs
from geodata.districts import DEFAULT_BORDER_TOLERANCE_M, Districts
from stations.domain.auth import Principal, check_station_write, owner_to_create
from stations.domain.changes import Delete
from stations.domain.errors import UnknownCrsError
from stations.domain.model import Provider, Station
from stations.domain.records import station_input
from stations.domain.validation import Problem, ValidationError, build_station
from stations.storage.store import Store


@dataclass(frozen=True, slots=True)
class Written:
    """A stored station and what the writer should look at again (accepted, but warned)."""

    station: Station
    warnings: list[Problem]


def _crs(fields: Mapping[str, Any]) -> CoordinateSystem:
    try:
        return parse_crs(str(fields.get("crs") or "wgs84"))
    except ValueError as exc:
        raise UnknownCrsError(str(exc)) from None


def create_station(
    store: Store,
    districts: Districts,
    by: Principal,
    fields: Mapping[str, Any],
    *,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
) -> Written:
    """Store a new station from record ``fields`` (``crs`` names the system of
    ``lon``/``lat``). A district or industry union's station is owned by that union."""
    raw = dict(fields)
    owner = owner_to_create(by, raw.get("owner"))
    if owner is not None:
        raw["owner"] = owner
    warnings: list[Problem] = []
    station = build_station(
        raw,
        districts=districts,
        crs=_crs(raw),
        strict=True,
        border_tolerance_m=border_tolerance_m,
        warnings=warnings,
    )
    check_station_write(by, station.owner)
    return Written(store.create(station, actor=by.actor), warnings)


def station_to_change(store: Store, by: Principal, station_id: int) -> Station:
    """The stored station ``by`` means to change or delete (refused if not theirs)."""
    current = store.get(station_id)
    check_station_write(by, current.owner)
    return current


# Stored fields a PATCH that leaves them alone may keep though today's rules refuse them
# (a telephone, text or hours saved before a rule was added; a bus's timetable whose dated
# stands are past), with stand-in fields that pass the rules while the rest is checked.
_KEPT_AS_STORED: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "external_id": (("external_id",), {"external_id": "kept"}),
    "name": (("name",), {"name": "kept"}),
    "address": (("address",), {"address": ""}),
    "host": (("host",), {"host": ""}),
    "contact_phone": (("contact_phone",), {"contact_phone": ""}),
    "brand": (("brand",), {"brand": ""}),
    "hours": (("hours", "hours_text"), {"hours": "24/7"}),
    "listings": (("listings",), {"listings": []}),
    "stops": (("mobile", "stops"), {"mobile": False, "stops": []}),
}


def _problem_key(problem: Problem) -> str:
    name = problem.field
    if name.startswith("listings"):
        return "listings"
    if name == "mobile" or name.startswith("stops"):
        return "stops"
    return name


def _build_patched(
    districts: Districts,
    current: Station,
    patch: Mapping[str, Any],
    raw: dict[str, Any],
    warnings: list[Problem],
    border_tolerance_m: float,
) -> tuple[Station, list[Problem]]:
    """The patched station, and warnings for stored fields kept as they were.

    A stored field the patch does not touch is not held to rules added since it was saved:
    a clerk can still change the hours of a station whose stored telephone is now refused.
    It is kept as stored, with a warning saying to correct it."""
    flat = tuple(f"{p.value}_" for p in Provider)
    touched = {"listings" if k.startswith(flat) else k for k in patch}
    if "hours_text" in touched:
        touched.add("hours")
    if touched & {"mobile", "owner"}:
        touched.add("stops")  # a new owner holds the stops to its own district

    def build(fields: dict[str, Any]) -> Station:
        return build_station(
            fields,
            districts=districts,
            crs=_crs(fields),
            existing=current,
            strict=True,
            border_tolerance_m=border_tolerance_m,
            warnings=warnings,
        )

    try:
        return build(raw), []
    except ValidationError as exc:
        keys = {_problem_key(p) for p in exc.problems}
        if not keys <= set(_KEPT_AS_STORED) or keys & touched:
            # Only the patch's own problems are the clerk's to fix now.
            own = [
                p
                for p in exc.problems
                if _problem_key(p) in touched or _problem_key(p) not in _KEPT_AS_STORED
            ]
            raise ValidationError(own or exc.problems) from None
        old = exc.problems
    stand_in = dict(raw)
    for key in keys:
        stand_in |= _KEPT_AS_STORED[key][1]
    warnings.clear()
    station = build(stand_in)
    kept = {f: getattr(current, f) for key in keys for f in _KEPT_AS_STORED[key][0]}
    notes = [
        Problem(
            p.field,
            p.code,
            f"{p.message}（此项是以前保存的，本次没有修改，已保留原样；请尽快更正）",
            p.value,
        )
        for p in old
    ]
    return replace(station, **kept), notes


def _stored_positions_in(raw: dict[str, Any], current: Station, patch: Mapping[str, Any]) -> None:
    """Write the stored WGS-84 positions a patch leaves alone in the system the patch's
    ``crs`` names (its stops, or its base, are in it): checked as where they are, and put
    back exactly as stored after (patch_station)."""
    system = _crs(raw)
    if system is CoordinateSystem.WGS84:
        return
    if "lon" not in patch and "lat" not in patch:
        x, y = from_wgs84(current.lon, current.lat, crs=system)
        raw["lon"], raw["lat"] = float(x), float(y)
    if "stops" not in patch and current.stops:
        xs, ys = from_wgs84(
            [s.lon for s in current.stops], [s.lat for s in current.stops], crs=system
        )
        raw["stops"] = [
            {**stop, "lon": float(x), "lat": float(y)}
            for stop, x, y in zip(raw["stops"], xs, ys, strict=True)
        ]


def patch_station(
    store: Store,
    districts: Districts,
    by: Principal,
    current: Station,
    patch: Mapping[str, Any],
    *,
    expected_version: int,
    border_tolerance_m: float = DEFAULT_BORDER_TOLERANCE_M,
) -> Written:
    """Apply a JSON merge ``patch`` of record fields to ``current`` (as read by
    :func:`station_to_change`), refused (StaleWriteError) unless it is still at
    ``expected_version``. A station not moved keeps its position as first uploaded."""
    check_station_write(by, current.owner)
    if "crs" in patch and not ("lon" in patch and "lat" in patch) and "stops" not in patch:
        # The stored position is WGS-84; read in the patch's system it would move the
        # station (and refile it under another district) without anyone moving it.
        raise ValidationError(
            [
                Problem(
                    "crs",
                    "crs_without_position",
                    "坐标系（crs）说明同时提交的经纬度（和停靠点 stops）用的是哪个坐标系；"
                    "只改 crs 不会移动驿站。要移动驿站，请同时提交 lon、lat 和 crs",
                    str(patch["crs"]),
                )
            ]
        )
    raw = {**station_input(current), **patch}
    if ("lon" in patch or "lat" in patch or "stops" in patch) and "crs" not in patch:
        raw["crs"] = "wgs84"
    _stored_positions_in(raw, current, patch)
    warnings: list[Problem] = []
    station, kept = _build_patched(districts, current, patch, raw, warnings, border_tolerance_m)
    if current.stops and "stops" not in patch:  # as stored, not read back from another system
        station = replace(station, stops=current.stops)
    if "lon" not in patch and "lat" not in patch:  # keep what was uploaded originally
        warnings.clear()  # the position was taken before; only a new one is warned about
        station = replace(
            station,
            lon=current.lon,
            lat=current.lat,
            source_lon=current.source_lon,
            source_lat=current.source_lat,
            source_crs=current.source_crs,
        )
    check_station_write(by, station.owner)
    stored = store.update(station, expected_version=expected_version, actor=by.actor)
    return Written(stored, [*warnings, *kept])


def delete_station(
    store: Store, by: Principal, current: Station, *, expected_version: int | None
) -> None:
    """Remove ``current`` (as read by :func:`station_to_change`); the audit trail keeps it."""
    check_station_write(by, current.owner)
    assert current.id is not None  # a stored station
    store.apply([Delete(current.id, expected_version)], actor=by.actor)
