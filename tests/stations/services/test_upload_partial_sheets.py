"""A clerk's own ledger updates only what it has columns for: the 上图 listings, the host,
the brand, the 示例 mark, a bus's timetable a sheet does not mention stay as stored, whether
the sheet is a CSV (read a column at a time) or a workbook (row by row); a column it has
says its cells, blank ones included; and a kept 24小时 mark the sheet's new hours break is
refused on that row, with its cells."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest

from geodata.crs import from_wgs84
from stations.domain.auth import Principal, Role
from stations.domain.model import Provider
from stations.formats.io import FileLimits
from stations.services.uploads import commit_upload, plan_upload_file
from stations.storage.store import Store
from tests.builders import JIEFANGBEI, bus_row, listings_at, make_station

CLERK = Principal("clerk", "渝中区总工会", Role.DISTRICT, "500103")


@pytest.fixture
def store(any_store: Store) -> Store:
    return any_store


def _stored(store, districts, **kw):
    station = make_station(
        districts,
        listings=listings_at(*JIEFANGBEI),
        brand="暖心驿站",
        signage_unified=True,
        **kw,
    )
    return store.create(replace(station, sample=True), actor="test")


def _ledger(path: Path, header: list[str], *rows: list[str]) -> Path:
    """The union's ledger as a GBK CSV, or a workbook with a title row above the header."""
    if path.suffix == ".csv":
        with path.open("w", encoding="gbk", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    else:
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = "驿站台账"
        ws.append(["渝中区工会驿站台账（2026 年 12 月）"])
        ws.append(header)
        for r in rows:
            ws.append(r)
        wb.save(path)
    return path


def _plan(store, districts, path):
    return plan_upload_file(
        path,
        filename=path.name,
        crs="gcj02",
        store=store,
        districts=districts,
        by=CLERK,
        limits=FileLimits(),
    )


def _gcj(lon: float, lat: float) -> list[str]:
    """A position as a clerk copies it from Amap: GCJ-02, 6 decimals."""
    x, y = from_wgs84(lon, lat, crs="gcj02")
    return [f"{float(x):.6f}", f"{float(y):.6f}"]


LEDGER = ["序号", "驿站编号", "驿站名称", "详细地址", "经度（高德）", "纬度（高德）", "开放时间"]


def _ledger_row(station, *extra: str, name: str | None = None) -> list[str]:
    """A station's row of :data:`LEDGER` as it stands (``extra``: the cells of the columns
    after it)."""
    return [
        "1",
        station.external_id,
        station.name if name is None else name,
        station.address,
        *_gcj(station.lon, station.lat),
        station.hours_text,
        *extra,
    ]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_ledger_changes_what_it_has_columns_for_and_keeps_the_rest(
    store, districts, tmp_path, suffix
):
    was = _stored(store, districts)
    path = _ledger(
        tmp_path / f"台账{suffix}",
        LEDGER,
        [
            "1",
            was.external_id,
            was.name,
            "重庆市渝中区民族路 2 号",
            *_gcj(was.lon, was.lat),
            "每天 8:00-20:00",
        ],
    )
    up = _plan(store, districts, path)
    assert up.counts["update"] == 1 and up.counts["rejected"] == 0
    (row,) = [r for r in store.iter_upload_rows(up.id) if r.action == "update"]
    assert set(row.changed) == {"address", "hours"}  # nothing the sheet does not say
    commit_upload(store, up.id, by=CLERK)
    now = store.get(was.id)
    assert now.address == "重庆市渝中区民族路 2 号" and now.hours_text == "每天 8:00-20:00"
    # Kept as stored: the sheet has no column for them.
    assert now.listings == was.listings and now.listing(Provider.AMAP).poi_id == "B0FF1234"
    assert (now.host, now.brand, now.contact_phone) == (was.host, was.brand, was.contact_phone)
    assert now.signage_unified and now.sample
    assert (now.amenities, now.entry_methods) == (was.amenities, was.entry_methods)


def test_a_column_the_ledger_has_says_its_cells_blank_ones_too(store, districts, tmp_path):
    was = _stored(store, districts)
    path = _ledger(
        tmp_path / "台账.csv",
        [*LEDGER, "依托单位", "品牌", "高德POI"],
        _ledger_row(was, "", "新品牌", "B0NEW999"),
    )
    up = _plan(store, districts, path)
    commit_upload(store, up.id, by=CLERK)
    now = store.get(was.id)
    assert now.host == "" and now.brand == "新品牌"
    assert now.listing(Provider.AMAP).poi_id == "B0NEW999"
    # Baidu's listing: the sheet has no Baidu column, so it stays.
    assert now.listing(Provider.BAIDU) == was.listing(Provider.BAIDU)


def test_an_unchanged_ledger_row_plans_no_change(store, districts, tmp_path):
    was = _stored(store, districts)
    path = _ledger(
        tmp_path / "台账.xlsx",
        LEDGER,
        ["1", was.external_id, was.name, was.address, *_gcj(was.lon, was.lat), was.hours_text],
    )
    up = _plan(store, districts, path)
    assert up.counts["unchanged"] == 1 and up.counts["update"] == 0


def test_a_bus_keeps_its_timetable_when_the_ledger_has_no_stops(store, districts, tmp_path):
    from stations.domain.validation import build_station

    bus = store.create(build_station(bus_row(), districts=districts), actor="test")
    assert bus.mobile and bus.stops
    path = _ledger(
        tmp_path / "台账.csv",
        LEDGER,
        [
            "1",
            bus.external_id,
            "流动驿站一号车",
            bus.address,
            *_gcj(bus.lon, bus.lat),
            bus.hours_text or bus.hours,
        ],
    )
    up = _plan(store, districts, path)
    assert up.counts["update"] == 1, [r.problems for r in store.iter_upload_rows(up.id)]
    commit_upload(store, up.id, by=CLERK)
    now = store.get(bus.id)
    assert now.name == "流动驿站一号车" and now.mobile and now.stops == bus.stops


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_new_hours_that_break_a_kept_24_hour_mark_are_refused_on_their_row(
    store, districts, tmp_path, suffix
):
    was = _stored(store, districts, hours="24小时", self_service_24h=True, entry_methods="qr")
    path = _ledger(
        tmp_path / f"台账{suffix}",
        LEDGER,
        ["1", was.external_id, was.name, was.address, *_gcj(was.lon, was.lat), "每天 8:00-20:00"],
    )
    up = _plan(store, districts, path)
    assert up.counts["rejected"] == 1
    (row,) = list(store.iter_upload_rows(up.id))
    assert row.problems[0]["code"] == "self_service_not_24_7"
    assert "每天 8:00-20:00" in row.problems[0]["message"]
    assert row.cells["驿站编号"] == was.external_id  # the row's own cells, for fixing it
    assert store.get(was.id).version == was.version


def test_a_ledger_position_a_few_centimetres_off_is_the_same_place_a_real_move_is_not(
    store, districts, tmp_path
):
    """Copied from a map to 6 decimals and converted, a stored position comes back a few
    centimetres off: that is no move (nor a new version of every row of a re-uploaded
    ledger); 20 m is."""
    was = _stored(store, districts)
    near = _ledger(
        tmp_path / "台账.csv",
        LEDGER,
        ["1", was.external_id, was.name, "新地址", *_gcj(was.lon, was.lat), was.hours_text],
    )
    up = _plan(store, districts, near)
    (row,) = list(store.iter_upload_rows(up.id))
    assert row.changed == ("address",)
    commit_upload(store, up.id, by=CLERK)
    now = store.get(was.id)
    assert (now.lon, now.lat, now.source_crs) == (was.lon, was.lat, was.source_crs)
    moved = _ledger(
        tmp_path / "台账2.csv",
        LEDGER,
        [
            "1",
            was.external_id,
            was.name,
            "新地址",
            *_gcj(was.lon + 0.0002, was.lat),
            was.hours_text,
        ],
    )
    up = _plan(store, districts, moved)
    (row,) = list(store.iter_upload_rows(up.id))
    assert set(row.changed) == {"lon", "lat"}


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_sheets_district_column_is_checked_against_the_position(
    store, districts, tmp_path, suffix
):
    """A row whose 所属区县 names another district than its position lies in is filed by
    its position, with a warning naming both (it was ignored as an unknown column); one
    that agrees, or says nothing the layer knows, passes quietly."""
    header = ["驿站编号", "驿站名称", "所属区县", "经度（高德）", "纬度（高德）", "开放时间"]
    path = _ledger(
        tmp_path / f"台账{suffix}",
        header,
        ["Q1", "磁器口工会驿站", "沙坪坝区", *_gcj(*JIEFANGBEI), "每天 8:00-20:00"],
        [
            "Q2",
            "解放碑工会驿站",
            "渝中区",
            *_gcj(JIEFANGBEI[0] + 0.001, JIEFANGBEI[1]),
            "每天 8:00-20:00",
        ],
        [
            "Q3",
            "较场口工会驿站",
            "重庆市渝中区",
            *_gcj(JIEFANGBEI[0] + 0.002, JIEFANGBEI[1]),
            "每天 8:00-20:00",
        ],
        [
            "Q4",
            "七星岗工会驿站",
            "七星岗街道",
            *_gcj(JIEFANGBEI[0] + 0.003, JIEFANGBEI[1]),
            "每天 8:00-20:00",
        ],
    )
    up = _plan(store, districts, path)
    assert up.counts["create"] == 4 and up.counts["rejected"] == 0
    assert "所属区县" not in " ".join(up.unknown_columns)  # read, not passed over
    warned = {
        r.external_id: [w for w in r.warnings if w["code"] == "district_mismatch"]
        for r in store.iter_upload_rows(up.id)
    }
    assert [k for k, w in warned.items() if w] == ["Q1"]
    (w,) = warned["Q1"]
    assert w["column"] == "所属区县" and "沙坪坝区" in w["message"] and "渝中区" in w["message"]
    commit_upload(store, up.id, by=CLERK)
    assert store.find_by_external_id(CLERK.owner, "Q1").district_adcode == "500103"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_ledger_without_positions_updates_registered_stations_by_code(
    store, districts, tmp_path, suffix
):
    """Hours only, by code: the registered station keeps its position (and all the sheet
    does not say) and takes the new hours; a code not registered is refused saying that
    a new station needs a position (it said only 缺少必填项：经度 / 纬度)."""
    was = _stored(store, districts)
    path = _ledger(
        tmp_path / f"开放时间{suffix}",
        ["编号", "名称", "开放时间"],
        [was.external_id, was.name, "每天 8:00-20:00"],
        ["YZ-404", "新驿站", "每天 8:00-20:00"],
    )
    up = _plan(store, districts, path)
    assert (up.counts["update"], up.counts["rejected"]) == (1, 1)
    rows = {r.external_id: r for r in store.iter_upload_rows(up.id)}
    assert rows[was.external_id].changed == ("hours",)
    (problem,) = rows["YZ-404"].problems
    assert problem["code"] == "position_needed"
    assert "表格没有经纬度列" in problem["message"] and "YZ-404" in problem["message"]
    commit_upload(store, up.id, by=CLERK, accepted_only=True)
    now = store.get(was.id)
    assert now.hours_text == "每天 8:00-20:00"
    assert (now.lon, now.lat, now.source_crs, now.source_lon) == (
        was.lon,
        was.lat,
        was.source_crs,
        was.source_lon,
    )
    assert now.listings == was.listings and now.host == was.host


def _bus(store, districts):
    from stations.domain.validation import build_station

    return store.create(build_station(bus_row(), districts=districts), actor="test")


@pytest.mark.parametrize(("cell", "mobile"), [("是", True), ("", True), ("否", False)])
def test_a_buss_row_with_a_mobile_column_and_no_stops_column_keeps_its_timetable(
    store, districts, tmp_path, cell, mobile
):
    """是 or blank: the bus keeps its stops to the bit (是 was refused as 流动驿站 without
    停靠点; blank cleared the timetable); 否: it is a fixed station now, as the clerk says."""
    bus = _bus(store, districts)
    path = _ledger(
        tmp_path / "台账.csv",
        [*LEDGER, "流动驿站"],
        _ledger_row(bus, cell, name="一号车"),
    )
    up = _plan(store, districts, path)
    (row,) = list(store.iter_upload_rows(up.id))
    assert row.action == "update", row.problems
    commit_upload(store, up.id, by=CLERK)
    now = store.get(bus.id)
    assert now.name == "一号车" and now.mobile is mobile
    assert now.stops == (bus.stops if mobile else ())


def test_a_buss_row_with_stops_and_no_mobile_column_is_its_new_timetable(
    store, districts, tmp_path
):
    bus = _bus(store, districts)
    first = bus.stops[0]
    stops = f"{first.name} | {','.join(_gcj(first.lon, first.lat))} | 周日 9:00-12:00"
    path = _ledger(
        tmp_path / "台账.csv",
        [*LEDGER, "停靠点"],
        _ledger_row(bus, stops),
    )
    up = _plan(store, districts, path)
    (row,) = list(store.iter_upload_rows(up.id))
    assert row.action == "update", row.problems
    commit_upload(store, up.id, by=CLERK)
    now = store.get(bus.id)
    assert now.mobile and [s.hours_text for s in now.stops] == ["周日 9:00-12:00"]


def test_one_listing_column_changes_that_field_and_keeps_the_rest(store, districts, tmp_path):
    """A 高德POI column alone changes the POI, not whether, where or when it is listed
    (the whole Amap listing was taken from the row: listed place and check time lost)."""
    was = _stored(store, districts)
    path = _ledger(
        tmp_path / "台账.csv",
        [*LEDGER, "高德POI"],
        _ledger_row(was, "B0NEW999"),
    )
    up = _plan(store, districts, path)
    commit_upload(store, up.id, by=CLERK)
    now, before = store.get(was.id).listing(Provider.AMAP), was.listing(Provider.AMAP)
    assert now.poi_id == "B0NEW999"
    assert now == replace(before, poi_id="B0NEW999")
    assert store.get(was.id).listing(Provider.BAIDU) == was.listing(Provider.BAIDU)


def test_a_position_rounded_in_its_cells_is_a_move(store, districts, tmp_path):
    """106.58 / 29.554 (or with trailing zeros) is tens of metres from the stored place:
    a move, not the same place to its 2 or 3 decimals (the cell's number drops zeros)."""
    was = _stored(store, districts)
    x, y = (float(v) for v in _gcj(was.lon, was.lat))
    path = _ledger(
        tmp_path / "台账.csv",
        LEDGER,
        [
            "1",
            was.external_id,
            was.name,
            was.address,
            f"{x:.2f}0000",
            f"{y:.3f}000",
            was.hours_text,
        ],
    )
    up = _plan(store, districts, path)
    (row,) = list(store.iter_upload_rows(up.id))
    assert row.action == "update" and set(row.changed) == {"lon", "lat"}


def test_a_feature_without_a_property_others_have_keeps_that_field(store, districts, tmp_path):
    """And a GeoJSON of codes, names and brands alone (no hours) updates by code: the
    hours every station has are kept, as its position is a sheet without one."""
    import json

    one = _stored(store, districts)
    two = _stored(store, districts, external_id="YZ-002", lon=JIEFANGBEI[0] + 0.002)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [s.lon, s.lat]},
            "properties": {"编号": s.external_id, "名称": s.name, **extra},
        }
        for s, extra in ((one, {"品牌": "新品牌"}), (two, {}))
    ]
    path = tmp_path / "驿站.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), "utf-8")
    up = plan_upload_file(
        path,
        filename=path.name,
        crs=None,
        store=store,
        districts=districts,
        by=CLERK,
        limits=FileLimits(),
    )
    commit_upload(store, up.id, by=CLERK, accepted_only=True)
    assert store.get(one.id).brand == "新品牌"
    assert store.get(two.id).brand == "暖心驿站"  # its feature says nothing of it
