"""What a rating must be."""

from __future__ import annotations

import pytest

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
