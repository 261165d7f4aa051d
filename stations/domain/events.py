"""Events at the stations (活动): what a union offers, where, when, and how often.

An event is at one or more stations of the union that creates it. Its ``start``/``end``
(Asia/Shanghai, end after start) are its first occurrence; a recurrence repeats that span:

- ``none``: the one occurrence;
- ``weekly``: on the given weekdays from the start's date to ``until`` (a date, at most a
  year on). The rule is an OSM ``opening_hours`` string (``Mo,We 11:30-13:00; PH off``)
  as :mod:`geodata.hours` judges it at each day's start (read from the weekday pattern
  and the holiday calendar, not evaluated day by day), so China's holidays and 调休 count
  exactly as in opening hours: with ``skip_holidays`` (the default) a weekly free lunch is not on
  during 国庆, and on a make-up working Saturday it is on when that Saturday works as the
  weekday the lunch is on (hours.py: the nearest ordinary Monday–Friday);
- ``dates``: the start's date and each listed date, at the same time of day.

:func:`check_event` validates a request body field by field (Chinese messages, stable codes)
into an :class:`EventSpec`; :func:`occurrences` lists an event's occurrences in a window and
:func:`current_and_next` the one on at a time and the next one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final

from geodata.hours import TZ, ph_weekday
from geodata.when import TimeError, parse_time
from geodata.workdays import DayKind, special_days
from stations.domain.errors import StoreError
from stations.domain.feedback import InvalidFeedbackError


class EventKind(StrEnum):
    WARMTH = "warmth"
    LEGAL_AID = "legal_aid"
    HEALTH = "health"
    HAIRCUT = "haircut"
    REPAIR = "repair"
    FREE_MEAL = "free_meal"
    SUPPLIES = "supplies"
    OTHER = "other"


KIND_LABELS: Final[dict[EventKind, str]] = {
    EventKind.WARMTH: "送温暖",
    EventKind.LEGAL_AID: "普法/法律援助",
    EventKind.HEALTH: "义诊/健康",
    EventKind.HAIRCUT: "理发",
    EventKind.REPAIR: "维修",
    EventKind.FREE_MEAL: "免费餐",
    EventKind.SUPPLIES: "物资发放",
    EventKind.OTHER: "其他",
}
# What a clerk may write for a kind: the code, the label, or either half of a label.
_KIND_NAMES: Final[dict[str, EventKind]] = {
    **{k.value: k for k in EventKind},
    **{label: k for k, label in KIND_LABELS.items()},
    **{part: k for k, label in KIND_LABELS.items() for part in label.split("/")},
}


class Repeat(StrEnum):
    NONE = "none"
    WEEKLY = "weekly"
    DATES = "dates"


WEEKDAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_WEEKDAY_ZH: Final = ("一", "二", "三", "四", "五", "六", "日")
TITLE_MAX_CHARS: Final = 80
TEXT_MAX_CHARS: Final = 300
MAX_STATIONS: Final = 200
MAX_DATES: Final = 366
MAX_SPAN: Final = timedelta(days=31)  # one occurrence; a repeated one: under a day
REPEAT_HORIZON: Final = timedelta(days=366)  # weekly until / listed dates, from the start


class InvalidEventError(InvalidFeedbackError):
    """An event that cannot be taken (422 ``invalid_event``), each problem in Chinese."""

    code = "invalid_event"


class EventNotFoundError(StoreError, LookupError):
    code = "event_not_found"

    def __init__(self, event_id: int) -> None:
        self.event_id = event_id
        super().__init__(f"没有编号为 {event_id} 的活动 (no event with id {event_id})")


class StaleEventError(StoreError):
    """A change based on an old version of an event: someone changed it since."""

    code = "stale_event"

    def __init__(self, event_id: int, expected: int, actual: int) -> None:
        self.event_id, self.expected, self.actual = event_id, expected, actual
        super().__init__(
            f"活动 {event_id} 已被别人修改（您编辑的是第 {expected} 版，现在是第 {actual} 版），"
            "请重新打开后再改 (the event was changed by someone else)"
        )


@dataclass(frozen=True, slots=True)
class Recurrence:
    repeat: Repeat = Repeat.NONE
    weekdays: tuple[int, ...] = ()  # 0 = Monday
    until: date | None = None
    dates: tuple[date, ...] = ()
    skip_holidays: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.repeat.value,
            "weekdays": [WEEKDAYS[d] for d in self.weekdays],
            "until": self.until.isoformat() if self.until else None,
            "dates": [d.isoformat() for d in self.dates],
            "skip_holidays": self.skip_holidays,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSpec:
    """An event as a union writes it (validated)."""

    title: str
    kind: EventKind
    station_ids: tuple[int, ...]
    start: datetime
    end: datetime
    offer: str = ""
    audience: str = ""
    while_supplies_last: bool = False
    recurrence: Recurrence = field(default_factory=Recurrence)

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    @property
    def rule_osm(self) -> str | None:
        """A weekly rule as an OSM opening_hours string (None: not weekly)."""
        return weekly_rule(self) if self.recurrence.repeat is Repeat.WEEKLY else None

    def as_body(self) -> dict[str, Any]:
        """The spec as a request body would give it (what a PATCH is merged onto)."""
        return {
            "title": self.title,
            "kind": self.kind.value,
            "station_ids": list(self.station_ids),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "offer": self.offer,
            "audience": self.audience,
            "while_supplies_last": self.while_supplies_last,
            "recurrence": self.recurrence.as_dict(),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Event(EventSpec):
    """A stored event: its spec, its union, and who made and last changed it."""

    id: int
    owner: str
    version: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @classmethod
    def stored(
        cls, spec: EventSpec, *, id: int, owner: str, actor: str, at: datetime, version: int = 1
    ) -> Event:
        """``spec`` as a store keeps it (a new event's fields: made and changed by ``actor``
        at ``at``)."""
        fields = {name: getattr(spec, name) for name in EventSpec.__dataclass_fields__}
        return cls(
            **fields,
            id=id,
            owner=owner,
            version=version,
            created_at=at,
            created_by=actor,
            updated_at=at,
            updated_by=actor,
        )


@dataclass(frozen=True, slots=True)
class Occurrence:
    event: Event
    start: datetime
    end: datetime

    def on_at(self, at: datetime) -> bool:
        return self.start <= at < self.end


# -- validation ---------------------------------------------------------------------------


def _problem(problems: list[dict[str, str]], name: str, code: str, message: str) -> None:
    problems.append({"field": name, "code": code, "message": message})


def _text(
    problems: list[dict[str, str]], body: Mapping[str, Any], name: str, what: str, max_chars: int
) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        _problem(problems, name, "not_text", f"{what}应是文字")
        return ""
    text = " ".join(unicodedata.normalize("NFC", value).split())
    if len(text) > max_chars:
        _problem(problems, name, "too_long", f"{what}最多 {max_chars} 个字（现在 {len(text)} 个）")
    return text


def _time(
    problems: list[dict[str, str]], body: Mapping[str, Any], name: str, what: str
) -> datetime | None:
    value = body.get(name)
    if value in (None, ""):
        _problem(problems, name, "required", f"请填写{what}（例：2026-01-15 09:00）")
        return None
    if not isinstance(value, str | datetime):
        _problem(problems, name, "bad_time", f"{what}应是日期时间，例：2026-01-15 09:00")
        return None
    try:
        return parse_time(value)
    except TimeError as exc:
        _problem(problems, name, "bad_time", f"{what}：{exc.zh}")
        return None


def _date(problems: list[dict[str, str]], name: str, value: object, what: str) -> date | None:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        _problem(
            problems, name, "bad_date", f"{what}应是日期，例：2026-12-31（现在是 {value!s:.40}）"
        )
        return None


def _station_ids(problems: list[dict[str, str]], body: Mapping[str, Any]) -> tuple[int, ...]:
    raw = body.get("station_ids")
    if raw is None and body.get("station_id") not in (None, ""):
        raw = [body.get("station_id")]
    if isinstance(raw, str):
        raw = [p for p in raw.replace("，", ",").split(",") if p.strip()]
    if not isinstance(raw, list | tuple) or not raw:
        _problem(problems, "station_ids", "required", "请至少选择一个驿站")
        return ()
    ids: list[int] = []
    for value in raw:
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else 0
        except ValueError:
            number = 0
        if number < 1:
            _problem(problems, "station_ids", "bad_station", f"驿站编号应是正整数：{value!s:.20}")
            return ()
        if number not in ids:
            ids.append(number)
    if len(ids) > MAX_STATIONS:
        _problem(problems, "station_ids", "too_many", f"一个活动最多 {MAX_STATIONS} 个驿站")
    return tuple(ids)


def _weekdays(problems: list[dict[str, str]], raw: object) -> tuple[int, ...]:
    if isinstance(raw, str):
        raw = [p for p in raw.replace("，", ",").replace("、", ",").split(",") if p.strip()]
    days: set[int] = set()
    for value in raw if isinstance(raw, list | tuple) else []:
        text = str(value).strip()
        text = text.removeprefix("周").removeprefix("星期")
        if text.capitalize() in WEEKDAYS:
            days.add(WEEKDAYS.index(text.capitalize()))
        elif text in _WEEKDAY_ZH or text == "天":
            days.add(6 if text == "天" else _WEEKDAY_ZH.index(text))
        elif text.isdigit() and 1 <= int(text) <= 7:
            days.add(int(text) - 1)  # ISO: 1 = Monday
        else:
            _problem(
                problems,
                "recurrence.weekdays",
                "bad_weekday",
                f"看不懂的星期：{text:.20}（写 周一 或 Mo 或 1）",
            )
            return ()
    if not days:
        _problem(problems, "recurrence.weekdays", "required", "每周重复的活动请选择星期几")
    return tuple(sorted(days))


def _recurrence(
    problems: list[dict[str, str]], body: Mapping[str, Any], start: datetime | None
) -> Recurrence:
    raw = body.get("recurrence")
    if raw in (None, "", "none"):
        return Recurrence()
    if not isinstance(raw, Mapping):
        _problem(
            problems,
            "recurrence",
            "bad_recurrence",
            "重复方式应是 none、weekly（每周）或 dates（指定日期）",
        )
        return Recurrence()
    try:
        repeat = Repeat(str(raw.get("kind") or "none"))
    except ValueError:
        _problem(
            problems,
            "recurrence.kind",
            "bad_recurrence",
            "重复方式应是 none、weekly（每周）或 dates（指定日期）",
        )
        return Recurrence()
    skip = raw.get("skip_holidays", True)
    if not isinstance(skip, bool):
        _problem(
            problems, "recurrence.skip_holidays", "not_boolean", "节假日是否暂停应是 true 或 false"
        )
        skip = True
    if repeat is Repeat.NONE:
        return Recurrence()
    latest = None if start is None else start.date() + REPEAT_HORIZON
    if repeat is Repeat.WEEKLY:
        days = _weekdays(problems, raw.get("weekdays"))
        if raw.get("until") in (None, ""):
            _problem(problems, "recurrence.until", "required", "每周重复的活动请填写截止日期")
            return Recurrence(Repeat.WEEKLY, days, None, (), skip)
        until = _date(problems, "recurrence.until", raw.get("until"), "截止日期")
        if until is not None and start is not None:
            if until < start.date():
                _problem(
                    problems, "recurrence.until", "before_start", "截止日期不能早于第一次活动的日期"
                )
            elif latest is not None and until > latest:
                _problem(
                    problems, "recurrence.until", "too_far", "每周重复最长一年，请把截止日期提前"
                )
        return Recurrence(Repeat.WEEKLY, days, until, (), skip)
    listed = raw.get("dates")
    if isinstance(listed, str):
        listed = [p for p in listed.replace("，", ",").replace("、", ",").split(",") if p.strip()]
    if not isinstance(listed, list | tuple) or not listed:
        _problem(problems, "recurrence.dates", "required", "指定日期重复的活动请列出日期")
        return Recurrence(Repeat.DATES, skip_holidays=skip)
    if len(listed) > MAX_DATES:
        _problem(problems, "recurrence.dates", "too_many", f"最多列出 {MAX_DATES} 个日期")
        return Recurrence(Repeat.DATES, skip_holidays=skip)
    dates: set[date] = set()
    for value in listed:
        day = _date(problems, "recurrence.dates", value, "日期")
        if day is None:
            continue
        if start is not None and (day < start.date() or (latest and day > latest)):
            _problem(
                problems,
                "recurrence.dates",
                "out_of_range",
                f"日期 {day} 应在第一次活动之后一年以内",
            )
            continue
        dates.add(day)
    if start is not None:
        dates.discard(start.date())
    return Recurrence(Repeat.DATES, (), None, tuple(sorted(dates)), skip)


def check_event(body: Mapping[str, Any]) -> EventSpec:
    """Validate a request body into an EventSpec; InvalidEventError lists every problem.

    ``kind`` is a code (``free_meal``) or its Chinese name (免费餐); times are ISO 8601,
    naive ones Asia/Shanghai; ``station_ids`` a list (or ``station_id`` one id)."""
    problems: list[dict[str, str]] = []
    title = _text(problems, body, "title", "活动名称", TITLE_MAX_CHARS)
    if not title and not any(p["field"] == "title" for p in problems):
        _problem(problems, "title", "required", "请填写活动名称")
    kind = EventKind.OTHER
    raw_kind = body.get("kind")
    if raw_kind in (None, ""):
        _problem(problems, "kind", "required", "请选择活动类别")
    elif str(raw_kind).strip() not in _KIND_NAMES:
        names = "、".join(KIND_LABELS.values())
        _problem(problems, "kind", "unknown_kind", f"活动类别应是其中之一：{names}")
    else:
        kind = _KIND_NAMES[str(raw_kind).strip()]
    station_ids = _station_ids(problems, body)
    start = _time(problems, body, "start", "开始时间")
    end = _time(problems, body, "end", "结束时间")
    if start is not None and end is not None:
        if end <= start:
            _problem(problems, "end", "end_before_start", "结束时间应晚于开始时间")
        elif end - start > MAX_SPAN:
            _problem(problems, "end", "too_long", "一次活动最长 31 天")
    offer = _text(problems, body, "offer", "提供的服务或物资", TEXT_MAX_CHARS)
    audience = _text(problems, body, "audience", "服务对象", TEXT_MAX_CHARS)
    supplies = body.get("while_supplies_last", False)
    if supplies is None:
        supplies = False
    if not isinstance(supplies, bool):
        _problem(problems, "while_supplies_last", "not_boolean", "“送完即止”应是 true 或 false")
        supplies = False
    recurrence = _recurrence(problems, body, start)
    if (
        recurrence.repeat is not Repeat.NONE
        and start is not None
        and end is not None
        and end - start >= timedelta(days=1)
    ):
        _problem(problems, "end", "too_long_to_repeat", "重复的活动每次应短于一天")
    if problems:
        raise InvalidEventError(problems)
    assert start is not None
    assert end is not None
    return EventSpec(
        title=title,
        kind=kind,
        station_ids=station_ids,
        start=start,
        end=end,
        offer=offer,
        audience=audience,
        while_supplies_last=supplies,
        recurrence=recurrence,
    )


def merged(spec: EventSpec, changes: Mapping[str, Any]) -> EventSpec:
    """``spec`` with a PATCH body's fields replaced, validated whole."""
    body = spec.as_body()
    if "station_id" in changes and "station_ids" not in changes:
        body.pop("station_ids")
    body.update(changes)
    return check_event(body)


