"""Workers' check-ins (签到) at a station: who they are by occupation, never by name.

A check-in keeps the station, the occupation (one of :data:`OCCUPATIONS`) and the hour; the
keyed hash of the address it came from is kept a short while only, to limit abuse.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from geodata.hours import TZ
from stations.domain.errors import InvalidOptionError

# code -> the label on the poster page and in the figures; the order is the buttons' order.
OCCUPATION_LABELS: dict[str, str] = {
    "delivery": "外卖配送员",
    "courier": "快递员",
    "ride_hailing": "网约车司机",
    "truck": "货车司机",
    "sanitation": "环卫工人",
    "other": "其他",
}
OCCUPATIONS: tuple[str, ...] = tuple(OCCUPATION_LABELS)
# The rollup's column for each occupation (visit_counts.n_<code>).
OCCUPATION_COLUMNS: dict[str, str] = {code: f"n_{code}" for code in OCCUPATIONS}

# How far a figure may reach: a range longer than this is refused (about 13 months).
MAX_USAGE_DAYS = 400
USAGE_BY: tuple[str, ...] = ("day", "hour", "occupation")


class InvalidVisitError(InvalidOptionError):
    """A check-in that cannot be taken (an occupation outside :data:`OCCUPATIONS`)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(option, message, code="invalid_visit")


# A station that is not serving takes no check-ins: they would count as use and as proof
# that it works (last confirmed) where nobody can be let in.
NOT_SERVING_MESSAGES = {
    "planned": "这个驿站还在筹建，尚未开放，不能签到",
    "closed": "这个驿站已关闭，不能签到",
}


def check_serving(status: str) -> None:
    """Refuse a check-in at a planned or closed station (InvalidVisitError, in Chinese)."""
    if status in NOT_SERVING_MESSAGES:
        raise InvalidVisitError("station", NOT_SERVING_MESSAGES[status])


def check_occupation(value: object) -> str:
    """The occupation's code for ``value``: its code or its Chinese label (NFKC-normalised,
    trimmed; a code in any case)."""
    if isinstance(value, str):
        text = unicodedata.normalize("NFKC", value).strip()
        if text.lower() in OCCUPATION_LABELS:
            return text.lower()
        for code, label in OCCUPATION_LABELS.items():
            if text == label:
                return code
    choices = "、".join(OCCUPATION_LABELS.values())
    raise InvalidVisitError("occupation", f"请选择职业：{choices}")


@dataclass(frozen=True, slots=True)
class NewVisit:
    """One check-in as it is stored: never the address, only its keyed hash."""

    station_id: int
    occupation: str  # one of OCCUPATIONS
    client_hash: str
    at: datetime  # aware
    via_poster: bool = False  # sent with the station code from its poster
    # The station's district now, as the caller's read model has it; None: the store looks.
    district_adcode: str | None = None

    def __post_init__(self) -> None:
        if self.occupation not in OCCUPATION_LABELS:
            msg = f"occupation {self.occupation!r} is not one of {', '.join(OCCUPATIONS)}"
            raise ValueError(msg)
        if self.at.tzinfo is None:
            msg = "a check-in's time must be timezone-aware"
            raise ValueError(msg)


def shanghai_day_hour(at: datetime) -> tuple[str, int]:
    """The Shanghai day (YYYY-MM-DD) and hour (0-23) a check-in at ``at`` counts in."""
    local = at.astimezone(TZ)
    return local.date().isoformat(), local.hour


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which check-in counts a figure sums: ``by`` day, hour (0-23) or occupation, over
    Shanghai days ``since``..``until`` (both included), in a district or at a station."""

    by: str
    since: date
    until: date
    district: str | None = None  # a district's adcode
    station_id: int | None = None

    def __post_init__(self) -> None:
        if self.by not in USAGE_BY:
            msg = f"by is one of {', '.join(USAGE_BY)}, not {self.by!r}"
            raise InvalidOptionError("by", msg)
        if self.since > self.until:
            msg = f"since ({self.since}) is after until ({self.until})"
            raise InvalidOptionError("since", msg, code="invalid_range")
        if (self.until - self.since).days + 1 > MAX_USAGE_DAYS:
            msg = f"at most {MAX_USAGE_DAYS} days at once"
            raise InvalidOptionError("since", msg, code="invalid_range")

    @property
    def days(self) -> list[date]:
        n = (self.until - self.since).days + 1
        return [self.since + timedelta(days=i) for i in range(n)]


@dataclass(frozen=True, slots=True)
class UsageBucket:
    key: str  # a day (YYYY-MM-DD), an hour ("0".."23") or an occupation's code
    label: str  # what a person reads: the day, "08:00", 外卖配送员
    n: int


def usage_buckets(q: UsageQuery, counts: dict[str, int]) -> list[UsageBucket]:
    """Every bucket of ``q.by`` in order, with zeros where ``counts`` (key -> n) has none."""
    if q.by == "day":
        keys = [(d.isoformat(), d.isoformat()) for d in q.days]
    elif q.by == "hour":
        keys = [(str(h), f"{h:02d}:00") for h in range(24)]
    else:
        keys = list(OCCUPATION_LABELS.items())
    return [UsageBucket(key, label, int(counts.get(key, 0))) for key, label in keys]
