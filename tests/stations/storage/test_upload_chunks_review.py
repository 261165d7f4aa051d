"""Review of schema 12's chunked upload rows (s14): pages, filters and added warnings across
chunks of every shape, how many chunks a page decompresses, text a chunk's packing could
trip on, readers racing a removal, concurrent writers, and the schema 11 -> 12 migration's
atomicity in both stores. Each test pins what the per-row table (schema 11) answered."""

from __future__ import annotations

import json
import math
import random
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from stations.domain.records import station_to_dict
from stations.domain.uploads import PlannedCreate, UploadRow
from stations.storage import sqlite as sqlite_module
from stations.storage import uploads_repo
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station
from tests.stations.storage.test_upload_chunks import _upload
from tests.stores import postgis_schema, sqlite_schema

ACTIONS = ("create", "update", "close", "unchanged", "rejected")


def _row(seq: int, action: str, station: Any) -> UploadRow:
    if action == "rejected":
        return UploadRow(
            seq,
            seq + 1,
            "rejected",
            f"R{seq}",
            problems=({"code": "bad", "field": "lon", "message": "坏", "value": math.nan},),
            cells={"名称": f"行{seq}", "经度": "x"},
        )
    if action == "unchanged":
        return UploadRow(seq, seq + 1, "unchanged", f"U{seq}", seq, 1)
    if action == "close":
        return UploadRow(seq, None, "close", f"C{seq}", seq, 2, station, ("status",))
    return UploadRow(
        seq,
        seq + 1,
        action,
        f"X{seq}",
        None if action == "create" else seq,
        None if action == "create" else 3,
        station,
        () if action == "create" else ("name",),
    )


def _store_chunks(store: Any, upload_id: str, sizes: list[int], districts: Any, seed: int):
    """An upload stored in chunks of ``sizes`` rows (actions at random; closes last)."""
    rnd = random.Random(seed)
    station = make_station(districts, external_id="A1")
    store.create_upload(_upload(upload_id))
    seq, out = 0, []
    total = sum(sizes)
    for size in sizes:
        chunk = []
        for _ in range(size):
            seq += 1
            action = "close" if seq > total - 2 else rnd.choice(ACTIONS[:2] + ACTIONS[3:])
            chunk.append(_row(seq, action, station))
        store.add_upload_rows(upload_id, chunk)
        out.extend(chunk)
    return out


def _same(a: list[UploadRow], b: list[UploadRow]) -> None:
    assert repr(a) == repr(b)  # NaN is not equal to itself: compared as text


@pytest.mark.parametrize("sizes", [[7, 7, 3], [1], [1, 1, 1, 1], [10, 1, 10], [5, 13, 2, 8]])
def test_every_page_of_every_filter_is_the_slice_of_the_rows(any_store, districts, sizes):
    rows = _store_chunks(any_store, "u-pages", sizes, districts, seed=len(sizes))
    filters: list[Any] = [
        None,
        [],
        ["create"],
        ["rejected"],
        ["update", "close"],
        ["create", "create"],  # a name twice: counted once
        ["nothing"],
        ["rejected", "nothing"],
        list(ACTIONS),
    ]
    for actions in filters:
        wanted = [r for r in rows if not actions or r.action in actions]
        for offset in (0, 1, 2, 6, 7, 8, len(rows) - 1, len(rows), len(rows) + 5, 10**6):
            for limit in (None, 0, 1, 2, 3, 5, 7, 1000):
                got = list(
                    any_store.iter_upload_rows(
                        "u-pages", actions=actions, limit=limit, offset=offset
                    )
                )
                end = None if limit is None else offset + limit
                _same(got, wanted[offset:end])


