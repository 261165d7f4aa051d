"""Events at the stations: the use cases behind /v1/events, the console's 活动 page, and the
current and next event that nearest results and the station page carry.

Writes check the stations (they exist, and the writer may change each: the station write
rule of stations.domain.auth) and keep one owner per event, the stations' union. Reads go
through an :class:`EventsCalendar`, each station's occurrences around now, built once per
events version (the store's :meth:`events_version`, which every write changes, so every
worker sees every write within ``check_s``; the writing worker at once).
"""

from __future__ import annotations

import logging
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from geodata.distance import distance_m
from geodata.hours import TZ
from stations.domain.auth import Principal, Role, check_event_write, check_station_write
from stations.domain.errors import ForbiddenError, InvalidOptionError, StoreError
from stations.domain.events import (
    KIND_LABELS,
    MAX_SPAN,
    Event,
    EventKind,
    EventSpec,
    InvalidEventError,
    Occurrence,
    check_event,
    current_and_next,
    merged,
    occurrences,
    parse_kind,
)
from stations.domain.jsonbytes import kept_json
from stations.domain.mobile import Visit, next_visits
from stations.domain.model import Station
from stations.readmodel.index import StationIndex
from stations.readmodel.refresh import BackgroundRefresh
from stations.storage.store import Store

log = logging.getLogger("yizhan.events")

# How far ahead "the next event" of a station looks.
NEXT_WITHIN = timedelta(days=31)
_NEXT_WITHIN_S = NEXT_WITHIN.total_seconds()
# A calendar holds each station's occurrences from BEFORE to AFTER its build time: enough for
# any ``at`` in VALID around it (a current occurrence is at most 31 days long, the next one
# within NEXT_WITHIN); outside that a lookup computes (the rare ``at`` far from now).
_BEFORE = timedelta(days=33)
_AFTER = timedelta(days=65)
_VALID_BEFORE = timedelta(days=1)
_VALID_AFTER = timedelta(days=33)
MAX_DAYS = 62
_OLDER_DAYS_KEPT = 16


def _local(at: datetime) -> datetime:
    return at.astimezone(TZ) if at.tzinfo else at.replace(tzinfo=TZ)


@dataclass(frozen=True, slots=True)
class StationEvents:
    """One station's occurrences in a calendar's window, by start, each also as the JSON
    of its :func:`event_brief` (made once per calendar, not per answer)."""

    starts_s: list[float]  # POSIX seconds: compared by the float, not the datetime
    ends_s: list[float]
    longest_s: float  # the longest occurrence's duration: how far back one may still be on
    items: list[Occurrence]
    briefs: list[orjson.Fragment]


# An event's occurrences in a window, kept across calendars: (event id, version, first day)
# -> occurrences. A write then recomputes only the event it changed (a weekly rule is
# judged day by day: ~30 µs a day, seconds for thousands of events).
OccurrenceCache = dict[tuple[int, int, date], list[Occurrence]]


