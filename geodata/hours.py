"""Opening hours: the union's text to a canonical OSM ``opening_hours`` string, and "open now".

Parsing. :func:`read_hours` accepts OSM syntax as it is, or rewrites the union's Chinese
(周一至周五 9:00-18:00，节假日休息; 24小时; 工作日…周末…) into OSM syntax, saying in a note
what it took the union to mean on holidays where the union said nothing; either way the
``opening-hours-py`` library parses the result and its normal form is the canonical string
(with the synonyms ``closed`` written ``off``). Anything not understood raises
:class:`HoursError`; nothing is guessed. Days named without times (``周一至周六``) become
``Mo-Sa unknown``: open on those days at hours nobody wrote down, so never "open now".

Evaluation. Times are Asia/Shanghai: naive datetimes are taken as Shanghai wall time, aware
ones are converted. Expressions are compiled with ``country=None`` (so the library's own
``PH`` never matches: its China calendar knows only a few named days and no 调休) and
judged day by day with China's official calendar (:mod:`geodata.workdays`):

- On a statutory holiday date D every ``PH`` token is replaced by D's weekday
  (``Mo-Fr 09:00-17:00; PH off`` becomes ``Mo-Fr 09:00-17:00; We off`` on a Wednesday)
  and that expression is evaluated on D itself, so month and year selectors stay exact.
  Where the replacement does not parse (``PH Mo`` intersections, ``PH +1 day`` offsets,
  which :func:`parse_hours` refuses), D is judged as an ordinary day and a warning is
  logged once per expression.
- On a make-up working day (调休上班) an expression that mentions ``PH`` follows the
  statutory calendar, so D keeps the hours of the nearest ordinary Monday–Friday P
  (neither holiday nor make-up day; the later one on a tie): the expression is evaluated
  at P's wall time and shifted back to D. An expression without ``PH`` is a literal weekday
  schedule and is evaluated as written.
- Any other day is evaluated as written.
- The part of an overnight span (``22:00-06:00``) after midnight belongs to the day the
  span starts, as in OSM: ``Mo-Fr 22:00-06:00; PH off`` is open at 03:00 on a holiday
  that follows an ordinary evening and closed at 03:00 after a holiday's evening. (Only
  where two days' plans differ; a span from 00:00 in such an expression is then taken for
  the day before's, which the library's merged intervals cannot tell apart.)

:meth:`Hours.next_change` walks these days (at most 31 days ahead) and returns the first
instant whose open/closed state differs from the state at the start; ``unknown`` counts as
not open.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache, lru_cache
from itertools import pairwise
from typing import Final
from zoneinfo import ZoneInfo

import opening_hours
from opening_hours import OpeningHours, State

from geodata.workdays import DayKind, day_kind

__all__ = [
    "MAX_HOURS_CHARS",
    "TZ",
    "Hours",
    "HoursError",
    "HoursReading",
    "hours",
    "parse_hours",
    "ph_weekday",
    "read_hours",
]

logger = logging.getLogger(__name__)

TZ: Final = ZoneInfo("Asia/Shanghai")

# The package raises it but its type stubs do not declare it.
_ParserError: type[Exception] = opening_hours.ParserError  # type: ignore[attr-defined]

_WEEKDAYS: Final = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")
_HORIZON: Final = timedelta(days=31)
_ONE_DAY: Final = timedelta(days=1)
# OSM's limit for a tag value; a longer cell is no opening hours (and is not parsed at all).
MAX_HOURS_CHARS: Final = 255
_HINT: Final = "请写成如“周一至周五 9:00-18:00”“每天 8:00-20:00，节假日休息”或“24小时”的形式"


class HoursError(ValueError):
    """Opening hours that cannot be understood; ``reason`` is a Chinese message quoting them."""

    code = "hours_unparseable"

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(reason)
        self.text = text
        self.reason = reason

    def __reduce__(self) -> tuple[type[HoursError], tuple[str, str]]:
        return type(self), (self.text, self.reason)  # survives pickling to worker processes


# --------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Hours:
    """The evaluation of one canonical OSM ``opening_hours`` string in Asia/Shanghai."""

    osm: str

    def __post_init__(self) -> None:
        _compiled(self.osm)  # raises HoursError

    def is_open(self, at: datetime) -> bool:
        """Return whether the station is open at ``at`` (naive means Asia/Shanghai)."""
        local = _local(at)
        day = local.date()
        morning = _morning(self.osm, day)
        if morning is not None and local < morning.end:
            return morning.is_open(local)
        plan = _plan(self.osm, day)
        return plan.oh.is_open(local + plan.shift)

    def next_change(self, at: datetime) -> datetime | None:
        """Return the first instant after ``at`` at which :meth:`is_open` changes.

        The result is aware, in Asia/Shanghai; ``None`` if the state holds for the next
        31 days (as for ``24/7``).
        """
        if self.is_24_7:
            return None
        start = _local(at)
        return next(self._changes(start, start + _HORIZON, self.is_open(start)), None)

    def open_spans(
        self, start: datetime, end: datetime, *, limit: int | None = None
    ) -> list[tuple[datetime, datetime]]:
        """The open intervals ``[begin, stop)`` within ``[start, end)``, in time order (aware,
        Asia/Shanghai; cut at ``start`` and ``end``), as :meth:`is_open` judges each instant:
        the library's intervals per run of days sharing a plan, not a sampling of minutes.
        With ``limit``, at most that many (the first): the work stops there."""
        lo, hi = _local(start), _local(end)
        state = self.is_open(lo)
        spans: list[tuple[datetime, datetime]] = []
        opened = lo if state else None
        for change in self._changes(lo, hi, state):
            if opened is None:
                opened = change
            else:
                spans.append((opened, change))
                opened = None
                if limit is not None and len(spans) >= limit:
                    return spans
        if opened is not None and opened < hi:
            spans.append((opened, hi))
        return spans

    def _changes(self, start: datetime, horizon: datetime, state: bool) -> Iterator[datetime]:
        """Every instant in ``(start, horizon)`` at which the open state flips, from
        ``state`` (the state at ``start``), in time order."""
        lo = start
        while lo < horizon:
            morning = _morning(self.osm, lo.date())
            if morning is not None and lo < morning.end:
                while (change := morning.change_after(lo, state)) is not None:
                    if change >= horizon:
                        return
                    yield change
                    state = not state
                    lo = change
                    if lo >= morning.end:
                        break
                lo = max(lo, morning.end)
                continue
            # One library call per run of days that share an evaluation plan.
            plan = _plan(self.osm, lo.date())
            hi = _run_end(self.osm, lo, horizon, plan)
            for begin, _end, st, _comment in plan.oh.intervals(lo + plan.shift, hi + plan.shift):
                if (st is State.OPEN) != state:
                    state = not state
                    yield begin - plan.shift
            lo = hi

    @property
    def is_24_7(self) -> bool:
        """Whether it is open at every moment, holidays included (normal form ``24/7``)."""
        return _normal_form(self.osm) == "24/7"


def _run_end(osm: str, lo: datetime, horizon: datetime, plan: _Plan) -> datetime:
    """The end (a midnight, or ``horizon``) of the run of days from ``lo``'s that share
    ``plan``. Without ``PH`` every day has the same plan; with it, ordinary days share
    one, so a run of them is told by the calendar alone (a year of days, ~0.5 ms, where
    comparing plans day by day took ~5 ms once a year of them overflowed _plan's cache)."""
    if not _mentions_ph(osm):
        return horizon
    hi = _next_midnight(lo)
    if day_kind(lo.date()) is DayKind.ORDINARY:
        while hi < horizon and day_kind(hi.date()) is DayKind.ORDINARY:
            hi += _ONE_DAY
    else:
        while hi < horizon and _plan(osm, hi.date()) == plan:
            hi += _ONE_DAY
    return min(hi, horizon)


@lru_cache(maxsize=1024)
def hours(osm: str) -> Hours:
    """Return the (cached) evaluation of an OSM ``opening_hours`` string; raise HoursError."""
    return Hours(osm)


@dataclass(frozen=True)
class _Plan:
    """How one date is decided: this expression, evaluated ``shift`` later than wall time."""

    expr: str
    shift: timedelta
    oh: OpeningHours = field(compare=False)


def _local(at: datetime) -> datetime:
    # The library wants ZoneInfo, not datetime.timezone: always hand it TZ.
    if at.tzinfo is None:
        return at.replace(tzinfo=TZ)
    return at.astimezone(TZ)


def _next_midnight(at: datetime) -> datetime:
    return datetime.combine(at.date() + _ONE_DAY, time(), tzinfo=TZ)


@lru_cache(maxsize=4096)
def _plan(osm: str, day: date) -> _Plan:
    kind = day_kind(day)
    if kind is DayKind.HOLIDAY and _mentions_ph(osm):
        expr = _ph_as_weekday(osm, day.weekday())
        if expr is not None:
            return _Plan(expr, timedelta(), _compiled(expr))
        _warn_ph_unsupported(osm)
    elif kind is DayKind.MAKEUP_WORKDAY and _mentions_ph(osm):
        shift = _ordinary_workday_near(day) - day
        return _Plan(osm, shift, _compiled(osm))
    return _Plan(osm, timedelta(), _compiled(osm))


@dataclass(frozen=True)
class _Morning:
    """The hours after midnight of a day whose plan differs from the day before's.

    ``open`` are the open intervals in [midnight, ``end``): the overnight spans begun the day
    before under that day's plan, and the spans of this day's plan that start after midnight.
    """

    end: datetime
    open: tuple[tuple[datetime, datetime], ...]

    def is_open(self, at: datetime) -> bool:
        return any(begin <= at < end for begin, end in self.open)

    def change_after(self, at: datetime, state: bool) -> datetime | None:
        """The first instant in [at, end) whose state differs from ``state``, if any."""
        points = sorted({at, *(t for span in self.open for t in span if at < t < self.end)})
        return next((p for p in points if self.is_open(p) != state), None)


@lru_cache(maxsize=4096)
def _morning(osm: str, day: date) -> _Morning | None:
    # The library gives the part of an overnight span after midnight to the rule of the day
    # it falls in (a rule for Thursday drops Wednesday's 22:00-06:00 shift at 00:00 and one
    # for Friday resumes Thursday's), which is right while every day has the same plan.
    # Where two days' plans differ (a holiday, a make-up day), OSM's reading is applied: the
    # part after midnight belongs to the day the span starts.
    wrap_min = _wrap_end_min(osm)
    if not wrap_min:
        return None
    before, plan = _plan(osm, day - _ONE_DAY), _plan(osm, day)
    if before == plan:
        return None
    midnight = datetime.combine(day, time(), tzinfo=TZ)
    end = midnight + timedelta(minutes=wrap_min)
    spans: list[tuple[datetime, datetime]] = []
    # Spill: the open interval running through midnight, if it began during the day before
    # (one that began earlier is a whole-day opening, not an overnight span).
    lo, shift = midnight - _ONE_DAY, before.shift
    for begin, stop, st, _comment in before.oh.intervals(lo + shift, end + shift):
        if st is State.OPEN and lo + shift < begin < midnight + shift < stop:
            spans.append((midnight, min(stop - shift, end)))
    # Own spans: what this day's plan opens after midnight (an interval from midnight
    # itself is the library's spill of the day before under this day's plan).
    shift = plan.shift
    for begin, stop, st, _comment in plan.oh.intervals(midnight + shift, end + shift):
        if st is State.OPEN and begin > midnight + shift:
            spans.append((begin - shift, min(stop - shift, end)))
    return _Morning(end, tuple(spans))


_RANGE: Final = re.compile(r"\b(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})\b")


@cache
def _wrap_end_min(osm: str) -> int:
    """The latest minute after midnight at which a span of ``osm`` begun the day before ends."""
    code = "".join(p for i, p in enumerate(_COMMENT.split(osm)) if not i % 2)
    latest = 0
    for m in _RANGE.finditer(code):
        start, stop = int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4])
        if stop < start:
            latest = max(latest, stop)
        elif stop > 24 * 60:
            latest = max(latest, stop - 24 * 60)
    return latest


