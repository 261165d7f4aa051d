"""Spot checks (抽查暗访): who may record and read them, results checked against the
station's checklist, photos re-encoded, rectifications opened and closed.

The JSON API (api/routes/inspections.py) and the console's pages (api/console/inspections.py)
both call these, with the principal behind the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from geodata.hours import TZ, HoursError, hours
from stations.domain.auth import Principal, Role, check_inspect, check_inspection_read
from stations.domain.checklist import Checklist, ChecklistItem, checklist_for
from stations.domain.codes import InvalidCodeError, parse_code
from stations.domain.errors import StationNotFoundError
from stations.domain.inspections import (
    NOTE_MAX_CHARS,
    Inspection,
    InspectionNotFoundError,
    InspectionQuery,
    InvalidInspectionError,
    NewInspection,
    PhotoRefusedError,
    Rectification,
)
from stations.domain.model import Station, Status
from stations.formats.photos import reencode
from stations.readmodel.index import StationIndex
from stations.storage.store import Store

# A check's time may be given (recorded later from paper notes): not ahead of the server's
# clock by more than a phone's drift, and within the last year.
CLOCK_SKEW = timedelta(minutes=10)
OLDEST = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class PhotoCaps:
    """The settings that bound a check's photos (photo_max_bytes, photo_max_pixels,
    photos_per_inspection)."""

    max_bytes: int
    max_pixels: int
    per_inspection: int


def open_suggestion(station: Station, at: datetime) -> bool | None:
    """Whether the station's hours say it is open at ``at`` (the 按公示时间开放 item's
    suggestion; the rule nearest's ``open_now`` uses): None if it is not serving or its
    hours cannot be evaluated."""
    if station.status is not Status.ACTIVE:
        return None
    try:
        return hours(station.hours).is_open(at.astimezone(TZ).replace(second=0, microsecond=0))
    except HoursError:
        return None


def station_checklist(
    store: Store, checklist: Checklist, station_id: int | None
) -> tuple[Station | None, tuple[ChecklistItem, ...]]:
    """The checklist (public), expanded with a station's amenities when one is named."""
    if station_id is None:
        return None, checklist.items
    station = store.find(station_id)
    if station is None:
        raise StationNotFoundError(station_id)
    return station, checklist_for(station, checklist)


def _results(raw: Any, items: Sequence[ChecklistItem]) -> dict[str, bool]:
    if not isinstance(raw, dict):
        raise InvalidInspectionError(
            [
                {
                    "field": "results",
                    "code": "not_an_object",
                    "message": "results 应为 JSON 对象：检查项编号 → true（合格）或 false",
                }
            ]
        )
    labels = {i.code: i.label for i in items}
    problems: list[dict[str, Any]] = []
    unknown = [str(k) for k in raw if k not in labels]
    if unknown:
        problems.append(
            {
                "field": "results",
                "code": "unknown_items",
                "items": unknown,
                "message": f"这个驿站的检查表里没有这些检查项：{'、'.join(unknown)}",
            }
        )
    missing = [i for i in items if i.code not in raw]
    if missing:
        problems.append(
            {
                "field": "results",
                "code": "missing_items",
                "items": [i.code for i in missing],
                "message": "还有检查项没有填写："
                + "、".join(f"{i.label}（{i.code}）" for i in missing),
            }
        )
    not_bool = [str(k) for k, v in raw.items() if k in labels and not isinstance(v, bool)]
    if not_bool:
        problems.append(
            {
                "field": "results",
                "code": "not_true_false",
                "items": not_bool,
                "message": f"这些检查项的结果应为 true 或 false：{'、'.join(not_bool)}",
            }
        )
    if problems:
        raise InvalidInspectionError(problems)
    return {i.code: bool(raw[i.code]) for i in items}


def _when(inspected_at: datetime | None, now: datetime) -> datetime:
    if inspected_at is None:
        return now
    if inspected_at.tzinfo is None:
        inspected_at = inspected_at.replace(tzinfo=TZ)
    if inspected_at > now + CLOCK_SKEW or inspected_at < now - OLDEST:
        raise InvalidInspectionError(
            [
                {
                    "field": "inspected_at",
                    "code": "out_of_range",
                    "message": "抽查时间不能晚于现在，也不能早于一年前",
                }
            ]
        )
    return inspected_at


def record_inspection(
    store: Store,
    by: Principal,
    station_id: int,
    *,
    checklist: Checklist,
    announced: bool,
    results: Any,
    note: str | None,
    photos: Sequence[tuple[str, bytes]],
    caps: PhotoCaps,
    inspected_at: datetime | None = None,
    now: datetime,
) -> Inspection:
    """Record a check of ``station_id`` by ``by`` (the city union, or the district union of
    the station's district); each failed item opens a rectification due the item's
    ``deadline_days`` after the check, each passed one closes the open one."""
    station = store.find(station_id)
    if station is None:
        raise StationNotFoundError(station_id)
    assert station.id is not None
    check_inspect(by, station.district_adcode)
    items = checklist_for(station, checklist)
    checked = _results(results, items)
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise InvalidInspectionError(
            [{"field": "note", "code": "too_long", "message": f"说明最多 {NOTE_MAX_CHARS} 字"}]
        )
    if len(photos) > caps.per_inspection:
        msg = f"一次抽查最多 {caps.per_inspection} 张照片，这次有 {len(photos)} 张"
        raise PhotoRefusedError(msg)
    kept = [
        reencode(data, name=name, max_bytes=caps.max_bytes, max_pixels=caps.max_pixels)
        for name, data in photos
    ]
    at = _when(inspected_at, now)
    days = {i.code: i.deadline_days for i in items}
    new = NewInspection(
        station_id=station.id,
        owner=str(station.owner),
        district_adcode=station.district_adcode,
        inspected_at=at,
        recorded_at=now,
        actor=by.actor,
        announced=announced,
        results=checked,
        labels={i.code: i.label for i in items},
        checklist_version=checklist.version,
        station_version=station.version,
        note=note,
    )
    due = {code: at + timedelta(days=days[code]) for code, ok in checked.items() if not ok}
    return store.add_inspection(new, kept, rectification_due=due)