# -- occurrences --------------------------------------------------------------------------


def weekly_rule(spec: EventSpec) -> str:
    """The weekly recurrence as an OSM opening_hours string (``Mo,We 11:30-13:00; PH off``)."""
    days = ",".join(WEEKDAYS[d] for d in spec.recurrence.weekdays)
    start, end = spec.start.timetz(), spec.end.timetz()
    span = f"{start:%H:%M}-{end:%H:%M}" if end != start else f"{start:%H:%M}-24:00"
    rule = f"{days} {span}"
    return f"{rule}; PH off" if spec.recurrence.skip_holidays else rule


def _on(day: date, clock: time) -> datetime:
    return datetime.combine(day, clock, tzinfo=TZ)


def _starts(spec: EventSpec, first_day: date, last_day: date) -> Iterator[datetime]:
    """The starts of ``spec``'s occurrences on dates first_day..last_day, in order."""
    clock = spec.start.astimezone(TZ).time().replace(tzinfo=None)
    origin = spec.start.astimezone(TZ)
    repeat = spec.recurrence.repeat
    if repeat is Repeat.NONE:
        if first_day <= origin.date() <= last_day:
            yield origin
        return
    if repeat is Repeat.DATES:
        for day in (origin.date(), *spec.recurrence.dates):
            if first_day <= day <= last_day:
                yield _on(day, clock)
        return
    until = spec.recurrence.until or origin.date()
    lo, hi = max(first_day, origin.date()), min(last_day, until)
    if lo > hi:
        return
    for day in _weekly_days(spec.recurrence, lo, hi):
        yield _on(day, clock)


