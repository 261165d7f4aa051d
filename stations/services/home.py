"""What the console's home page tells a union about itself at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from geodata.hours import TZ
from stations.domain.auth import Principal
from stations.domain.cases import CaseQuery, CaseState
from stations.domain.model import Status
from stations.domain.uploads import Upload
from stations.readmodel.index import StationIndex
from stations.services.uploads import list_uploads
from stations.storage.store import Store


@dataclass(frozen=True, slots=True)
class UnionSummary:
    stations: int  # every station of the union (the city union: of every union)
    active: int
    self_service_24h: int
    open_cases: int  # reports and low ratings not yet resolved (open or in progress)
    overdue_cases: int  # of them, past their deadline
    recent_uploads: list[Upload]
    at: datetime


def union_summary(store: Store, index: StationIndex, *, by: Principal) -> UnionSummary:
    """The union's stations, those open for service and 24-hour, its cases (riders' reports
    and low ratings) not yet resolved and how many of them are overdue, and its last
    uploads (the city union: the whole registry's)."""
    owner = None if by.owner is None else str(by.owner)
    mine = [s for s in index.stations if owner is None or str(s.owner) == owner]
    now = datetime.now(TZ)
    open_cases = sum(
        store.list_cases(CaseQuery(owner=by.feedback_owner, state=state), limit=0)[1]
        for state in (CaseState.OPEN, CaseState.IN_PROGRESS)
    )
    _, overdue = store.list_cases(CaseQuery(owner=by.feedback_owner, overdue_at=now), limit=0)
    uploads, _ = list_uploads(store, by=by, limit=5)
    return UnionSummary(
        stations=len(mine),
        active=sum(1 for s in mine if s.status is Status.ACTIVE),
        self_service_24h=sum(1 for s in mine if s.status is Status.ACTIVE and s.self_service_24h),
        open_cases=open_cases,
        overdue_cases=overdue,
        recent_uploads=uploads,
        at=now,
    )