def test_a_page_decompresses_only_the_chunks_it_shows(any_store, districts, monkeypatch):
    # 40 chunks of 25 rows; the rejected rows only in the last two chunks.
    station = make_station(districts, external_id="A1")
    any_store.create_upload(_upload("u-read"))
    seq = 0
    for n in range(40):
        chunk = []
        for _ in range(25):
            seq += 1
            chunk.append(_row(seq, "rejected" if n >= 38 else "update", station))
        any_store.add_upload_rows("u-read", chunk)
    opened: list[int] = []
    real = uploads_repo._unpack

    def counting(packed: bytes) -> list[bytes]:
        opened.append(1)
        return real(packed)

    monkeypatch.setattr(uploads_repo, "_unpack", counting)
    page = list(any_store.iter_upload_rows("u-read", limit=50, offset=510))
    assert [r.seq for r in page] == list(range(511, 561))
    assert len(opened) == 3  # rows 511-525, 526-550, 551-560
    opened.clear()
    page = list(any_store.iter_upload_rows("u-read", actions=["rejected"], limit=10, offset=30))
    assert [r.seq for r in page] == list(range(981, 991))
    assert len(opened) == 1
    opened.clear()
    assert list(any_store.iter_upload_rows("u-read", offset=10_000)) == []
    assert opened == []
    # A whole read (a commit's): one chunk open at a time, the next only when reached.
    opened.clear()
    stream = any_store.iter_planned_changes("u-read")
    for _ in range(25):
        next(stream)
    assert len(opened) == 1
    next(stream)
    assert len(opened) == 2
    stream.close()


def test_text_with_the_packings_own_separator_and_line_breaks_reads_back(any_store, districts):
    # A chunk's rows are apart by ",\n,": text holding it (or raw line breaks, NUL,
    # a quote, surrogate-free astral characters) must not split a row.
    tricky = ',\n,", \n,\r\n\u2028\u2029\t\\"𠀀😀'
    station = make_station(districts, external_id="A1", name="站" + tricky[:6])
    any_store.create_upload(_upload("u-text"))
    rows: list[Any] = [
        UploadRow(
            1,
            2,
            "rejected",
            tricky,
            problems=({"code": "bad", "field": tricky, "message": tricky, "value": tricky},),
            warnings=({"code": "w", "message": tricky},),
            cells={tricky: tricky, "大": "格" * 200_000, "inf": math.inf},
        ),
        UploadRow(2, 3, "update", "A1", 5, 2, station, ("name",), warnings=({"m": tricky},)),
        PlannedCreate(3, 4, tricky, station_to_dict(station), ({"code": "w", "message": tricky},)),
    ]
    any_store.add_upload_rows("u-text", rows)
    got = list(any_store.iter_upload_rows("u-text"))
    assert len(got) == 3
    assert got[0].external_id == tricky
    assert got[0].cells[tricky] == tricky and got[0].cells["大"] == "格" * 200_000
    assert got[0].cells["inf"] == math.inf
    assert got[0].problems[0]["value"] == tricky and math.isnan(math.nan)
    assert got[1].station == station and got[1].warnings == ({"m": tricky},)
    assert got[2].external_id == tricky and got[2].warnings == ({"code": "w", "message": tricky},)


def test_added_warnings_reach_only_the_rows_that_have_that_number(any_store, districts):
    # Row numbers with gaps (a chunk's range [first_row, last_row] holds numbers no row
    # has) and a row number repeated across a chunk boundary (the first row gets it).
    station = make_station(districts, external_id="A1")
    any_store.create_upload(_upload("u-warn"))
    any_store.add_upload_rows(
        "u-warn",
        [UploadRow(1, 2, "unchanged", "a", 1, 1), UploadRow(2, 9, "unchanged", "b", 2, 1)],
    )
    any_store.add_upload_rows(
        "u-warn",
        [UploadRow(3, 9, "unchanged", "c", 3, 1), UploadRow(4, 5, "update", "d", 4, 1, station)],
    )
    near = {"code": "possible_duplicate_nearby", "message": "近"}
    any_store.add_upload_warnings("u-warn", {5: near, 9: near, 4: near})
    got = {r.seq: r.warnings for r in any_store.iter_upload_rows("u-warn")}
    # Schema 11: row 9's first row (seq 2); row 5 is seq 4; no row 4.
    assert got == {1: (), 2: (near,), 3: (), 4: (near,)}


def test_a_reader_started_before_a_removal_reads_every_row_or_fails(any_store, districts):
    """Schema 11 answered a started read from one statement (SQLite: its snapshot; PostGIS:
    fetched): a plan removed meanwhile (purge of old dry runs, delete) did not cut it."""
    rows = _store_chunks(any_store, "u-gone", [10, 10, 10], districts, seed=3)
    stream = any_store.iter_upload_rows("u-gone")
    first = [next(stream) for _ in range(5)]
    removed: list[bool] = []  # by another request: another thread, its own connection
    other = threading.Thread(target=lambda: removed.append(any_store.delete_upload("u-gone")))
    other.start()
    other.join()
    assert removed == [True]
    try:
        rest = list(stream)
    except Exception:  # failing loudly is as good as the snapshot
        return
    _same([*first, *rest], rows)


