"""Cases of the owning union: a rider's report, or a low rating with a comment, followed
until the reporter confirms it was dealt with.

States: open (待处理) → in_progress (处理中) → resolved (已解决) → confirmed (已确认). The
one state machine is :data:`TRANSITIONS`: the union starts and resolves a case (a resolve
needs a reply, which the reporter reads); the reporter confirms a resolution or reopens
the case (once); the system confirms a resolution nobody answered after
``case_confirm_days``. Each case has a deadline by kind (:func:`due_at`); resolving stops
the clock (:func:`is_overdue`).

The reporter follows a case by its receipt (:func:`new_receipt`): 12 characters of the
station codes' alphabet, shown ``XXXX-XXXX-XXXX``; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from stations.domain.codes import ALPHABET
from stations.domain.errors import StoreError
from stations.domain.feedback import FEEDBACK_KIND_LABELS, InvalidFeedbackError, text_problems


class CaseState(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CONFIRMED = "confirmed"


STATE_LABELS: dict[str, str] = {
    "open": "待处理",
    "in_progress": "处理中",
    "resolved": "已解决",
    "confirmed": "已确认",
}

LOW_RATING = "low_rating"
CASE_KIND_LABELS: dict[str, str] = {**FEEDBACK_KIND_LABELS, LOW_RATING: "差评"}
SOURCE_LABELS: dict[str, str] = {"report": "报告", "rating": "差评"}

# Who may act: the owning union (or the city union), the reporter (by the receipt), the
# system (the lazy auto-confirmation).
UNION, REPORTER, SYSTEM = "union", "reporter", "system"

# (from, to) -> who may make that step. Nothing leaves confirmed.
TRANSITIONS: dict[tuple[CaseState, CaseState], frozenset[str]] = {
    (CaseState.OPEN, CaseState.IN_PROGRESS): frozenset({UNION}),
    (CaseState.OPEN, CaseState.RESOLVED): frozenset({UNION}),
    (CaseState.IN_PROGRESS, CaseState.RESOLVED): frozenset({UNION}),
    (CaseState.RESOLVED, CaseState.CONFIRMED): frozenset({REPORTER, SYSTEM}),
    (CaseState.RESOLVED, CaseState.OPEN): frozenset({REPORTER}),
}
MAX_REOPENS = 1
REPLY_MAX_CHARS = 500

DEFAULT_DEADLINE_HOURS: dict[str, float] = {
    "closed_during_hours": 24.0,
    "locked": 24.0,
    "facility_broken": 72.0,
    "other": 120.0,
    LOW_RATING: 72.0,
}


@dataclass(frozen=True, slots=True)
class CaseEvent:
    at: datetime
    actor: str
    from_state: CaseState | None
    to_state: CaseState
    note: str = ""


@dataclass(frozen=True, slots=True)
class NewCase:
    """A case as opened (in the transaction that stores its report or rating)."""

    station_id: int
    owner: str
    district_adcode: str
    source: str  # "report" or "rating"
    kind: str  # a report's kind, or low_rating
    opened_at: datetime
    due_at: datetime
    receipt_sha256: str | None


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    station_id: int
    owner: str
    district_adcode: str
    source: str
    kind: str
    state: CaseState
    opened_at: datetime
    due_at: datetime
    state_at: datetime
    version: int
    feedback_id: int | None = None
    rating_id: int | None = None
    resolved_at: datetime | None = None
    confirmed_at: datetime | None = None
    reply: str = ""
    replied_at: datetime | None = None
    replied_by: str | None = None
    reopened: int = 0
    text: str = ""  # the report's note or the rating's comment (the union's eyes only)
    stars: int | None = None  # a rating's
    events: tuple[CaseEvent, ...] = field(default=())

    @property
    def state_label(self) -> str:
        return STATE_LABELS[self.state.value]

    @property
    def kind_label(self) -> str:
        return CASE_KIND_LABELS.get(self.kind, self.kind)


@dataclass(frozen=True, slots=True)
class CaseQuery:
    owner: str | None = None  # the station's owner now (None: every union's)
    district: str | None = None
    state: CaseState | None = None
    overdue_at: datetime | None = None  # only cases open or in progress past due then
    station_id: int | None = None


class CaseNotFoundError(StoreError, LookupError):
    code = "case_not_found"

    def __init__(self, case_id: int) -> None:
        self.case_id = case_id
        super().__init__(f"没有编号为 {case_id} 的工单")


class ReceiptNotFoundError(StoreError, LookupError):
    code = "receipt_not_found"

    def __init__(self) -> None:
        super().__init__("没有这个回执号，请核对后再试")


class StaleCaseError(StoreError):
    code = "stale_case"

    def __init__(self, case_id: int, expected: int, actual: int) -> None:
        self.case_id = case_id
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"这个工单在您打开之后已被别人处理过（现在是第 {actual} 版，您看到的是第 "
            f"{expected} 版），您的操作未保存。请刷新后查看最新状态再操作。"
        )


class CaseTransitionRefusedError(StoreError):
    code = "case_transition_refused"

    def __init__(self, state: CaseState, to: CaseState, reason: str = "") -> None:
        self.state = state
        self.to = to
        allowed = (
            "、".join(STATE_LABELS[t.value] for t in next_states(state)) or "无（已是最终状态）"
        )
        why = reason or (
            f"工单现在是“{STATE_LABELS[state.value]}”，不能改为“{STATE_LABELS[to.value]}”；"
            f"可以改为：{allowed}"
        )
        super().__init__(why)


class InvalidCaseRequestError(InvalidFeedbackError):
    """A step asked wrongly: an unknown state, a missing or overlong reply (422)."""

    code = "invalid_case_request"


def next_states(state: CaseState, actor: str | None = None) -> list[CaseState]:
    """The states that may follow ``state`` (by ``actor``; None: anyone)."""
    return [
        to
        for (frm, to), who in TRANSITIONS.items()
        if frm is state and (actor is None or actor in who)
    ]


def check_transition(case: Case, to: CaseState, *, actor: str, reply: str) -> None:
    """Refuse a step the state machine does not allow ``actor`` (or a second reopen, or a
    resolve without a reply)."""
    who = TRANSITIONS.get((case.state, to))
    if who is None or actor not in who:
        raise CaseTransitionRefusedError(case.state, to)
    if case.state is CaseState.RESOLVED and to is CaseState.OPEN and case.reopened >= MAX_REOPENS:
        raise CaseTransitionRefusedError(
            case.state, to, "这个工单已经重新打开过一次，不能再次打开；如仍有问题请重新报告"
        )
    if to is CaseState.RESOLVED and not reply:
        raise InvalidCaseRequestError(
            [{"field": "reply", "code": "missing_reply", "message": "标记已解决前请写回复"}]
        )


def parse_state(text: object) -> CaseState:
    """The state named ``text``; InvalidCaseRequestError (Chinese) if none."""
    try:
        return CaseState(str(text))
    except ValueError:
        names = "、".join(f"{k}（{v}）" for k, v in STATE_LABELS.items())
        raise InvalidCaseRequestError(
            [{"field": "to", "code": "unknown_state", "message": f"状态只能是：{names}"}]
        ) from None


def check_reply(reply: object) -> str:
    """The union's reply as kept (shown to the reporter): text, at most 500 characters."""
    cleaned, problems = text_problems(reply, field="reply", what="回复", max_chars=REPLY_MAX_CHARS)
    if problems:
        raise InvalidCaseRequestError(problems)
    return cleaned


