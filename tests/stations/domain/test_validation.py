"""Validation turns what a clerk wrote into a station, or says every problem in Chinese."""

from __future__ import annotations

import pytest

from geodata.crs import from_wgs84
from geodata.distance import distance_m
from stations.domain.listings import MappedState, check_listing, mapped_state
from stations.domain.model import Owner, OwnerKind, Provider, Status
from stations.domain.validation import (
    PositionVerdict,
    ValidationError,
    build_station,
    parse_bool,
    position_verdict,
)
from tests.builders import GUANYINQIAO, JIEFANGBEI, point_beyond_border, station_row


def codes(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {p.code for p in exc.value.problems}


def test_valid_row_becomes_a_station(districts):
    s = build_station(station_row(), districts=districts)
    assert s.district_adcode == "500103"
    assert s.hours == "Mo-Fr 09:00-18:00; PH off"  # an office's working days
    assert s.hours_text == "周一至周五 9:00-18:00"
    assert s.owner == Owner(OwnerKind.DISTRICT, "500103")
    assert s.status is Status.ACTIVE


@pytest.mark.parametrize("crs", ["gcj02", "bd09", "cgcs2000"])
def test_position_in_any_system_lands_within_a_metre(districts, crs):
    lon, lat = from_wgs84(*JIEFANGBEI, crs=crs)
    s = build_station(station_row(lon=lon, lat=lat), districts=districts, crs=crs)
    assert distance_m(s.lon, s.lat, *JIEFANGBEI) < 1.0
    assert (s.source_lon, s.source_lat, s.source_crs.value) == (lon, lat, crs)


def test_every_problem_is_reported_at_once(districts):
    row = station_row(name="", hours="看情况", amenities="微波炉、按摩椅", status="营业")
    with pytest.raises(ValidationError) as exc:
        build_station(row, districts=districts)
    assert codes(exc) == {"missing_field", "hours_unparseable", "unknown_amenity", "invalid_status"}
    by_code = {p.code: p for p in exc.value.problems}
    assert "看情况" in by_code["hours_unparseable"].message
    assert "按摩椅" in by_code["unknown_amenity"].message
    assert "微波炉(microwave)" in by_code["unknown_amenity"].message  # lists the allowed ones


def test_swapped_lat_lon_is_named(districts):
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(lon=JIEFANGBEI[1], lat=JIEFANGBEI[0]), districts=districts)
    assert codes(exc) == {"latlon_swapped"}
    assert "填反" in exc.value.problems[0].message


def test_outside_china_is_rejected(districts):
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(lon=2.35, lat=48.85), districts=districts)
    assert codes(exc) == {"outside_china"}


def test_in_china_but_outside_the_districts_is_rejected(districts):
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(lon=104.06, lat=30.67), districts=districts)  # 成都
    assert codes(exc) == {"outside_districts"}


def test_district_union_station_must_lie_in_its_district(districts):
    row = station_row(lon=GUANYINQIAO[0], lat=GUANYINQIAO[1])  # 江北, owner 渝中
    with pytest.raises(ValidationError) as exc:
        build_station(row, districts=districts)
    assert codes(exc) == {"outside_own_district"}
    assert "江北区" in exc.value.problems[0].message and "渝中区" in exc.value.problems[0].message


def test_industry_union_station_may_lie_anywhere(districts):
    row = station_row(owner="industry:transport", lon=GUANYINQIAO[0], lat=GUANYINQIAO[1])
    s = build_station(row, districts=districts)
    assert s.district_adcode == "500105" and s.owner.kind is OwnerKind.INDUSTRY


def test_owner_defaults_to_the_district_union_of_the_position(districts):
    s = build_station(station_row(owner=None), districts=districts)
    assert str(s.owner) == "district:500103"


def test_self_service_24h_requires_24_7_hours_and_an_entry_method(districts):
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(self_service_24h="是", entry_methods=""), districts=districts)
    assert codes(exc) == {"self_service_not_24_7", "entry_methods_missing"}
    s = build_station(
        station_row(self_service_24h="是", hours="24小时", entry_methods="扫码、刷脸"),
        districts=districts,
    )
    assert s.hours == "24/7" and s.entry_methods == ("qr", "face")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("是", True),
        ("否", False),
        ("1", True),
        (0, False),
        ("TRUE", True),
        ("", False),
        (None, False),
    ],
)
def test_yes_no_cells(value, expected):
    assert parse_bool(value) is expected


def test_unreadable_yes_no_is_a_problem(districts):
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(signage_unified="也许"), districts=districts)
    assert codes(exc) == {"invalid_boolean"}


