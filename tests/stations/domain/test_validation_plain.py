"""Issue 18: plain_station, the fast reading of a plain valid upload row, makes exactly the
Station build_station makes of it, and leaves every other row (each problem, each
warning) to build_station."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.crs import from_wgs84
from geodata.districts import Districts
from stations.domain.model import Owner
from stations.domain.validation import (
    Problem,
    ValidationError,
    build_station,
    convert_positions,
    plain_station,
)
from stations.formats.io import read_rows
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, point_beyond_border


def _mostly(good: list[Any], odd: list[Any]) -> st.SearchStrategy[Any]:
    """A cell that is mostly one build_station takes (so that rows are often wholly valid),
    sometimes one it refuses or reads otherwise."""
    return st.integers(0, 11).flatmap(lambda i: st.sampled_from(good if i else odd))


_TEXT = _mostly(
    ["解放碑驿站", " 解放碑驿站 ", "两行\n文字", "名"],
    ["", " ", "a\x00b", "a\u202eb", "长" * 201],
)
_CODE = _mostly(["A1", " A2 ", "YZ-001"], ["", "A\tB", "A\nB", "x" * 65])
_PHONE = _mostly(["", "13800138000", "无"], ["12", "023-6388 8888转123", "１３８００１３８０００"])
_OWNER = _mostly(
    ["", "district:500103", "500105"], ["industry:transport", "nonsense", "district:999999"]
)
_CRS = _mostly(["", "gcj02", "wgs84"], ["bd09", "高德", "mars"])
_HOURS = _mostly(["24小时", "周一至周五 9:00-18:00", "Mo-Fr 08:00-20:00"], ["", "全天", "瞎写"])
_WORDS = _mostly(["", "热水、微波炉", "hot_water,toilet", "qr"], ["飞机场", "刷脸、指纹"])
_YES = _mostly(["", "否", "是"], ["maybe", " 是 ", "√"])
_STATUS = _mostly(["", "active", "closed"], ["筹建中", "gone"])


def _gcj(lon: float, lat: float) -> tuple[float, float]:
    return from_wgs84(lon, lat, crs="gcj02")


def _positions(districts: Districts) -> st.SearchStrategy[tuple[str, str]]:
    near = point_beyond_border(districts, "500103", "500105", 120)
    far = point_beyond_border(districts, "500103", "500105", 900)
    points = [JIEFANGBEI, GUANYINQIAO, WANZHOU, _gcj(*JIEFANGBEI), near, far, (116.4, 39.9)]
    fixed = st.sampled_from([(repr(x), repr(y)) for x, y in points])
    odd = st.sampled_from(
        [
            ("29.557", "106.5772"),  # swapped
            ("abc", "29.5"),
            ("１０６．５７７２", "２９．５５７"),
            ("nan", "inf"),
            ("", "29.5"),
            ("106.5772 ", " 29.5570"),
            ("1.065772e2", "29.557"),
            ("106_5772", "29.557"),
        ]
    )
    jitter = st.tuples(st.floats(106.3, 106.8), st.floats(29.4, 29.8)).map(
        lambda p: (repr(p[0]), repr(p[1]))
    )
    return st.integers(0, 7).flatmap(lambda i: (odd, fixed, jitter)[min(i, 2)])


def _row(districts: Districts) -> st.SearchStrategy[dict[str, Any]]:
    cells = st.fixed_dictionaries(
        {
            "external_id": _CODE,
            "name": _TEXT,
            "address": _TEXT,
            "host": _TEXT,
            "brand": _TEXT,
            "contact_phone": _PHONE,
            "owner": _OWNER,
            "crs": _CRS,
            "position": _positions(districts),
            "hours": _HOURS,
            "hours_text": _mostly([""], ["全天", "a\x01"]),
            "amenities": _WORDS,
            "entry_methods": _WORDS,
            "self_service_24h": _YES,
            "registration_required": _YES,
            "signage_unified": _YES,
            "sample": _YES,
            "status": _STATUS,
            # what plain_station leaves to build_station: a listing, a timetable, non-text
            "extra": _mostly(
                [{}],
                [
                    {"amap_poi_id": "B0FFG"},
                    {"mobile": "是"},
                    {"stops": "x"},
                    {"sample": 1},
                    {"mobile": "否", "stops": " "},  # the template's columns, a fixed station
                    {"mobile": "", "stops": ""},
                    {"mobile": "否", "stops": "站 | 106.5,29.5 | 周一 10:00-12:00"},
                    {"mobile": "maybe"},
                ],
            ),
        }
    )

    def as_raw(r: dict[str, Any]) -> dict[str, Any]:
        raw = {k: v for k, v in r.items() if k not in ("position", "extra")}
        raw["lon"], raw["lat"] = r["position"]
        raw.update(r["extra"])
        return {k: v for k, v in raw.items() if v != "" or k in ("mobile", "stops")}

    return cells.map(as_raw)


def _built(raw: dict[str, Any], **kw: Any) -> tuple[Any, list[Problem]]:
    warnings: list[Problem] = []
    try:
        return build_station(raw, warnings=warnings, **kw), warnings
    except ValidationError as exc:
        return exc, warnings


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_plain_row_reads_as_build_station_reads_it(districts, data):
    rows = data.draw(st.lists(_row(districts), min_size=1, max_size=8))
    crs = data.draw(st.sampled_from(["gcj02", "wgs84", "bd09"]))
    owner = data.draw(st.sampled_from([None, Owner.parse("district:500103")]))
    converted = convert_positions(rows, crs=crs, districts=districts)
    for raw in rows:
        fast = plain_station(raw, districts=districts, crs=crs, owner=owner, converted=converted)
        built, warnings = _built(
            raw, districts=districts, crs=crs, owner=owner, converted=converted
        )
        if fast is not None:
            assert built == fast
            assert warnings == []  # a row with a warning is build_station's to word


@pytest.fixture(scope="module")
def bench_rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    import upload as bench_upload

    path = tmp_path_factory.mktemp("plain") / "stations.csv"
    bench_upload.make_file(path, 600, 11)
    return [raw for _, raw in read_rows(path).rows]


def test_the_rows_of_a_clean_sheet_all_take_the_fast_reading(districts, bench_rows):
    converted = convert_positions(bench_rows, crs="gcj02", districts=districts)
    for raw in bench_rows:
        fast = plain_station(raw, districts=districts, crs="gcj02", owner=None, converted=converted)
        assert fast is not None, raw
        assert fast == build_station(raw, districts=districts, crs="gcj02", converted=converted)


_VALID = {
    "external_id": "A1",
    "name": "解放碑工会驿站",
    "address": "民族路",
    "owner": "district:500103",
    "lon": repr(JIEFANGBEI[0]),
    "lat": repr(JIEFANGBEI[1]),
    "hours": "24小时",
    "amenities": "热水、微波炉",
    "entry_methods": "扫码",
    "self_service_24h": "是",
    "contact_phone": "13800138000",
}


@pytest.mark.parametrize(
    "cell",
    [
        {"contact_phone": "12"},
        {"name": " "},
        {"external_id": "A\nB"},
        {"address": "a\x00b"},
        {"host": "长" * 201},
        {"hours": "瞎写"},
        {"amenities": "飞机场"},
        {"entry_methods": ""},  # a 24-hour self-service station says how one gets in
        {"status": "gone"},
        {"registration_required": "maybe"},
        {"owner": "district:500105"},  # not where it lies
        {"crs": "mars"},
        {"lon": "１０６．５７７２"},  # full-width: build_station's own reading
        {"amap_poi_id": "B0FFG"},  # a listing
        {"mobile": "是"},  # a timetable: build_station's
        {"sample": 1},  # not text
    ],
    ids=lambda cell: next(iter(cell)),
)
def test_a_row_with_anything_to_say_is_left_to_build_station(districts, cell):
    rows = [_VALID, {**_VALID, **cell}]
    converted = convert_positions(rows, crs="wgs84", districts=districts)
    valid = plain_station(
        rows[0], districts=districts, crs="wgs84", owner=None, converted=converted
    )
    assert valid == build_station(rows[0], districts=districts, crs="wgs84", converted=converted)
    assert (
        plain_station(rows[1], districts=districts, crs="wgs84", owner=None, converted=converted)
        is None
    )


@pytest.mark.parametrize("cells", [{"mobile": "", "stops": ""}, {"mobile": "否"}, {"stops": " "}])
def test_a_template_row_for_a_fixed_station_takes_the_fast_reading(districts, cells):
    """Sheets from the template carry 流动驿站 and 停靠点: blank or 否, the row is plain."""
    raw = {**_VALID, **cells}
    converted = convert_positions([raw], crs="wgs84", districts=districts)
    fast = plain_station(raw, districts=districts, crs="wgs84", owner=None, converted=converted)
    assert fast is not None and not fast.mobile
    assert fast == build_station(raw, districts=districts, crs="wgs84", converted=converted)


def _columns(rows: list[dict[str, Any]]) -> tuple[dict[str, list[str]], list[dict[str, Any]]]:
    """Rows of text cells as a CSV's chunk gives them: every row has every column."""
    keys = sorted({k for r in rows for k in r})
    full = [{k: r.get(k, "") for k in keys} for r in rows]
    return {k: [r[k] for r in full] for k in keys}, full


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_chunk_of_plain_rows_reads_as_plain_station_reads_each(districts, data):
    from stations.domain.records import station_to_dict
    from stations.domain.validation import plain_records

    rows = data.draw(st.lists(_row(districts), min_size=1, max_size=8))
    rows = [r for r in rows if all(type(v) is str for v in r.values())]
    if not rows:
        return
    crs = data.draw(st.sampled_from(["gcj02", "wgs84", "bd09"]))
    owner = data.draw(st.sampled_from([None, Owner.parse("district:500103")]))
    cells, full = _columns(rows)
    records = plain_records(cells, len(full), districts=districts, crs=crs, owner=owner)
    converted = convert_positions(full, crs=crs, districts=districts)
    for raw, record in zip(full, records, strict=True):
        fast = plain_station(raw, districts=districts, crs=crs, owner=owner, converted=converted)
        if record is not None:
            assert fast is not None, raw
            assert record == station_to_dict(fast)
            assert list(record) == sorted(record)  # as stored: keys sorted


def test_a_clean_sheet_reads_a_chunk_at_a_time_as_row_by_row(districts, bench_rows):
    from stations.domain.records import station_to_dict
    from stations.domain.validation import plain_records

    cells, full = _columns([dict(r) for r in bench_rows])
    records = plain_records(cells, len(full), districts=districts, crs="gcj02", owner=None)
    converted = convert_positions(full, crs="gcj02", districts=districts)
    for raw, record in zip(full, records, strict=True):
        fast = plain_station(raw, districts=districts, crs="gcj02", owner=None, converted=converted)
        assert record is not None and fast is not None, raw
        assert record == station_to_dict(fast)