@lru_cache(maxsize=1024)
def _compiled(expr: str) -> OpeningHours:
    try:
        return OpeningHours(
            expr, timezone=TZ, country=None, auto_country=False, auto_timezone=False
        )
    except _ParserError:
        reason = f"无效的开放时间（OSM opening_hours 格式）：“{expr}”"
        raise HoursError(expr, reason) from None


@lru_cache(maxsize=1024)
def _normal_form(expr: str) -> str:
    normal = str(_compiled(expr).normalize())
    # The library writes "closed"; "off" is its synonym and the form OSM data mostly uses.
    normal = _map_outside_comments(normal, lambda s: _CLOSED.sub("off", s))
    # Keep the input where the library's normal form does not parse back.
    return normal if opening_hours.validate(normal) else expr


# ------------------------------------------------------------------- public holidays, 调休

_PH: Final = re.compile(r"\bPH\b")
_CLOSED: Final = re.compile(r"\bclosed\b")
_COMMENT: Final = re.compile(r'("[^"]*")')


def _map_outside_comments(expr: str, func: Callable[[str], str]) -> str:
    parts = _COMMENT.split(expr)
    return "".join(p if i % 2 else func(p) for i, p in enumerate(parts))


@cache
def _mentions_ph(osm: str) -> bool:
    return any(_PH.search(p) for i, p in enumerate(_COMMENT.split(osm)) if not i % 2)


