"""A station's printable poster: what it says, where its QR code points, and its cache key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from geodata.districts import Districts
from geodata.hours import TZ, hours
from stations.domain.codes import parse_code
from stations.domain.model import (
    AMENITY_LABELS,
    ENTRY_METHOD_LABELS,
    OwnerKind,
    Station,
    Status,
)
from stations.domain.records import station_from_dict
from stations.formats.poster import LAYOUT_VERSION, Poster, PosterData, font_fingerprint, render
from stations.readmodel.index import StationIndex
from stations.storage.store import Store


@dataclass(frozen=True, slots=True)
class CodeLookup:
    """What a station code (as typed or scanned) names: ``code`` in canonical form, and the
    station, or None with ``deleted`` telling a removed station from a code never given."""

    code: str
    station: Station | None
    deleted: bool
    former: Station | None = None  # a deleted station as it last was (from the audit trail)


def station_for_code(store: Store, index: StationIndex, text: str) -> CodeLookup:
    """The station whose public code is ``text`` (any case, with or without the hyphen);
    InvalidCodeError when ``text`` is no well-formed code (编号有误)."""
    code = parse_code(text)
    station_id = store.station_for_code(code)
    if station_id is None:
        return CodeLookup(code, None, deleted=False)
    station = index.get(station_id)
    if station is not None:
        return CodeLookup(code, station, deleted=False)
    last = [e.before for e in store.audit(station_id=station_id) if e.before is not None]
    return CodeLookup(
        code, None, deleted=True, former=station_from_dict(last[-1]) if last else None
    )


def open_state(station: Station, at: datetime) -> tuple[bool, datetime | None]:
    """Whether ``station`` is open at ``at`` and when that changes next: the rule of the
    nearest results (StationIndex.search), holidays and make-up days included: an active
    station, by its hours at the minute."""
    if station.status is not Status.ACTIVE:
        return False, None
    minute = at.astimezone(TZ).replace(second=0, microsecond=0)
    rule = hours(station.hours)
    return rule.is_open(minute), rule.next_change(minute)


def union_name(station: Station, districts: Districts) -> str:
    """The owning union as the console names it: 渝中区工会 for a district union's station,
    the industry union's own name otherwise."""
    owner = station.owner
    if owner.kind is OwnerKind.DISTRICT:
        district = districts.find(owner.code)
        return f"{district.name}工会" if district else f"{owner.code} 工会"
    return owner.code if owner.code.endswith("工会") else f"{owner.code}产业工会"


def entry_text(station: Station) -> str:
    """How to get in, in words: the entry methods, 24-hour self service, registration."""
    parts = []
    methods = "、".join(ENTRY_METHOD_LABELS.get(m, m) for m in station.entry_methods)
    if station.self_service_24h:
        parts.append("24小时自助" + (f"（{methods}）" if methods else ""))
    elif methods:
        parts.append(methods)
    parts.append("需先注册" if station.registration_required else "无需注册")
    return "，".join(parts)


def station_url(code: str, *, public_url: str | None, base_url: str) -> str:
    """The absolute address of the station's page, ``…/s/{code}``: on ``public_url`` when
    it is set, else on the address the request reached (``base_url``)."""
    return f"{(public_url or base_url).rstrip('/')}/s/{code}"


def poster_data(
    station: Station, *, districts: Districts, public_url: str | None, base_url: str
) -> PosterData:
    """What ``station``'s poster shows; without ``public_url`` it says, in red, that it is a
    test print whose QR code points at ``base_url`` (so nobody prints a dead poster)."""
    if not station.code:
        msg = f"station {station.id} has no public code yet"
        raise ValueError(msg)
    url = station_url(station.code, public_url=public_url, base_url=base_url)
    district = districts.find(station.district_adcode)
    address = station.address
    if district and district.name not in address[:12]:
        address = f"{district.name} {address}".strip()
    return PosterData(
        name=station.name,
        code=station.code,
        url=url,
        hours_text=station.hours_text or station.hours,
        entry_text=entry_text(station),
        address=address,
        amenities=tuple(AMENITY_LABELS[a] for a in AMENITY_LABELS if a in station.amenities),
        union=union_name(station, districts),
        phone=station.contact_phone,
        test_note=None
        if public_url
        else f"测试海报：未设置 YIZHAN_PUBLIC_URL，二维码指向 {url.rsplit('/s/', 1)[0]}",
    )


def poster_etag(station: Station, *, public_url: str | None, base_url: str, font_path: Path) -> str:
    """A strong ETag naming everything the poster's bytes depend on: the station's version
    and code, the font file, the address its QR code holds, and the layout."""
    key = "|".join(
        [
            LAYOUT_VERSION,
            str(station.id),
            str(station.version),
            station.code or "",
            public_url or "",
            base_url,
            font_fingerprint(font_path),
        ]
    )
    return '"' + hashlib.sha256(key.encode()).hexdigest()[:24] + '"'


def station_poster(
    station: Station,
    *,
    districts: Districts,
    public_url: str | None,
    base_url: str,
    font_path: Path,
) -> Poster:
    """``station``'s A4 poster (PosterFontMissingError when the font cannot be read)."""
    data = poster_data(station, districts=districts, public_url=public_url, base_url=base_url)
    return render(data, font_path=font_path)
