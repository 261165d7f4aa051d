"""上图 (map listing) figures derived from a station and its provider listings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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


# The words a listing filter takes for the 上图 state: a state, or true (listed anywhere,
# fully or partly) / false (not listed).
MAPPED_WORDS = ("full", "partial", "none", "true", "false")
_MAPPED_ALIASES = {"true": (MappedState.FULL, MappedState.PARTIAL), "false": (MappedState.NONE,)}


def mapped_filter(word: str) -> tuple[MappedState, ...]:
    """The 上图 states ``word`` (one of :data:`MAPPED_WORDS`) selects; ValueError if none."""
    try:
        return _MAPPED_ALIASES.get(word) or (MappedState(word),)
    except ValueError:
        msg = f"mapped={word!r}: use full, partial, none, true or false"
        raise ValueError(msg) from None


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
        precise = bool(is_precise(offset, threshold_m=threshold_m))
    return ListingCheck(listing.provider, listing.listed, listing.keyword_linked, offset, precise)


def mapped_state(
    station: Station, *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> MappedState:
    """Return FULL, PARTIAL or NONE for ``station``'s 上图 state across amap, baidu, tencent."""
    checks = [check_listing(station, li, threshold_m=threshold_m) for li in station.listings]
    listed = [c for c in checks if c.listed]
    good = {c.provider for c in listed if counts_as_good(c)}
    return mapped_state_of(listed=bool(listed), good=good)


def is_precise(offset_m: Any, *, threshold_m: float) -> Any:
    """Whether a listed position ``offset_m`` metres from ours is precise: within the
    threshold. Works on a float or an array; NaN (no position) is not precise."""
    return offset_m <= threshold_m


def counts_as_good(check: ListingCheck) -> bool:
    """Whether a listing counts towards FULL: listed under the keyword, precisely."""
    return bool(check.listed and check.keyword_linked and check.precise)


def mapped_state_of(*, listed: bool, good: Set[Provider]) -> MappedState:
    """The 上图 rule: the state of a station listed somewhere (or not), ``good`` the
    providers where it is listed under the keyword at a precise position."""
    if not listed:
        return MappedState.NONE
    return MappedState.FULL if good == set(Provider) else MappedState.PARTIAL


# mapped_state_of for every (listed, good providers) combination, by code: bit i set where
# good has list(Provider)[i], bit len(Provider) where listed. :func:`mapped_states` looks
# states up here, so the bulk form follows the one rule by construction.
_LISTED_BIT = 1 << len(Provider)
_STATE_BY_CODE: tuple[MappedState, ...] = tuple(
    mapped_state_of(
        listed=bool(code & _LISTED_BIT),
        good={p for i, p in enumerate(Provider) if code & (1 << i)},
    )
    for code in range(2 * _LISTED_BIT)
)


def listing_offsets(
    stations: Sequence[Station], *, keyword_only: bool = False
) -> dict[Provider, npt.NDArray[np.float64]]:
    """Per provider, each station's listing offset in metres, converting in bulk.

    NaN where the station is not listed there (or, with ``keyword_only``, not linked to
    the keyword) or the listing has no position.
    """
    n = len(stations)
    # One pass over the stations (not one per provider): each station's first listing on
    # a provider is the one that counts, as in Station.listing.
    found: dict[Provider, list[tuple[int, float, float, float, float]]] = {p: [] for p in Provider}
    for i, s in enumerate(stations):
        seen: list[Provider] = []
        for li in s.listings:
            if li.provider in seen:
                continue
            seen.append(li.provider)
            if not li.listed or not li.has_position or (keyword_only and not li.keyword_linked):
                continue
            found[li.provider].append((i, li.listed_lon, li.listed_lat, s.lon, s.lat))  # type: ignore[arg-type]
    out: dict[Provider, npt.NDArray[np.float64]] = {}
    for provider, listed in found.items():
        offset_m = np.full(n, np.nan)
        if listed:
            at, lons, lats, own_lon, own_lat = np.array(listed, np.float64).T.copy()  # rows
            lon, lat = to_wgs84(lons, lats, crs=PROVIDER_CRS[provider])
            offset_m[at.astype(np.intp)] = distance_m(own_lon, own_lat, lon, lat)
        out[provider] = offset_m
    return out


def mapped_states(
    stations: Sequence[Station],
    *,
    threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M,
    offsets: Mapping[Provider, npt.NDArray[np.float64]] | None = None,
) -> list[MappedState]:
    """:func:`mapped_state` for many stations at once, converting positions in bulk;
    ``offsets`` are their :func:`listing_offsets`, when already at hand."""
    code = _mapped_codes(stations, threshold_m=threshold_m, offsets=offsets)
    return [_STATE_BY_CODE[c] for c in code.tolist()]


# The states' values by code, for :func:`mapped_values`.
_VALUE_BY_CODE = np.array([m.value for m in _STATE_BY_CODE], dtype="<U8")


def mapped_values(
    stations: Sequence[Station], *, threshold_m: float = DEFAULT_PRECISE_THRESHOLD_M
) -> npt.NDArray[np.str_]:
    """The values of :func:`mapped_states`, as an array (one lookup, no list of states)."""
    return _VALUE_BY_CODE[_mapped_codes(stations, threshold_m=threshold_m)]


def _mapped_codes(
    stations: Sequence[Station],
    *,
    threshold_m: float,
    offsets: Mapping[Provider, npt.NDArray[np.float64]] | None = None,
) -> npt.NDArray[np.int64]:
    """Each station's code in :data:`_STATE_BY_CODE`."""
    if offsets is None:
        # Only keyword listings' positions count (the conversions are the costly part).
        offsets = listing_offsets(stations, keyword_only=True)
    # One pass over the listings: the listed bit, and a bit per provider listed under the
    # keyword; a keyword bit stays only where that listing is also precise.
    n = len(stations)
    bit = {p: 1 << i for i, p in enumerate(Provider)}
    code = np.fromiter((_listed_code(s.listings, bit) for s in stations), np.int64, n)
    for provider, b in bit.items():
        precise = is_precise(offsets[provider], threshold_m=threshold_m)
        code &= ~np.where(precise, 0, b)
    return code


def _listed_code(listings: Sequence[Listing], bit: Mapping[Provider, int]) -> int:
    code = 0
    for li in listings:
        if li.listed:
            code |= _LISTED_BIT | (bit[li.provider] if li.keyword_linked else 0)
    return code