@lru_cache(maxsize=1024)
def _ph_as_weekday(osm: str, weekday: int) -> str | None:
    expr = _map_outside_comments(osm, lambda s: _PH.sub(_WEEKDAYS[weekday], s))
    return expr if opening_hours.validate(expr) else None


@cache
def _warn_ph_unsupported(osm: str) -> None:
    logger.warning(
        "cannot apply China's public holidays to %r (PH is not a plain day selector there); "
        "holidays are judged as ordinary days",
        osm,
    )


def ph_weekday(day: date) -> int | None:
    """The weekday (0 = Monday) whose hours an expression that mentions ``PH`` keeps on
    ``day``, as :meth:`Hours.is_open` judges it: None on a statutory holiday (the ``PH``
    rule applies: ``…; PH off`` is closed), on a make-up working day (调休上班) the weekday
    of the nearest ordinary Monday–Friday, on any other day its own. So a weekly
    ``Mo,We 11:30-13:00; PH off`` is on at 11:30 on exactly the days whose ph_weekday is
    Monday or Wednesday, which stations.domain.events reads without evaluating each day."""
    kind = day_kind(day)
    if kind is DayKind.HOLIDAY:
        return None
    if kind is DayKind.MAKEUP_WORKDAY:
        return _ordinary_workday_near(day).weekday()
    return day.weekday()


