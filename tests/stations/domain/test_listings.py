"""The 上图 rule: one definition, the bulk form agreeing with it in every combination."""

from __future__ import annotations

import dataclasses
import itertools

from geodata.crs import from_wgs84
from stations.domain.listings import MappedState, mapped_state, mapped_state_of, mapped_states
from stations.domain.model import PROVIDER_CRS, Listing, Provider
from tests.builders import JIEFANGBEI, make_station

# What one provider may say of a station: no listing, not listed, listed without a
# position, and listed (with or without the keyword) precisely or 100 m off.
KINDS = ("absent", "unlisted", "no_position", "good", "far", "no_keyword", "no_keyword_far")


def _listing(provider: Provider, kind: str) -> Listing | None:
    if kind == "absent":
        return None
    if kind == "unlisted":
        return Listing(provider)
    if kind == "no_position":
        return Listing(provider, listed=True, keyword_linked=True)
    lon = JIEFANGBEI[0] + (0.001 if kind.endswith("far") else 0.0)
    x, y = from_wgs84(lon, JIEFANGBEI[1], crs=PROVIDER_CRS[provider])
    keyword = not kind.startswith("no_keyword")
    return Listing(provider, listed=True, listed_lon=x, listed_lat=y, keyword_linked=keyword)


def test_the_bulk_states_follow_the_one_rule_in_every_combination(districts):
    base = make_station(districts)
    stations = []
    for kinds in itertools.product(KINDS, repeat=len(Provider)):
        listings = [_listing(p, k) for p, k in zip(Provider, kinds, strict=True)]
        stations.append(
            dataclasses.replace(base, listings=tuple(li for li in listings if li is not None))
        )
    bulk = mapped_states(stations, threshold_m=50.0)
    assert bulk == [mapped_state(s, threshold_m=50.0) for s in stations]
    assert set(bulk) == set(MappedState)
    assert bulk.count(MappedState.FULL) == 1  # good everywhere, and only then


def test_the_rule():
    assert mapped_state_of(listed=False, good=set()) is MappedState.NONE
    assert mapped_state_of(listed=True, good=set()) is MappedState.PARTIAL
    assert mapped_state_of(listed=True, good={Provider.AMAP}) is MappedState.PARTIAL
    assert mapped_state_of(listed=True, good=set(Provider)) is MappedState.FULL