def deadlines(configured: Mapping[str, float] | None) -> dict[str, float]:
    """The hours per kind: the configured ones merged over the defaults."""
    return {**DEFAULT_DEADLINE_HOURS, **(configured or {})}


def due_at(kind: str, opened_at: datetime, hours_by_kind: Mapping[str, float]) -> datetime:
    """When a case of ``kind`` opened at ``opened_at`` is due (unknown kinds: other's)."""
    table = deadlines(hours_by_kind)
    return opened_at + timedelta(hours=table.get(kind, table["other"]))


def is_overdue(case: Case, now: datetime) -> bool:
    """Open or in progress past its deadline (a resolution stops the clock)."""
    return case.state in (CaseState.OPEN, CaseState.IN_PROGRESS) and now > case.due_at


# -- receipts ---------------------------------------------------------------------------

RECEIPT_LENGTH = 12
_ALPHABET_SET = frozenset(ALPHABET)


def new_receipt() -> str:
    """A fresh receipt, canonical form (12 characters, no hyphens)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(RECEIPT_LENGTH))


def display_receipt(receipt: str) -> str:
    return f"{receipt[:4]}-{receipt[4:8]}-{receipt[8:]}"


def parse_receipt(text: object) -> str:
    """The canonical receipt in ``text`` as typed (NFKC, any case, hyphens and spaces
    ignored); ReceiptNotFoundError if it cannot be one."""
    canonical = "".join(
        ch for ch in unicodedata.normalize("NFKC", str(text)[:64]).upper() if ch not in " -\t"
    )
    if len(canonical) != RECEIPT_LENGTH or not set(canonical) <= _ALPHABET_SET:
        raise ReceiptNotFoundError
    return canonical


def receipt_hash(receipt: str) -> str:
    """What is stored of a receipt: the SHA-256 (hex) of its canonical form."""
    return hashlib.sha256(parse_receipt(receipt).encode()).hexdigest()
