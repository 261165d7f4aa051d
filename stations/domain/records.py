"""Station <-> plain JSON-able dict, the one serialised form used by stores and audit."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import Enum
from functools import lru_cache
from itertools import repeat
from typing import Any, TypeVar

from geodata.crs import CoordinateSystem
from stations.domain.model import Listing, Owner, Provider, Station, Status, Stop

_E = TypeVar("_E", bound=Enum)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def listing_to_dict(listing: Listing) -> dict[str, Any]:
    """Return a listing as a JSON-able dict (position in the provider's own system)."""
    return {
        "provider": listing.provider.value,
        "listed": listing.listed,
        "poi_id": listing.poi_id,
        "listed_name": listing.listed_name,
        "listed_lon": listing.listed_lon,
        "listed_lat": listing.listed_lat,
        "crs": listing.crs.value,
        "keyword_linked": listing.keyword_linked,
        "checked_at": _iso(listing.checked_at),
    }


def stop_to_dict(stop: Stop) -> dict[str, Any]:
    """Return one stop of a mobile station as a JSON-able dict (WGS-84)."""
    return {
        "name": stop.name,
        "lon": stop.lon,
        "lat": stop.lat,
        "hours": stop.hours,
        "hours_text": stop.hours_text,
    }


def stop_from_dict(data: dict[str, Any]) -> Stop:
    """Rebuild a Stop from :func:`stop_to_dict` output (trusted, already validated)."""
    return Stop(
        name=data["name"],
        lon=data["lon"],
        lat=data["lat"],
        hours=data["hours"],
        hours_text=data.get("hours_text", ""),
    )


def station_to_dict(station: Station) -> dict[str, Any]:
    """Return every stored field of ``station`` as a JSON-able dict.

    ``mobile`` and ``stops`` are written only for a mobile station, so that the stored form
    (and the version hashes) of every fixed station stays what it was before they existed."""
    doc = _fixed_to_dict(station)
    if station.mobile:
        doc["mobile"] = True
        doc["stops"] = [stop_to_dict(s) for s in station.stops]
    return doc


def _fixed_to_dict(station: Station) -> dict[str, Any]:
    return {
        "id": station.id,
        "external_id": station.external_id,
        "owner": str(station.owner),
        "name": station.name,
        "address": station.address,
        "host": station.host,
        "contact_phone": station.contact_phone,
        "district_adcode": station.district_adcode,
        "lon": station.lon,
        "lat": station.lat,
        "source_lon": station.source_lon,
        "source_lat": station.source_lat,
        "source_crs": station.source_crs.value,
        "hours": station.hours,
        "hours_text": station.hours_text,
        "self_service_24h": station.self_service_24h,
        "entry_methods": list(station.entry_methods),
        "registration_required": station.registration_required,
        "amenities": list(station.amenities),
        "status": station.status.value,
        "signage_unified": station.signage_unified,
        "brand": station.brand,
        "listings": [listing_to_dict(li) for li in station.listings],
        "sample": station.sample,
        "version": station.version,
        "updated_at": _iso(station.updated_at),
        "code": station.code,
    }


@lru_cache(maxsize=4096)  # stored records name a few hundred unions; Owner is frozen
def _owner(text: str) -> Owner:
    return Owner.parse(text)


# Reading the whole registry (the read index, 186,000 stations nationally) rebuilds every
# station from its stored form; these keep that cheap and the stations small. Values many
# stations share (hours, amenity sets, batch times, enum members, an unlisted provider) are
# looked up, not made again, and the stations share one immutable object for each; so do
# a station and its listings their name, when the same.
def _members(enum: type[_E]) -> dict[str, _E]:
    return {m.value: m for m in enum}


_CRS = _members(CoordinateSystem)
_STATUS = _members(Status)
_PROVIDER = _members(Provider)


def _member(members: dict[str, _E], enum: type[_E], value: str) -> _E:
    """``enum(value)``: a lookup for a stored value (the call, raising, for any other)."""
    found = members.get(value)
    return enum(value) if found is None else found


@lru_cache(maxsize=4096)  # a few thousand amenity sets; a handful of entry methods
def _shared(values: tuple[str, ...]) -> tuple[str, ...]:
    return values


@lru_cache(maxsize=4096)  # a batch's time, shared by its stations; listings' check dates
def _shared_dt(value: str | None) -> datetime | None:
    return _dt(value)


# Not listed on a provider, nothing more known: the stored form of most such listings.
_UNLISTED = {p: Listing(provider=p) for p in Provider}
_UNLISTED_DOCS = {p: listing_to_dict(li) for p, li in _UNLISTED.items()}


def _listing(data: dict[str, Any], name: str) -> Listing:
    """The listing stored as ``data`` of the station called ``name``."""
    provider = _member(_PROVIDER, Provider, data["provider"])
    if data == _UNLISTED_DOCS[provider]:
        return _UNLISTED[provider]
    listed_name = data.get("listed_name")
    return Listing(
        provider=provider,
        listed=data.get("listed", False),
        poi_id=data.get("poi_id"),
        listed_name=name if listed_name == name else listed_name,  # mostly: one string
        listed_lon=data.get("listed_lon"),
        listed_lat=data.get("listed_lat"),
        keyword_linked=data.get("keyword_linked", False),
        checked_at=_shared_dt(data.get("checked_at")),
    )


def station_from_dict(data: dict[str, Any]) -> Station:
    """Rebuild a Station from :func:`station_to_dict` output (trusted, already validated)."""
    stops, name = data.get("stops"), data["name"]
    return Station(
        id=data.get("id"),
        code=data.get("code"),
        external_id=data["external_id"],
        owner=_owner(data["owner"]),
        name=name,
        address=data.get("address", ""),
        host=data.get("host", ""),
        contact_phone=data.get("contact_phone", ""),
        district_adcode=sys.intern(data["district_adcode"]),
        lon=data["lon"],
        lat=data["lat"],
        source_lon=data.get("source_lon"),
        source_lat=data.get("source_lat"),
        source_crs=_member(_CRS, CoordinateSystem, data.get("source_crs", "wgs84")),
        hours=sys.intern(data["hours"]),
        hours_text=sys.intern(data.get("hours_text", "")),
        self_service_24h=data.get("self_service_24h", False),
        entry_methods=_shared(tuple(data.get("entry_methods", ()))),
        registration_required=data.get("registration_required", False),
        amenities=_shared(tuple(data.get("amenities", ()))),
        status=_member(_STATUS, Status, data.get("status", "active")),
        signage_unified=data.get("signage_unified", False),
        brand=data.get("brand", ""),
        listings=tuple(map(_listing, data.get("listings", ()), repeat(name))),
        sample=data.get("sample", False),
        mobile=data.get("mobile", False),
        stops=tuple(map(stop_from_dict, stops)) if stops else (),
        version=data.get("version", 0),
        updated_at=_shared_dt(data.get("updated_at")),
    )


def station_input(station: Station) -> dict[str, Any]:
    """A stored station as raw input fields (what build_station reads), to merge a patch onto.

    The position is given in WGS-84 and the hours as the union wrote them; derived and
    bookkeeping fields are left out.
    """
    doc = station_to_dict(station)
    for key in (
        "id",
        "version",
        "updated_at",
        "code",
        "district_adcode",
        "source_lon",
        "source_lat",
        "source_crs",
        "hours_text",
    ):
        doc.pop(key)
    doc["crs"] = "wgs84"
    doc["hours"] = station.hours_text or station.hours
    for listing in doc["listings"]:
        listing.pop("crs")
    for stop, given in zip(doc.get("stops", ()), station.stops, strict=True):
        stop["hours"] = given.hours_text or given.hours
        stop.pop("hours_text")
    return doc