def test_two_uploads_written_at_once_keep_their_own_rows(any_store, districts):
    station = make_station(districts, external_id="A1")
    for u in ("u-a", "u-b"):
        any_store.create_upload(_upload(u))
    errors: list[BaseException] = []

    def write(upload_id: str, ext: str) -> None:
        try:
            for start in range(0, 200, 20):
                any_store.add_upload_rows(
                    upload_id,
                    [
                        UploadRow(s, s + 1, "update", f"{ext}{s}", s, 1, station, ("name",))
                        for s in range(start + 1, start + 21)
                    ],
                )
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(u, u[-1])) for u in ("u-a", "u-b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for u in ("u-a", "u-b"):
        got = list(any_store.iter_upload_rows(u))
        assert [r.seq for r in got] == list(range(1, 201))
        assert {r.external_id[0] for r in got} == {u[-1]}
        assert len(list(any_store.iter_planned_changes(u))) == 200


# -- the schema 11 -> 12 migration, interrupted ----------------------------------------------

_OLD_UPLOAD = (
    "INSERT INTO uploads (id, actor, owner, filename, crs, full_list, created_at, base_version,"
    " planned, counts) VALUES (?, 't', NULL, 'f.csv', 'wgs84', 0, ?, 0, ?, '{}')"
)
_OLD_INSERT = (
    "INSERT INTO upload_rows (upload_id, seq, row, action, external_id, station_id, "
    "expected_version, station, changed, problems, warnings, cells) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _old_rows(upload_id: str, n: int, doc: str) -> list[tuple[Any, ...]]:
    return [
        (upload_id, s, s + 1, "update", f"S{s}", s, 2, doc, '["name"]', "[]", "[]", "{}")
        for s in range(1, n + 1)
    ]


def _sqlite_11(path: Path, districts: Any) -> None:
    doc = _old_doc(districts)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    sqlite_schema(conn, 11)  # schema 1 to 11, as those releases migrated
    created = _upload("x").created_at.isoformat()
    for u, planned in (("u-dry", 1), ("u-planning", 0)):
        conn.execute(_OLD_UPLOAD, (u, created, planned))
        conn.executemany(_OLD_INSERT, _old_rows(u, 1500, doc))
    conn.execute("COMMIT")
    conn.close()


def _old_doc(districts: Any) -> str:
    """A station's record as schema 11 stored it (JSON text)."""
    return json.dumps(station_to_dict(make_station(districts, external_id="A1")))


def _dying_after_one_chunk(backfill: Any) -> Any:
    """``backfill`` (backfill_schema_12) that fails as it writes its second chunk: the
    process dying part-way through the migration."""

    def dying(execute: Any) -> None:
        written = []

        def counted(sql: str, *args: Any) -> Any:
            if sql.startswith("INSERT INTO upload_rows"):
                written.append(sql)
                if len(written) == 2:
                    raise RuntimeError("power cut")
            return execute(sql, *args)

        backfill(counted)

    return dying


def test_an_interrupted_sqlite_migration_leaves_schema_11_whole(tmp_path, districts, monkeypatch):
    path = tmp_path / "old.sqlite3"
    _sqlite_11(path, districts)
    real = sqlite_module.backfill_schema_12
    monkeypatch.setattr(sqlite_module, "backfill_schema_12", _dying_after_one_chunk(real))
    with pytest.raises(RuntimeError, match="power cut"):
        SQLiteStore(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 11
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "upload_rows_v11" not in tables
    assert conn.execute("SELECT count(*) FROM upload_rows").fetchone()[0] == 3000
    assert conn.execute("SELECT count(*) FROM upload_rows WHERE row IS NOT NULL").fetchone()
    conn.close()
    monkeypatch.setattr(sqlite_module, "backfill_schema_12", real)
    store = SQLiteStore(path)  # the next start migrates it
    try:
        for u in ("u-dry", "u-planning"):
            got = list(store.iter_upload_rows(u))
            assert [r.seq for r in got] == list(range(1, 1501))
            assert len(list(store.iter_planned_changes(u))) == 1500
        assert [r.seq for r in store.iter_upload_rows("u-dry", limit=4, offset=998)] == [
            999,
            1000,
            1001,
            1002,
        ]
    finally:
        store.close()


@pytest.mark.slow
def test_an_interrupted_postgis_migration_leaves_schema_11_whole(
    pg_cluster, districts, monkeypatch
):
    import psycopg

    from stations.storage import postgis

    url = pg_cluster.new_database()
    doc = _old_doc(districts)
    with psycopg.connect(url, autocommit=True) as conn:
        postgis_schema(conn, 11)
        created = _upload("x").created_at.isoformat()
        with conn.cursor() as cur:
            for u, planned in (("u-dry", 1), ("u-planning", 0)):
                cur.execute(_OLD_UPLOAD.replace("?", "%s"), (u, created, planned))
                cur.executemany(_OLD_INSERT.replace("?", "%s"), _old_rows(u, 1500, doc))
    real = postgis.backfill_schema_12
    monkeypatch.setattr(postgis, "backfill_schema_12", _dying_after_one_chunk(real))
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            postgis.PostGISStore(url)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT version FROM yizhan_schema").fetchone()[0] == 11
            assert conn.execute("SELECT to_regclass('upload_rows_v11')").fetchone()[0] is None
            assert conn.execute("SELECT count(row) FROM upload_rows").fetchone()[0] == 3000
        monkeypatch.setattr(postgis, "backfill_schema_12", real)
        store = postgis.PostGISStore(url)
        try:
            for u in ("u-dry", "u-planning"):
                assert [r.seq for r in store.iter_upload_rows(u)] == list(range(1, 1501))
            page = store.iter_upload_rows("u-dry", limit=4, offset=998)
            assert [r.seq for r in page] == [999, 1000, 1001, 1002]
        finally:
            store.close()
    finally:
        pg_cluster.drop_database(url)


def test_rows_given_out_of_seq_order_read_back_in_seq_order(any_store):
    any_store.create_upload(_upload("u-order"))
    any_store.add_upload_rows(
        "u-order",
        [UploadRow(2, 3, "unchanged", "b", 2, 1), UploadRow(1, 2, "unchanged", "a", 1, 1)],
    )
    assert [r.seq for r in any_store.iter_upload_rows("u-order")] == [1, 2]


def _count_parses(monkeypatch: Any) -> list[int]:
    """A list that grows by one for each row uploads_repo parses (its orjson.loads)."""
    parsed: list[int] = []

    class Counting:
        """orjson, its loads counted."""

        def __getattr__(self, name: str) -> Any:
            return getattr(orjson, name)

        @staticmethod
        def loads(text: Any) -> Any:
            parsed.append(1)
            return orjson.loads(text)

    monkeypatch.setattr(uploads_repo, "orjson", Counting())
    return parsed


def test_an_unfiltered_page_parses_only_the_rows_it_shows(any_store, districts, monkeypatch):
    station = make_station(districts, external_id="A1")
    any_store.create_upload(_upload("u-parse"))
    any_store.add_upload_rows("u-parse", [_row(s, "update", station) for s in range(1, 1001)])
    parsed = _count_parses(monkeypatch)
    page = list(any_store.iter_upload_rows("u-parse", limit=10, offset=990))
    assert [r.seq for r in page] == list(range(991, 1001))
    assert len(parsed) <= 10


def test_a_filtered_page_parses_only_the_rows_it_shows(any_store, districts, monkeypatch):
    """Rows of other actions, and those of its action before the offset, are passed over
    unparsed; the added warning of a row passed over is not given to a later row."""
    station = make_station(districts, external_id="A1")
    any_store.create_upload(_upload("u-filter"))
    kinds = ("update", "rejected", "unchanged", "update", "close")
    rows = [_row(s, kinds[s % len(kinds)], station) for s in range(1, 1001)]
    any_store.add_upload_rows("u-filter", rows)
    near = {"code": "possible_duplicate_nearby", "message": "近"}
    any_store.add_upload_warnings("u-filter", {r.row: near for r in rows if r.row is not None})
    want = [r for r in rows if r.action in ("update", "close")][300:310]
    parsed = _count_parses(monkeypatch)
    page = list(
        any_store.iter_upload_rows("u-filter", actions=["update", "close"], limit=10, offset=300)
    )
    assert [r.seq for r in page] == [r.seq for r in want]
    assert len(parsed) <= 10
    # Each shown row with a file row number has its own added warning, once.
    assert all(r.warnings[-1:] == (near,) for r in page if r.row is not None)
    assert all(r.warnings.count(near) == (r.row is not None) for r in page)
