"""Riders' ratings of a station: 1 to 5 stars and an optional comment for the owning union.

One rating per station and address (kept only as a keyed hash, and that only for the
de-duplication window): a second one from the same address soon after replaces the first,
so a flood from one address stays one vote. A low rating (1 or 2 stars) with a comment
opens a case of the owning union (stations.domain.cases).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from stations.domain.feedback import InvalidFeedbackError, text_problems

COMMENT_MAX_CHARS = 300
LOW_STARS = 2  # a rating of at most this many stars with a comment opens a case


class InvalidRatingError(InvalidFeedbackError):
    """A rating that cannot be taken (422 ``invalid_rating``), each problem in Chinese."""

    code = "invalid_rating"


@dataclass(frozen=True, slots=True)
class NewRating:
    """A rating as received; ``client_hash`` never the address itself."""

    station_id: int
    owner: str
    district_adcode: str
    stars: int
    comment: str
    client_hash: str
    created_at: datetime
    # When it opens a case: the case's deadline and the receipt's SHA-256 (None: no case).
    case_due_at: datetime | None = None
    receipt_sha256: str | None = None

    @property
    def opens_case(self) -> bool:
        return opens_case(self.stars, self.comment)


@dataclass(frozen=True, slots=True)
class Rating:
    """A stored rating (its comment only ever shown to the owning union)."""

    id: int
    station_id: int
    owner: str
    stars: int
    comment: str
    created_at: datetime
    updated_at: datetime
    case_id: int | None = None


def opens_case(stars: int, comment: str) -> bool:
    """Whether a rating of ``stars`` with ``comment`` becomes a case of the owning union."""
    return stars <= LOW_STARS and bool(comment)


def check_rating(stars: object, comment: object) -> tuple[int, str]:
    """Validate a rider's rating; InvalidRatingError (Chinese messages) if it is wrong."""
    problems: list[dict[str, str]] = []
    checked = 0
    if isinstance(stars, bool) or not isinstance(stars, int) or not 1 <= stars <= 5:
        problems.append(
            {"field": "stars", "code": "out_of_range", "message": "星级应是 1 到 5 的整数"}
        )
    else:
        checked = stars
    cleaned, wrong = text_problems(
        comment, field="comment", what="评价内容", max_chars=COMMENT_MAX_CHARS
    )
    problems.extend(wrong)
    if problems:
        raise InvalidRatingError(problems)
    return checked, cleaned
