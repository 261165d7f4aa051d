"""The star-rating rule: always 1–5, monotone, downgrades by their steps, reasons add up,
the rule file replaceable and a broken one refused clearly."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stations.domain.listings import MappedState
from stations.domain.model import AMENITIES
from stations.domain.stars import (
    SHIPPED,
    StarRuleError,
    StationYear,
    load_rule,
    parse_rule,
    rate,
    stars_for_score,
)

RULE = load_rule()


@st.composite
def years(draw: st.DrawFn) -> StationYear:
    checks = draw(st.integers(0, 20))
    items_checked = draw(st.integers(0, 200)) if checks else 0
    hours_checked = draw(st.integers(0, checks))
    return StationYear(
        checks=checks,
        checks_passed=draw(st.integers(0, checks)),
        items_checked=items_checked,
        items_passed=draw(st.integers(0, items_checked)),
        unannounced_passed=draw(st.integers(0, checks)),
        hours_checked=hours_checked,
        hours_kept=draw(st.integers(0, hours_checked)),
        amenities=tuple(draw(st.sets(st.sampled_from(AMENITIES)))),
        mapped=draw(st.sampled_from(list(MappedState))),
        rating_average=draw(st.none() | st.floats(1, 5)),
        rating_count=draw(st.integers(0, 100)),
        visits=draw(st.integers(0, 10_000)),
        cases=(cases := draw(st.integers(0, 20))),
        cases_resolved_in_time=draw(st.integers(0, cases)),
        cases_overdue_unanswered=draw(st.integers(0, 6)),
        closed_confirmed=draw(st.integers(0, 2)),
    )


@given(years())
def test_stars_are_always_one_to_five_and_the_reasons_add_up_to_the_score(year):
    result = rate(year, RULE)
    assert 1 <= result.stars <= 5
    assert round(sum(r.points for r in result.reasons), 1) == result.score
    assert all(r.text for r in result.reasons)
    assert 0 <= result.score <= 100


def _one_more_passed_check(year: StationYear, items: int, announced: bool) -> StationYear:
    return replace(
        year,
        checks=year.checks + 1,
        checks_passed=year.checks_passed + 1,
        items_checked=year.items_checked + items,
        items_passed=year.items_passed + items,
        unannounced_passed=year.unannounced_passed + (0 if announced else 1),
        hours_checked=year.hours_checked + 1,
        hours_kept=year.hours_kept + 1,
    )


@given(years(), st.integers(1, 12), st.booleans())
def test_one_more_passed_check_never_lowers_the_stars(year, items, announced):
    before = rate(year, RULE)
    after = rate(_one_more_passed_check(year, items, announced), RULE)
    assert after.score >= before.score
    assert after.stars >= before.stars


@given(years(), st.integers(1, 12), st.booleans())
def test_one_more_check_that_fails_everything_never_raises_the_stars(year, items, announced):
    failed = replace(
        year,
        checks=year.checks + 1,
        items_checked=year.items_checked + items,
        hours_checked=year.hours_checked + 1,
    )
    before, after = rate(year, RULE), rate(failed, RULE)
    assert after.score <= before.score
    assert after.stars <= before.stars


def test_a_failed_item_in_a_second_check_lowers_the_score_not_raises_it():
    """The reviewer's case: one check passed in full, then a second failing 1 item of 14."""
    once = StationYear(
        checks=1, checks_passed=1, items_checked=14, items_passed=14, hours_checked=1, hours_kept=1
    )
    twice = replace(once, checks=2, checks_passed=1, items_checked=28, items_passed=27)
    assert rate(twice, RULE).score < rate(once, RULE).score


@given(years(), st.floats(0, 4))
def test_a_higher_average_never_lowers_the_stars(year, more):
    low = replace(year, rating_average=1 + (4 - more) * 0.5)
    high = replace(low, rating_average=min(5.0, low.rating_average + more))
    assert rate(high, RULE).stars >= rate(low, RULE).stars


