"""Events at the stations (活动): a union's writes, what is on near a point, per district."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, Header, Path, Query, Request
from starlette.responses import Response

from api.auth import PrincipalDep
from api.deps import MAX_ID, IndexDep, ServicesDep, parse_crs_param, parse_point, parse_time
from api.problems import Problem
from api.representation import links_at
from api.responses import json_response
from geodata.crs import from_wgs84
from geodata.distance import distance_m
from geodata.hours import TZ
from geodata.when import EARLIEST, LATEST
from stations.domain.events import KIND_LABELS, Event, Occurrence, current_and_next
from stations.services import events as events_service
from stations.services.events import EventsHolder, EventsQuery, Listed

router = APIRouter(prefix="/v1", tags=["events"])
EventId = Annotated[int, Path(ge=1, le=MAX_ID, description="the event's id", examples=[1])]
MAX_LIMIT = 500
_KINDS = "; ".join(f"`{k.value}` {label}" for k, label in KIND_LABELS.items())
_EXAMPLE = {
    "title": "每周三免费午餐",
    "kind": "free_meal",
    "station_ids": [1],
    "start": "2026-01-07T11:30",
    "end": "2026-01-07T13:00",
    "offer": "盒饭，每次 100 份",
    "audience": "外卖骑手、快递员",
    "while_supplies_last": True,
    "recurrence": {
        "kind": "weekly",
        "weekdays": ["We"],
        "until": "2026-06-30",
        "skip_holidays": True,
    },
}


def holder_of(request: Request) -> EventsHolder:
    holder: EventsHolder = request.app.state.events
    return holder


def event_json(event: Event, *, at: datetime | None = None) -> dict[str, Any]:
    """An event as the API gives it (with its current and next occurrence at ``at``): the
    union that holds it, not who wrote it (a clerk's username or a token's id is not for
    the public: a username is what a sign-in lockout is aimed at)."""
    doc: dict[str, Any] = {
        "id": event.id,
        "owner": event.owner,
        **event.as_body(),
        "kind_label": KIND_LABELS[event.kind],
        "rule_osm": event.rule_osm,
        "version": event.version,
        "created_at": event.created_at.isoformat(),
        "updated_at": event.updated_at.isoformat(),
    }
    if at is not None:
        current, coming = current_and_next(event, at)
        doc["current"] = _occ(current)
        doc["next"] = _occ(coming)
    return doc


def _occ(o: Occurrence | None) -> dict[str, str] | None:
    return None if o is None else {"start": o.start.isoformat(), "end": o.end.isoformat()}


def _written(event: Event, status: int = 200) -> Response:
    return json_response(
        event_json(event, at=datetime.now(TZ)),
        status=status,
        headers={"Cache-Control": "no-store", "ETag": f'"{event.version}"'},
    )


def _version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise Problem("invalid_parameter", f"If-Match {if_match!r} is not an event version")
    return int(text)


@router.post(
    "/events",
    status_code=201,
    summary="Create an event at stations of your union (authenticated)",
    description=(
        "`station_ids` (or `station_id`), `title`, `kind` (code or Chinese name: "
        f"{_KINDS}), `start`, `end` (ISO 8601, Asia/Shanghai unless an offset is given; "
        "end after start), `offer`, `audience`, `while_supplies_last`, and `recurrence`: "
        "none, `{kind: weekly, weekdays: [Mo…Su | 周一… | 1…7], until: date, skip_holidays}` "
        "(judged like opening hours with China's holidays and 调休: with skip_holidays, not "
        "on 国庆), or `{kind: dates, dates: [...]}`. A union only at its own stations (403); "
        "problems: 422 `invalid_event` with `errors`, one per field, in Chinese."
    ),
)
def create_event(
    request: Request,
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    body: Annotated[dict[str, Any], Body(examples=[_EXAMPLE])],
) -> Response:
    event = events_service.create_event(
        services.store,
        by,
        body,
        stations=index.get,
        at=datetime.now(TZ),
        holder=holder_of(request),
    )
    return _written(event, 201)


@router.get(
    "/events",
    summary="What is on or coming at the stations, nearest first",
    description=(
        "Events on at `at` (default now) or starting before the window's end (`until`, or "
        "`days` after `at`, default 7). With `near=lon,lat` (in `crs`) nearest first, each "
        "station's `distance_m` on the WGS-84 ellipsoid, those beyond `radius_m` left out; "
        "without it, by start. Each item is an event with its first occurrence in the window "
        "(`start`, `end`, `on_now`) and its stations (positions in `crs`)."
    ),
)
def list_events(
    request: Request,
    index: IndexDep,
    near: Annotated[str | None, Query(description="lon,lat in `crs`")] = None,
    radius_m: Annotated[float | None, Query(gt=0, le=500_000)] = None,
    at: Annotated[str | None, Query(description="ISO 8601; default now")] = None,
    days: Annotated[int | None, Query(ge=1, le=events_service.MAX_DAYS)] = None,
    until: Annotated[str | None, Query(description="ISO 8601; instead of days")] = None,
    kind: Annotated[list[str] | None, Query(description="codes or Chinese names")] = None,
    owner: Annotated[str | None, Query(description="a union, e.g. district:500103")] = None,
    station_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    crs: Annotated[str, Query(description="wgs84|gcj02|bd09")] = "wgs84",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
) -> Response:
    system = parse_crs_param(crs)
    when = parse_time(at)
    end = events_service.window(when, days=days, until=parse_time(until) if until else None)
    point = None
    if near is not None:
        point = _near_point(near, system)
    elif radius_m is not None:
        raise Problem("invalid_parameter", "radius_m 需要 near（radius_m needs near=lon,lat）")
    q = EventsQuery(
        at=when,
        until=end,
        near=point,
        radius_m=radius_m,
        kinds=events_service.parse_kinds(kind or []),
        owner=owner,
        station_id=station_id,
    )
    listed = events_service.on_or_coming(holder_of(request).current(), q, index.get)
    items = [_listed_json(item, system) for item in listed[:limit]]
    return json_response(
        {
            "at": when.isoformat(),
            "until": end.isoformat(),
            "crs": system.value,
            "total": len(listed),
            "count": len(items),
            "items": items,
        }
    )


def _near_point(near: str, system: Any) -> tuple[float, float]:
    """``near=lon,lat`` in ``system``, checked, in WGS-84."""
    parts = near.replace("，", ",").split(",")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise Problem(
            "invalid_parameter", f"near 应是 经度,纬度（near={near!r} is not lon,lat）"
        ) from None
    return parse_point(lon, lat, system)


def _listed_json(item: Listed, system: Any) -> dict[str, Any]:
    event = item.occurrence.event
    lons = [s.station.lon for s in item.stations]
    lats = [s.station.lat for s in item.stations]
    x, y = from_wgs84(lons, lats, crs=system)
    gx, gy = from_wgs84(lons, lats, crs="gcj02")
    bx, by = from_wgs84(lons, lats, crs="bd09")
    return {
        "id": event.id,
        "title": event.title,
        "kind": event.kind.value,
        "kind_label": KIND_LABELS[event.kind],
        "offer": event.offer,
        "audience": event.audience,
        "while_supplies_last": event.while_supplies_last,
        "start": item.occurrence.start.isoformat(),
        "end": item.occurrence.end.isoformat(),
        "on_now": item.on_now,
        "occurrences_in_window": item.occurrences_in_window,
        "recurrence": event.recurrence.as_dict(),
        "distance_m": None if item.distance_m is None else round(item.distance_m, 1),
        "stations": [
            {
                "id": s.station.id,
                "name": s.station.name,
                "address": s.station.address,
                "lon": float(lon),
                "lat": float(lat),
                "crs": system.value,
                "distance_m": None if s.distance_m is None else round(s.distance_m, 1),
                "navigation": links_at(s.station.name, float(g0), float(g1), float(b0), float(b1)),
            }
            for s, lon, lat, g0, g1, b0, b1 in zip(
                item.stations, list(x), list(y), list(gx), list(gy), list(bx), list(by), strict=True
            )
        ],
    }


@router.get(
    "/districts/events",
    summary="Event occurrences per district, period and kind (planners)",
    description=(
        "Counts of occurrences from `from` to `to` (dates, `to` exclusive, default the 12 "
        "months to come), `by=month|week`, per district of the stations, and kind."
    ),
)
def district_events(
    request: Request,
    index: IndexDep,
    services: ServicesDep,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: Annotated[date | None, Query()] = None,
    by: Annotated[str, Query(pattern="^(month|week)$")] = "month",
) -> Response:
    start = from_ or datetime.now(TZ).date().replace(day=1)
    end = to or start + timedelta(days=366)
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST.date() <= day <= LATEST.date():
            raise Problem(
                "time_out_of_range",
                f"{name}: 日期应在 {EARLIEST:%Y-%m-%d} 至 {LATEST:%Y-%m-%d} 之间（{day}）",
            )
    if end <= start or end - start > timedelta(days=3 * 366):
        raise Problem("out_of_range", "to 应晚于 from，最多三年（to must follow from, ≤ 3 years）")
    rows = events_service.events_by_district(services.store, index.get, start=start, end=end, by=by)
    return json_response(
        {"from": start.isoformat(), "to": end.isoformat(), "by": by, "items": rows}
    )


@router.get(
    "/events/mobile",
    summary="流动驿站 near a point, with their next stops (for the rider's 活动 tab)",
    description=(
        "Mobile stations with a coming stop within `radius_m` (default 5000) of `near` "
        "(lon,lat in `crs`), nearest stop first; each with its next stands (`stops`: name, "
        "position in `crs`, `start`, `end`, `distance_m`, `navigation`), one in progress "
        "first."
    ),
)
def mobile_stations(
    index: IndexDep,
    near: Annotated[str, Query(description="lon,lat in `crs`")],
    radius_m: Annotated[float, Query(gt=0, le=50_000)] = 5000,
    at: Annotated[str | None, Query(description="ISO 8601; default now")] = None,
    crs: Annotated[str, Query(description="wgs84|gcj02|bd09")] = "wgs84",
) -> Response:
    system = parse_crs_param(crs)
    when = parse_time(at)
    point = _near_point(near, system)
    items = []
    for m in events_service.mobile_near(index, point, radius_m=radius_m, at=when):
        lons = [v.stop.lon for v in m.visits]
        lats = [v.stop.lat for v in m.visits]
        x, y = from_wgs84(lons, lats, crs=system)
        gx, gy = from_wgs84(lons, lats, crs="gcj02")
        bx, by = from_wgs84(lons, lats, crs="bd09")
        dists = distance_m(point[0], point[1], np.array(lons), np.array(lats))
        stops = []
        for i, v in enumerate(m.visits):
            name = f"{m.station.name}（{v.stop.name}）"
            stops.append(
                {
                    "name": v.stop.name,
                    "lon": float(x[i]),
                    "lat": float(y[i]),
                    "crs": system.value,
                    "start": v.start.isoformat(),
                    "end": None if v.end is None else v.end.isoformat(),
                    "on_now": v.start <= when,
                    "distance_m": round(float(dists[i]), 1),
                    "navigation": links_at(
                        name, float(gx[i]), float(gy[i]), float(bx[i]), float(by[i])
                    ),
                }
            )
        items.append(
            {
                "id": m.station.id,
                "name": m.station.name,
                "distance_m": round(m.distance_m, 1),
                "stops": stops,
            }
        )
    return json_response({"at": when.isoformat(), "crs": system.value, "items": items})


@router.get("/events/{event_id}", summary="One event, with its current and next occurrence")
def get_event(event_id: EventId, services: ServicesDep) -> Response:
    event = services.store.get_event(event_id)
    return json_response(
        event_json(event, at=datetime.now(TZ)), headers={"ETag": f'"{event.version}"'}
    )


@router.patch(
    "/events/{event_id}",
    summary="Change an event of your union (authenticated)",
    description="A merge of the fields given onto the event, validated whole; `If-Match` "
    "with the version read refuses (409) a change made since.",
)
def patch_event(
    event_id: EventId,
    request: Request,
    by: PrincipalDep,
    services: ServicesDep,
    index: IndexDep,
    body: Annotated[dict[str, Any], Body(examples=[{"title": "改到周四的免费午餐"}])],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    event = events_service.update_event(
        services.store,
        by,
        event_id,
        {k: v for k, v in body.items() if k not in ("id", "version", "owner")},
        stations=index.get,
        at=datetime.now(TZ),
        expected_version=_version(if_match),
        holder=holder_of(request),
    )
    return _written(event)


@router.delete("/events/{event_id}", status_code=204, summary="Delete an event of your union")
def delete_event(
    event_id: EventId, request: Request, by: PrincipalDep, services: ServicesDep
) -> Response:
    events_service.delete_event(
        services.store, by, event_id, at=datetime.now(TZ), holder=holder_of(request)
    )
    return Response(status_code=204)