@lru_cache(maxsize=256)
def _ordinary_workday_near(day: date) -> date:
    for k in range(1, 366):
        for candidate in (day + timedelta(days=k), day - timedelta(days=k)):
            if candidate.weekday() < 5 and day_kind(candidate) is DayKind.ORDINARY:
                return candidate
    msg = f"no ordinary working day within a year of {day}"  # a calendar gone wrong
    raise RuntimeError(msg)


# ------------------------------------------------------------------------------ parsing


@dataclass(frozen=True)
class HoursReading:
    """Hours as a union wrote them, read: the canonical OSM string and how it was read."""

    osm: str
    # How holidays and make-up days were read where the text said nothing of them, in
    # Chinese for the upload report, with how to say otherwise; None where nothing was assumed.
    note: str | None = None


def parse_hours(text: str) -> str:
    """Return the canonical OSM ``opening_hours`` string for hours as a union wrote them.

    The same as ``read_hours(text).osm``; see :func:`read_hours`.
    """
    return read_hours(text).osm


@lru_cache(maxsize=4096)
def read_hours(text: str) -> HoursReading:
    """Return the canonical OSM ``opening_hours`` string for hours as a union wrote them.

    Accepts OSM syntax (``Mo-Fr 08:00-20:00``, ``24/7``, ``Mo-Fr 09:00-17:00; PH off``), taken
    as written, and the usual Chinese forms: ``8:00—20:00``, ``8点-20点``, ``9:00至18:00``,
    full-width ``８：００－２０：００``, ``周一至周五 9:00-18:00``, ``周一、三、五``, ``周六、周日
    10:00-16:00``, ``工作日 9:00-17:00 周末 10:00-16:00``, ``每天``/``全年无休``,
    ``全天``/``24小时``/``全天24小时``/``7×24小时``, ``9:00-18:00（12:00-13:30午休）``,
    ``节假日休息`` (``PH off``), ``节假日照常``/``含节假日`` (no holiday rule). Raises
    :class:`HoursError` quoting ``text`` for anything else, and for words that say there are
    no fixed hours (``不定时开放``, ``以实际为准``).

    Where the Chinese says nothing of holidays, the union's meaning is written out and told
    in ``note``: Monday-to-Friday days only (or 工作日) follow the working-day calendar
    (``Mo-Fr 09:00-18:00; PH off``: closed on holidays, open on make-up days, as every
    expression mentioning ``PH`` is evaluated); weekday hours with weekend hours beside them
    make the weekend hours the rest days' (``Mo-Fr 09:00-18:00; PH,Sa,Su 10:00-16:00``);
    anything else is the literal week. OSM has no selector for make-up working days and
    ``opening-hours-py``'s own China calendar has none either (checked: with
    ``country="CN"`` it opens ``PH off`` on 2026-10-07, inside the break), which is why
    the evaluator takes any ``PH`` as "follows China's official calendar, 调休 included".
    """
    if len(text) > MAX_HOURS_CHARS:
        reason = (
            f"开放时间太长（{len(text)} 字，最多 {MAX_HOURS_CHARS} 字）：“{text[:20]}…”。"
            f"请只写开放的日子和时刻，其他说明写在备注里。{_HINT}"
        )
        raise HoursError(text[:MAX_HOURS_CHARS], reason)
    cleaned = unicodedata.normalize("NFKC", text).strip()
    if not cleaned:
        raise HoursError(text, f"开放时间为空：“{text}”。{_HINT}")
    note = None
    if cleaned.isascii() and opening_hours.validate(cleaned):
        expr = cleaned  # OSM syntax says what it means on holidays: taken as written
    else:
        chinese = _ChineseHours(text, cleaned)
        expr = chinese.to_osm()
        note = chinese.reading
    try:
        canonical = _normal_form(expr)
    except HoursError:
        raise HoursError(text, f"无法识别的开放时间：“{text}”。{_HINT}") from None
    # Both: normalising can hide what we refuse ("PH Mo" becomes "PH,Mo").
    _check_evaluable(text, expr)
    _check_evaluable(text, canonical)
    return HoursReading(canonical, note)


_EQUAL_SPAN: Final = re.compile(r"\b(\d{2}:\d{2})-(\d{2}:\d{2})\b")
_SOLAR: Final = re.compile(r"\b(sunrise|sunset|dawn|dusk)\b")
_SCHOOL_HOLIDAY: Final = re.compile(r"\bSH\b")
_RULE_SEP: Final = re.compile(r";|\|\|")
_OFF_RULE: Final = re.compile(r"(?:^|\s)(?:off|closed)$")


