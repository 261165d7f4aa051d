"""Star ratings (星级评定): every station's last year scored by the rule
(stations.domain.stars), saved, read back by whoever may read them; and each district's
最美驿站 candidates."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from stations.domain.auth import Principal, check_star_reasons, check_stars_compute
from stations.domain.errors import StationNotFoundError
from stations.domain.stars import YEAR_DAYS, StarRating, StarRule, StationYear, is_rated, rate
from stations.readmodel.index import StationIndex
from stations.storage.store import Store

CANDIDATES_TOP = 10  # 最美驿站 candidates listed per district


def year_inputs(
    store: Store, index: StationIndex, rule: StarRule, now: datetime
) -> dict[int, StationYear]:
    """Every station's figures over the 365 days before ``now``: the store's aggregates,
    with the amenities and 上图 state of the station as the index has it."""
    figures = store.ops_inputs(now - timedelta(days=YEAR_DAYS), now, hours_item=rule.hours_item)
    mapped = index.mapped_at(np.arange(len(index)))
    return {
        s.id: replace(figures.get(s.id, StationYear()), amenities=s.amenities, mapped=mapped[p])
        for p, s in enumerate(index.stations)
        if s.id is not None
    }


def compute_stars(
    store: Store, index: StationIndex, rule: StarRule, now: datetime
) -> list[StarRating]:
    """Rate every station of ``index`` at ``now`` and save the ratings; returns them."""
    inputs = year_inputs(store, index, rule, now)
    rows = []
    for station in index.stations:
        if station.id is None:  # pragma: no cover - stored stations have ids
            continue
        if not is_rated(inputs[station.id], rule):
            continue  # 未评定: no stars until it has been checked
        result = rate(inputs[station.id], rule)
        rows.append(
            StarRating(
                station_id=station.id,
                district_adcode=station.district_adcode,
                stars=result.stars,
                score=result.score,
                reasons=result.reasons,
                computed_at=now,
                rules_version=rule.version,
            )
        )
    store.save_star_ratings(rows, computed_at=now)
    return rows


def compute_stars_as(
    by: Principal, store: Store, index: StationIndex, rule: StarRule, now: datetime
) -> list[StarRating]:
    """:func:`compute_stars`, for the city union only (ForbiddenError otherwise)."""
    check_stars_compute(by)
    return compute_stars(store, index, rule, now)


def public_stars(store: Store, index: StationIndex, district: str | None) -> list[dict[str, Any]]:
    """Each station's latest stars (no score, no reasons: those are its union's), of one
    district or all, in the index's order."""
    latest = store.latest_star_ratings()
    return [
        {
            "station_id": s.id,
            "name": s.name,
            "district_adcode": s.district_adcode,
            "stars": latest[s.id].stars if s.id in latest else None,
        }
        for s in index.stations
        if district is None or s.district_adcode == district
    ]


def rating_doc(rating: StarRating, name: str) -> dict[str, Any]:
    """A rating with its reasons, as the API and the console show it to the union."""
    return {
        "station_id": rating.station_id,
        "name": name,
        "district_adcode": rating.district_adcode,
        "stars": rating.stars,
        "score": rating.score,
        "reasons": [r.as_dict() for r in rating.reasons],
        "computed_at": rating.computed_at.isoformat(),
        "rules_version": rating.rules_version,
    }


def station_stars(
    by: Principal, store: Store, index: StationIndex, station_id: int
) -> dict[str, Any] | None:
    """A station's latest stars with the score and reasons, for its union or the city
    union (ForbiddenError for another); None when it was never rated;
    StationNotFoundError."""
    station = index.get(station_id)
    if station is None:
        raise StationNotFoundError(station_id)
    check_star_reasons(by, str(station.owner))
    rating = store.latest_star_ratings().get(station_id)
    return None if rating is None else rating_doc(rating, station.name)


def union_ratings(by: Principal, store: Store, index: StationIndex) -> list[dict[str, Any]]:
    """The latest ratings with reasons of every station ``by`` may read them of (its own;
    the city union every one), by district then score (highest first)."""
    latest = store.latest_star_ratings()
    docs = [
        rating_doc(latest[s.id], s.name)
        for s in index.stations
        if s.id in latest and by.may_see_star_reasons(str(s.owner))
    ]
    return sorted(docs, key=lambda d: (d["district_adcode"], -d["score"], d["station_id"]))


@dataclass(frozen=True, slots=True)
class Candidate:
    station_id: int
    name: str
    district_adcode: str
    stars: int
    score: float


def candidates(
    store: Store,
    index: StationIndex,
    now: datetime,
    *,
    district: str | None,
    top: int = CANDIDATES_TOP,
) -> dict[str, list[Candidate]]:
    """最美驿站 candidates per district (one, or all): 5 stars at the latest rating, no
    open rectification, an unannounced check passed in the year; the ``top`` best scores
    each."""
    latest = store.latest_star_ratings()
    unannounced = store.unannounced_passed_counts(now - timedelta(days=YEAR_DAYS), now)
    open_fixes = store.open_rectification_counts()
    out: dict[str, list[Candidate]] = {}
    for s in index.stations:
        if s.id is None or (district is not None and s.district_adcode != district):
            continue
        rating = latest.get(s.id)
        if rating is None or rating.stars < 5 or not unannounced.get(s.id, 0):
            continue
        if open_fixes.get(s.id, 0):
            continue
        out.setdefault(s.district_adcode, []).append(
            Candidate(s.id, s.name, s.district_adcode, rating.stars, rating.score)
        )
    return {
        d: sorted(found, key=lambda c: (-c.score, c.station_id))[:top]
        for d, found in sorted(out.items())
    }
