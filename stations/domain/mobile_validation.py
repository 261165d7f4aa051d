"""A mobile station's timetable (流动驿站的停靠点) as a union gives it, read and checked.

The rules, each a Chinese problem naming the stop (``stops[i].…``):

- a mobile station has at least one stop and at most :data:`MAX_STOPS`; a fixed one none;
- a stop has a name (no ``|`` or ``;``: they separate a sheet cell's parts and stops), a
  position (the station's own position rules: China, the districts, a district union's
  own district within the border tolerance, converted from the request's ``crs`` exactly
  as the station's own) and hours read by the same reader as a station's
  (:func:`geodata.hours.read_hours`: ``周一、三、五 10:00-14:00``, ``Sa 09:00-12:00``);
- a bus leaves after it arrives: a span whose end is before its start (``10:00-09:00``)
  is refused unless the union says it is overnight (``22:00-次日06:00``, or OSM's
  ``22:00-30:00``); hours that never stand within the next :data:`HORIZON` (``周一至周六``
  without times, a date gone by) are refused too;
- one vehicle stands at one stop at a time: two stops whose open intervals (the hours
  library's, holidays and 调休 applied, over :data:`HORIZON` from today) overlap are refused,
  with the first moment they do.

A sheet gives the stops in one cell (:func:`parse_stops_text`, written back by
:func:`stops_text`): one stop per line (Alt+Enter in Excel) or separated by ``；``, each
``名称 | 经度,纬度 | 停靠时间``. The position rules belong to stations.domain.validation,
which hands them in (``StopChecks``): this module keeps the timetable's own rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from geodata.hours import TZ, HoursError, hours, read_hours
from stations.domain.model import Stop

# A bus timetable has a handful of stops (天津西青: 2 buses, 10 towns); 64 is generous and
# bounds the work of the overlap check (one year of intervals per stop).
MAX_STOPS = 64
# A stops cell past this is refused before it is split: 64 stops of ~300 characters.
MAX_STOPS_TEXT_CHARS = MAX_STOPS * 300
HORIZON = timedelta(days=366)
# All of a vehicle's stands over the horizon: 16 a day. A year of 20 one-minute stands a
# day fits in 255 characters of hours, and 64 such stops cost ~3 s of CPU to judge; the
# budget keeps a timetable's check to ~0.05 s (7,320 stands measured at 0.05 s).
MAX_STANDS = 366 * 16
STOP_FIELDS = frozenset({"name", "lon", "lat", "hours", "hours_text"})
MAX_STOP_NAME = 200
# What a clerk is told the cell looks like.
STOPS_FORM = (
    "每行一个停靠点（或用“；”分隔）：名称 | 经度,纬度 | 停靠时间，"
    "如“辛口镇政府 | 117.05,39.10 | 周一、三、五 10:00-14:00”"
)

_LINES = re.compile(r"\r\n|[\n\r\u2028\u2029]")
# A ; or ； separates stops only when a new stop (a name and a "|") follows it: hours such as
# "周一至周五 9:00-18:00；周六 10:00-16:00" keep theirs.
_STOP_SEP = re.compile(r"[;；](?=[^;；|｜]*[|｜])")
_PARTS = re.compile(r"\s*[|｜]\s*")
_PAIR = re.compile(r"\s*[,，]\s*")
_NAME_FORBIDDEN = re.compile(r"[|｜;；]")
_RANGE = re.compile(r"\b(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\b")
_COMMENT = re.compile(r'"[^"]*"')
_OVERNIGHT_WORDS = ("次日", "翌日", "第二天", "隔天")
_WEEKDAY_ZH = "一二三四五六日"

Add = Callable[[str, str, str, Any], None]


@dataclass(frozen=True, slots=True)
class StopChecks:
    """What validation hands in: ``add(field, code, message, value)`` records a problem;
    ``text(field, value)`` reads one line of text (control characters refused, as every
    field's); ``position(field, label, lon, lat)`` applies the station's position rules to a
    stop (problems named ``field``, messages led by ``label``) and returns its WGS-84
    ``(lon, lat)``, or None when it has a problem."""

    add: Add
    text: Callable[[str, Any], str]
    position: Callable[[str, str, Any, Any], tuple[float, float] | None]


@dataclass(frozen=True, slots=True)
class Timetable:
    """The stops read, and the first stop's position as given (the base of a mobile station
    that gives none of its own), or None."""

    stops: tuple[Stop, ...] = ()
    first_position: tuple[Any, Any] | None = None


FIXED = Timetable()


def read_timetable(
    value: Any,
    *,
    mobile: bool,
    checks: StopChecks,
    strict: bool = False,
    now: datetime | None = None,
) -> Timetable:
    """The stops of ``value`` (a list of ``{name, lon, lat, hours}``, or a sheet cell's text),
    checked by the rules of this module; problems go to ``checks.add``. ``strict`` (a JSON
    body) refuses a stop's unknown fields; ``now`` starts the overlap horizon (today)."""
    entries = _entries(value, checks.add, strict=strict)
    if entries is None:
        return FIXED
    if mobile and not entries:
        checks.add(
            "stops",
            "mobile_without_stops",
            f"流动驿站须至少填写一个停靠点；{STOPS_FORM}",
            None,
        )
        return FIXED
    if not mobile and entries:
        checks.add(
            "stops",
            "stops_without_mobile",
            "填写了停靠点，但没有标为流动驿站：流动驿站请把“流动驿站”填为“是”或勾选"
            "（mobile: true），固定驿站请清空停靠点",
            None,
        )
        return FIXED
    read = [(i, _stop(i, e, checks)) for i, e in enumerate(entries)]
    good = [(i, s) for i, s in read if s is not None]
    # The stops that are right in themselves are checked together even if others are not.
    timely = _overlaps(good, checks.add, now=now)
    stops = tuple(s for _, s in good) if timely and len(good) == len(read) else ()
    return Timetable(stops, _first_position(entries))


def _first_position(entries: Sequence[Mapping[str, Any]]) -> tuple[Any, Any] | None:
    return (entries[0].get("lon"), entries[0].get("lat")) if entries else None


def _too_many(add: Add, count: int | str) -> None:
    add(
        "stops",
        "too_many_stops",
        f"停靠点太多（{count} 个，最多 {MAX_STOPS} 个）；一辆流动驿站车请只填它的停靠点",
        None,
    )


def _entries(value: Any, add: Add, *, strict: bool) -> list[Mapping[str, Any]] | None:
    """The stops as field mappings ([] for none given), or None when there is nothing to
    read (no stops, or a problem already said)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    if isinstance(value, float) and value != value:  # a blank cell read as NaN
        return []
    if isinstance(value, str):
        return parse_stops_text(value, add)
    if not isinstance(value, list | tuple):
        add(
            "stops",
            "not_a_list",
            '停靠点应为列表（[{"name": …, "lon": …, "lat": …, "hours": …}]）或文字：' + STOPS_FORM,
            None,
        )
        return None
    if len(value) > MAX_STOPS:  # refused before any stop is looked at
        _too_many(add, len(value))
        return None
    entries: list[Mapping[str, Any]] = []
    for i, entry in enumerate(value):
        if not isinstance(entry, Mapping):
            add(
                f"stops[{i}]",
                "not_an_object",
                f"第 {i + 1} 个停靠点应为对象（name、lon、lat、hours）",
                None,
            )
            continue
        if strict:
            for key in entry:
                if key not in STOP_FIELDS:
                    add(
                        f"stops[{i}].{key}",
                        "unknown_field",
                        f"停靠点的未知字段“{key}”；可填：{'、'.join(sorted(STOP_FIELDS))}",
                        str(key),
                    )
        entries.append(entry)
    return entries if len(entries) == len(value) else None


def parse_stops_text(text: str, add: Add) -> list[Mapping[str, Any]] | None:
    """A sheet cell's stops (see :data:`STOPS_FORM`) as field mappings; None, with the
    problems said, when the cell is not in that form. A cell too long for
    :data:`MAX_STOPS` stops is refused before it is split."""
    if len(text) > MAX_STOPS_TEXT_CHARS:
        add(
            "stops",
            "too_many_stops",
            f"停靠点一栏太长（{len(text):,} 字，最多 {MAX_STOPS_TEXT_CHARS:,} 字，"
            f"约 {MAX_STOPS} 个停靠点）；一辆流动驿站车请只填它的停靠点",
            None,
        )
        return None
    pieces = [p.strip() for line in _LINES.split(text) for p in _STOP_SEP.split(line)]
    pieces = [p for p in pieces if p]
    if len(pieces) > MAX_STOPS:
        _too_many(add, len(pieces))
        return None
    entries: list[Mapping[str, Any]] = []
    ok = True
    for i, piece in enumerate(pieces):
        parts = _PARTS.split(piece)
        pair = _PAIR.split(parts[1].strip()) if len(parts) == 3 else []
        if len(parts) != 3 or len(pair) != 2:
            add(
                f"stops[{i}]",
                "invalid_stop",
                f"第 {i + 1} 个停靠点“{piece[:40]}”写法不对；{STOPS_FORM}",
                piece[:40],
            )
            ok = False
            continue
        entries.append({"name": parts[0], "lon": pair[0], "lat": pair[1], "hours": parts[2]})
    return entries if ok else None


def normal_stops_text(text: str) -> str:
    """A stops cell or box as compared: any line break as one line feed (a browser posts
    CRLF), each line trimmed, blank lines dropped; what :func:`parse_stops_text` reads
    of it is unchanged."""
    return "\n".join(line.strip() for line in _LINES.split(text) if line.strip())


def stops_text(stops: Sequence[Stop], positions: Sequence[tuple[str, str]] | None = None) -> str:
    """The stops as a sheet cell (:func:`parse_stops_text` reads it back): WGS-84 positions
    written exactly, or ``positions`` (each stop's lon and lat as text, in another system:
    the console form's), the hours as the union wrote them, one stop per line."""
    at = positions if positions is not None else [(repr(s.lon), repr(s.lat)) for s in stops]
    return "\n".join(
        stop_line(s.name, x, y, s.hours_text or s.hours)
        for s, (x, y) in zip(stops, at, strict=True)
    )


def stop_line(name: str, lon: str, lat: str, hours: str) -> str:
    """One stop as a line of a stops cell (:data:`STOPS_FORM`)."""
    return f"{name} | {lon},{lat} | {hours}"


def _label(i: int, name: str) -> str:
    return f"第 {i + 1} 个停靠点“{name}”" if name else f"第 {i + 1} 个停靠点"


def _stop(i: int, entry: Mapping[str, Any], checks: StopChecks) -> Stop | None:
    at = f"stops[{i}]"
    add = checks.add
    failed = False
    name = checks.text(f"{at}.name", entry.get("name"))
    label = _label(i, name)
    if not name:
        add(f"{at}.name", "missing_field", f"{label}缺少名称", None)
        failed = True
    elif len(name) > MAX_STOP_NAME:
        add(f"{at}.name", "too_long", f"{label}的名称过长（最多 {MAX_STOP_NAME} 个字）", name[:40])
        failed = True
    elif _NAME_FORBIDDEN.search(name):
        add(
            f"{at}.name",
            "invalid_stop_name",
            f"{label}的名称中不能有“|”或“；”（它们分隔停靠点的各项和各个停靠点）",
            name[:40],
        )
        failed = True
    where = checks.position(f"{at}.lon", label, entry.get("lon"), entry.get("lat"))
    failed = failed or where is None
    written = checks.text(f"{at}.hours", entry.get("hours_text")) or checks.text(
        f"{at}.hours", entry.get("hours")
    )
    osm = _stop_hours(f"{at}.hours", label, written, add)
    if failed or osm is None or where is None:
        return None
    return Stop(name=name, lon=where[0], lat=where[1], hours=osm, hours_text=written)


def _stop_hours(field: str, label: str, written: str, add: Add) -> str | None:
    """The canonical hours of a stop, or None with the problem said."""
    if not written:
        add(field, "missing_field", f"{label}缺少停靠时间（例：周一、三、五 10:00-14:00）", None)
        return None
    if "|" in written or "｜" in written:
        add(field, "invalid_stop_hours", f"{label}的停靠时间中不能有“|”", written[:40])
        return None
    try:
        osm = read_hours(written).osm
    except HoursError as exc:
        add(field, exc.code, f"{label}：{exc.reason}", written[:40])
        return None
    code = _COMMENT.sub("", osm)
    for m in _RANGE.finditer(code):
        start, stop = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        if stop < start and not any(w in written for w in _OVERNIGHT_WORDS):
            add(
                field,
                "stop_leaves_before_arrival",
                f"{label}的停靠时间 {m[0]} 离开早于到达；如确是停靠过夜，请写“{m[1]}:{m[2]}-次日"
                f"{m[3]}:{m[4]}”，否则请改正时刻",
                written[:40],
            )
            return None
    return osm


def _horizon_start(now: datetime | None) -> datetime:
    """Today's midnight in Shanghai (``now``: naive means Shanghai)."""
    local = datetime.now(TZ) if now is None else now
    local = local.replace(tzinfo=TZ) if local.tzinfo is None else local.astimezone(TZ)
    return datetime.combine(local.date(), time(), tzinfo=TZ)


def _when(t: datetime) -> str:
    return f"{t:%Y-%m-%d} 周{_WEEKDAY_ZH[t.weekday()]} {t:%H:%M}"


@lru_cache(maxsize=1024)
def _spans(osm: str, start: datetime, limit: int) -> tuple[tuple[datetime, datetime], ...]:
    """A year of a stop's stands from ``start`` (at most ``limit``): a sheet's buses repeat
    the same hours, and a year of the library's intervals costs ~20-50 µs each
    (bench/mobile_validation.py)."""
    return tuple(hours(osm).open_spans(start, start + HORIZON, limit=limit))


def _overlaps(numbered: Sequence[tuple[int, Stop]], add: Add, *, now: datetime | None) -> bool:
    """Refuse stops that never stand within the horizon, and pairs that stand at once
    (``numbered``: each stop with its index); True if there is no such problem."""
    start = _horizon_start(now)
    stops = dict(numbered)
    ok = True
    spans: list[tuple[datetime, datetime, int]] = []
    for i, stop in numbered:
        own = _spans(stop.hours, start, MAX_STANDS + 1)  # a fixed limit: cached across rows
        if len(spans) + len(own) > MAX_STANDS:
            add(
                f"stops[{i}].hours",
                "too_many_stands",
                f"停靠次数太多（一年超过 {MAX_STANDS:,} 次，即每天 {MAX_STANDS // 366} 次以上）；"
                f"{_label(i, stop.name)}起请只写车实际停靠的时段",
                stop.hours_text or stop.hours,
            )
            return False
        if not own:
            add(
                f"stops[{i}].hours",
                "stop_never_stands",
                f"{_label(i, stop.name)}的停靠时间“{stop.hours_text or stop.hours}”在今后一年内"
                "没有一次停靠（只写了日子没写时刻，或日期已过）；请写明停靠的日子和时刻",
                stop.hours_text or stop.hours,
            )
            ok = False
        spans.extend((a, b, i) for a, b in own)
    if len(stops) < 2:
        return ok
    spans.sort()
    said: set[tuple[int, int]] = set()
    latest_end, holder = start, -1
    for a, b, i in spans:
        if holder >= 0 and a < latest_end and holder != i and (holder, i) not in said:
            ok = False
            first, second = sorted((holder, i))
            said.add((holder, i))
            said.add((i, holder))
            add(
                f"stops[{second}].hours",
                "stops_overlap",
                f"{_label(first, stops[first].name)}和{_label(second, stops[second].name)}"
                f"的停靠时间重叠（{_when(a)}–{min(b, latest_end):%H:%M} 两处都在停靠）；"
                "一辆车同一时间只能停在一处，请改正其中一处的时间",
                stops[second].hours_text or stops[second].hours,
            )
        if b > latest_end:
            latest_end, holder = b, i
    return ok
