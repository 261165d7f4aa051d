"""Last confirmed: the latest of a check, a union's edit and a day of check-ins."""

from __future__ import annotations

from datetime import UTC, date, datetime

from geodata.hours import TZ
from stations.domain.freshness import is_union_actor, last_confirmed

CHECK = datetime(2026, 11, 20, 15, 0, tzinfo=TZ)
EDIT = datetime(2026, 11, 25, 9, 30, tzinfo=TZ)


def test_never_confirmed_is_none():
    assert last_confirmed(None, None, None) is None


def test_the_latest_wins_with_its_label():
    assert last_confirmed(CHECK, None, None) == {
        "at": "2026-11-20T15:00:00+08:00",
        "how": "inspection",
        "label": "抽查确认",
    }
    assert last_confirmed(CHECK, EDIT, None)["how"] == "union_edit"
    assert last_confirmed(CHECK, EDIT, None)["label"] == "工会更新"
    days = last_confirmed(CHECK, EDIT, date(2026, 11, 30))
    assert days == {"at": "2026-11-30T00:00:00+08:00", "how": "check_ins", "label": "骑手签到"}
    # A check later on the day of the check-ins is the later confirmation.
    later = datetime(2026, 11, 30, 10, 0, tzinfo=TZ)
    assert last_confirmed(later, EDIT, date(2026, 11, 30))["how"] == "inspection"


def test_on_a_tie_a_check_beats_an_edit_beats_check_ins():
    midnight = datetime(2026, 11, 30, tzinfo=TZ)
    assert last_confirmed(midnight, midnight, date(2026, 11, 30))["how"] == "inspection"
    assert last_confirmed(None, midnight, date(2026, 11, 30))["how"] == "union_edit"


def test_times_are_given_in_shanghai_time():
    utc = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
    assert last_confirmed(utc, None, None)["at"] == "2026-11-20T15:00:00+08:00"


def test_only_unions_edits_confirm():
    assert is_union_actor("district:500103 渝中区总工会 (user a)")
    assert is_union_actor("admin 市总工会 (token t1)")
    assert is_union_actor("industry:traffic 交通工会 (token t2)")
    assert not is_union_actor("demo")
    assert not is_union_actor("t")