@given(years())
@settings(max_examples=200)
def test_each_downgrade_lowers_by_its_step(year):
    clean = replace(
        year, hours_kept=year.hours_checked, closed_confirmed=0, cases_overdue_unanswered=0
    )
    base = rate(clean, RULE)
    earned = stars_for_score(base.score, RULE)
    assert base.stars == earned
    closed = rate(replace(clean, closed_confirmed=1), RULE)
    assert closed.stars == max(1, earned - RULE.hours_failed_step)
    overdue = rate(replace(clean, cases_overdue_unanswered=RULE.overdue_at), RULE)
    assert overdue.stars == max(1, earned - RULE.overdue_step)
    both = rate(replace(clean, closed_confirmed=1, cases_overdue_unanswered=9), RULE)
    assert both.stars == max(1, earned - RULE.hours_failed_step - RULE.overdue_step)
    assert any("降" in r.text and r.stars < 0 for r in both.reasons)


def test_a_failed_open_as_posted_check_is_a_downgrade_with_its_reason():
    good = StationYear(
        checks=4,
        items_checked=40,
        items_passed=40,
        unannounced_passed=2,
        hours_checked=4,
        hours_kept=4,
        amenities=AMENITIES,
        mapped=MappedState.FULL,
        rating_average=4.8,
        rating_count=30,
        visits=3000,
    )
    assert rate(good, RULE).stars == 5
    failed = rate(replace(good, hours_kept=3), RULE)
    assert failed.stars == 4
    assert any("未按公示时间开放 1 次" in r.text for r in failed.reasons)


def test_ratings_count_only_from_the_minimum_count():
    few = StationYear(rating_average=5.0, rating_count=RULE.ratings_min_count - 1)
    enough = replace(few, rating_count=RULE.ratings_min_count)
    assert rate(enough, RULE).score - rate(few, RULE).score == pytest.approx(RULE.ratings_max)
    assert any("评价不足" in r.text for r in rate(few, RULE).reasons)


def test_a_custom_rule_changes_the_result(tmp_path):
    year = StationYear(mapped=MappedState.FULL, rating_average=5.0, rating_count=10)
    text = SHIPPED.read_text(encoding="utf-8")
    generous = text.replace("five = 80.0", "five = 20.0").replace("four = 65.0", "four = 20.0")
    generous = generous.replace("three = 50.0", "three = 20.0").replace("two = 35.0", "two = 20.0")
    path = tmp_path / "stars.toml"
    path.write_text(generous.replace('version = "2026-1"', 'version = "mine"'), encoding="utf-8")
    mine = load_rule(path)
    assert mine.version == "mine"
    assert rate(year, RULE).stars < rate(year, mine).stars == 5


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda t: t + "\n[[[", "not valid TOML"),
        (lambda t: t.replace("max = 20.0", ""), "missing key passed.max"),
        (lambda t: t.replace("five = 80.0", 'five = "eighty"'), "thresholds.five must be a float"),
        (lambda t: t.replace('"toilet"', '"sauna"'), "unknown amenities ['sauna']"),
        (lambda t: t.replace("five = 80.0", "five = 10.0"), "must not rise"),
        (lambda t: t.replace("min_count = 5", "min_count = -1"), "must not be negative"),
    ],
)
def test_a_broken_rule_fails_saying_what_is_wrong(tmp_path, change, says):
    path = tmp_path / "stars.toml"
    path.write_text(change(SHIPPED.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(StarRuleError) as caught:
        load_rule(path)
    assert says in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_missing_rule_file_fails_clearly(tmp_path):
    with pytest.raises(StarRuleError, match="cannot read the star-rating rule"):
        load_rule(tmp_path / "none.toml")


def test_every_key_of_the_shipped_rule_is_documented():
    lines = SHIPPED.read_text(encoding="utf-8").splitlines()
    keys = [i for i, line in enumerate(lines) if "=" in line and not line.startswith((" ", "#"))]
    assert len(keys) == 27
    for i in keys:
        assert lines[i - 1].startswith("#"), f"{lines[i]}: no comment above it"
    assert parse_rule(SHIPPED.read_text(encoding="utf-8")) == RULE
