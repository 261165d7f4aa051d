"""Riders' reports of problems at a station, checked and rate-limited before they are kept."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from stations.domain.errors import StoreError

NOTE_MAX_CHARS = 300


class FeedbackKind(StrEnum):
    """What a rider found wrong."""

    CLOSED_DURING_HOURS = "closed_during_hours"
    LOCKED = "locked"
    FACILITY_BROKEN = "facility_broken"
    OTHER = "other"


FEEDBACK_KIND_LABELS: dict[str, str] = {
    "closed_during_hours": "开放时间内没开门",
    "locked": "门锁着进不去",
    "facility_broken": "设施坏了",
    "other": "其他问题",
}


@dataclass(frozen=True, slots=True)
class NewFeedback:
    """A report as received, before it is stored; ``client_hash`` never the address itself."""

    station_id: int
    owner: str  # the station's owner when reported, kept if the station is deleted later
    kind: FeedbackKind
    note: str
    client_hash: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Feedback:
    """A stored report and, once the owning union has dealt with it, its resolution."""

    id: int
    station_id: int
    owner: str
    kind: FeedbackKind
    note: str
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution_note: str = ""

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None


@dataclass(frozen=True, slots=True)
class FeedbackQuery:
    """Filters for listing reports; ``owner`` is matched against the station's owner now."""

    owner: str | None = None
    unresolved: bool | None = None
    station_id: int | None = None
    feedback_id: int | None = None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` reports per ``window_s`` seconds from one client, or about one station."""

    scope: str  # "client", "station" or "client_station" (one client at one station)
    count: int
    window_s: float

    def __post_init__(self) -> None:
        if self.scope not in ("client", "station", "client_station"):
            msg = f"a rate limit's scope is client, station or client_station, not {self.scope!r}"
            raise ValueError(msg)


class FeedbackNotFoundError(StoreError, LookupError):
    code = "feedback_not_found"

    def __init__(self, feedback_id: int) -> None:
        self.feedback_id = feedback_id
        super().__init__(f"no report with id {feedback_id}")


class FeedbackResolvedError(StoreError):
    code = "feedback_resolved"

    def __init__(self, feedback_id: int) -> None:
        self.feedback_id = feedback_id
        super().__init__(f"report {feedback_id} was resolved already")


class TooManyRequestsError(StoreError):
    """A rate limit on anonymous writes was reached; ``retry_after_s`` says when the next
    one is taken. Each kind of write names itself (``what``) and has its own problem code."""

    code = "too_many_requests"
    what = "requests"
    what_zh = "提交"

    def __init__(self, scope: str, retry_after_s: int) -> None:
        self.scope = scope
        self.retry_after_s = retry_after_s
        who = {
            "client": "from this address",
            "station": "about this station",
            "client_station": "from this address about this station",
        }.get(scope, "")
        super().__init__(
            f"too many {self.what} {who}; try again in {retry_after_s} s "
            f"({self.what_zh}太频繁，请 {max(1, round(retry_after_s / 60))} 分钟后再试)"
        )


class TooManyReportsError(TooManyRequestsError):
    code = "too_many_reports"
    what = "reports"
    what_zh = "提交"


class TooManyCheckInsError(TooManyRequestsError):
    code = "too_many_check_ins"
    what = "check-ins"
    what_zh = "签到"


class TooManyRatingsError(TooManyRequestsError):
    code = "too_many_ratings"
    what = "ratings"
    what_zh = "评价"


class InvalidFeedbackError(ValueError):
    """A report that cannot be taken; ``problems`` lists each field, code and message."""

    code = "invalid_feedback"

    def __init__(self, problems: list[dict[str, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(p["message"] for p in problems))


def clean_note(text: object) -> str:
    """The note as it is kept: NFC, trimmed, control characters other than newlines removed."""
    if text is None:
        return ""
    note = unicodedata.normalize("NFC", str(text)).replace("\r\n", "\n").replace("\r", "\n")
    note = "".join(ch for ch in note if ch == "\n" or unicodedata.category(ch)[0] != "C")
    return note.strip()


# Riders' text longer than this as sent is too long however it cleans: it is refused as it
# is (cleaning an anonymous 18 MB comment, NFC and a look at every character, took seconds).
RAW_TEXT_MAX_CHARS = 4000


def clean_or_refuse(text: object) -> str:
    """:func:`clean_note`, except that a text over RAW_TEXT_MAX_CHARS comes back as it is
    (the caller's length check then refuses it) without the cost of cleaning it."""
    if isinstance(text, str) and len(text) > RAW_TEXT_MAX_CHARS:
        return text
    return clean_note(text)


def text_problems(
    value: object, *, field: str, what: str, max_chars: int
) -> tuple[str, list[dict[str, str]]]:
    """The free text as kept (see :func:`clean_note`) and what is wrong with it, in Chinese:
    not text, or over ``max_chars`` characters. ``what`` names it (补充说明, 回复…). One
    rule for every note, comment and reply a person writes."""
    if value is not None and not isinstance(value, str):
        return "", [{"field": field, "code": "not_text", "message": f"{what}应是文字"}]
    cleaned = clean_or_refuse(value)
    if len(cleaned) > max_chars:
        message = f"{what}过长（最多 {max_chars} 个字，现在 {len(cleaned)} 个）"
        return cleaned, [{"field": field, "code": "too_long", "message": message}]
    return cleaned, []


def check_report(kind: object, note: object) -> tuple[FeedbackKind, str]:
    """Validate a rider's report; raise InvalidFeedbackError with Chinese messages if wrong."""
    problems: list[dict[str, str]] = []
    try:
        checked_kind = FeedbackKind(str(kind))
    except ValueError:
        allowed = "、".join(f"{k.value}（{FEEDBACK_KIND_LABELS[k.value]}）" for k in FeedbackKind)
        problems.append(
            {"field": "kind", "code": "unknown_kind", "message": f"问题类型只能是：{allowed}"}
        )
        checked_kind = FeedbackKind.OTHER
    cleaned, wrong = text_problems(note, field="note", what="补充说明", max_chars=NOTE_MAX_CHARS)
    problems.extend(wrong)
    if checked_kind is FeedbackKind.OTHER and not cleaned and not problems:
        problems.append(
            {"field": "note", "code": "missing_note", "message": "选择“其他问题”时请写明是什么问题"}
        )
    if problems:
        raise InvalidFeedbackError(problems)
    return checked_kind, cleaned


def check_resolution_note(note: object) -> str:
    """Validate what a union says it did about a report (optional); the note as kept."""
    cleaned, problems = text_problems(note, field="note", what="处理说明", max_chars=NOTE_MAX_CHARS)
    if problems:
        raise InvalidFeedbackError(problems)
    return cleaned


def client_key(address: str) -> str:
    """The name a per-address limit counts a client under: its address, or for IPv6 its
    /64, which one household or phone usually holds whole (otherwise a new address per
    request would escape the limit). An IPv4 address mapped into IPv6 is that IPv4 address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def client_hash(address: str, salt: bytes) -> str:
    """A keyed hash naming a client (by :func:`client_key`) without keeping its address."""
    return hmac.new(salt, client_key(address).encode(), hashlib.sha256).hexdigest()[:32]
