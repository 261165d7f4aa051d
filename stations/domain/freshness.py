"""When a station was last confirmed to be there and working, and how (shown with every
station): the latest of its last spot check (抽查确认), the last edit by a union (工会更新)
and the last day with enough rider check-ins (骑手签到)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from geodata.hours import TZ

HOW_LABELS: dict[str, str] = {
    "inspection": "抽查确认",
    "union_edit": "工会更新",
    "check_ins": "骑手签到",
}

# The actors of the audit trail that are unions (stations.domain.auth.Principal.actor):
# the city union, a district union, an industry union; not "demo" or an operator's import.
UNION_ACTOR_PREFIXES = ("admin", "district:", "industry:")


def is_union_actor(actor: str) -> bool:
    """Whether an audit entry's ``actor`` is a union (see UNION_ACTOR_PREFIXES)."""
    return actor.startswith(UNION_ACTOR_PREFIXES)


def check_in_day_at(day: date) -> datetime:
    """The time a check-in day confirms a station at: the start of that day (Asia/Shanghai),
    so that a check or an edit later that day is the later confirmation."""
    return datetime.combine(day, time(0, 0), tzinfo=TZ)


def last_confirmed(
    inspection_at: datetime | None,
    union_edit_at: datetime | None,
    check_in_day: date | None,
) -> dict[str, Any] | None:
    """``{"at", "how", "label"}`` of the latest confirmation (None: never confirmed).

    ``check_in_day`` is the last day with at least the rule's number of check-ins (see
    stars.toml ``freshness.check_in_day_min``); on a tie, a check beats an edit beats
    check-ins."""
    found: list[tuple[datetime, str]] = []
    if inspection_at is not None:
        found.append((inspection_at, "inspection"))
    if union_edit_at is not None:
        found.append((union_edit_at, "union_edit"))
    if check_in_day is not None:
        found.append((check_in_day_at(check_in_day), "check_ins"))
    if not found:
        return None
    at, how = max(found, key=lambda f: (f[0], -list(HOW_LABELS).index(f[1])))
    return {"at": at.astimezone(TZ).isoformat(), "how": how, "label": HOW_LABELS[how]}