def _check_evaluable(text: str, osm: str) -> None:
    code = "".join(p for i, p in enumerate(_COMMENT.split(osm)) if not i % 2)
    if all(_OFF_RULE.search(rule.strip()) for rule in _RULE_SEP.split(code) if rule.strip()):
        raise HoursError(text, f"开放时间“{text}”只写了何时不开放，没写何时开放。{_HINT}")
    for m in _EQUAL_SPAN.finditer(code):
        if m[1] == m[2]:
            raise HoursError(text, f"开放时间“{text}”的开始和结束时刻相同（{m[0]}）。{_HINT}")
    if _SOLAR.search(code):
        reason = f"开放时间“{text}”用了日出日落时刻，本系统无法计算；请写明具体时刻。{_HINT}"
        raise HoursError(text, reason)
    if _SCHOOL_HOLIDAY.search(code):
        reason = f"开放时间“{text}”用了学校假期（SH），本系统没有学校假期日历。{_HINT}"
        raise HoursError(text, reason)
    if _mentions_ph(osm) and any(_ph_as_weekday(osm, wd) is None for wd in range(7)):
        reason = (
            f"开放时间“{text}”中节假日（PH）的写法无法按中国节假日计算；"
            "请单独写一条，如“Mo-Fr 09:00-17:00; PH off”"
        )
        raise HoursError(text, reason)


# The union's Chinese, token by token. Each token is (kind, regex); the first that matches
# at the current position wins, so longer phrases come before their prefixes.
_DASH = r"(?:-|~|—|–|―|‐|‑|−|〜|至|到)+"
_DAY_CHAR = r"[一二三四五六日天1-7]"
_DAY_PREFIX = r"(?:每?(?:周|星期|礼拜))"  # 每周一至周五: "每" says nothing more
_BARE_DAY = r"[一二三四五六日1-7]"
_ABBR = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_PERIOD = r"上午|早上|早晨|早|中午|下午|晚上|晚"


def _clock(p: str) -> str:
    return (
        rf"(?:(?P<{p}period>{_PERIOD})\s*)?(?P<{p}h>\d{{1,2}})"
        rf"(?::(?P<{p}m>\d{{2}})|点(?:(?P<{p}pm>\d{{1,2}})分?|(?P<{p}half>半)|整)?|时)"
    )


_TOKENS: Final = (
    # Words that say there are no fixed hours: refused with their own message.
    (
        "no_hours",
        r"不定时|不定期|不固定|以实际(?:情况)?为准|以现场为准|视情况(?:而定)?|看情况|随时"
        r"|另行通知",
    ),
    ("list_sep", r"[、/]|和|及|与|或"),
    ("part_sep", r"[\s,;。|()\[\]:]+"),
    ("lunch", r"午休|午间休息|中午休息|午餐休息"),
    ("week24", r"7\s*(?:[x×*]|天)\s*24\s*(?:小时|h)?|24\s*[x×*]\s*7|24/7"),
    ("allday", r"(?:全天候?|全日)?\s*24\s*(?:小时|h)|全天候?|全日"),
    (
        "span",
        # One \s* on each side of 次日 (two in a row backtrack quadratically on a run of spaces).
        rf"{_clock('s')}\s*{_DASH}\s*(?:(?P<nextday>次日|翌日)\s*)?{_clock('e')}",
    ),
    ("workday", r"工作日"),
    ("everyday_no_rest", r"全年无休|全年不休|365天"),
    ("everyday", r"每天|每日|天天|全周|全年"),
    ("weekend", r"(?:每个?)?(?:周末|双休日)|每?(?:周六日|星期六日)"),
    ("include_holiday", r"(?:含|包括|包含)(?:法定)?(?:节假日|节日|假日|假期)"),
    ("holiday", r"(?:法定)?(?:节假日|节日|假日|假期)|PH"),
    ("exclude_holiday", r"除(?:法定)?节假日外?"),
    (
        "day",
        rf"{_DAY_PREFIX}(?P<d1>{_DAY_CHAR})(?:\s*{_DASH}\s*{_DAY_PREFIX}?(?P<d2>{_DAY_CHAR}))?",
    ),
    ("abbr", rf"(?P<a1>{_ABBR})(?:\s*-\s*(?P<a2>{_ABBR}))?"),
    # "周一、三、五": a day without 周 after a listed day.
    ("day_more", rf"(?P<m1>{_BARE_DAY})(?:\s*{_DASH}\s*(?P<m2>{_BARE_DAY}))?"),
    ("as_usual", r"照常|正常|照开|不休息|不休|无休"),
    ("off", r"休息|休假|休馆|闭馆|闭站|关闭|关门|不开放|不营业|暂停开放|除外|休|off|closed"),
    ("filler", r"开放时间|服务时间|营业时间|办公时间|对外开放|开放|营业|服务|办公|自助|每逢|逢"),
)
_TOKEN: Final = re.compile("|".join(f"(?P<{kind}>{rx})" for kind, rx in _TOKENS))
_DAY_INDEX: Final = (
    {c: i for i, c in enumerate("一二三四五六日")} | {"天": 6} | {str(i + 1): i for i in range(7)}
)
_AM: Final = ("上午", "早上", "早晨", "早")
_PM: Final = ("下午", "晚上", "晚")


@dataclass
class _Group:
    """Days and what happens on them, in the order the union wrote them."""

    days: list[str] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)  # minutes from midnight
    off: bool = False
    sealed: bool = False  # days followed by a separator: the next day starts a new group

    @property
    def days_only(self) -> bool:
        return bool(self.days) and not self.spans and not self.off