@dataclass
class EventsCalendar:
    """Every event and each station's occurrences around ``built_at`` (one events version)."""

    version: int
    built_at: datetime
    events: list[Event]
    by_station: dict[int, StationEvents] = field(default_factory=dict)
    # ``events`` are those whose last occurrence starts on ``from_day`` or later (None:
    # every event); ``older`` lists the store's from an earlier day, for an ``at`` before it.
    from_day: date | None = None
    older: Callable[[date], list[Event]] | None = None
    # The store's older events by the day asked from (a few days kept: an answer at a past
    # time asks for each of its stations; the next calendar starts again).
    _older_kept: dict[date, list[Event]] = field(default_factory=dict, init=False, repr=False)

    def events_at(self, at: datetime) -> list[Event]:
        """Every event that may be on at ``at`` or after it: the calendar's own, or for an
        ``at`` older than they reach (a listing of last month), the store's from then on."""
        need = _local(at).date() - MAX_SPAN - timedelta(days=1)
        if self.from_day is None or need >= self.from_day:
            return self.events
        if self.older is None:
            raise ValueError("a calendar of some events only needs older= for an earlier at")
        kept = self._older_kept
        found = kept.get(need)
        if found is None:
            found = self.older(need)
            if len(kept) >= _OLDER_DAYS_KEPT:
                kept.clear()
            kept[need] = found
        return found

    @classmethod
    def build(
        cls,
        events: Iterable[Event],
        *,
        version: int,
        at: datetime,
        cache: OccurrenceCache | None = None,
        from_day: date | None = None,
        older: Callable[[date], list[Event]] | None = None,
    ) -> EventsCalendar:
        at = _local(at)
        day = at.date()
        lo = datetime.combine(day, datetime.min.time(), tzinfo=TZ) - _BEFORE
        hi = lo + _BEFORE + _AFTER
        kept = list(events)
        fresh: OccurrenceCache = {}
        lists: dict[int, list[Occurrence]] = {}
        for event in kept:
            key = (event.id, event.version, day)
            found = cache.get(key) if cache is not None else None
            if found is None:
                found = occurrences(event, lo, hi)
            fresh[key] = found
            for occ in found:
                for sid in event.station_ids:
                    lists.setdefault(sid, []).append(occ)
        if cache is not None:
            cache.clear()
            cache.update(fresh)
        by_station = {}
        briefs: dict[int, orjson.Fragment] = {}
        for sid, items in lists.items():
            items.sort(key=lambda o: (o.start, o.event.id))
            shown = []
            for o in items:
                if id(o) not in briefs:
                    briefs[id(o)] = orjson.Fragment(kept_json(event_brief(o)))
                shown.append(briefs[id(o)])
            starts = [o.start.timestamp() for o in items]
            ends = [o.end.timestamp() for o in items]
            longest = max(e - b for b, e in zip(starts, ends, strict=True))
            by_station[sid] = StationEvents(starts, ends, longest, items, shown)
        return cls(version, at, kept, by_station, from_day, older)

    @staticmethod
    def _positions(found: StationEvents, at_s: float) -> tuple[int | None, int | None]:
        """Indices in ``found`` of the occurrence on at ``at_s`` and of the next one."""
        starts, ends = found.starts_s, found.ends_s
        i = bisect_right(starts, at_s)
        current = None
        earliest = at_s - found.longest_s
        j = i - 1
        while j >= 0 and starts[j] >= earliest:
            if ends[j] > at_s:
                current = j  # keep going: the earliest started of those on
            j -= 1
        coming = i if i < len(starts) and starts[i] <= at_s + _NEXT_WITHIN_S else None
        return current, coming

    def covers(self, at: datetime) -> bool:
        return self.built_at - _VALID_BEFORE <= at <= self.built_at + _VALID_AFTER

    def station_events(
        self, station_id: int, at: datetime
    ) -> tuple[Occurrence | None, Occurrence | None]:
        """The station's occurrence on at ``at`` (the earliest started) and the next one to
        start within :data:`NEXT_WITHIN`."""
        at = _local(at)
        if not self.covers(at):
            return self._computed(station_id, at)
        found = self.by_station.get(station_id)
        if found is None:
            return None, None
        now, nxt = self._positions(found, at.timestamp())
        return (
            None if now is None else found.items[now],
            None if nxt is None else found.items[nxt],
        )

    def briefs(self, station_id: int, at_s: float) -> tuple[Any, Any]:
        """:meth:`station_events` at POSIX time ``at_s`` as the JSON of their briefs (None:
        none), for answers serialised by orjson; ``at_s`` within :meth:`covers`."""
        found = self.by_station.get(station_id)
        if found is None:
            return None, None
        now, nxt = self._positions(found, at_s)
        return (
            None if now is None else found.briefs[now],
            None if nxt is None else found.briefs[nxt],
        )

    def _computed(
        self, station_id: int, at: datetime
    ) -> tuple[Occurrence | None, Occurrence | None]:
        current: Occurrence | None = None
        coming: Occurrence | None = None
        for event in self.events_at(at):
            if station_id not in event.station_ids:
                continue
            now, nxt = current_and_next(event, at, within=NEXT_WITHIN)
            if now is not None and (current is None or now.start < current.start):
                current = now
            if nxt is not None and (coming is None or nxt.start < coming.start):
                coming = nxt
        return current, coming


