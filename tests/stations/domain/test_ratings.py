"""What a rating must be."""

from __future__ import annotations

import time

import pytest

from stations.domain.feedback import RAW_TEXT_MAX_CHARS, InvalidFeedbackError, check_report
from stations.domain.ratings import InvalidRatingError, check_rating, opens_case


@pytest.mark.parametrize("stars", [1, 3, 5])
def test_stars_one_to_five(stars):
    assert check_rating(stars, None) == (stars, "")


@pytest.mark.parametrize("stars", [0, 6, 2.5, "3", True, None])
def test_other_stars_are_refused_in_chinese(stars):
    with pytest.raises(InvalidRatingError) as caught:
        check_rating(stars, "")
    assert caught.value.code == "invalid_rating"
    assert caught.value.problems[0]["message"] == "星级应是 1 到 5 的整数"


def test_the_comment_is_cleaned_and_short():
    assert check_rating(2, "  没有\x00热水 ") == (2, "没有热水")
    with pytest.raises(InvalidRatingError, match="最多 300"):
        check_rating(2, "长" * 301)
    with pytest.raises(InvalidRatingError):
        check_rating(2, ["x"])


def test_low_ratings_with_a_comment_open_a_case():
    assert opens_case(1, "脏") and opens_case(2, "脏")
    assert not opens_case(2, "") and not opens_case(3, "脏")


@pytest.mark.parametrize("check", [check_rating, check_report])
def test_a_huge_text_is_refused_without_cleaning_it(check):
    """An anonymous 6-million-character comment cost seconds of cleaning before it was found
    too long; over RAW_TEXT_MAX_CHARS it is refused as sent (even if it would clean short)."""
    huge = "差" * 6_000_000
    args = (1, huge) if check is check_rating else ("other", huge)
    started = time.perf_counter()
    with pytest.raises(InvalidFeedbackError) as caught:
        check(*args)
    assert time.perf_counter() - started < 0.5
    assert "6000000" in str(caught.value)
    padded = "好" + "\x00" * (RAW_TEXT_MAX_CHARS + 1)  # would clean to one character
    with pytest.raises(InvalidFeedbackError):
        check(*((1, padded) if check is check_rating else ("other", padded)))
    assert check(*((1, "好\x00") if check is check_rating else ("other", "好\x00")))[1] == "好"
