"""Cases of the owning union: opened from a rider's report or a low rating, handled by
the union (start, reply and resolve), confirmed or reopened by the reporter with the
receipt, confirmed by the system when nobody answers.

The use cases behind /v1/cases, /v1/feedback/receipts and the console's inbox: one rule
for who may act (stations.domain.auth.check_case_handle), one state machine
(stations.domain.cases.TRANSITIONS). Resolutions older than ``confirm_days`` are
confirmed lazily, on the reads that would show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from stations.domain.auth import Principal, check_case_handle
from stations.domain.cases import (
    REPORTER,
    UNION,
    Case,
    CaseQuery,
    CaseState,
    NewCase,
    ReceiptNotFoundError,
    check_reply,
    due_at,
    new_receipt,
    parse_state,
    receipt_hash,
)
from stations.domain.model import Station
from stations.storage.store import Store

_NO_RECEIPT = "-" * 64  # a digest no receipt has: looked up all the same


def new_case(
    station: Station, *, source: str, kind: str, at: datetime, deadlines: Mapping[str, float]
) -> tuple[NewCase, str]:
    """A case to open with a report or a rating on ``station``, and its receipt (the only
    time the receipt exists in the clear: the case keeps its hash)."""
    receipt = new_receipt()
    case = NewCase(
        station_id=station.id or 0,
        owner=str(station.owner),
        district_adcode=station.district_adcode,
        source=source,
        kind=kind,
        opened_at=at,
        due_at=due_at(kind, at, deadlines),
        receipt_sha256=receipt_hash(receipt),
    )
    return case, receipt


def confirm_due(store: Store, *, now: datetime, confirm_days: int) -> int:
    """Confirm the resolutions nobody answered within ``confirm_days`` (a bounded batch;
    not on a read replica, whose primary does it on its own reads)."""
    if store.read_only:
        return 0
    return store.auto_confirm(now, confirm_after=timedelta(days=confirm_days))


def list_cases(
    store: Store,
    by: Principal,
    *,
    state: CaseState | None,
    overdue: bool,
    station_id: int | None,
    now: datetime,
    confirm_days: int,
    limit: int,
    offset: int,
) -> tuple[list[Case], int]:
    """The cases ``by`` may handle (its own stations'; the city union's all), soonest due
    first; ``overdue``: only those open or in progress past their deadline."""
    confirm_due(store, now=now, confirm_days=confirm_days)
    query = CaseQuery(
        owner=by.feedback_owner,
        state=state,
        overdue_at=now if overdue else None,
        station_id=station_id,
    )
    return store.list_cases(query, limit=limit, offset=offset)


def get_case(store: Store, by: Principal, case_id: int) -> Case:
    case = store.get_case(case_id)
    check_case_handle(by, case.owner)
    return case


def handle(
    store: Store,
    by: Principal,
    case_id: int,
    *,
    to: object,
    reply: object,
    expected_version: object,
    at: datetime,
) -> Case:
    """One step by the owning union (or the city union): start, or resolve with a reply."""
    case = get_case(store, by, case_id)
    target = parse_state(to)
    checked_reply = check_reply(reply)
    version = (
        expected_version
        if isinstance(expected_version, int) and not isinstance(expected_version, bool)
        else None
    )
    return store.transition_case(
        case.id,
        target,
        role=UNION,
        actor=by.actor,
        reply=checked_reply if target is CaseState.RESOLVED else "",
        expected_version=version,
        at=at,
    )


def receipt_view(store: Store, receipt: object, *, now: datetime, confirm_days: int) -> Case:
    """The case behind a receipt (ReceiptNotFoundError for a wrong or malformed one: the
    same answer after the same work, so timing does not tell which)."""
    try:
        digest = receipt_hash(str(receipt))
    except ReceiptNotFoundError:
        digest = _NO_RECEIPT
    confirm_due(store, now=now, confirm_days=confirm_days)
    case = store.find_case_by_receipt(digest)
    if case is None:
        raise ReceiptNotFoundError
    return case


def confirm_by_receipt(store: Store, receipt: object, *, at: datetime, confirm_days: int) -> Case:
    """The reporter confirms the union's resolution."""
    case = receipt_view(store, receipt, now=at, confirm_days=confirm_days)
    return store.transition_case(case.id, CaseState.CONFIRMED, role=REPORTER, actor=REPORTER, at=at)


def reopen_by_receipt(
    store: Store,
    receipt: object,
    *,
    at: datetime,
    confirm_days: int,
    deadlines: Mapping[str, float],
) -> Case:
    """The reporter says the problem is still there (once): open again, with a new deadline."""
    case = receipt_view(store, receipt, now=at, confirm_days=confirm_days)
    return store.transition_case(
        case.id,
        CaseState.OPEN,
        role=REPORTER,
        actor=REPORTER,
        at=at,
        due_at=due_at(case.kind, at, deadlines),
    )


def overdue_by_district(store: Store, *, now: datetime) -> dict[str, int]:
    """Cases past their deadline per district adcode (the planners' figures)."""
    return store.overdue_counts(now)