class EventsHolder:
    """This worker's :class:`EventsCalendar`, rebuilt when the store's events version has
    changed (asked at most every ``check_s``) or the day has moved on.

    Never in a reader's way once there is a calendar: :meth:`current` returns the one it
    has and, every ``check_s``, wakes one background thread that asks the store for its
    events version and builds the next calendar while the previous one is served (the
    first build, and every one with ``check_s`` 0, is waited for). A write through this
    process is built in before the write returns, in the writer's thread (:meth:`written`,
    and the store's :meth:`~stations.storage.store.StationStore.watch_writes` for station
    writes, which may carry a station's events to its new union): the request that made it,
    and every later one here, sees it; other workers within ``check_s`` and a build."""

    def __init__(
        self,
        store: Store,
        *,
        check_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(TZ),
    ) -> None:
        self.store = store
        self.check_s = check_s
        self._clock = clock
        self._now = now
        self._calendar: EventsCalendar | None = None
        self._checked = float("-inf")
        self._lock = threading.Lock()  # held by the one building
        self._cache: OccurrenceCache = {}
        self._background = BackgroundRefresh("yizhan-events", self._lock, self._rebuild)
        store.watch_writes(self._stations_written)

    def current(self) -> EventsCalendar:
        calendar = self._calendar
        if calendar is not None and self.check_s > 0:
            if self._clock() - self._checked >= self.check_s:
                self._checked = self._clock()  # one wake per period, whoever reads
                self._background.wake()
            return calendar
        with self._lock:
            calendar = self._calendar
            if calendar is not None and self.check_s > 0:
                return calendar  # built while this thread waited
            return self._refresh()

    def _refresh(self) -> EventsCalendar:
        """The calendar of the store's events version now (holding the lock): the one
        there is if still current, else a new one."""
        version = self.store.events_version()
        now = self._now()
        calendar = self._calendar
        if (
            calendar is None
            or calendar.version != version
            or now - calendar.built_at > timedelta(hours=12)
        ):
            from_day = (now - _BEFORE).date()
            calendar = EventsCalendar.build(
                self.store.list_events(from_day=from_day),
                version=version,
                at=now,
                cache=self._cache,
                from_day=from_day,
                older=self._older,
            )
            self._calendar = calendar
        self._checked = self._clock()
        return calendar

    def _older(self, from_day: date) -> list[Event]:
        return self.store.list_events(from_day=from_day)

    def _rebuild(self) -> None:
        """The background's work (holding the lock)."""
        try:
            self._refresh()
        except StoreError as exc:  # the database is away: the calendar there is stays
            log.warning("events calendar not rebuilt: %s", exc)

    def written(self) -> None:
        """After this process's own event write: build it in now, in the writer's thread
        (the writer waits, not the next reader)."""
        with self._lock:
            self._refresh()

    invalidate = written

    def _stations_written(self, batch_id: int) -> None:
        """A station write through this process (it may have passed events to another
        union, stations.storage.events_repo): build its events in if they changed."""
        calendar = self._calendar
        if calendar is None:
            return
        try:
            if self.store.events_version() != calendar.version:
                self.written()
        except StoreError as exc:  # the write stands; the background catches up later
            log.warning("could not build a station write's events in at once: %s", exc)

    def close(self) -> None:
        """Stop the background thread, if any (the store is closing)."""
        self.store.unwatch_writes(self._stations_written)
        self._background.close(timeout=10)


# -- the fields nearest results and the station page carry -----------------------------


def event_brief(occ: Occurrence | None) -> dict[str, Any] | None:
    """``{id, title, kind, start, end}`` of an occurrence (None: none)."""
    if occ is None:
        return None
    return {
        "id": occ.event.id,
        "title": occ.event.title,
        "kind": occ.event.kind.value,
        "kind_label": KIND_LABELS[occ.event.kind],
        "start": occ.start.isoformat(),
        "end": occ.end.isoformat(),
    }


_NONE: dict[str, Any] = {"event": None, "next_event": None}


def station_event_fields(calendar: EventsCalendar, station_id: int, at: datetime) -> dict[str, Any]:
    """``event`` (on at ``at``) and ``next_event`` of one station."""
    if not calendar.by_station and calendar.covers(_local(at)):
        return dict(_NONE)
    current, coming = calendar.station_events(station_id, at)
    return {"event": event_brief(current), "next_event": event_brief(coming)}


_WEEKDAY_ZH = "一二三四五六日"