def _weekly_days(r: Recurrence, lo: date, hi: date) -> list[date]:
    """The dates from ``lo`` to ``hi`` a weekly rule is on, in order: what its
    :func:`weekly_rule` judged by geodata.hours at each day's start says (holidays and 调休
    as in opening hours), read from the weekday pattern and the year's few special days
    rather than judged day by day. Without skip_holidays the rule names no ``PH``: every
    day is its own weekday. With it, a holiday is off and a make-up working day works as
    the weekday :func:`geodata.hours.ph_weekday` says."""
    weekdays = set(r.weekdays)
    special = dict(special_days(lo, hi)) if r.skip_holidays else {}
    found = set()
    for weekday in weekdays:
        day = lo + timedelta(days=(weekday - lo.weekday()) % 7)
        while day <= hi:
            found.add(day)
            day += _WEEK
    for day, kind in special.items():
        if kind is DayKind.HOLIDAY:
            found.discard(day)
        elif ph_weekday(day) in weekdays:
            found.add(day)
        else:
            found.discard(day)
    return sorted(found)


_WEEK: Final = timedelta(days=7)


def occurrences(spec: Event, start: datetime, end: datetime) -> list[Occurrence]:
    """The occurrences of event ``spec`` that overlap ``start``..``end``, in time order."""
    duration = spec.duration
    lo = (start - duration).astimezone(TZ).date()
    hi = end.astimezone(TZ).date()
    found = []
    for s in _starts(spec, lo, hi):
        e = s + duration
        if s < end and e > start:
            found.append(Occurrence(spec, s, e))
    return found


