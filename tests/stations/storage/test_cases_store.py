"""Cases in the store: opened with their report, moved on by compare-and-set, found by
the receipt's hash, confirmed by the system, counted when overdue."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from geodata.hours import TZ
from stations.domain.cases import (
    REPORTER,
    UNION,
    CaseQuery,
    CaseState,
    CaseTransitionRefusedError,
    InvalidCaseRequestError,
    NewCase,
    StaleCaseError,
    receipt_hash,
)
from stations.domain.feedback import FeedbackKind, FeedbackQuery, NewFeedback
from stations.storage import feedback_repo
from tests.builders import GUANYINQIAO, make_station

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=TZ)


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def open_report(
    store,
    *,
    station_id=1,
    owner="district:500103",
    district="500103",
    at=T0,
    due_hours=24,
    receipt="ABCDEFGHJKMN",
):
    fb = store.add_feedback(
        NewFeedback(station_id, owner, FeedbackKind.LOCKED, "门锁着", "c1", at),
        case=NewCase(
            station_id=station_id,
            owner=owner,
            district_adcode=district,
            source="report",
            kind="locked",
            opened_at=at,
            due_at=at + timedelta(hours=due_hours),
            receipt_sha256=receipt_hash(receipt) if receipt else None,
        ),
    )
    cases, _ = store.list_cases(CaseQuery(station_id=station_id, owner=owner))
    (case,) = [c for c in cases if c.feedback_id == fb.id]
    return fb, case


def test_a_report_opens_its_case_in_the_same_transaction(store):
    _, case = open_report(store)
    assert case.state is CaseState.OPEN and case.version == 1
    assert case.text == "门锁着" and case.source == "report"
    assert [e.to_state for e in case.events] == [CaseState.OPEN]
    assert store.find_case_by_receipt(receipt_hash("abcd-efgh-jkmn")).id == case.id


def test_a_failing_case_leaves_no_report(store, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the case could not be written")

    monkeypatch.setattr(feedback_repo, "open_case", broken)
    with pytest.raises(RuntimeError):
        open_report(store)
    assert store.list_feedback(FeedbackQuery())[1] == 0


def test_transitions_compare_and_set_the_version_and_keep_the_report_in_step(store):
    fb, case = open_report(store)
    started = store.transition_case(
        case.id, CaseState.IN_PROGRESS, role=UNION, actor="yz", expected_version=1, at=T0
    )
    assert started.version == 2 and started.state is CaseState.IN_PROGRESS
    with pytest.raises(StaleCaseError):
        store.transition_case(
            case.id,
            CaseState.RESOLVED,
            role=UNION,
            actor="yz",
            reply="好了",
            expected_version=1,
            at=T0,
        )
    with pytest.raises(InvalidCaseRequestError):
        store.transition_case(case.id, CaseState.RESOLVED, role=UNION, actor="yz", at=T0)
    later = T0 + timedelta(hours=2)
    done = store.transition_case(
        case.id,
        CaseState.RESOLVED,
        role=UNION,
        actor="yz",
        reply="已开门",
        expected_version=2,
        at=later,
    )
    assert done.reply == "已开门" and done.replied_by == "yz" and done.resolved_at == later
    assert store.get_feedback(fb.id).resolved
    assert store.get_feedback(fb.id).resolution_note == "已开门"
    reopened = store.transition_case(
        case.id, CaseState.OPEN, role=REPORTER, actor=REPORTER, at=later
    )
    assert reopened.reopened == 1 and not store.get_feedback(fb.id).resolved
    assert [e.to_state.value for e in reopened.events] == [
        "open",
        "in_progress",
        "resolved",
        "open",
    ]


def test_a_refused_step_names_the_states_that_may_follow(store):
    _, case = open_report(store)
    with pytest.raises(CaseTransitionRefusedError, match="处理中、已解决"):
        store.transition_case(case.id, CaseState.CONFIRMED, role=UNION, actor="yz", at=T0)
    assert store.get_case(case.id).version == 1


def test_resolving_the_report_the_old_way_resolves_its_case(store):
    fb, case = open_report(store)
    store.resolve_feedback(fb.id, actor="yz", note="", at=T0)
    after = store.get_case(case.id)
    assert after.state is CaseState.RESOLVED and after.reply == "已处理"


def test_resolutions_nobody_answers_are_confirmed(store):
    _, case = open_report(store)
    store.transition_case(case.id, CaseState.RESOLVED, role=UNION, actor="yz", reply="好了", at=T0)
    assert store.auto_confirm(T0 + timedelta(days=6), confirm_after=timedelta(days=7)) == 0
    assert store.auto_confirm(T0 + timedelta(days=8), confirm_after=timedelta(days=7)) == 1
    done = store.get_case(case.id)
    assert done.state is CaseState.CONFIRMED and done.events[-1].actor == "system"
    assert store.get_feedback(done.feedback_id).resolved


def test_overdue_counts_and_lists_by_district_sorted_by_due(store, districts):
    yz = store.create(make_station(districts, external_id="A"), actor="t")
    jb = store.create(
        make_station(
            districts,
            external_id="B",
            owner="district:500105",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
        ),
        actor="t",
    )
    _, late = open_report(store, station_id=yz.id, due_hours=1, receipt="AAAABBBBCCCC")
    open_report(store, station_id=yz.id, due_hours=48, receipt="AAAABBBBCCCD")
    _, other = open_report(
        store,
        station_id=jb.id,
        owner="district:500105",
        district="500105",
        due_hours=2,
        receipt=None,
    )
    now = T0 + timedelta(hours=3)
    assert store.overdue_counts(now) == {"500103": 1, "500105": 1}
    store.transition_case(other.id, CaseState.RESOLVED, role=UNION, actor="jb", reply="好", at=now)
    assert store.overdue_counts(now) == {"500103": 1}
    cases, total = store.list_cases(CaseQuery(owner="district:500103"))
    assert total == 2 and cases[0].id == late.id  # soonest due first
    overdue, n = store.list_cases(CaseQuery(overdue_at=now))
    assert n == 1 and overdue[0].id == late.id
    assert store.list_cases(CaseQuery(district="500105", state=CaseState.RESOLVED))[1] == 1
    assert (
        store.list_cases(CaseQuery(owner="district:500103"), limit=1, offset=1)[0][0].id != late.id
    )