def test_listings_derive_offset_and_precision(districts):
    amap = from_wgs84(*JIEFANGBEI, crs="gcj02")
    baidu = from_wgs84(JIEFANGBEI[0] + 0.002, JIEFANGBEI[1], crs="bd09")  # ~190 m east
    row = station_row(
        amap_listed="是",
        amap_lon=amap[0],
        amap_lat=amap[1],
        amap_keyword_linked="是",
        baidu_poi_id="B123",
        baidu_lon=baidu[0],
        baidu_lat=baidu[1],
        baidu_keyword_linked="是",
        tencent_listed="否",
    )
    s = build_station(row, districts=districts)
    a = check_listing(s, s.listing(Provider.AMAP))
    b = check_listing(s, s.listing(Provider.BAIDU))
    assert a.offset_m < 0.01 and a.precise
    assert 150 < b.offset_m < 250 and b.precise is False
    assert s.listing("baidu").listed  # a POI id means it is listed
    assert mapped_state(s) is MappedState.PARTIAL
    assert mapped_state(s, threshold_m=300) is MappedState.PARTIAL  # tencent is missing
    assert mapped_state(build_station(station_row(), districts=districts)) is MappedState.NONE


def test_all_three_precise_with_keyword_is_full(districts):
    g = from_wgs84(*JIEFANGBEI, crs="gcj02")
    b = from_wgs84(*JIEFANGBEI, crs="bd09")
    listings = [
        {
            "provider": p,
            "listed": True,
            "listed_lon": c[0],
            "listed_lat": c[1],
            "keyword_linked": True,
        }
        for p, c in (("amap", g), ("baidu", b), ("tencent", g))
    ]
    s = build_station(station_row(listings=listings), districts=districts)
    assert mapped_state(s) is MappedState.FULL


def test_bulk_mapped_states_equal_one_by_one(districts):
    from stations.domain.listings import mapped_states
    from stations.services.demo import sample_rows

    sample = [build_station(r, districts=districts) for r in sample_rows(districts, total=400)]
    for threshold in (20.0, 50.0, 300.0):
        one = [mapped_state(s, threshold_m=threshold) for s in sample]
        assert mapped_states(sample, threshold_m=threshold) == one
    assert {m.value for m in mapped_states(sample)} == {"full", "partial", "none"}


def test_a_file_row_gets_the_same_text_rules_but_its_extra_columns_are_no_error(districts):
    # Rows from a spreadsheet: unknown columns are reported beside the upload, not here.
    row = station_row(备注="其他列", contact_phone=13800138000.0, address="民族路1号\n2楼")
    s = build_station(row, districts=districts)
    assert (s.contact_phone, s.address) == ("13800138000", "民族路1号\n2楼")
    with pytest.raises(ValidationError) as exc:
        build_station(row, districts=districts, strict=True)
    assert {(p.field, p.code) for p in exc.value.problems} == {("备注", "unknown_field")}
    for bad in ({"name": "驿站\x00"}, {"host": "\u202e会工"}, {"external_id": "A\tB"}):
        with pytest.raises(ValidationError) as exc:
            build_station(station_row(**bad), districts=districts)
        assert {(p.field, p.code) for p in exc.value.problems} == {
            (next(iter(bad)), "control_character")
        }


def test_a_refused_control_character_is_reported_written_out(districts):
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(name="驿站\x00"), districts=districts)
    assert exc.value.problems[0].as_dict()["value"] == "驿站\\u0000"


def test_an_excel_checked_at_cell_is_read_and_checked(districts):
    from datetime import datetime

    row = station_row(amap_listed="是", amap_checked_at=datetime(2025, 6, 30, 10, 0))
    s = build_station(row, districts=districts)
    assert s.listings[0].checked_at.isoformat() == "2025-06-30T10:00:00+08:00"
    with pytest.raises(ValidationError) as exc:
        build_station({**row, "amap_checked_at": datetime(1900, 1, 1)}, districts=districts)
    assert codes(exc) == {"time_out_of_range"}


# --- stations near a district border ------------------------------------------------------


def _brute_force_distance_m(districts, adcode, lon, lat):
    import numpy as np
    import shapely
    from pyproj import Geod

    geometry = districts.get(adcode).geometry
    dense = shapely.get_coordinates(shapely.segmentize(shapely.boundary(geometry), 1e-5))
    n = len(dense)
    _, _, each = Geod(ellps="WGS84").inv(np.full(n, lon), np.full(n, lat), dense[:, 0], dense[:, 1])
    return float(np.min(each))


