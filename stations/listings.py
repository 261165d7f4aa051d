"""上图 (map listing) figures derived from a station and its provider listings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from geodata.crs import to_wgs84
from geodata.distance import distance_m
from stations.model import PROVIDER_CRS, Listing, Provider, Station

DEFAULT_PRECISE_THRESHOLD_M = 50.0


class MappedState(StrEnum):
    """A station's overall 上图 state across the three providers."""

    FULL = "full"  # listed with the keyword on every provider, each within the threshold
    PARTIAL = "partial"  # listed somewhere, but not everywhere or not precisely
    NONE = "none"  # not listed anywhere


@dataclass(frozen=True, slots=True)
class ListingCheck:
    """What a planner checks about one listing: listed, keyword, offset, precision."""

    provider: Provider
    listed: bool
    keyword_linked: bool
    offset_m: float | None
    precise: bool | None


def check_listing(
    station: Station, listing: Listing, *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> ListingCheck:
    """Return the offset in metres between the listed position and ours, and precision.

    The listed position is in the provider's own system (GCJ-02 or BD-09) and is converted to
    WGS-84 before measuring on the ellipsoid. Without a listed position, both are None.
    """
    offset: float | None = None
    precise: bool | None = None
    if listing.listed and listing.has_position:
        lon, lat = to_wgs84(listing.listed_lon, listing.listed_lat, crs=listing.crs)
        offset = float(distance_m(station.lon, station.lat, lon, lat))
        precise = offset <= threshold_m
    return ListingCheck(listing.provider, listing.listed, listing.keyword_linked, offset, precise)


def mapped_state(
    station: Station, *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> MappedState:
    """Return FULL, PARTIAL or NONE for ``station``'s 上图 state across amap, baidu, tencent."""
    checks = [check_listing(station, li, threshold_m=threshold_m) for li in station.listings]
    listed = [c for c in checks if c.listed]
    if not listed:
        return MappedState.NONE
    good = {c.provider for c in listed if c.keyword_linked and c.precise}
    return MappedState.FULL if good == set(Provider) else MappedState.PARTIAL


def mapped_states(
    stations: Sequence[Station], *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> list[MappedState]:
    """:func:`mapped_state` for many stations at once, converting positions in bulk."""
    n = len(stations)
    good = {p: np.zeros(n, np.bool_) for p in Provider}
    listed_any = np.zeros(n, np.bool_)
    for provider in Provider:
        rows, lons, lats, own_lon, own_lat = [], [], [], [], []
        for i, s in enumerate(stations):
            li = s.listing(provider)
            if li is None or not li.listed:
                continue
            listed_any[i] = True
            if li.keyword_linked and li.has_position:
                rows.append(i)
                lons.append(li.listed_lon)
                lats.append(li.listed_lat)
                own_lon.append(s.lon)
                own_lat.append(s.lat)
        if rows:
            lon, lat = to_wgs84(np.array(lons), np.array(lats), crs=PROVIDER_CRS[provider])
            offset = distance_m(np.array(own_lon), np.array(own_lat), lon, lat)
            good[provider][np.array(rows)] = offset <= threshold_m
    full = good[Provider.AMAP] & good[Provider.BAIDU] & good[Provider.TENCENT]
    return [
        MappedState.FULL if f else MappedState.PARTIAL if a else MappedState.NONE
        for f, a in zip(full, listed_any, strict=True)
    ]