class _ChineseHours:
    """The union's Chinese hours rewritten as OSM ``opening_hours`` syntax."""

    def __init__(self, text: str, cleaned: str) -> None:
        self.text = text
        self.cleaned = cleaned
        self.groups: list[_Group] = [_Group()]
        self.ph_off = False  # 节假日休息
        self.ph_as_usual = False  # 节假日照常, 全年无休, 含节假日
        self.holiday_said = False  # anything about holidays at all
        self.workday_said = False  # 工作日: Monday to Friday by the working-day calendar
        self.breaks: list[tuple[int, int]] = []  # 午休 12:00-13:30
        self.break_pending = False  # 午休 written before its times
        self.last = ""  # the kind of the previous token, fillers aside
        self.last_solid = ""  # the same, separators aside too
        self.reading: str | None = None  # how holidays were read, when the text said nothing

    def fail(self, why: str) -> HoursError:
        return HoursError(self.text, f"无法识别的开放时间：“{self.text}”（{why}）。{_HINT}")

    @property
    def cur(self) -> _Group:
        return self.groups[-1]

    def to_osm(self) -> str:
        pos = 0
        while pos < len(self.cleaned):
            m = _TOKEN.match(self.cleaned, pos)
            if m is None or m.end() == pos:
                raise self.fail(f"看不懂“{self.cleaned[pos : pos + 6]}”")
            self.take(m)
            if m.lastgroup != "filler":
                self.last = m.lastgroup or ""
            if m.lastgroup not in ("filler", "part_sep"):
                self.last_solid = m.lastgroup or ""
            pos = m.end()
        return self.emit()

    def start_days(self) -> None:
        if self.cur.spans or self.cur.off or self.cur.sealed:
            self.groups.append(_Group())

    def start_spans(self) -> None:
        if self.cur.off:
            self.groups.append(_Group())

    def take(self, m: re.Match[str]) -> None:
        kind = m.lastgroup
        if kind == "no_hours":
            reason = (
                f"开放时间“{self.text}”没有写固定的开放时刻（“{m[0]}”），骑手无法知道何时开放。"
                "请写驿站通常开放的时间，如“周一至周五 9:00-18:00”“每天 8:00-20:00”，"
                "临时变动可写在备注里"
            )
            raise HoursError(self.text, reason)
        if kind == "part_sep":
            self.cur.sealed = self.cur.days_only
        elif kind == "everyday_no_rest" and self.cur.spans:
            self.ph_as_usual = self.holiday_said = True  # "24小时全年无休"
        elif kind in ("workday", "weekend", "everyday", "everyday_no_rest", "day", "abbr"):
            self.start_days()
            self.cur.days.append(self.day_selector(m))
            self.workday_said |= kind == "workday"
            if kind == "everyday_no_rest":
                self.ph_as_usual = self.holiday_said = True
        elif kind == "day_more":
            if self.last not in ("list_sep", "part_sep") or not self.cur.days_only:
                raise self.fail(f"“{m[0]}”前面应写“周”，如“周一、周三”")
            self.cur.sealed = False
            self.cur.days.append(self.day_selector(m))
        elif kind in ("holiday", "exclude_holiday"):
            self.start_days()
            self.cur.days.append("PH")
            self.cur.off |= kind == "exclude_holiday"
            self.holiday_said = True
        elif kind == "include_holiday":
            self.ph_as_usual = self.holiday_said = True
        elif kind == "lunch":
            # "12:00-13:30午休" or "9:00-18:00 12:00-13:30 午休": the times before are the
            # break; "午休12:00-13:30": those after; "9:00-12:00 午休 14:00-18:00": neither.
            spans = self.cur.spans
            if self.last == "span" or (
                self.last_solid == "span" and _inside_another(spans[-1], spans[:-1])
            ):
                self.breaks.append(spans.pop())
            else:
                self.break_pending = True
        elif kind == "span" and self.break_pending:
            self.break_pending = False
            span = self.span(m)
            if _inside_another(span, self.cur.spans):
                self.breaks.append(span)
            else:
                self.start_spans()
                self.cur.spans.append(span)
        elif kind == "off" and self.last == "span":
            self.breaks.append(self.cur.spans.pop())  # "中午12:00-13:30休息"
        elif kind == "span":
            self.start_spans()
            self.cur.spans.append(self.span(m))
        elif kind == "allday":
            self.start_spans()
            if (0, 24 * 60) not in self.cur.spans:  # "全天24小时" says it twice
                self.cur.spans.append((0, 24 * 60))
        elif kind == "week24":
            if self.cur.days_only:
                raise self.fail(f"“{m[0]}”已包含每天，前面不能再写星期")
            self.groups.append(_Group(days=["Mo-Su"], spans=[(0, 24 * 60)]))
        elif kind == "off":
            if not self.cur.days_only:
                raise self.fail(f"“{m[0]}”前面应写明哪些天，如“周日休息”“节假日休息”")
            self.cur.off = True
        elif kind == "as_usual":
            if not self.cur.days_only or self.cur.days != ["PH"]:
                raise self.fail(f"“{m[0]}”只能用在节假日后面，如“节假日照常”")
            self.ph_as_usual = self.holiday_said = True
            self.groups[-1] = _Group()
        # list_sep and filler carry nothing

    def day_selector(self, m: re.Match[str]) -> str:
        kind = m.lastgroup
        if kind == "workday":
            return "Mo-Fr"
        if kind == "weekend":
            return "Sa,Su"
        if kind in ("everyday", "everyday_no_rest"):
            return "Mo-Su"
        if kind == "abbr":
            first, last = m["a1"], m["a2"]
        elif kind == "day_more":
            first = _WEEKDAYS[_DAY_INDEX[m["m1"]]]
            last = _WEEKDAYS[_DAY_INDEX[m["m2"]]] if m["m2"] else None
        else:
            first = _WEEKDAYS[_DAY_INDEX[m["d1"]]]
            last = _WEEKDAYS[_DAY_INDEX[m["d2"]]] if m["d2"] else None
        return first if last is None or last == first else f"{first}-{last}"

    def clock(self, m: re.Match[str], p: str, period: str | None, *, end: bool) -> int:
        hour = int(m[f"{p}h"])
        minute = 30 if m[f"{p}half"] else int(m[f"{p}m"] or m[f"{p}pm"] or 0)
        if period in _AM:
            if hour > 12:
                raise self.fail(f"“{m[0]}”中的时刻不存在")
        elif period == "中午":
            if hour in (1, 2):
                hour += 12
            elif hour not in (11, 12):
                raise self.fail(f"“{m[0]}”中的时刻不存在")
        elif period in _PM:
            if 1 <= hour <= 11:
                hour += 12
            elif hour == 12 and period != "下午":
                hour = 24  # 晚上12点: midnight
            elif hour == 0:
                raise self.fail(f"“{m[0]}”中的时刻不存在")
        if minute > 59 or hour > 24 or (hour == 24 and (minute or not end)):
            raise self.fail(f"“{m[0]}”中的时刻不存在，时刻应在 0:00 到 24:00 之间")
        return hour * 60 + minute

    def span(self, m: re.Match[str]) -> tuple[int, int]:
        start = self.clock(m, "s", m["speriod"], end=False)
        stop = self.clock(m, "e", m["eperiod"], end=True)
        if m["speriod"] and not m["eperiod"]:
            # "下午2:00-5:30": the end shares the start's 下午 when that keeps it after the start.
            try:
                shared = self.clock(m, "e", m["speriod"], end=True)
            except HoursError:
                shared = stop  # "中午12:00-13:30": 13 is no 中午 hour; the end is as written
            stop = shared if shared > start else stop
        if stop == 0:
            stop = 24 * 60  # "22:00-0:00" closes at midnight
        if stop == start:
            raise self.fail(f"“{m[0]}”的开始和结束时刻相同")
        if m["nextday"] and stop > start:
            raise self.fail(f"“{m[0]}”超过了24小时")
        if stop < start and not m["nextday"] and m["speriod"] in (*_AM, "中午"):
            raise self.fail(f"“{m[0]}”看不出结束时刻是上午还是下午")  # 上午9点-5点: 17:00?
        return start, stop

    def emit(self) -> str:
        if self.break_pending:
            raise self.fail("写了午休，但没写午休时间，如“午休12:00-13:30”")
        groups = [g for g in self.groups if g.days or g.spans]
        merged: list[_Group] = []
        for g in reversed(groups):
            nxt = merged[-1] if merged else None
            if g.days_only and nxt is not None and nxt.days and nxt.spans and not nxt.off:
                nxt.days = g.days + nxt.days  # "周六 周日 10:00-16:00"
            else:
                merged.append(g)
        merged.reverse()
        groups, merged = merged, []
        for g in groups:
            prev = merged[-1] if merged else None
            if prev is not None and not prev.days and prev.spans and g.days_only:
                prev.days = g.days  # "9:00-18:00 周一至周五": the days follow their times
            else:
                merged.append(g)
        for brk in self.breaks:
            holders = [g for g in merged if _inside_another(brk, g.spans)]
            if not holders:
                raise self.fail(f"午休时间 {_hhmm(brk[0])}-{_hhmm(brk[1])} 不在开放时间之内")
            for g in holders:
                g.spans = _without(g.spans, brk)
        has_times = any(g.spans for g in merged)
        rules: list[str] = []
        rule_days: list[frozenset[int]] = []  # the weekdays each of ``rules`` opens
        off_rules: list[str] = []
        off_days: set[int] = set()
        holiday_rules: list[str] = []
        for g in merged:
            weekdays = [d for d in g.days if d != "PH"]
            has_ph = len(weekdays) != len(g.days)
            if g.off:
                self.ph_off |= has_ph
                if weekdays:
                    off_rules.append(f"{','.join(weekdays)} off")
                    off_days |= _weekday_set(weekdays)
            elif not g.spans:
                if has_ph:
                    raise self.fail("写了节假日，但没写节假日是否开放、几点开放")
                if has_times:
                    raise self.fail(f"“{_days_zh(g.days)}”没有写开放时间")
                rules.append(f"{','.join(weekdays)} unknown")
                rule_days.append(_weekday_set(weekdays))
            else:
                self.check_overlap(g.spans)
                times = ",".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in g.spans)
                selector = ",".join((["PH"] if has_ph else []) + weekdays)
                (holiday_rules if has_ph else rules).append(f"{selector} {times}".strip())
                if not has_ph:
                    rule_days.append(_weekday_set(weekdays))
        if not rules and not holiday_rules:
            raise self.fail("没写何时开放")
        if self.ph_off and (self.ph_as_usual or holiday_rules):
            raise self.fail("节假日既说休息又说开放")
        if self.workday_said and self.ph_as_usual:
            raise self.fail("工作日不含节假日，却又说节假日照常")
        if not self.holiday_said:
            rule_days = [days - off_days for days in rule_days]
            self.read_holidays(rules, rule_days, holiday_rules)
        return "; ".join(rules + off_rules + holiday_rules + (["PH off"] if self.ph_off else []))

    def read_holidays(
        self, rules: list[str], rule_days: list[frozenset[int]], holiday_rules: list[str]
    ) -> None:
        """Say what the union meant on holidays when it wrote nothing about them.

        A schedule of Monday to Friday days only (or one written with 工作日) is an office's:
        it follows the working-day calendar, closed on holidays and open on make-up days. With
        weekend hours beside it (``工作日 9:00-18:00 周末 10:00-16:00``), the weekend hours
        are the rest days' hours, holidays included. Anything else is read as written.
        """
        opened = frozenset().union(*rule_days)
        weekend = [i for i, days in enumerate(rule_days) if days == _WEEKEND]
        others = frozenset().union(*(d for i, d in enumerate(rule_days) if i not in weekend))
        if opened <= _MON_FRI:
            self.ph_off = True
            self.reading = _READING_WORKDAYS
        elif len(weekend) == 1 and others and others <= _MON_FRI:
            holiday_rules.append(f"PH,{rules.pop(weekend[0])}")
            self.reading = _READING_REST_DAYS
        elif self.workday_said:
            self.ph_off = True
            self.reading = _READING_WORKDAYS
        elif len(rules) > 1 or opened != _ALL_WEEK:
            self.reading = _READING_LITERAL

    def check_overlap(self, spans: list[tuple[int, int]]) -> None:
        same_day = sorted((a, b) for a, b in spans if a < b)
        for (_a1, b1), (a2, _b2) in pairwise(same_day):
            if a2 < b1:
                raise self.fail("几段开放时间互相重叠")