def test_union_station_just_across_the_border_is_its_own_with_a_warning(districts):
    lon, lat = point_beyond_border(districts, "500103", "500105", 150)  # in 江北, near 渝中
    assert districts.lookup(lon, lat) == "500105"
    notes = []
    s = build_station(
        station_row(lon=lon, lat=lat), districts=districts, border_tolerance_m=400, warnings=notes
    )
    assert s.district_adcode == "500103" and s.owner == Owner(OwnerKind.DISTRICT, "500103")
    assert [n.code for n in notes] == ["near_district_border"]
    message = notes[0].message
    assert message.startswith("位置靠近区界")
    assert "江北区" in message and "渝中区" in message
    said_m = float(message.split("边界 ")[1].split(" 米")[0])
    assert said_m == pytest.approx(_brute_force_distance_m(districts, "500103", lon, lat), abs=1)


def test_union_station_copied_from_amap_near_the_border_is_accepted(districts):
    lon, lat = point_beyond_border(districts, "500103", "500105", 250)
    g = from_wgs84(lon, lat, crs="gcj02")
    notes = []
    s = build_station(
        station_row(lon=g[0], lat=g[1]), districts=districts, crs="gcj02", warnings=notes
    )
    assert s.district_adcode == "500103"
    assert distance_m(s.lon, s.lat, lon, lat) < 0.01
    assert [n.code for n in notes] == ["near_district_border"]


def test_beyond_the_tolerance_it_is_refused_naming_where_it_lies(districts):
    lon, lat = point_beyond_border(districts, "500103", "500105", 800)
    notes = []
    with pytest.raises(ValidationError) as exc:
        build_station(
            station_row(lon=lon, lat=lat),
            districts=districts,
            border_tolerance_m=400,
            warnings=notes,
        )
    assert codes(exc) == {"outside_own_district"}
    message = exc.value.problems[0].message
    assert "江北区" in message and "渝中区" in message and "400 米" in message


def test_the_tolerance_is_a_setting(districts):
    lon, lat = point_beyond_border(districts, "500103", "500105", 150)
    with pytest.raises(ValidationError) as exc:
        build_station(station_row(lon=lon, lat=lat), districts=districts, border_tolerance_m=0)
    assert codes(exc) == {"outside_own_district"}
    wide = build_station(
        station_row(lon=lon, lat=lat), districts=districts, border_tolerance_m=1000
    )
    assert wide.district_adcode == "500103"


def test_inside_its_own_district_no_warning_and_others_file_by_position(districts):
    notes = []
    assert (
        build_station(station_row(), districts=districts, warnings=notes).district_adcode
        == "500103"
    )
    assert notes == []
    lon, lat = point_beyond_border(districts, "500103", "500105", 150)
    city = build_station(
        station_row(owner="industry:transport", lon=lon, lat=lat),
        districts=districts,
        warnings=notes,
    )
    assert city.district_adcode == "500105" and notes == []


def test_a_district_union_s_station_outside_chongqing_says_how_far_and_the_crs_hint(districts):
    # North of 合川区, in Sichuan: no district of the layer holds it.
    lon, lat = 105.99703623832491, 30.3880
    assert districts.lookup(lon, lat) == ""
    gap_m = districts.distance_m("500117", lon, lat)
    assert 500 < gap_m < 1500
    row = station_row(owner="district:500117", lon=lon, lat=lat)
    with pytest.raises(ValidationError) as exc:
        build_station(row, districts=districts, border_tolerance_m=400)
    (problem,) = exc.value.problems
    assert problem.code == "outside_districts"
    assert "合川区" in problem.message and f"{gap_m:,.0f} 米" in problem.message
    assert "gcj02" in problem.message  # the usual cause: a position in another system


@pytest.mark.parametrize(
    ("lon", "lat", "verdict"),
    [
        (106.58, 29.55, PositionVerdict.IN_CHINA),
        (29.55, 106.58, PositionVerdict.SWAPPED),  # lat > 90: not a position, but swapped
        (29.55, 80.0, PositionVerdict.SWAPPED),  # a position (the Arctic), read the wrong way
        (2.35, 48.85, PositionVerdict.OUTSIDE_CHINA),
        (200.0, 100.0, PositionVerdict.NOT_A_POSITION),
    ],
)
def test_one_rule_says_where_a_position_is(lon, lat, verdict):
    # The query points of the read API (api/deps.parse_point) and the records' positions
    # are judged by this one function; each caller words the verdict for its user.
    assert position_verdict(lon, lat) is verdict
