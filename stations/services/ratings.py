"""Riders rate a station (no login); the owning union reads the comments.

The use cases behind /v1/stations/{id}/ratings and /v1/ratings/comments: a rating of 1–5
stars, one per station and address within ``dedupe_days`` (a second replaces the first),
limited per address and per station; a low rating with a comment opens a case whose
receipt the rider gets back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from stations.domain.auth import Principal, check_case_handle
from stations.domain.cases import LOW_RATING
from stations.domain.errors import StationNotFoundError
from stations.domain.feedback import RateLimit, client_hash
from stations.domain.model import Station
from stations.domain.ratings import NewRating, Rating, check_rating, opens_case
from stations.services.cases import new_case
from stations.storage.store import Store

HOUR_S = 3600
DAY_S = 86400


@dataclass(frozen=True, slots=True)
class Rated:
    rating: Rating
    replaced: bool
    receipt: str | None  # the case's receipt when the rating opened (or kept) one


def rate(
    store: Store,
    station: Station | None,
    station_id: int,
    *,
    stars: object,
    comment: object,
    client_address: str,
    salt: bytes,
    per_client_per_hour: int,
    per_station_per_hour: int,
    dedupe_days: int,
    deadlines: Mapping[str, float],
    at: datetime,
) -> Rated:
    """Take a rider's rating of ``station`` (None: there is no station ``station_id``)."""
    if station is None:
        raise StationNotFoundError(station_id)
    checked_stars, checked_comment = check_rating(stars, comment)
    due, receipt, digest = None, None, None
    if opens_case(checked_stars, checked_comment):
        case, receipt = new_case(
            station, source="rating", kind=LOW_RATING, at=at, deadlines=deadlines
        )
        due, digest = case.due_at, case.receipt_sha256
    rating, replaced = store.add_rating(
        NewRating(
            station_id=station_id,
            owner=str(station.owner),
            district_adcode=station.district_adcode,
            stars=checked_stars,
            comment=checked_comment,
            client_hash=client_hash(client_address, salt),
            created_at=at,
            case_due_at=due,
            receipt_sha256=digest,
        ),
        dedupe_s=dedupe_days * DAY_S,
        limits=(
            RateLimit("client", per_client_per_hour, HOUR_S),
            RateLimit("station", per_station_per_hour, HOUR_S),
        ),
    )
    if digest is not None and store.find_case_by_receipt(digest) is None:
        receipt = None  # replacing a rating whose case was resolved already: that case stays
    return Rated(rating, replaced, receipt)


def comments(
    store: Store,
    by: Principal,
    *,
    station: Station | None,
    station_id: int | None,
    limit: int,
    offset: int,
) -> tuple[list[Rating], int]:
    """The ratings with a comment of ``by``'s stations (one station's: its union only)."""
    if station_id is not None:
        if station is None:
            raise StationNotFoundError(station_id)
        check_case_handle(by, str(station.owner))
    return store.list_ratings(
        owner=by.feedback_owner, station_id=station_id, limit=limit, offset=offset
    )