_MON_FRI: Final = frozenset(range(5))
_WEEKEND: Final = frozenset((5, 6))
_ALL_WEEK: Final = frozenset(range(7))
_READING_WORKDAYS: Final = (
    "未写节假日安排，已按工作日理解：法定节假日不开放，调休上班日照常开放。"
    "如节假日也开放，请写“节假日照常”"
)
_READING_REST_DAYS: Final = (
    "未写节假日安排，已按工作日和休息日理解：法定节假日按周末的时间开放，调休上班日按工作日的时间开放。"
    "如另有安排，请写明，如“节假日休息”“节假日 10:00-12:00”"
)
_READING_LITERAL: Final = (
    "未写节假日安排，已按星期理解：节假日和调休上班日都按当天是星期几开放。"
    "如节假日休息，请写“节假日休息”"
)


def _weekday_set(selectors: list[str]) -> frozenset[int]:
    """The weekdays (0 = Monday) that day selectors such as ``Mo-Fr`` or ``Su-Th`` name."""
    days: set[int] = set()
    for selector in ",".join(selectors).split(","):
        if not selector:
            continue  # times alone: every day
        first, _, last = selector.partition("-")
        a = _WEEKDAYS.index(first)
        b = _WEEKDAYS.index(last) if last else a
        days.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    return frozenset(days) if selectors and any(selectors) else _ALL_WEEK


_DAYS_ZH: Final = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def _days_zh(selectors: list[str]) -> str:
    """Day selectors as the clerk reads them: ``["Mo-Fr", "PH"]`` -> ``周一至周五、节假日``."""
    out = []
    for selector in ",".join(selectors).split(","):
        if selector == "PH":
            out.append("节假日")
        elif selector in ("Mo-Su", ""):
            out.append("每天")
        else:
            first, _, last = selector.partition("-")
            days = [_DAYS_ZH[_WEEKDAYS.index(d)] for d in (first, last) if d]
            out.append("至".join(days))
    return "、".join(out)


def _inside_another(span: tuple[int, int], spans: list[tuple[int, int]]) -> bool:
    c, d = span
    return c < d and any(a <= c and d <= b and (a, b) != (c, d) for a, b in spans if a < b)


def _without(spans: list[tuple[int, int]], brk: tuple[int, int]) -> list[tuple[int, int]]:
    c, d = brk
    out: list[tuple[int, int]] = []
    for a, b in spans:
        if a < b and a <= c and d <= b:
            out += [(x, y) for x, y in ((a, c), (d, b)) if x < y]
        else:
            out.append((a, b))
    return out


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