def when_text(occ: Occurrence, now: datetime) -> str:
    """An occurrence's time as a rider reads it: 今天 11:30–13:00, 明天 …, 10月9日 周五 …"""
    start, end = occ.start.astimezone(TZ), occ.end.astimezone(TZ)
    days = (start.date() - _local(now).date()).days
    day = {0: "今天", 1: "明天", 2: "后天"}.get(
        days, f"{start.month}月{start.day}日 周{_WEEKDAY_ZH[start.weekday()]}"
    )
    if end.date() == start.date() or end - start <= timedelta(hours=12):
        return f"{day} {start:%H:%M}–{end:%H:%M}"
    return f"{day} {start:%H:%M} 至 {end.month}月{end.day}日 {end:%H:%M}"


def station_page_events(
    calendar: EventsCalendar, station_id: int, at: datetime
) -> list[dict[str, Any]]:
    """The station page's 活动: the event on now and the next one, each with its time as a
    rider reads it, what is given, to whom, and whether while supplies last."""
    current, coming = calendar.station_events(station_id, at)
    shown = []
    for occ, on_now in ((current, True), (coming, False)):
        if occ is None:
            continue
        e = occ.event
        shown.append(
            {
                **(event_brief(occ) or {}),
                "on_now": on_now,
                "when": when_text(occ, at),
                "offer": e.offer,
                "audience": e.audience,
                "while_supplies_last": e.while_supplies_last,
            }
        )
    return shown


def add_event_fields(
    results: Sequence[dict[str, Any]],
    station_ids: Sequence[int],
    calendar: EventsCalendar,
    at: datetime,
) -> None:
    """Add ``event`` and ``next_event`` to each result (in place), its station's at ``at``:
    a dict look-up per result for the many stations without events."""
    at = _local(at)
    if calendar.covers(at):
        by_station, at_s = calendar.by_station, at.timestamp()
        for result, sid in zip(results, station_ids, strict=True):
            if sid in by_station:
                result["event"], result["next_event"] = calendar.briefs(sid, at_s)
            else:
                result["event"] = None
                result["next_event"] = None
        return
    for result, sid in zip(results, station_ids, strict=True):
        result.update(station_event_fields(calendar, sid, at))


_NO_EVENT_PART = b'"event":null,"next_event":null,'


def event_parts(calendar: EventsCalendar, station_ids: Sequence[int], at: datetime) -> list[bytes]:
    """Per station, ``event`` and ``next_event`` at ``at`` as JSON members, each with its
    comma (``"event":…,"next_event":…,``): what every nearest answer (straight, by route,
    along-route) adds to each result, through api.representation's extra fields."""
    if calendar.covers(_local(at)):
        by_station = calendar.by_station
        if not any(sid in by_station for sid in station_ids):  # most answers: no events
            return [_NO_EVENT_PART] * len(station_ids)
    results: list[dict[str, Any]] = [{} for _ in station_ids]
    add_event_fields(results, station_ids, calendar, at)
    return [
        _NO_EVENT_PART
        if r["event"] is None and r["next_event"] is None
        else orjson.dumps(r)[1:-1] + b","
        for r in results
    ]


# -- writes ------------------------------------------------------------------------------


def _checked_stations(
    by: Principal, spec: EventSpec, stations: Callable[[int], Station | None]
) -> str:
    """The owner of the event: its stations' one union; refuses unknown stations (422),
    another union's (403) and a mix of unions (422)."""
    found: list[Station] = []
    missing = []
    for sid in spec.station_ids:
        station = stations(sid)
        if station is None:
            missing.append(str(sid))
        else:
            found.append(station)
    if missing:
        raise InvalidEventError(
            [
                {
                    "field": "station_ids",
                    "code": "unknown_station",
                    "message": f"没有编号为 {'、'.join(missing)} 的驿站",
                }
            ]
        )
    for station in found:
        check_station_write(by, station.owner)
    owners = {str(s.owner) for s in found}
    if len(owners) > 1:
        raise InvalidEventError(
            [
                {
                    "field": "station_ids",
                    "code": "mixed_owners",
                    "message": "一个活动的驿站应属于同一个工会，请分别创建",
                }
            ]
        )
    return owners.pop()


def create_event(
    store: Store,
    by: Principal,
    body: Mapping[str, Any],
    *,
    stations: Callable[[int], Station | None],
    at: datetime,
    holder: EventsHolder | None = None,
) -> Event:
    """Create an event at stations of ``by``'s union (``stations``: id -> Station)."""
    spec = check_event(body)
    owner = _checked_stations(by, spec, stations)
    event = store.add_event(spec, owner=owner, actor=by.actor, at=at)
    if holder is not None:
        holder.written()
    return event


