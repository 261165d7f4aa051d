"""Riders' reports on stations: taking one (no login), listing and resolving them (unions).

The use cases behind /v1/stations/{id}/feedback and /v1/feedback: who sees which reports,
who may resolve one, what a report and a resolution note must be.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from stations.domain.auth import Principal, check_feedback_resolve
from stations.domain.errors import StationNotFoundError
from stations.domain.feedback import (
    Feedback,
    FeedbackQuery,
    NewFeedback,
    RateLimit,
    check_report,
    check_resolution_note,
    client_hash,
)
from stations.domain.model import Station
from stations.services.cases import new_case
from stations.storage.store import Store

HOUR_S = 3600


@dataclass(frozen=True, slots=True)
class Reported:
    """A report as stored, and its case's receipt."""

    feedback: Feedback
    receipt: str

    # The report's fields, as callers read them before receipts came.
    def __getattr__(self, name: str) -> Any:
        return getattr(self.feedback, name)


def submit_report(
    store: Store,
    station: Station | None,
    station_id: int,
    *,
    kind: object,
    note: object,
    client_address: str,
    salt: bytes,
    per_client_per_hour: int,
    per_station_per_hour: int,
    at: datetime,
    deadlines: Mapping[str, float] | None = None,
) -> Reported:
    """Take a rider's report on ``station`` (None: there is no station ``station_id``),
    limited per client address (kept only as a keyed hash) and per station; it opens a
    case of the owning union, due by ``deadlines`` (hours per kind over the defaults),
    whose receipt is returned (the only time it exists in the clear)."""
    if station is None:
        raise StationNotFoundError(station_id)
    checked_kind, checked_note = check_report(kind, note)
    case, receipt = new_case(
        station, source="report", kind=checked_kind.value, at=at, deadlines=deadlines or {}
    )
    stored = store.add_feedback(
        NewFeedback(
            station_id=station_id,
            owner=str(station.owner),
            kind=checked_kind,
            note=checked_note,
            client_hash=client_hash(client_address, salt),
            created_at=at,
        ),
        limits=(
            RateLimit("client", per_client_per_hour, HOUR_S),
            RateLimit("station", per_station_per_hour, HOUR_S),
        ),
        case=case,
    )
    return Reported(stored, receipt)


def list_reports(
    store: Store,
    by: Principal,
    *,
    unresolved: bool | None,
    station_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Feedback], int]:
    """The reports ``by`` may read (a union's on its own stations; the city union's all),
    newest first, and how many there are."""
    query = FeedbackQuery(owner=by.feedback_owner, unresolved=unresolved, station_id=station_id)
    return store.list_feedback(query, limit=limit, offset=offset)


def resolve_report(
    store: Store, by: Principal, feedback_id: int, *, note: object, at: datetime
) -> Feedback:
    """Mark a report resolved, by the union owning the station (or the city union)."""
    fb = store.get_feedback(feedback_id)
    check_feedback_resolve(by, fb.owner)
    return store.resolve_feedback(
        feedback_id, actor=by.actor, note=check_resolution_note(note), at=at
    )


def unresolved_summary(
    store: Store, station_ids: Sequence[int], *, days: float, now: datetime
) -> tuple[datetime, dict[int, dict[str, int]]]:
    """Since when, and per station (only those with any) by kind, the reports not yet
    resolved from the last ``days`` days: what a rider sees (the notes stay with unions)."""
    since = now - timedelta(days=days)
    return since, store.unresolved_feedback_counts(station_ids, since=since)
