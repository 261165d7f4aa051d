"""The station record: plain, immutable domain objects with no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from geodata.crs import CoordinateSystem

# One table per vocabulary: the codes (in this order) and their Chinese labels. Adding an
# amenity is one line here (and, for the rider page, an icon `i-<code>` in api/rider/index.html).
AMENITY_LABELS: dict[str, str] = {
    "drinking_water": "饮用水",
    "hot_water": "热水",
    "microwave": "微波炉",
    "fridge": "冰箱",
    "phone_charging": "手机充电",
    "ebike_charging": "电动车充电",
    "toilet": "厕所",
    "seating": "座椅",
    "heating": "暖气",
    "air_conditioning": "空调",
    "first_aid": "急救药箱",
    "wifi": "无线网络",
    "umbrella": "雨伞",
    "repair_tools": "维修工具",
    "aed": "AED",
    "books": "图书",
}
AMENITIES: tuple[str, ...] = tuple(AMENITY_LABELS)

ENTRY_METHOD_LABELS: dict[str, str] = {
    "qr": "扫码",
    "face": "刷脸",
    "fingerprint": "指纹",
    "id_card": "身份证",
    "member_code": "会员码",
    "staffed": "有人值守",
}
ENTRY_METHODS: tuple[str, ...] = tuple(ENTRY_METHOD_LABELS)


class Status(StrEnum):
    """Whether a station is serving."""

    ACTIVE = "active"
    TEMPORARILY_CLOSED = "temporarily_closed"
    PLANNED = "planned"
    CLOSED = "closed"


# Keyed by the members' values: plain strings, as orjson takes no StrEnum as a dict key.
STATUS_LABELS: dict[str, str] = {
    Status.ACTIVE.value: "运营中",
    Status.TEMPORARILY_CLOSED.value: "暂停开放",
    Status.PLANNED.value: "筹建中",
    Status.CLOSED.value: "已关闭",
}


class Provider(StrEnum):
    """A consumer map app on which a station can be listed (上图)."""

    AMAP = "amap"
    BAIDU = "baidu"
    TENCENT = "tencent"


PROVIDER_CRS: dict[Provider, CoordinateSystem] = {
    Provider.AMAP: CoordinateSystem.GCJ02,
    Provider.BAIDU: CoordinateSystem.BD09,
    Provider.TENCENT: CoordinateSystem.GCJ02,
}

PROVIDER_LABELS: dict[str, str] = {
    Provider.AMAP.value: "高德",
    Provider.BAIDU.value: "百度",
    Provider.TENCENT.value: "腾讯",
}

KEYWORD = "工会驿站"


class OwnerKind(StrEnum):
    """Which kind of union owns a station."""

    DISTRICT = "district"
    INDUSTRY = "industry"


@dataclass(frozen=True, slots=True)
class Owner:
    """The union responsible for a station: a district union (adcode) or an industry union."""

    kind: OwnerKind
    code: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.code}"

    @classmethod
    def parse(cls, text: str) -> Owner:
        """Parse ``district:500103`` or ``industry:transport`` (a bare adcode is a district)."""
        text = text.strip()
        if text.isdigit() and len(text) == 6:
            return cls(OwnerKind.DISTRICT, text)
        kind, sep, code = text.partition(":")
        if not sep or not code.strip():
            msg = (
                f"owner {text!r} is not understood: write district:<6-digit adcode> "
                "or industry:<code>"
            )
            raise ValueError(msg)
        try:
            owner_kind = OwnerKind(kind.strip().lower())
        except ValueError:
            msg = f"owner kind {kind!r} is not one of: district, industry"
            raise ValueError(msg) from None
        code = code.strip()
        if owner_kind is OwnerKind.DISTRICT and not (code.isdigit() and len(code) == 6):
            msg = f"a district union is named by its 6-digit adcode, not {code!r}"
            raise ValueError(msg)
        return cls(owner_kind, code)


# A listing's fields as a flat row names them after its provider (amap_lon): the
# Listing attribute where the two differ.
LISTING_FLAT_ATTRS = {"lon": "listed_lon", "lat": "listed_lat"}


@dataclass(frozen=True, slots=True)
class Listing:
    """A station's listing (上图) on one provider, with the position in that provider's system."""

    provider: Provider
    listed: bool = False
    poi_id: str | None = None
    listed_name: str | None = None
    listed_lon: float | None = None
    listed_lat: float | None = None
    keyword_linked: bool = False
    checked_at: datetime | None = None

    @property
    def crs(self) -> CoordinateSystem:
        """The coordinate system the provider publishes positions in."""
        return PROVIDER_CRS[self.provider]

    @property
    def has_position(self) -> bool:
        return self.listed_lon is not None and self.listed_lat is not None


@dataclass(frozen=True, slots=True)
class Stop:
    """One stop of a mobile station (流动驿站): where the vehicle stands, and when.

    ``lon``/``lat`` are canonical WGS-84; ``hours`` the canonical OSM ``opening_hours`` of
    the times it stands there (weekdays, dates and holidays as for a station's own hours),
    ``hours_text`` as the union wrote them."""

    name: str
    lon: float
    lat: float
    hours: str
    hours_text: str = ""


@dataclass(frozen=True, slots=True)
class Station:
    """One rest station. Positions are canonical WGS-84 lon/lat in degrees."""

    external_id: str
    owner: Owner
    name: str
    lon: float
    lat: float
    district_adcode: str
    hours: str
    address: str = ""
    host: str = ""
    contact_phone: str = ""
    source_lon: float | None = None
    source_lat: float | None = None
    source_crs: CoordinateSystem = CoordinateSystem.WGS84
    hours_text: str = ""
    self_service_24h: bool = False
    entry_methods: tuple[str, ...] = ()
    registration_required: bool = False
    amenities: tuple[str, ...] = ()
    status: Status = Status.ACTIVE
    signage_unified: bool = False
    brand: str = ""
    listings: tuple[Listing, ...] = ()
    sample: bool = False
    # A mobile station (流动驿站) is a vehicle serving a timetable of ``stops``; its own
    # lon/lat is where it is based, and at any time it is found at its stop, or nowhere
    # (stations.domain.mobile).
    mobile: bool = False
    stops: tuple[Stop, ...] = ()
    id: int | None = None
    version: int = 0
    updated_at: datetime | None = None
    # The public code (stations.domain.codes), given by the store like the id: not an input,
    # and not part of what makes two versions of a station the same record.
    code: str | None = field(default=None, compare=False)

    def listing(self, provider: Provider | str) -> Listing | None:
        """Return this station's listing on ``provider``, or None if nothing is recorded."""
        p = provider if isinstance(provider, Provider) else Provider(provider)
        for li in self.listings:  # at most three: a loop beats building a dict
            if li.provider is p:
                return li
        return None

    def with_changes(self, **changes: Any) -> Station:
        """Return a copy with ``changes`` applied (no validation: pass it through validate)."""
        return replace(self, **changes)
