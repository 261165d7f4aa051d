"""Issue 18, faster uploads: the columnar dry run and the bulk commit give exactly the
reports and registry the row-by-row code gave (frozen in upload_reference.py).

Every row's action, messages (their order and text), warnings, cells, planned station,
the counts and notes; after a commit, the same stations row for row and the same audit
trail. The corpus: the bench file (a GBK CSV in GCJ-02), the same file against a
registry already holding part of it (updates, unchanged rows, duplicates), and
hypothesis sheets of broken rows.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geodata.crs import from_wgs84
from geodata.districts import Districts
from stations.domain import validation
from stations.domain.auth import Principal, Role
from stations.domain.changes import Create
from stations.domain.codes import is_valid
from stations.domain.errors import DuplicateStationError
from stations.domain.records import station_to_dict
from stations.domain.validation import ValidationError, build_station
from stations.formats.io import read_rows
from stations.services import uploads
from stations.storage import stations_repo
from stations.storage.open import open_store
from stations.storage.store import Store
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, point_beyond_border
from tests.stations.services import upload_reference

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import upload as bench_upload

ADMIN = Principal("t", "市总工会", Role.ADMIN, None)
YUZHONG = Principal("t2", "渝中区总工会", Role.DISTRICT, "500103")


def _report(store: Store, upload_id: str) -> tuple[Any, ...]:
    up = store.get_upload(upload_id)
    rows = list(store.iter_upload_rows(upload_id))
    return (up.counts, up.notes, up.columns, up.unknown_columns, up.crs, rows)


def _both(store: Store, rows: list[tuple[int, dict[str, Any]]], **kw: Any) -> None:
    """Plan ``rows`` with the reference and the product planner; the reports are equal."""
    old = upload_reference.plan_upload(iter(rows), store=store, filename="f.csv", **kw)
    new = uploads.plan_upload(iter(rows), store=store, filename="f.csv", **kw)
    want, got = _report(store, old.id), _report(store, new.id)
    assert got[:5] == want[:5]
    assert len(got[5]) == len(want[5])
    for a, b in zip(got[5], want[5], strict=True):
        assert a == b, (a, b)


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("golden") / "stations.csv"
    bench_upload.make_file(path, 1500, 7)
    return path


def _file_rows(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, str]]:
    source = read_rows(path)
    return list(source.rows), source.columns


def test_the_bench_file_plans_to_the_same_report(any_store, districts, bench_file):
    rows, columns = _file_rows(bench_file)
    _both(any_store, rows, districts=districts, by=ADMIN, crs="gcj02", columns=columns)


def test_against_a_registry_holding_part_of_the_file_the_same_report(
    any_store, districts, bench_file
):
    rows, columns = _file_rows(bench_file)
    seed = uploads.plan_upload(
        iter(rows[:600]),
        store=any_store,
        districts=districts,
        by=ADMIN,
        filename="a.csv",
        crs="gcj02",
        columns=columns,
    )
    uploads.commit_upload(any_store, seed.id, by=ADMIN, accepted_only=True)
    # Some rows moved a little (updates), some renamed, one repeated (duplicate in file).
    changed = []
    for number, raw in rows:
        raw = dict(raw)
        if number % 7 == 0:
            raw["lon"] = str(float(raw["lon"]) + 0.00011)
        if number % 11 == 0:
            raw["name"] = raw["name"] + "二"
        changed.append((number, raw))
    changed.append((len(rows) + 2, dict(rows[3][1])))
    _both(any_store, changed, districts=districts, by=ADMIN, crs="gcj02", columns=columns)
    # A full list of the district's own stations, without codes for some.
    mine = [
        (n, {**r, "external_id": "" if n % 3 == 0 else r["external_id"], "owner": ""})
        for n, r in changed
        if r.get("owner") == "district:500103"
    ]
    _both(any_store, mine, districts=districts, by=YUZHONG, crs="gcj02", full_list=True)


# -- hypothesis: sheets of broken rows ------------------------------------------------------


def _gcj(lon: float, lat: float) -> tuple[float, float]:
    x, y = from_wgs84(lon, lat, crs="gcj02")
    return float(x), float(y)


_TEXTS = st.sampled_from(
    [
        "",
        " ",
        "解放碑工会驿站",
        "江北驿站",
        "驿站\u202e",
        "x" * 300,
        "观音桥（示例）",
        "渝中区 驿站",
    ]
)
_HOURS = st.sampled_from(
    [
        "24小时",
        "周一至周五 9:00-18:00",
        "工作日 8:00-20:00，周末 10:00-16:00",
        "Mo-Fr 08:00-20:00; PH off",
        "全天",
        "9点到下午6点",
        "",
        "25:00-26:00",
        "周一至周日 08:30-17:30 节假日照常",
        "x" * 300,
    ]
)
_WORDS = st.sampled_from(
    [
        "热水、微波炉",
        "hot_water,toilet",
        "飞机场",
        "",
        "卫生间;WiFi;充电",
        "qr",
        "刷脸、瞬移",
        "1",
        "热水、飞机场" * 60,  # longer than what is read once per distinct text
    ]
)
_OWNERS = st.sampled_from(
    [
        "",
        "district:500103",
        "district:500105",
        "industry:transport",
        "nonsense",
        "district:999999",
        "district:" + "5" * 300,
    ]
)
_CRS = st.sampled_from(["", "gcj02", "bd09", "wgs84", "cgcs2000", "高德", "mars"])


def _positions(districts: Districts) -> st.SearchStrategy[tuple[Any, Any]]:
    near_border = point_beyond_border(districts, "500103", "500105", 120)
    far_border = point_beyond_border(districts, "500103", "500105", 900)
    fixed = [
        JIEFANGBEI,
        GUANYINQIAO,
        WANZHOU,
        _gcj(*JIEFANGBEI),
        near_border,
        _gcj(*near_border),
        far_border,
        (29.557, 106.5772),  # swapped
        (2.35, 48.85),  # Paris
        (116.40, 39.90),  # Beijing: in China, in no district of Chongqing
        (500.0, 1.0),
        ("abc", "29.5"),
        ("１０６．５７７２", "２９．５５７"),
        ("nan", "inf"),
        ("", "29.5"),
        (106, 29),
        (True, 29.5),
        ("106.5772 ", " 29.5570"),
        ("\t106.5772", "29.557\n"),  # ASCII read without normalisation: the same floats
        ("1.065772e2", "29.557"),
        ("106.5772", "２９.557"),
    ]
    jitter = st.tuples(
        st.floats(106.3, 106.8, allow_nan=False), st.floats(29.4, 29.8, allow_nan=False)
    )
    return st.one_of(st.sampled_from(fixed), jitter)


def _sheet(districts: Districts) -> st.SearchStrategy[list[dict[str, Any]]]:
    row = st.fixed_dictionaries(
        {
            "external_id": st.sampled_from(["", "A1", "A2", "A3", "YZ-001", "\x00x", " A1 "]),
            "name": _TEXTS,
            "address": _TEXTS,
            "owner": _OWNERS,
            "crs": _CRS,
            "position": _positions(districts),
            "hours": _HOURS,
            "amenities": _WORDS,
            "entry_methods": _WORDS,
            "self_service_24h": st.sampled_from(["", "是", "否", "maybe", 1, 2]),
            # yes/no cells are read once per distinct text: odd spellings and non-text too
            "registration_required": st.sampled_from(
                ["", " 是 ", "YES", "√", "无", 0, 1.0, 0.5, "是" * 100, " "]
            ),
            "signage_unified": st.sampled_from(["", "否", "Y", "maybe", " YES", 1]),
            # a listing cell that is blank gives no listing; one that is not does
            "tencent_listed": st.sampled_from(["", " ", "是", "不知道"]),
            "contact_phone": st.sampled_from(["", "13800138000", "12", "023-6388 8888转123"]),
            "amap_poi_id": st.sampled_from(["", "B0FFG", "x" * 80]),
            "status": st.sampled_from(["", "active", "筹建中", "gone"]),
        }
    )
    return st.lists(row, min_size=1, max_size=25)


def _as_rows(sheet: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for i, r in enumerate(sheet, start=2):
        raw = {k: v for k, v in r.items() if k != "position"}
        raw["lon"], raw["lat"] = r["position"]
        out.append((i, {k: v for k, v in raw.items() if v != ""}))
    return out


@pytest.fixture(scope="module")
def golden_store(tmp_path_factory: pytest.TempPathFactory, districts: Districts) -> Any:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('h') / 'r.sqlite3'}")
    seed = [
        (2, {**dict(_as_rows([_example()])[0][1]), "external_id": "A2"}),
        (3, {**dict(_as_rows([_example()])[0][1]), "external_id": "YZ-001", "name": "江北驿站"}),
    ]
    up = uploads.plan_upload(
        iter(seed), store=store, districts=districts, by=ADMIN, filename="s", crs="wgs84"
    )
    uploads.commit_upload(store, up.id, by=ADMIN)
    yield store
    store.close()


def _example() -> dict[str, Any]:
    return {
        "external_id": "A1",
        "name": "解放碑工会驿站",
        "address": "民族路",
        "owner": "district:500103",
        "crs": "",
        "position": JIEFANGBEI,
        "hours": "24小时",
        "amenities": "热水",
        "entry_methods": "qr",
        "self_service_24h": "是",
        "contact_phone": "",
        "amap_poi_id": "",
        "status": "",
    }


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_broken_sheets_plan_to_the_same_report(golden_store, districts, data):
    sheet = data.draw(_sheet(districts))
    crs = data.draw(st.sampled_from([None, "gcj02", "wgs84", "bd09"]))
    by = data.draw(st.sampled_from([ADMIN, YUZHONG]))
    full_list = data.draw(st.booleans()) and by is YUZHONG
    rows = _as_rows(sheet)
    _both(golden_store, rows, districts=districts, by=by, crs=crs, full_list=full_list)


# -- the bulk commit ------------------------------------------------------------------------


def _registry(store: Store) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """Every station and audit entry, without what a commit's clock and dice decide (the
    time, the random public code: checked apart)."""

    def plain(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if doc is None else {k: v for k, v in doc.items() if k not in _CLOCK_DICE}

    stations, codes = [], {}
    for s in store.iter_all():
        assert s.code is not None and is_valid(s.code)
        assert store.station_for_code(s.code) == s.id
        stations.append(plain(station_to_dict(s)))
        codes[s.id] = s.code
    entries = store.audit()
    audit = [
        (e.id, e.station_id, e.batch_id, e.actor, e.action, plain(e.before), plain(e.after))
        for e in entries
    ]
    for e in entries:  # the audit's record is the station as stored, its code included
        if e.after is not None and e.action == "create" and e.station_id in codes:
            assert e.after["code"] == codes[e.station_id]
    return stations, audit


_CLOCK_DICE = {"updated_at", "code"}


def _commit_all(
    store: Store, districts: Districts, sheets: list[list[Any]], *, history: bool = False
) -> None:
    if history:
        store.mapped_history_days(threshold_m=50.0)  # kept from now on, by every write
    for rows in sheets:
        up = uploads.plan_upload(
            iter(rows), store=store, districts=districts, by=ADMIN, filename="f", crs="gcj02"
        )
        uploads.commit_upload(store, up.id, by=ADMIN, accepted_only=True)


@pytest.mark.parametrize("history", [True, False], ids=["history_kept", "no_history"])
def test_a_bulk_commit_leaves_the_registry_and_audit_of_one_by_one(
    any_store, tmp_path, districts, bench_file, monkeypatch, history
):
    rows, _ = _file_rows(bench_file)
    moved = [(n, {**r, "lon": str(float(r["lon"]) + 0.0002)}) for n, r in rows[:700]]
    sheets = [rows[:1100], moved + rows[1100:]]  # creates; then updates among creates
    monkeypatch.setattr(stations_repo._Touched, "_PAGE", 64)  # the history folded by pages
    _commit_all(any_store, districts, sheets, history=history)
    reference = open_store(f"sqlite:///{tmp_path / 'one_by_one.sqlite3'}")
    try:
        monkeypatch.setattr(type(reference), "_BULK_ROWS", 1)  # each on its own, as before
        _commit_all(reference, districts, sheets, history=history)
        assert _registry(any_store) == _registry(reference)
        days = any_store.mapped_history_days(threshold_m=50.0)
        assert days == reference.mapped_history_days(threshold_m=50.0)
        assert days[-1][1] == 1500
        assert len(_registry(any_store)[0]) == 1500
    finally:
        reference.close()


def test_a_commit_failing_part_way_changes_nothing(any_store, districts, bench_file):
    rows, _ = _file_rows(bench_file)
    _commit_all(any_store, districts, [rows[:10]])
    before = _registry(any_store), any_store.data_version()
    taken = any_store.iter_all().__next__()

    def changes() -> Any:  # 1,200 new stations (a whole bulk run, then part of one)…
        for _, r in rows[10:1210]:
            st = build_station(r, districts=districts, crs="gcj02")
            yield Create(st)
        yield Create(taken.with_changes(id=None))  # …and one whose code is taken

    with pytest.raises(DuplicateStationError):
        any_store.apply(changes(), actor="t")
    assert (_registry(any_store), any_store.data_version()) == before

    def broken() -> Any:
        yield from list(changes())[:1100]
        raise RuntimeError("the reader failed")

    with pytest.raises(RuntimeError):
        any_store.apply(broken(), actor="t")
    assert (_registry(any_store), any_store.data_version()) == before


def test_a_long_cell_is_read_each_time_never_kept(districts):
    # A hostile file's 128 KiB cells would otherwise fill the per-text memos.
    before = (validation._list_text.cache_info().currsize, validation._owner_of.cache_info())
    row = {
        "external_id": "L1",
        "name": "驿站",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "24小时",
        "owner": "x" * 100_000,
        "amenities": "飞机场" * 40_000,
        "contact_phone": "1" * 100_000,
    }
    with pytest.raises(ValidationError) as caught:
        build_station(row, districts=districts, crs="wgs84")
    assert {p.code for p in caught.value.problems} >= {"invalid_owner", "unknown_amenity"}
    after = (validation._list_text.cache_info().currsize, validation._owner_of.cache_info())
    assert after[0] == before[0] and after[1].currsize == before[1].currsize


def test_two_bulk_commits_at_once_both_land_with_distinct_ids_and_codes(
    any_store, districts, bench_file
):
    rows, _ = _file_rows(bench_file)
    plans = [
        uploads.plan_upload(
            iter(part), store=any_store, districts=districts, by=ADMIN, filename="f", crs="gcj02"
        )
        for part in (rows[:1200], rows[1200:])
    ]
    errors: list[BaseException] = []

    def commit(upload_id: str) -> None:
        try:
            uploads.commit_upload(any_store, upload_id, by=ADMIN)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=commit, args=(p.id,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stations, audit = _registry(any_store)  # codes valid, each its station's
    assert len(stations) == len(rows) == len({s["id"] for s in stations})
    assert sorted(e[1] for e in audit) == sorted(s["id"] for s in stations)


def _both_files(store: Store, path: Path, **kw: Any) -> None:
    """Plan the file read twice: the reference a row at a time, the product (a CSV's plain
    rows a chunk at a time); the reports are equal."""
    old = upload_reference.plan_upload(
        read_rows(path).rows, store=store, filename="f.csv", columns=read_rows(path).columns, **kw
    )
    source = read_rows(path)
    new = uploads.plan_upload(
        source.rows, store=store, filename="f.csv", columns=source.columns, **kw
    )
    want, got = _report(store, old.id), _report(store, new.id)
    assert got[:5] == want[:5]
    assert len(got[5]) == len(want[5])
    for a, b in zip(got[5], want[5], strict=True):
        assert a == b, (a, b)


def test_a_csv_of_plain_and_broken_rows_read_in_chunks_plans_to_the_same_report(
    any_store, districts, bench_file, tmp_path
):
    import csv

    with bench_file.open(encoding="gb18030", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    seed = tmp_path / "seed.csv"
    with seed.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *rows[:300]])
    _both_files(any_store, bench_file, districts=districts, by=ADMIN, crs="gcj02")
    first = uploads.plan_upload_file(
        seed,
        filename="seed.csv",
        crs=from_crs("gcj02"),
        store=any_store,
        districts=districts,
        by=ADMIN,
        limits=upload_reference_limits(),
    )
    uploads.commit_upload(any_store, first.id, by=ADMIN)
    mixed = []
    for i, r in enumerate(rows[:700]):
        r = list(r)
        if i % 13 == 0:
            r[4] = str(float(r[4]) + 0.0002)  # an update of a registered station
        if i % 17 == 0:
            r[0] = rows[0][0]  # a code the file repeats
        if i % 19 == 0:
            r[4] = "abc"
        if i % 23 == 0:
            r[6] = "瞎写"
        if i % 29 == 0:
            r[0] = ""  # no code: matched by name and position
        if i % 31 == 0:
            r[2] = "'=" + r[2]  # our export's formula quote
        if i % 37 == 0:
            r = r[:5]  # a short row
        if i % 41 == 0:
            r[1] = "district:500105"  # maybe not where it lies
        if i % 43 == 0:
            r[2] = " " + r[2] + "\x00"
        mixed.append(r)
    mixed.append(["合计", "", "", "", "", ""])
    path = tmp_path / "mixed.csv"
    with path.open("w", encoding="gb18030", newline="") as fh:
        csv.writer(fh).writerows([header, *mixed])
    _both_files(any_store, path, districts=districts, by=ADMIN, crs="gcj02")
    _both_files(any_store, path, districts=districts, by=YUZHONG, crs="gcj02", full_list=True)


def from_crs(text: str) -> Any:
    from geodata.crs import parse_crs

    return parse_crs(text)


def upload_reference_limits() -> Any:
    from stations.formats.limits import DEFAULT_LIMITS

    return DEFAULT_LIMITS
