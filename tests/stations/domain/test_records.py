"""Station <-> stored dict: the read of the whole registry shares what stations share."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from geodata.hours import TZ
from stations.domain.model import Listing, Owner, OwnerKind, Provider, Station, Stop
from stations.domain.records import station_from_dict, station_to_dict

BASE = Station(
    external_id="A1",
    owner=Owner(OwnerKind.DISTRICT, "500103"),
    name="解放碑驿站",
    lon=106.5772,
    lat=29.557,
    district_adcode="500103",
    hours="Mo-Fr 09:00-18:00",
    amenities=("hot_water", "toilet"),
    entry_methods=("qr",),
    listings=(
        Listing(
            Provider.AMAP,
            listed=True,
            poi_id="B0",
            listed_name="解放碑驿站",
            listed_lon=106.58,
            listed_lat=29.55,
        ),
        Listing(Provider.BAIDU),
        Listing(Provider.TENCENT, checked_at=datetime(2026, 1, 5, tzinfo=TZ)),
    ),
    id=7,
    version=2,
    updated_at=datetime(2026, 3, 1, 9, 30, tzinfo=TZ),
)


def _again(station: Station) -> Station:
    return station_from_dict(station_to_dict(station))


@pytest.mark.parametrize(
    "station",
    [
        BASE,
        replace(BASE, listings=(), amenities=(), updated_at=None, id=None),
        replace(
            BASE,
            mobile=True,
            stops=(Stop("站A", 106.5, 29.5, "Mo 08:00-10:00", "周一 8-10点"),),
        ),
    ],
)
def test_a_station_comes_back_equal(station: Station) -> None:
    assert _again(station) == station
    assert station_to_dict(_again(station)) == station_to_dict(station)


def test_stations_read_share_the_values_they_have_in_common() -> None:
    a, b = _again(BASE), _again(replace(BASE, id=8, external_id="A2"))
    assert a.amenities is b.amenities and a.entry_methods is b.entry_methods
    assert a.updated_at is b.updated_at and a.hours is b.hours
    assert a.listings[1] is b.listings[1]  # not listed, nothing known: one shared listing
    assert a.listings[2] == BASE.listings[2]  # a check date: its own listing
    assert a.listings[0] == BASE.listings[0]
    assert a.listings[0].listed_name is a.name  # listed under its own name: one string


def test_an_unknown_stored_value_is_still_refused() -> None:
    doc = station_to_dict(BASE)
    with pytest.raises(ValueError):
        station_from_dict({**doc, "status": "gone"})
    with pytest.raises(ValueError):
        station_from_dict({**doc, "listings": [{"provider": "bing"}]})
