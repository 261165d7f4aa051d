"""上图 (map listing) figures derived from a station and its provider listings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from geodata.crs import to_wgs84
from geodata.distance import distance_m
from stations.domain.model import PROVIDER_CRS, Listing, Provider, Station

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
    good = {c.provider for c in listed if c.keyword_linked and c.precise}
    return mapped_state_of(listed=bool(listed), good=good)


def mapped_state_of(*, listed: bool, good: set[Provider]) -> MappedState:
    """The 上图 state of a station listed somewhere (or not), ``good`` the providers where
    it is listed under the keyword at a precise position."""
    if not listed:
        return MappedState.NONE
    return MappedState.FULL if good == set(Provider) else MappedState.PARTIAL


def listing_offsets(
    stations: Sequence[Station], *, keyword_only: bool = False
) -> dict[Provider, npt.NDArray[np.float64]]:
    """Per provider, each station's listing offset in metres, converting in bulk.

    NaN where the station is not listed there (or, with ``keyword_only``, not linked to
    the keyword) or the listing has no position.
    """
    n = len(stations)
    out: dict[Provider, npt.NDArray[np.float64]] = {}
    for provider in Provider:
        offset_m = np.full(n, np.nan)
        rows, lons, lats, own_lon, own_lat = [], [], [], [], []
        for i, s in enumerate(stations):
            li = s.listing(provider)
            if li is None or not li.listed or not li.has_position:
                continue
            if keyword_only and not li.keyword_linked:
                continue
            rows.append(i)
            lons.append(li.listed_lon)
            lats.append(li.listed_lat)
            own_lon.append(s.lon)
            own_lat.append(s.lat)
        if rows:
            lon, lat = to_wgs84(np.array(lons), np.array(lats), crs=PROVIDER_CRS[provider])
            offset_m[np.array(rows)] = distance_m(np.array(own_lon), np.array(own_lat), lon, lat)
        out[provider] = offset_m
    return out


def mapped_states(
    stations: Sequence[Station], *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> list[MappedState]:
    """:func:`mapped_state` for many stations at once, converting positions in bulk."""
    listed_any = np.array([any(li.listed for li in s.listings) for s in stations], dtype=np.bool_)
    offsets = listing_offsets(stations, keyword_only=True)
    # NaN compares False: unlisted, unlinked or unpositioned is not precise.
    good = {p: offsets[p] <= threshold_m for p in Provider}
    full = good[Provider.AMAP] & good[Provider.BAIDU] & good[Provider.TENCENT]
    return [
        MappedState.FULL if f else MappedState.PARTIAL if a else MappedState.NONE
        for f, a in zip(full, listed_any, strict=True)
    ]
