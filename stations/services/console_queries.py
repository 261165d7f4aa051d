"""What the console's station pages ask that the JSON API does not: a union's stations as a
table (searched, filtered, sorted, paged) and on a map, a station as the form's fields and
back, what changed between two versions (an edit conflict), hours and a position checked
as the clerk types them, and the union's rider reports with the unresolved first.

The rules stay where they are: who sees and writes what (stations.domain.auth through
the index's owner filter and the stations/feedback services), how hours are read
(geodata.hours.read_hours), how positions convert (geodata.crs), what the 上图 states
are (the index's mapped column, stations.domain.listings).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from geodata.crs import CoordinateSystem, from_wgs84, parse_crs, to_wgs84
from geodata.districts import Districts
from geodata.hours import TZ, HoursError, hours, read_hours
from stations.domain.auth import Principal
from stations.domain.cases import Case, CaseQuery, CaseState
from stations.domain.changes import AuditEntry
from stations.domain.listings import mapped_filter
from stations.domain.mobile_validation import (
    normal_stops_text,
    parse_stops_text,
    stop_line,
    stops_text,
)
from stations.domain.model import (
    AMENITIES,
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    ENTRY_METHODS,
    PROVIDER_LABELS,
    STATUS_LABELS,
    Owner,
    Provider,
    Station,
    Status,
)
from stations.domain.records import station_from_dict
from stations.domain.validation import PositionVerdict, check_stops, position_verdict
from stations.formats.fields import FIELD_BY_KEY
from stations.formats.xlsx import export_clerk_xlsx
from stations.readmodel.index import StationIndex
from stations.services.cases import list_cases
from stations.storage.store import Store

PAGE_SIZE = 50
# The 上图 filter's choices: an overall state (the one 上图 rule) or listed / not listed
# on one provider.
LISTING_CHOICES: dict[str, str] = {
    "full": "三家都上图（关键词、位置准确）",
    "partial": "部分上图",
    "none": "未上图",
    **{f"{p.value}_yes": f"{PROVIDER_LABELS[p.value]}已上图" for p in Provider},
    **{f"{p.value}_no": f"{PROVIDER_LABELS[p.value]}未上图" for p in Provider},
}
SORTS = {"name": "名称", "updated": "最近修改"}


@dataclass(frozen=True, slots=True)
class StationFilters:
    """What the clerk asked the table for (all optional; unknown words were dropped)."""

    q: str = ""
    owner: str = ""  # the city union only: one union's stations
    district: str = ""
    status: str = ""
    self_service: bool | None = None
    listing: str = ""
    amenity: str = ""
    sort: str = "name"

    @classmethod
    def of(cls, params: Mapping[str, str]) -> StationFilters:
        """The filters from a query string, each checked against its choices."""
        self_service = {"yes": True, "no": False}.get(params.get("self_service", ""))
        status = params.get("status", "")
        listing = params.get("listing", "")
        amenity = params.get("amenity", "")
        sort = params.get("sort", "name")
        return cls(
            q=params.get("q", "").strip()[:100],
            owner=params.get("owner", "").strip()[:100],
            district=params.get("district", "").strip()[:6],
            status=status if status in STATUS_LABELS else "",
            self_service=self_service,
            listing=listing if listing in LISTING_CHOICES else "",
            amenity=amenity if amenity in AMENITY_LABELS else "",
            sort=sort if sort in SORTS else "name",
        )

    @property
    def narrowed(self) -> bool:
        """Whether any filter (other than the order) is set."""
        return bool(
            self.q
            or self.owner
            or self.district
            or self.status
            or self.self_service is not None
            or self.listing
            or self.amenity
        )


@dataclass(frozen=True, slots=True)
class StationTable:
    stations: list[Station]  # every match, in the asked order
    page: list[Station]
    total: int
    offset: int
    limit: int


def _owner_of(by: Principal, asked: str) -> Owner | None:
    """The owner the table is limited to: a union's own; the city union's choice (or all)."""
    if by.owner is not None:
        return by.owner
    try:
        return Owner.parse(asked) if asked else None
    except ValueError:
        return None


def _listed_on(station: Station, provider: Provider) -> bool:
    listing = station.listing(provider)
    return listing is not None and listing.listed


def union_stations(
    index: StationIndex,
    by: Principal,
    filters: StationFilters,
    *,
    offset: int = 0,
    limit: int = PAGE_SIZE,
) -> StationTable:
    """The stations ``by`` keeps (the city union: every union's) passing ``filters``."""
    owner = _owner_of(by, filters.owner)
    overall = filters.listing in ("full", "partial", "none")
    positions = index.select(
        owner=owner,
        district=filters.district or None,
        statuses=(Status(filters.status),) if filters.status else (),
        self_service=filters.self_service,
        amenities=(filters.amenity,) if filters.amenity else (),
        mapped=mapped_filter(filters.listing) if overall else (),
    )
    found = [index.stations[p] for p in positions]
    if filters.listing and not overall:
        provider_name, _, yes = filters.listing.rpartition("_")
        provider = Provider(provider_name)
        found = [s for s in found if _listed_on(s, provider) == (yes == "yes")]
    if filters.q:
        needle = filters.q.lower()
        found = [
            s
            for s in found
            if needle in s.name.lower()
            or needle in s.address.lower()
            or needle in s.external_id.lower()
        ]
    if filters.sort == "updated":
        oldest = datetime.min.replace(tzinfo=TZ)
        found.sort(key=lambda s: (s.updated_at or oldest, s.id or 0), reverse=True)
    else:
        found.sort(key=lambda s: (s.name, s.id or 0))
    offset = max(0, min(offset, max(0, len(found) - 1)))
    return StationTable(found, found[offset : offset + limit], len(found), offset, limit)


def map_points(
    stations: Sequence[Station], systems: Sequence[CoordinateSystem]
) -> list[dict[str, Any]]:
    """Each station as the map draws it: id, name, status and its position in each of
    ``systems`` (the tiles' own; the page converts nothing)."""
    lon = np.array([s.lon for s in stations], dtype=np.float64)
    lat = np.array([s.lat for s in stations], dtype=np.float64)
    drawn: dict[str, tuple[list[float], list[float]]] = {}
    for system in dict.fromkeys(systems):
        x, y = from_wgs84(lon, lat, crs=system) if len(stations) else (lon, lat)
        drawn[system.value] = (np.round(x, 7).tolist(), np.round(y, 7).tolist())
    return [
        {
            "id": s.id,
            "name": s.name,
            "address": s.address,
            "status": STATUS_LABELS[s.status.value],
            "drawn": {k: [x[i], y[i]] for k, (x, y) in drawn.items()},
        }
        for i, s in enumerate(stations)
    ]


def stations_xlsx(stations: Sequence[Station]) -> bytes:
    """The stations as the clerks' workbook: Chinese headers and values, what an upload
    reads back unchanged (:func:`~stations.formats.xlsx.export_clerk_xlsx`)."""
    with tempfile.TemporaryDirectory(prefix="yizhan-export-") as tmp:
        path = Path(tmp) / "stations.xlsx"
        export_clerk_xlsx(stations, path)
        return path.read_bytes()


# -- the form ---------------------------------------------------------------------------

LIST_FIELDS = ("amenities", "entry_methods")
TEXT_FIELDS = ("external_id", "name", "address", "host", "contact_phone", "brand")
FLAG_FIELDS = ("self_service_24h", "registration_required", "signage_unified")
LISTING_KEYS = ("listed", "poi_id", "listed_name", "lon", "lat", "keyword_linked", "checked_at")
FORM_CRS = (CoordinateSystem.WGS84, CoordinateSystem.GCJ02, CoordinateSystem.BD09)
CRS_LABELS = {
    "wgs84": "WGS-84（GPS、天地图）",
    "gcj02": "GCJ-02（高德、腾讯）",
    "bd09": "BD-09（百度）",
}
FIELD_LABELS: dict[str, str] = {
    "external_id": "编号",
    "owner": "所属工会",
    "name": "名称",
    "address": "地址",
    "host": "依托单位",
    "contact_phone": "联系电话",
    "brand": "品牌",
    "position": "位置",
    "hours": "开放时间",
    "self_service_24h": "24小时自助",
    "registration_required": "需要登记",
    "signage_unified": "统一标识",
    "amenities": "设施",
    "entry_methods": "进入方式",
    "status": "状态",
    "mobile": "流动驿站",
    "stops": "停靠点",
    **{f"listing_{p.value}": f"{PROVIDER_LABELS[p.value]}上图" for p in Provider},
}


def _num(value: float | None, digits: int = 7) -> str:
    return "" if value is None else f"{value:.{digits}f}".rstrip("0").rstrip(".")


def _stops_in(station: Station, crs: CoordinateSystem) -> str:
    """A mobile station's stops as the form's text (a sheet cell's form), positions in
    ``crs`` as the form writes its own."""
    if not station.stops:
        return ""
    xs, ys = from_wgs84([s.lon for s in station.stops], [s.lat for s in station.stops], crs=crs)
    at = [(_num(float(x)), _num(float(y))) for x, y in zip(xs, ys, strict=True)]
    return stops_text(station.stops, at)


def as_input(text: str) -> str:
    """A stored text as the form's one-line ``<input>`` shows it and posts it back: a
    browser drops its line breaks (HTML's value sanitisation), so a text stored with them
    (from a sheet or the API) is shown without, and posted back untouched it is no change:
    the stored text, breaks and all, is kept."""
    return text.replace("\r", "").replace("\n", "") if "\n" in text or "\r" in text else text


def form_crs(station: Station) -> CoordinateSystem:
    """The system a station's form writes its position (and stops) in: the one it was
    given in."""
    return station.source_crs if station.source_crs in FORM_CRS else CoordinateSystem.WGS84


def form_values(station: Station, crs: CoordinateSystem | None = None) -> dict[str, Any]:
    """A stored station as the form's fields (strings, lists and flags), its position (and
    a mobile station's stops) in the system it was given in, or in ``crs`` (another version
    shown beside the form the clerk loaded: in that form's system)."""
    crs = crs or form_crs(station)
    lon, lat = from_wgs84(station.lon, station.lat, crs=crs)
    values: dict[str, Any] = {k: as_input(getattr(station, k)) for k in TEXT_FIELDS}
    values |= {k: getattr(station, k) for k in FLAG_FIELDS}
    values |= {
        "owner": str(station.owner),
        "lon": _num(float(lon)),
        "lat": _num(float(lat)),
        "crs": crs.value,
        "hours": as_input(station.hours_text or station.hours),
        "status": station.status.value,
        "amenities": list(station.amenities),
        "entry_methods": list(station.entry_methods),
        "mobile": station.mobile,
        "stops": _stops_in(station, crs),
    }
    for p in Provider:
        li = station.listing(p)
        values[f"{p.value}_listed"] = bool(li and li.listed)
        values[f"{p.value}_keyword_linked"] = bool(li and li.keyword_linked)
        values[f"{p.value}_poi_id"] = as_input((li and li.poi_id) or "")
        values[f"{p.value}_listed_name"] = as_input((li and li.listed_name) or "")
        values[f"{p.value}_lon"] = _num(li.listed_lon) if li else ""
        values[f"{p.value}_lat"] = _num(li.listed_lat) if li else ""
        checked = li.checked_at if li else None
        values[f"{p.value}_checked_at"] = (
            checked.astimezone(TZ).strftime("%Y-%m-%dT%H:%M") if checked else ""
        )
    return values


def blank_form() -> dict[str, Any]:
    """The fields of a new station's form."""
    values: dict[str, Any] = {k: "" for k in TEXT_FIELDS} | {k: False for k in FLAG_FIELDS}
    values |= {
        "owner": "",
        "lon": "",
        "lat": "",
        "crs": "gcj02",
        "hours": "",
        "status": "active",
        "amenities": [],
        "entry_methods": [],
        "mobile": False,
        "stops": "",
    }
    for p in Provider:
        values |= {f"{p.value}_{k}": "" for k in LISTING_KEYS}
        values[f"{p.value}_listed"] = values[f"{p.value}_keyword_linked"] = False
    return values


def _words(value: Any, allowed: tuple[str, ...]) -> list[str]:
    items = value if isinstance(value, list | tuple) else [value] if value else []
    return [a for a in allowed if a in {str(i) for i in items}]


def read_form(form: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields as it posts them (checkboxes absent when unticked), as form values."""
    values = blank_form()
    for key in (*TEXT_FIELDS, "owner", "lon", "lat", "hours", "status", "crs"):
        values[key] = str(form.get(key) or "").strip()
    for key in (*FLAG_FIELDS, "mobile"):
        values[key] = key in form
    # The timetable's lines as typed, line breaks as the form writes them (a browser posts
    # CRLF): an untouched box is then the text the form held, not a change.
    values["stops"] = normal_stops_text(str(form.get("stops") or ""))
    values["amenities"] = _words(form.get("amenities"), AMENITIES)
    values["entry_methods"] = _words(form.get("entry_methods"), ENTRY_METHODS)
    for p in Provider:
        for k in LISTING_KEYS:
            name = f"{p.value}_{k}"
            values[name] = (
                name in form
                if k in ("listed", "keyword_linked")
                else str(form.get(name) or "").strip()
            )
    return values


def form_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """Form values as the record fields create_station and patch_station take."""
    record: dict[str, Any] = {k: values[k] for k in (*TEXT_FIELDS, *FLAG_FIELDS)}
    record |= {
        "hours": values["hours"],
        "status": values["status"],
        "amenities": list(values["amenities"]),
        "entry_methods": list(values["entry_methods"]),
        "lon": values["lon"],
        "lat": values["lat"],
        "crs": values["crs"] or "wgs84",
        "mobile": values["mobile"],
        "stops": values["stops"],  # the text, positions in crs (read as a sheet's cell)
    }
    if values.get("owner"):
        record["owner"] = values["owner"]
    listings = []
    for p in Provider:
        entry = {k: values[f"{p.value}_{k}"] for k in LISTING_KEYS}
        if any(entry.values()):
            listings.append(
                {
                    "provider": p.value,
                    "listed": entry["listed"],
                    "poi_id": entry["poi_id"],
                    "listed_name": entry["listed_name"],
                    "listed_lon": entry["lon"],
                    "listed_lat": entry["lat"],
                    "keyword_linked": entry["keyword_linked"],
                    "checked_at": entry["checked_at"],
                }
            )
    record["listings"] = listings
    return record


POSITION_KEYS = ("lon", "lat", "crs")


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The record fields of ``after`` that differ from ``before`` (a position as one:
    lon, lat and crs together; changed stops with the crs they are written in; a field
    ``after`` lacks is left alone)."""
    patch = {k: v for k, v in after.items() if k not in POSITION_KEYS and before.get(k) != v}
    if any(before.get(k) != after.get(k) for k in POSITION_KEYS):
        patch |= {k: after[k] for k in POSITION_KEYS}
    elif "stops" in patch:
        patch["crs"] = after["crs"]
    return patch


def _merged(before: Sequence[Any], mine: Sequence[Any], now: Sequence[Any]) -> list[Any]:
    """A checkbox group three ways: what the clerk ticked and unticked since ``before``,
    applied to ``now`` (someone else's ticks kept), in ``now``'s order then the clerk's."""
    added = [v for v in mine if v not in before]
    removed = {v for v in before if v not in mine}
    return [v for v in dict.fromkeys([*now, *added]) if v not in removed]


# Form fields that change together: a position, each provider's 上图 listing. (The stops
# merge as one field: their lines the clerk left alone are the stored stops, see
# resolve_stops, so they mean the same in any system.)
FORM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("lon", "lat", "crs"),
    *(tuple(f"{p.value}_{k}" for k in LISTING_KEYS) for p in Provider),
)


def merged_form(
    loaded: Mapping[str, Any], mine: Mapping[str, Any], now: Mapping[str, Any]
) -> dict[str, Any]:
    """Form values ``now`` (the current version's) with what the clerk changed since
    ``loaded`` on top: each field, each position or provider's listing as one, each
    amenity and entry method tick. The other person's part the clerk left alone stays."""
    out = dict(now)
    grouped = {k for group in FORM_GROUPS for k in group}
    for key, value in mine.items():
        if key in grouped or key not in loaded or (key == "owner" and not value):
            continue  # a district or industry form has no owner field
        if key in LIST_FIELDS:
            out[key] = _merged(loaded[key], value, now[key])
        elif key == "stops":
            out[key] = _merged_stops(loaded[key], value, now[key])
        elif value != loaded[key]:
            out[key] = value
    for group in FORM_GROUPS:
        if any(mine.get(k) != loaded.get(k) for k in group):
            out |= {k: mine.get(k) for k in group}
    if out.get("stops") != now.get("stops") and out["crs"] != mine.get("crs"):
        # The clerk's new lines are in the system their form showed: the position with them
        # (else those lines would be read in the other person's system).
        out |= {k: mine.get(k) for k in FORM_GROUPS[0]}
    return out


def _ignore(*_: Any) -> None:
    return None


def _merged_stops(loaded: str, mine: str, now: str) -> str:
    """The stops box three ways: when all three hold as many stops, each stop the clerk
    changed (as read: respaced is unchanged) is theirs and each other stop the current
    version's, so two clerks who changed different stops both keep theirs; otherwise
    (stops added or removed, or a box that does not read) the clerk's box, when they
    changed it at all."""
    if mine == loaded:
        return now
    was, typed, theirs = (parse_stops_text(t, _ignore) for t in (loaded, mine, now))
    if was is None or typed is None or theirs is None:
        return mine
    if typed == was:
        return now
    if not len(was) == len(typed) == len(theirs):
        return mine
    return "\n".join(
        stop_line(e["name"], e["lon"], e["lat"], e["hours"])
        for e in (m if m != w else t for w, m, t in zip(was, typed, theirs, strict=True))
    )


def edit_patch(
    loaded: Station, values: Mapping[str, Any], current: Station | None = None
) -> dict[str, Any]:
    """What the clerk changed in the form of ``loaded``: the patch for patch_station.

    When someone else saved ``current`` since, the clerk's changes go on top of it (see
    :func:`merged_form`): the patch is what differs between ``current`` and that."""
    base = form_values(loaded)
    if current is None or current.version == loaded.version:
        patch = changed_fields(form_record(base), form_record(values))
    else:
        # The current version in the system of the form the clerk loaded: what they left
        # alone (the position, the stops) reads the same there.
        now = form_values(current, form_crs(loaded))
        merged = merged_form(base, values, now)
        patch = changed_fields(form_record(now), form_record(merged))
    if "stops" in patch:  # the clerk's, or a stop at a time theirs and the current ones
        stops = resolve_stops(patch["stops"], patch["crs"], loaded, current)
        if stops == resolve_stops(base["stops"], patch["crs"], loaded):
            # Written another way (spacing, ；, a CRLF) but the same stops as loaded: no
            # change, nor the crs that came with it.
            del patch["stops"]
            if "lon" not in patch:
                patch.pop("crs", None)
        else:
            patch["stops"] = stops
    return patch


def resolve_stops(
    text: str, crs: str, loaded: Station | None, current: Station | None = None
) -> Any:
    """The stops the box's ``text`` means (positions in ``crs``), as a save reads them and
    the live check shows them: each stop whose line is the one the form showed for
    ``loaded`` (or, after a merge, showed for ``current`` in that form's system) is that
    stored stop, its position converted from the stored WGS-84 at full precision (not read
    back from the 7-decimal text, nor in another system had the 坐标系 select changed); the
    other lines as typed. ``text`` itself when it does not read as stops, or ``crs`` is no
    system (validation then says why)."""
    if loaded is None:
        return text
    stations = [s for s in (current, loaded) if s is not None and s.stops]  # loaded's last
    if not stations:
        return text
    entries = parse_stops_text(text, _ignore)
    if entries is None:
        return text
    try:
        system = parse_crs(crs)
    except ValueError:
        return text
    shown_in = form_crs(loaded)
    as_stored = {}
    for station in stations:
        shown = parse_stops_text(_stops_in(station, shown_in), _ignore) or []
        if len(shown) != len(station.stops):
            continue
        for entry, stop in zip(shown, station.stops, strict=True):
            x, y = from_wgs84(stop.lon, stop.lat, crs=system)
            as_stored[tuple(entry.values())] = {
                "name": stop.name,
                "lon": float(x),
                "lat": float(y),
                "hours": stop.hours_text or stop.hours,
            }
    return [as_stored.get(tuple(e.values()), dict(e)) for e in entries]


def station_as_loaded(store: Store, current: Station, version: int) -> Station:
    """The station as the clerk loaded it, at ``version`` (the audit trail keeps every
    version); ``current`` where that is the version, or none is found."""
    if current.version == version or current.id is None:
        return current
    for entry in store.audit(station_id=current.id):
        if entry.after is not None and entry.after.get("version") == version:
            return station_from_dict(entry.after)
    return current


@dataclass(frozen=True, slots=True)
class FieldChange:
    key: str
    label: str
    loaded: str  # as the clerk loaded it
    current: str  # as it is now
    mine: str | None  # what the clerk typed, where the clerk changed it


@dataclass(frozen=True, slots=True)
class Conflict:
    """Someone else changed the station after the clerk loaded it."""

    loaded_version: int
    current: Station
    changes: list[FieldChange]
    by: list[AuditEntry] = field(default_factory=list)  # the writes since, oldest first
    mine: list[FieldChange] = field(default_factory=list)  # what the clerk changed


def _shown(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "amenities":
        return "、".join(AMENITY_LABELS.get(v, v) for v in value) or "无"
    if key == "entry_methods":
        return "、".join(ENTRY_METHOD_LABELS.get(v, v) for v in value) or "无"
    if key == "status":
        return STATUS_LABELS.get(str(value), str(value))
    if key == "stops":  # one stop a line in the form; on one line here
        return "；".join(line.strip() for line in str(value).splitlines() if line.strip()) or "无"
    return str(value) if value not in (None, "") else "（空）"


def _listing_text(values: Mapping[str, Any], p: Provider) -> str:
    v = {k: values[f"{p.value}_{k}"] for k in LISTING_KEYS}
    if not any(v.values()):
        return "（无记录）"
    parts = ["已上图" if v["listed"] else "未上图"]
    if v["poi_id"]:
        parts.append(f"POI {v['poi_id']}")
    if v["listed_name"]:
        parts.append(f"名称 {v['listed_name']}")
    if v["lon"] or v["lat"]:
        parts.append(f"位置 {v['lon']}, {v['lat']}")
    parts.append("已关联关键词" if v["keyword_linked"] else "未关联关键词")
    if v["checked_at"]:
        parts.append(f"核查于 {v['checked_at'].replace('T', ' ')}")
    return "，".join(parts)


def _comparable(values: Mapping[str, Any]) -> dict[str, str]:
    """Each labelled field of form ``values`` as the conflict page shows it."""
    out = {k: _shown(k, values[k]) for k in FIELD_LABELS if k in values}
    crs = CRS_LABELS.get(str(values["crs"]), str(values["crs"])).split("（")[0]
    out["position"] = f"{values['lon']}, {values['lat']}（{crs}）"
    for p in Provider:
        out[f"listing_{p.value}"] = _listing_text(values, p)
    return out


def typed_fields(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the clerk typed in the form, labelled (for a save refused as a whole: the
    clerk can copy it from there)."""
    shown = _comparable({**values, "owner": values.get("owner") or ""})
    return [(FIELD_LABELS[k], shown[k]) for k in FIELD_LABELS if k != "owner" or values.get(k)]


def conflict(store: Store, loaded: Station, current: Station, mine: Mapping[str, Any]) -> Conflict:
    """What changed between ``loaded`` (the clerk's base) and ``current``, who changed it
    and when, and which of those fields the clerk changed too."""
    before = _comparable(form_values(loaded))
    now = _comparable(form_values(current, form_crs(loaded)))
    # A form without the owner field (a district or industry clerk's) leaves it as it was.
    typed = _comparable({**mine, "owner": mine.get("owner") or form_values(loaded)["owner"]})
    changes = [
        FieldChange(
            key,
            FIELD_LABELS[key],
            before[key],
            now[key],
            typed[key] if typed.get(key) != before[key] else None,
        )
        for key in FIELD_LABELS
        if before.get(key) != now.get(key)
    ]
    assert current.id is not None
    since = [
        e
        for e in store.audit(station_id=current.id)
        if e.after is not None and int(e.after.get("version", 0)) > loaded.version
    ]
    since.sort(key=lambda e: e.id)
    mine_changed = [
        FieldChange(key, FIELD_LABELS[key], before[key], now[key], typed[key])
        for key in FIELD_LABELS
        if typed.get(key) != before.get(key)
    ]
    return Conflict(loaded.version, current, changes, since, mine_changed)


# -- live checks of the form ------------------------------------------------------------

WEEKDAYS_ZH = "一二三四五六日"
UNKNOWN_TIMES = re.compile(r"\bunknown\b")  # OSM's word for days given without times
NO_TIMES = (
    "只写了哪几天开放，没有写几点开门、几点关门（骑手看到的是“时间不详”）。"
    "请写上时刻，如“周一至周五 9:00-18:00”"
)


def _open_spans(h: Any, day_start: datetime) -> list[str]:
    """The open times of one day, as ``08:00–20:00`` spans."""
    end = day_start + timedelta(days=1)
    spans: list[str] = []
    at = day_start
    is_open = h.is_open(at)
    for _ in range(48):
        change = h.next_change(at)
        stop = end if change is None or change > end else change
        if is_open:
            close = "24:00" if stop >= end else stop.strftime("%H:%M")
            spans.append(f"{at.strftime('%H:%M')}–{close}")
        if stop >= end:
            break
        at, is_open = stop, not is_open
    return spans


def hours_preview(text: str, *, now: datetime) -> dict[str, Any]:
    """How the hours the clerk typed read: the OSM form, open at ``now``, the next seven
    days' open times, and the reading assumed for holidays; or the Chinese error."""
    text = text.strip()
    if not text:
        return {"ok": False, "error": "请填写开放时间（例：周一至周五 9:00-18:00、24小时）"}
    try:
        reading = read_hours(text)
        h = hours(reading.osm)
    except HoursError as exc:
        return {"ok": False, "error": exc.reason}
    if UNKNOWN_TIMES.search(reading.osm):
        # Days without times ("周一至周五"): stored as open at unknown times, which an
        # evaluation reads as closed; say what is missing instead of a week of 不开放.
        return {
            "ok": True,
            "osm": reading.osm,
            "open_now": None,
            "description": NO_TIMES,
            "note": reading.note,
            "summary": None,
            "week": [],
        }
    local = now.astimezone(TZ)
    open_now = h.is_open(local)
    change = h.next_change(local)
    today = local.replace(hour=0, minute=0, second=0, microsecond=0)
    week = []
    for i in range(7):
        day = today + timedelta(days=i)
        spans = _open_spans(h, day)
        label = f"{day.month}月{day.day}日 周{WEEKDAYS_ZH[day.weekday()]}"
        week.append({"day": label, "open": "、".join(spans) if spans else "不开放"})
    days = {d["open"] for d in week}
    summary = f"这 7 天每天 {days.pop()}" if len(days) == 1 else None
    state = "现在开放" if open_now else "现在不开放"
    if change is not None:
        state += f"，{change.month}月{change.day}日 {change:%H:%M} {'关门' if open_now else '开门'}"
    elif h.is_24_7:
        state = "全天开放（24 小时，含节假日）"
    return {
        "ok": True,
        "osm": reading.osm,
        "open_now": open_now,
        "description": state,
        "note": reading.note,
        "summary": summary,
        "week": week,
    }


def _in_every_system(lon: float, lat: float) -> dict[str, dict[str, float]]:
    """A WGS-84 position in each system of the form, to 7 decimals (as the form writes)."""
    out = {}
    for s in FORM_CRS:
        x, y = from_wgs84(lon, lat, crs=s)
        out[s.value] = {"lon": round(float(x), 7), "lat": round(float(y), 7)}
    return out


def position_preview(
    districts: Districts, lon: float, lat: float, crs: str | CoordinateSystem
) -> dict[str, Any]:
    """A position typed or dragged in ``crs``: in WGS-84, GCJ-02 and BD-09, and the district
    holding it; or the Chinese reason it is not a position in China."""
    try:
        system = parse_crs(crs)
    except ValueError:
        return {"ok": False, "error": f"未知的坐标系：{crs}"}
    verdict = position_verdict(lon, lat)
    if verdict is PositionVerdict.SWAPPED:
        return {"ok": False, "error": f"经纬度可能填反了：经度 {lon}、纬度 {lat}"}
    if verdict is not PositionVerdict.IN_CHINA:
        return {"ok": False, "error": f"位置不在中国境内：经度 {lon}、纬度 {lat}"}
    wlon, wlat = (float(v) for v in to_wgs84(lon, lat, crs=system))
    out: dict[str, Any] = {"ok": True, **_in_every_system(wlon, wlat)}
    adcode = districts.lookup(wlon, wlat)
    district = districts.find(adcode) if adcode else None
    out["district"] = {"adcode": adcode, "name": district.name} if district is not None else None
    return out


def stops_preview(
    districts: Districts,
    text: str,
    crs: str | CoordinateSystem,
    *,
    owner: Owner | None,
    border_tolerance_m: float,
    now: datetime,
    station: Station | None = None,
) -> dict[str, Any]:
    """A timetable as the clerk types it (the 停靠点 box, positions in ``crs``) in the form
    of ``station`` (None: a new one), checked by the rules a save applies for ``owner``
    (a district union's stops in its own district): each stop as the save would read it
    (the lines left alone are the stored stops, :func:`resolve_stops`; its hours as stored,
    its position in every system and its district, for the form's map), or the Chinese
    problems, each naming its stop."""
    try:
        system = parse_crs(crs)
    except ValueError:
        said = f"未知的坐标系：{str(crs)[:40]}"
        return {"ok": False, "problems": [said], "stops": [], "warnings": []}
    if not text.strip():
        return {"ok": True, "problems": [], "stops": [], "warnings": []}
    read = check_stops(
        resolve_stops(text, system.value, station),
        crs=system,
        owner=owner,
        districts=districts,
        border_tolerance_m=border_tolerance_m,
        now=now,
    )
    stops = []
    for stop in read.stops:
        where: dict[str, Any] = {"name": stop.name, "hours": stop.hours_text, "osm": stop.hours}
        where |= _in_every_system(stop.lon, stop.lat)
        adcode = districts.lookup(stop.lon, stop.lat)
        district = districts.find(adcode) if adcode else None
        where["district"] = district.name if district is not None else None
        stops.append(where)
    return {
        "ok": not read.problems,
        "problems": [p.message for p in read.problems],
        "warnings": [p.message for p in read.warnings],
        "stops": stops,
    }


def filed_apart(districts: Districts, station: Station) -> str | None:
    """Where a station filed under one district lies in another (accepted near the border):
    the Chinese line saying so, else None."""
    there = districts.lookup(station.lon, station.lat)
    if there == station.district_adcode:
        return None
    filed = districts.find(station.district_adcode)
    found = districts.find(there) if there else None
    where = found.name if found is not None else "任何区县之外"
    name = filed.name if filed is not None else station.district_adcode
    return f"位置在{where}，离边界很近，按所属工会归入{name}。请核对位置是否准确。"


# -- rider reports ----------------------------------------------------------------------

# The inbox's tabs: the cases' states, the overdue ones, all of them.
INBOX_TABS: dict[str, str] = {
    "open": "待处理",
    "in_progress": "处理中",
    "resolved": "已解决",
    "confirmed": "已确认",
    "overdue": "逾期",
    "all": "全部",
}


def inbox(
    store: Store,
    by: Principal,
    tab: str,
    *,
    now: datetime,
    confirm_days: int,
    limit: int,
    offset: int,
) -> tuple[list[Case], int]:
    """The cases ``by`` may handle in ``tab`` (a state, overdue or all), soonest due
    first, a page of them, and how many there are."""
    state = None if tab in ("overdue", "all") else CaseState(tab)
    return list_cases(
        store,
        by,
        state=state,
        overdue=tab == "overdue",
        station_id=None,
        now=now,
        confirm_days=confirm_days,
        limit=limit,
        offset=offset,
    )


def inbox_counts(store: Store, by: Principal, *, now: datetime) -> dict[str, int]:
    """How many cases ``by`` may handle are in each tab (after :func:`inbox` confirmed
    what was due)."""
    counts: dict[str, int] = {}
    for tab in INBOX_TABS:
        query = CaseQuery(
            owner=by.feedback_owner,
            state=None if tab in ("overdue", "all") else CaseState(tab),
            overdue_at=now if tab == "overdue" else None,
        )
        counts[tab] = store.list_cases(query, limit=0)[1]
    return counts


def field_label(key: str) -> str:
    """The Chinese name of a record field (a problem's ``field``), for the form's messages."""
    base = key.split(".")[-1].split("[")[0]
    for p in Provider:
        if key.startswith(f"{p.value}_"):
            return f"{PROVIDER_LABELS[p.value]}上图"
    if key.startswith("listings"):
        return "上图记录"
    found = FIELD_BY_KEY.get(base)
    return FIELD_LABELS.get(base) or (found.header if found and found.header else base)
