"""Where a mobile station (流动驿站) is at a given time: the one rule every read path uses.

A mobile station is a vehicle with a timetable of stops; each stop's ``hours`` is an OSM
``opening_hours`` string evaluated like a station's own (Asia/Shanghai, China's holidays and
调休 through ``PH``). At a time ``at`` the station stands at the first stop whose hours are
open then, until that stop's hours next change; between stops it is nowhere (read paths leave
it out). Validation refuses timetables whose stops overlap, so "the first" is "the one".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from geodata.hours import TZ, hours
from stations.domain.model import Station, Status, Stop


@dataclass(frozen=True, slots=True)
class Placement:
    """A mobile station at one of its stops: which, and until when (None: beyond a month)."""

    index: int  # in station.stops
    stop: Stop
    until: datetime | None


def place(station: Station, at: datetime) -> Placement | None:
    """Where mobile ``station`` stands at ``at`` (naive means Asia/Shanghai), or None when
    it is between stops, not active, or not mobile."""
    if not station.mobile or station.status is not Status.ACTIVE:
        return None
    for i, stop in enumerate(station.stops):
        h = hours(stop.hours)
        if h.is_open(at):
            return Placement(i, stop, h.next_change(at))
    return None


@dataclass(frozen=True, slots=True)
class Visit:
    """One coming stand of a mobile station at a stop, from ``start`` to ``end``."""

    index: int
    stop: Stop
    start: datetime
    end: datetime | None


def next_visits(
    station: Station, at: datetime, *, limit: int = 5, within: timedelta = timedelta(days=14)
) -> list[Visit]:
    """The station's stands at its stops from ``at`` on (one in progress first), in time
    order, at most ``limit`` of them and starting within ``within``; for the rider's
    "next stops" and the station page."""
    if not station.mobile or station.status is not Status.ACTIVE:
        return []
    local = at.astimezone(TZ) if at.tzinfo else at.replace(tzinfo=TZ)
    horizon = local + within
    found: list[Visit] = []
    for i, stop in enumerate(station.stops):
        h = hours(stop.hours)
        t: datetime | None = local
        if h.is_open(local):
            t = h.next_change(local)
            found.append(Visit(i, stop, local, t))
        # Each stop's own next ``limit`` stands: the earliest ``limit`` of all are among them.
        for _ in range(limit):
            start = None if t is None else h.next_change(t)
            if start is None or start > horizon:
                break
            t = h.next_change(start)
            found.append(Visit(i, stop, start, t))
    found.sort(key=lambda v: (v.start, v.index))
    return found[:limit]


def at_stop(station: Station, placement: Placement) -> Station:
    """``station`` as it stands at ``placement``: its position the stop's (WGS-84), for
    read paths that draw or list a station at a time (never stored)."""
    return replace(station, lon=placement.stop.lon, lat=placement.stop.lat)