def last_day(spec: EventSpec) -> date:
    """The date of the last occurrence's start."""
    r = spec.recurrence
    if r.repeat is Repeat.WEEKLY and r.until:
        return r.until
    if r.repeat is Repeat.DATES and r.dates:
        return max(r.dates[-1], spec.start.date())
    return spec.start.astimezone(TZ).date()


def current_and_next(
    event: Event, at: datetime, *, within: timedelta = REPEAT_HORIZON
) -> tuple[Occurrence | None, Occurrence | None]:
    """The occurrence on at ``at`` (or None) and the next one to start after ``at``."""
    found = occurrences(event, at, at + within)
    current = next((o for o in found if o.on_at(at)), None)
    coming = next((o for o in found if o.start > at), None)
    return current, coming


def parts_by_owner(event: Event, owners: Mapping[int, str]) -> list[tuple[str, tuple[int, ...]]]:
    """Where ``event`` goes when some of its stations have passed to another union
    (``owners``: each station's union now; a station not in it, deleted, stays with the
    event's): one part per union, each ``(owner, its station ids)`` in the event's order.
    An event is its stations' union's, so it passes with them: the first part keeps the
    event (the one still of the event's union, if any stays; else the first station's),
    and each other part is a copy of it at that union's stations."""
    groups: dict[str, list[int]] = {}
    for sid in event.station_ids:
        groups.setdefault(owners.get(sid, event.owner), []).append(sid)
    keep = event.owner if event.owner in groups else next(iter(groups))
    return [(keep, tuple(groups.pop(keep))), *((o, tuple(ids)) for o, ids in groups.items())]


def parse_kind(text: str) -> EventKind | None:
    """A kind by its code (``free_meal``) or Chinese name (免费餐); None if neither."""
    return _KIND_NAMES.get(text.strip())