def event_to_change(store: Store, by: Principal, event_id: int) -> Event:
    """The event ``event_id`` if ``by`` may change it (its form in the console); 403 if not."""
    event = store.get_event(event_id)
    check_event_write(by, event.owner)
    return event


def update_event(
    store: Store,
    by: Principal,
    event_id: int,
    changes: Mapping[str, Any],
    *,
    stations: Callable[[int], Station | None],
    at: datetime,
    expected_version: int | None = None,
    holder: EventsHolder | None = None,
) -> Event:
    """Change an event of ``by``'s union: ``changes`` merged onto it, validated whole."""
    event = event_to_change(store, by, event_id)
    spec = merged(event, changes)
    owner = _checked_stations(by, spec, stations)
    if owner != event.owner:
        raise ForbiddenError(
            "活动不能改到别的工会的驿站"
            f"（{by.name} may not move an event to another union's stations）"
        )
    changed = store.update_event(
        event_id, spec, actor=by.actor, at=at, expected_version=expected_version
    )
    if holder is not None:
        holder.written()
    return changed


def delete_event(
    store: Store, by: Principal, event_id: int, *, at: datetime, holder: EventsHolder | None = None
) -> Event:
    event_to_change(store, by, event_id)
    deleted = store.delete_event(event_id, actor=by.actor, at=at)
    if holder is not None:
        holder.written()
    return deleted


def union_events(store: Store, by: Principal) -> list[Event]:
    """The events of ``by``'s union (the city union: all), by first start."""
    return store.list_events(owner=None if by.is_city else str(by.owner))


# -- what is on or coming ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventStation:
    station: Station
    distance_m: float | None


@dataclass(frozen=True, slots=True)
class Listed:
    """An event in a listing: its first occurrence in the window, where."""

    occurrence: Occurrence
    stations: list[EventStation]
    on_now: bool
    occurrences_in_window: int

    @property
    def distance_m(self) -> float | None:
        known = [s.distance_m for s in self.stations if s.distance_m is not None]
        return min(known) if known else None


@dataclass(frozen=True, slots=True)
class EventsQuery:
    at: datetime
    until: datetime
    near: tuple[float, float] | None = None  # WGS-84
    radius_m: float | None = None
    kinds: tuple[EventKind, ...] = ()
    owner: str | None = None
    station_id: int | None = None


def parse_kinds(values: Sequence[str]) -> tuple[EventKind, ...]:
    """``kind=`` values (codes or Chinese names) as kinds; InvalidOptionError if unknown."""
    kinds = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            body_kind = parse_kind(part)
            if body_kind is None:
                names = "、".join(f"{k.value}（{label}）" for k, label in KIND_LABELS.items())
                raise InvalidOptionError(
                    "kind", f"活动类别应是其中之一：{names}（unknown kind {part!r}）"
                ) from None
            kinds.append(body_kind)
    return tuple(dict.fromkeys(kinds))


def window(at: datetime, *, days: int | None, until: datetime | None) -> datetime:
    """The end of a listing's window: ``until``, or ``days`` after ``at`` (default 7)."""
    if until is not None:
        if until <= at:
            raise InvalidOptionError("until", "until 应晚于 at（the window ends before it starts）")
        if until - at > timedelta(days=MAX_DAYS):
            raise InvalidOptionError(
                "until",
                f"一次最多查 {MAX_DAYS} 天（the window is at most {MAX_DAYS} days）",
                code="out_of_range",
            )
        return until
    return at + timedelta(days=7 if days is None else days)


