"""The cases' one state machine, deadlines and receipts."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata.hours import TZ
from stations.domain.cases import (
    DEFAULT_DEADLINE_HOURS,
    MAX_REOPENS,
    REPORTER,
    SYSTEM,
    TRANSITIONS,
    UNION,
    Case,
    CaseState,
    CaseTransitionRefusedError,
    InvalidCaseRequestError,
    ReceiptNotFoundError,
    check_reply,
    check_transition,
    deadlines,
    display_receipt,
    due_at,
    is_overdue,
    new_receipt,
    parse_receipt,
    receipt_hash,
)
from stations.domain.codes import ALPHABET

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=TZ)
ORDER = [CaseState.OPEN, CaseState.IN_PROGRESS, CaseState.RESOLVED, CaseState.CONFIRMED]


def a_case(state: CaseState = CaseState.OPEN, **kw) -> Case:
    base = Case(
        id=1,
        station_id=1,
        owner="district:500103",
        district_adcode="500103",
        source="report",
        kind="locked",
        state=state,
        opened_at=T0,
        due_at=T0 + timedelta(hours=24),
        state_at=T0,
        version=1,
    )
    return replace(base, **kw)


def step(case: Case, to: CaseState) -> Case:
    """What the store does after check_transition allowed the step."""
    reopened = case.reopened + (1 if to is CaseState.OPEN else 0)
    return replace(case, state=to, reopened=reopened, version=case.version + 1)


@given(
    st.lists(
        st.tuples(st.sampled_from(list(CaseState)), st.sampled_from([UNION, REPORTER, SYSTEM])),
        max_size=30,
    )
)
def test_random_steps_never_skip_a_state_and_confirmed_is_final(steps):
    case = a_case()
    for to, actor in steps:
        before = case
        try:
            check_transition(case, to, actor=actor, reply="已处理")
        except CaseTransitionRefusedError:
            continue
        case = step(case, to)
        assert (before.state, to) in TRANSITIONS
        assert before.state is not CaseState.CONFIRMED
        # Forward by one (or open → resolved: starting is optional), or back to open by a
        # reopen: never to confirmed without being resolved first.
        if to is CaseState.CONFIRMED:
            assert before.state is CaseState.RESOLVED
        if to is CaseState.OPEN:
            assert before.state is CaseState.RESOLVED and actor == REPORTER
        assert case.reopened <= MAX_REOPENS


@pytest.mark.parametrize("to", list(CaseState))
@pytest.mark.parametrize("actor", [UNION, REPORTER, SYSTEM])
def test_nothing_leaves_confirmed(to, actor):
    with pytest.raises(CaseTransitionRefusedError) as caught:
        check_transition(a_case(CaseState.CONFIRMED), to, actor=actor, reply="x")
    assert "最终状态" in str(caught.value)


def test_a_reopen_happens_once():
    case = a_case(CaseState.RESOLVED)
    check_transition(case, CaseState.OPEN, actor=REPORTER, reply="")
    again = replace(case, reopened=1)
    with pytest.raises(CaseTransitionRefusedError, match="重新打开过一次"):
        check_transition(again, CaseState.OPEN, actor=REPORTER, reply="")


def test_only_the_union_resolves_and_only_with_a_reply():
    with pytest.raises(CaseTransitionRefusedError, match="可以改为：处理中、已解决"):
        check_transition(a_case(), CaseState.RESOLVED, actor=REPORTER, reply="x")
    with pytest.raises(InvalidCaseRequestError):
        check_transition(a_case(), CaseState.RESOLVED, actor=UNION, reply="")
    check_transition(a_case(), CaseState.RESOLVED, actor=UNION, reply="修好了")


def test_replies_are_text_of_at_most_500_characters():
    assert check_reply("  已修好\r\n门禁 ") == "已修好\n门禁"
    with pytest.raises(InvalidCaseRequestError):
        check_reply("长" * 501)
    with pytest.raises(InvalidCaseRequestError):
        check_reply(12)


@pytest.mark.parametrize(("kind", "hours"), sorted(DEFAULT_DEADLINE_HOURS.items()))
def test_due_at_per_kind(kind, hours):
    assert due_at(kind, T0, {}) == T0 + timedelta(hours=hours)


def test_configured_deadlines_merge_over_the_defaults():
    merged = deadlines({"locked": 12})
    assert merged["locked"] == 12 and merged["facility_broken"] == 72
    assert due_at("locked", T0, {"locked": 12}) == T0 + timedelta(hours=12)
    assert due_at("no_such_kind", T0, {}) == T0 + timedelta(hours=120)


def test_overdue_only_while_open_or_in_progress():
    late = T0 + timedelta(hours=25)
    assert is_overdue(a_case(), late)
    assert is_overdue(a_case(CaseState.IN_PROGRESS), late)
    assert not is_overdue(a_case(), T0 + timedelta(hours=23))
    assert not is_overdue(a_case(CaseState.RESOLVED), late)
    assert not is_overdue(a_case(CaseState.CONFIRMED), late)


@given(st.text(alphabet=ALPHABET, min_size=12, max_size=12))
def test_receipts_parse_their_display(receipt):
    assert parse_receipt(display_receipt(receipt)) == receipt
    assert parse_receipt(display_receipt(receipt).lower()) == receipt
    assert receipt_hash(display_receipt(receipt)) == receipt_hash(receipt)


def test_a_new_receipt_and_its_forms():
    receipt = new_receipt()
    assert len(receipt) == 12 and set(receipt) <= set(ALPHABET)
    shown = display_receipt(receipt)
    assert shown.count("-") == 2 and len(shown) == 14
    full_width = "".join(chr(ord(ch) + 0xFEE0) for ch in receipt)  # ＡＢＣ…
    assert parse_receipt(full_width) == receipt
    assert parse_receipt(f" {receipt[:6]} {receipt[6:]} ") == receipt
    assert len(receipt_hash(receipt)) == 64 and receipt not in receipt_hash(receipt)


@pytest.mark.parametrize(
    "bad", ["", "ABCD", "0000-0000-0000", "ABCD-EFGH-JKLMN", "I" * 12, "x" * 80]
)
def test_malformed_receipts_are_not_found(bad):
    with pytest.raises(ReceiptNotFoundError):
        parse_receipt(bad)