def get_inspection(store: Store, by: Principal, inspection_id: int) -> Inspection:
    found = store.find_inspection(inspection_id)
    if found is None:
        raise InspectionNotFoundError(inspection_id)
    check_inspection_read(by, found.owner, found.district_adcode)
    return found


def list_inspections(
    store: Store,
    by: Principal,
    *,
    station_id: int | None = None,
    district: str | None = None,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[Inspection], int]:
    """The checks ``by`` may read, newest first: a district union's district's, an industry
    union's own stations', the city union's all (narrowed by the filters)."""
    scope_district, scope_owner = by.inspection_scope
    if scope_district is not None and district not in (None, scope_district):
        return [], 0
    q = InspectionQuery(
        station_id=station_id,
        district=scope_district or district,
        owner=scope_owner,
        since=since,
        limit=limit,
        offset=offset,
    )
    return store.list_inspections(q)


def photo(
    store: Store, by: Principal, inspection_id: int, seq: int, *, thumb: bool
) -> tuple[bytes, str, str]:
    """A check's photo (or thumbnail): its JPEG bytes, content type and SHA-256 (of the
    full photo: the same ETag for both sizes would be wrong, so the thumb's is suffixed)."""
    found = get_inspection(store, by, inspection_id)
    got = None
    if 1 <= seq <= found.photo_count:
        got = store.get_photo(inspection_id, seq, thumb=thumb)
    if got is None:
        raise InspectionNotFoundError(inspection_id)
    data, content_type = got
    digest = found.photo_hashes[seq - 1] + ("-thumb" if thumb else "")
    return data, content_type, digest


def list_rectifications(
    store: Store,
    by: Principal,
    *,
    station_id: int | None = None,
    district: str | None = None,
    overdue: bool = False,
    now: datetime,
    limit: int = 1000,
) -> list[Rectification]:
    """The open rectifications ``by`` may read, soonest due first (``overdue``: only those
    past their deadline)."""
    scope_district, scope_owner = by.inspection_scope
    if scope_district is not None and district not in (None, scope_district):
        return []
    return store.list_rectifications(
        station_id=station_id,
        district=scope_district or district,
        owner=scope_owner,
        overdue_at=now if overdue else None,
        limit=limit,
    )


@dataclass(frozen=True, slots=True)
class CheckForm:
    """What the console's check form shows: the station, its items by group, and whether
    its hours say it is open now (the 按公示时间开放 item's suggestion)."""

    station: Station
    groups: list[tuple[str, list[ChecklistItem]]]
    open_suggested: bool | None


def check_form(
    store: Store, by: Principal, checklist: Checklist, station_id: int, *, now: datetime
) -> CheckForm:
    """The form to check ``station_id`` (refused, as the check itself would be, for a
    union that may not check it)."""
    station, items = station_checklist(store, checklist, station_id)
    assert station is not None
    check_inspect(by, station.district_adcode)
    groups: dict[str, list[ChecklistItem]] = {}
    for item in items:
        groups.setdefault(item.group, []).append(item)
    return CheckForm(station, list(groups.items()), open_suggestion(station, now))


@dataclass(frozen=True, slots=True)
class CheckDetail:
    inspection: Inspection
    labels: dict[str, str]  # each result's item label (the station's amenities included)
    opened: list[Rectification]  # the rectifications this check opened


def check_detail(
    store: Store, by: Principal, checklist: Checklist, inspection_id: int
) -> CheckDetail:
    """One check for its page (refused to those who may not read it)."""
    found = get_inspection(store, by, inspection_id)
    station = store.find(found.station_id)
    items = checklist_for(station, checklist) if station else checklist.items
    rectifications = store.list_rectifications(station_id=found.station_id, open_only=False)
    return CheckDetail(
        found,
        {i.code: i.label for i in items},
        [r for r in rectifications if r.inspection_id == found.id],
    )


PICK_MAX = 20


def stations_to_check(
    index: StationIndex, by: Principal, query: str, *, limit: int = PICK_MAX
) -> list[Station]:
    """The stations ``by`` may check whose name or address contains ``query`` (or whose
    id or public code it is), for the console's picker; at most ``limit``, by id."""
    text = query.strip()
    if not text or not by.inspects:
        return []
    district = by.code if by.role is Role.DISTRICT else None
    try:
        code: str | None = parse_code(text)
    except InvalidCodeError:
        code = None
    found: list[Station] = []
    for pos in index.select(district=district).tolist():
        station = index.stations[pos]
        if (
            text in station.name
            or text in station.address
            or text == str(station.id)
            or (code is not None and station.code == code)
        ):
            found.append(station)
            if len(found) >= limit:
                break
    return found