def on_or_coming(
    calendar: EventsCalendar,
    q: EventsQuery,
    stations: Callable[[int], Station | None],
) -> list[Listed]:
    """The events on at ``q.at`` or starting before ``q.until``: nearest first with
    ``near`` (each station's ellipsoidal distance, those beyond ``radius_m`` left out),
    else by start."""
    at, until = _local(q.at), _local(q.until)
    listed: list[Listed] = []
    for event in calendar.events_at(at):
        if q.kinds and event.kind not in q.kinds:
            continue
        if q.owner is not None and event.owner != q.owner:
            continue
        if q.station_id is not None and q.station_id not in event.station_ids:
            continue
        found = [s for s in (stations(i) for i in event.station_ids) if s is not None]
        if not found:
            continue
        dists: list[float | None] = [None] * len(found)
        if q.near is not None:
            d = distance_m(
                q.near[0],
                q.near[1],
                np.array([s.lon for s in found]),
                np.array([s.lat for s in found]),
            )
            dists = [float(x) for x in np.atleast_1d(d)]
            keep = [
                i
                for i, x in enumerate(dists)
                if q.radius_m is None or (x is not None and x <= q.radius_m)
            ]
            if not keep:
                continue
            found = [found[i] for i in keep]
            dists = [dists[i] for i in keep]
        occs = occurrences(event, at, until)
        if not occs:
            continue
        first = occs[0]
        here = sorted(
            (EventStation(s, x) for s, x in zip(found, dists, strict=True)),
            key=lambda e: (e.distance_m if e.distance_m is not None else 0.0, e.station.id),
        )
        listed.append(Listed(first, here, first.on_at(at), len(occs)))
    if q.near is not None:
        listed.sort(
            key=lambda item: (
                item.distance_m or 0.0,
                item.occurrence.start,
                item.occurrence.event.id,
            )
        )
    else:
        listed.sort(key=lambda item: (item.occurrence.start, item.occurrence.event.id))
    return listed


# -- 流动驿站 near the rider ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MobileNear:
    """A mobile station with a stop near the rider: its coming stands (one in progress
    first), and how far its nearest stop is."""

    station: Station
    visits: list[Visit]
    distance_m: float  # to its nearest stop among ``visits``


def mobile_near(
    index: StationIndex,
    point: tuple[float, float],
    *,
    radius_m: float,
    at: datetime,
    visits: int = 3,
    limit: int = 10,
) -> list[MobileNear]:
    """The mobile stations with a coming stop within ``radius_m`` of ``point`` (WGS-84),
    nearest stop first, each with its next ``visits`` stands (stations.domain.mobile)."""
    found = []
    for pos in index.mobile_positions.tolist():
        station = index.stations[pos]
        coming = next_visits(station, at, limit=visits)
        if not coming:
            continue
        d = distance_m(
            point[0],
            point[1],
            np.array([v.stop.lon for v in coming]),
            np.array([v.stop.lat for v in coming]),
        )
        nearest = float(np.min(d))
        if nearest <= radius_m:
            found.append(MobileNear(station, coming, nearest))
    found.sort(key=lambda m: (m.distance_m, m.station.id or 0))
    return found[:limit]


# -- planners ------------------------------------------------------------------------------


def district_counts(
    events: Iterable[Event],
    stations: Callable[[int], Station | None],
    *,
    start: date,
    end: date,
    by: str,
) -> list[dict[str, Any]]:
    """Occurrences per district, period (``month``: 2026-01, ``week``: its Monday) and kind,
    from ``start`` to ``end`` (dates, end exclusive); an occurrence at several stations
    counts once per district it is in."""
    lo = datetime.combine(start, datetime.min.time(), tzinfo=TZ)
    hi = datetime.combine(end, datetime.min.time(), tzinfo=TZ)
    counts: dict[tuple[str, str, str], int] = {}
    for event in events:
        districts = {
            s.district_adcode for s in (stations(i) for i in event.station_ids) if s is not None
        }
        if not districts:
            continue
        for occ in occurrences(event, lo, hi):
            if occ.start < lo:
                continue
            day = occ.start.date()
            period = (
                f"{day:%Y-%m}"
                if by == "month"
                else (day - timedelta(days=day.weekday())).isoformat()
            )
            for d in districts:
                key = (d, period, event.kind.value)
                counts[key] = counts.get(key, 0) + 1
    return [
        {
            "district_adcode": d,
            "period": p,
            "kind": k,
            "kind_label": KIND_LABELS[EventKind(k)],
            "occurrences": n,
        }
        for (d, p, k), n in sorted(counts.items())
    ]


def events_by_district(
    store: Store,
    stations: Callable[[int], Station | None],
    *,
    start: date,
    end: date,
    by: str = "month",
) -> list[dict[str, Any]]:
    """:func:`district_counts` of the stored events that may occur from ``start`` on."""
    events = store.list_events(from_day=start)
    return district_counts(events, stations, start=start, end=end, by=by)


def planner_window(
    today: date, *, months_back: int = 3, months_ahead: int = 3
) -> tuple[date, date]:
    """(first day, day after the last) of the months a planner sees events over: the
    ``months_back`` months before ``today``'s, its own, and ``months_ahead`` after."""
    first = today.replace(day=1)
    index = first.year * 12 + first.month - 1
    lo, hi = index - months_back, index + months_ahead + 1
    return date(lo // 12, lo % 12 + 1, 1), date(hi // 12, hi % 12 + 1, 1)


# -- sample data ---------------------------------------------------------------------------

SAMPLE_MARK = "（示例）"
_SAMPLE_PRINCIPAL = Principal(
    token_id="demo",  # noqa: S106 - an id in the audit trail, not a secret
    name="示例数据",
    role=Role.ADMIN,
    code=None,
)
# (title, kind, offer, audience, while supplies last, days from today, start hour, hours,
# recurrence as a function of the first day)
_SAMPLES: tuple[tuple[str, str, str, str, bool, int, int, float, Any], ...] = (
    ("冬日送温暖", "warmth", "暖宝宝、姜茶、护手霜", "户外劳动者", True, 0, 9, 10, None),
    (
        "每周免费午餐",
        "free_meal",
        "盒饭，每次 100 份",
        "外卖骑手、快递员",
        True,
        0,
        11,
        2,
        lambda d: {
            "kind": "weekly",
            "weekdays": ["Mo", "We", "Fr"],
            "until": (d + timedelta(days=90)).isoformat(),
        },
    ),
    (
        "工会驿站 普法守护",
        "legal_aid",
        "劳动合同、工伤维权咨询",
        "新就业形态劳动者",
        False,
        2,
        14,
        3,
        None,
    ),
    (
        "义诊：量血压、测血糖",
        "health",
        "免费体检、用药咨询",
        "户外劳动者",
        False,
        1,
        9,
        3,
        lambda d: {
            "kind": "dates",
            "dates": [(d + timedelta(days=14)).isoformat(), (d + timedelta(days=28)).isoformat()],
        },
    ),
    ("爱心理发", "haircut", "免费理发", "环卫工人、骑手", False, 3, 10, 4, None),
    (
        "电动车免费检修",
        "repair",
        "刹车、灯光、电池检查",
        "外卖骑手",
        False,
        5,
        13,
        4,
        lambda d: {
            "kind": "weekly",
            "weekdays": ["Sa"],
            "until": (d + timedelta(days=60)).isoformat(),
        },
    ),
    ("防暑降温物资发放", "supplies", "矿泉水、藿香正气水", "户外劳动者", True, 6, 10, 6, None),
)


def load_sample_events(
    store: Store, stations: Sequence[Station], *, seed: int, at: datetime
) -> list[Event]:
    """The sample's events (marked 示例), made through :func:`create_event` at sample
    stations chosen by ``seed`` among the central districts', from ``at``'s day on; the
    earlier sample events are deleted first. Deterministic for a seed and a day."""
    for event in store.list_events():
        if event.title.endswith(SAMPLE_MARK) and event.created_by == _SAMPLE_PRINCIPAL.actor:
            store.delete_event(event.id, actor=_SAMPLE_PRINCIPAL.actor, at=at)
    pool = sorted(
        (s for s in stations if s.sample and s.district_adcode in ("500103", "500105", "500106")),
        key=lambda s: s.id or 0,
    )
    if not pool:
        return []
    rng = np.random.default_rng(seed)
    by_id = {s.id: s for s in pool}
    today = _local(at).date()
    made = []
    for title, kind, offer, audience, supplies, days, hour, length_h, repeat in _SAMPLES:
        first = today + timedelta(days=days)
        start = datetime.combine(first, datetime.min.time(), tzinfo=TZ) + timedelta(hours=hour)
        station = pool[int(rng.integers(len(pool)))]
        body = {
            "title": title + SAMPLE_MARK,
            "kind": kind,
            "station_ids": [station.id],
            "start": start.isoformat(),
            "end": (start + timedelta(hours=length_h)).isoformat(),
            "offer": offer,
            "audience": audience,
            "while_supplies_last": supplies,
            "recurrence": repeat(first) if repeat else None,
        }
        made.append(create_event(store, _SAMPLE_PRINCIPAL, body, stations=by_id.get, at=at))
    return made
