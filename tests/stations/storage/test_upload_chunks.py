"""A plan's rows stored a chunk per upload_rows row (schema 12): a report's pages, its
filters, the warnings added once every row is planned and a commit's read give back the rows
as planned, across chunk boundaries, in both stores; an older registry's per-row upload rows
are packed by the migration and read back the same."""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from geodata.hours import TZ
from stations.domain.records import station_to_dict
from stations.domain.uploads import PlannedCreate, Upload, UploadRow
from stations.storage.sqlite import SQLiteStore
from tests.builders import make_station
from tests.stores import postgis_schema, sqlite_schema

UPLOAD = "u-chunks"


def _upload(upload_id: str = UPLOAD) -> Upload:
    return Upload(
        id=upload_id,
        actor="t",
        owner=None,
        filename="f.csv",
        crs="wgs84",
        full_list=False,
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=TZ),
        base_version=0,
    )


def _rows(districts: Any) -> list[list[UploadRow | PlannedCreate]]:
    """Three chunks of uneven sizes, every action, row numbers with a gap and a close."""
    station = make_station(districts, external_id="A1")
    record = station_to_dict(make_station(districts, external_id="B2"))
    warn = {"code": "w", "field": "name", "message": "警告"}
    nan_cells = {"名称": "x", "经度": math.nan}  # what a file held: kept as JSON keeps it
    problem = {"code": "bad", "field": "lon", "message": "不对", "value": math.nan}
    return [
        [
            PlannedCreate(1, 2, "B2", record, (warn,)),
            UploadRow(2, 3, "rejected", "C3", problems=(problem,), cells=nan_cells),
            UploadRow(3, 4, "update", "A1", 7, 2, station, ("name", "hours"), warnings=(warn,)),
        ],
        [
            UploadRow(4, 5, "unchanged", "D4", 8, 1),
            PlannedCreate(5, 7, "E5", record),
        ],
        [
            UploadRow(6, 8, "rejected", "", problems=(problem,)),
            UploadRow(7, 9, "create", "F6", station=station),
            PlannedCreate(8, 10, "G7", record),
            UploadRow(9, None, "close", "H8", 9, 3, station, ("status",)),
        ],
    ]


def _as_read(r: UploadRow | PlannedCreate, districts: Any) -> UploadRow:
    """The row a report reads of what was planned (a PlannedCreate as its create row)."""
    if isinstance(r, PlannedCreate):
        from stations.domain.records import station_from_dict

        return UploadRow(
            r.seq,
            r.row,
            "create",
            r.external_id,
            station=station_from_dict(r.record),
            warnings=r.warnings,
        )
    return r


def _same(a: list[UploadRow], b: list[UploadRow]) -> None:
    # NaN is not equal to itself: the rows compared as their text (repr writes nan).
    assert repr(a) == repr(b)


@pytest.fixture
def planned(any_store, districts):
    any_store.create_upload(_upload())
    chunks = _rows(districts)
    for chunk in chunks:
        any_store.add_upload_rows(UPLOAD, chunk)
    return any_store, [_as_read(r, districts) for chunk in chunks for r in chunk]


def test_pages_and_filters_across_chunk_boundaries(planned):
    store, rows = planned
    _same(list(store.iter_upload_rows(UPLOAD)), rows)
    filters = [None, ["create"], ["rejected"], ["update", "close"], ["unchanged", "nothing"]]
    for actions in filters:
        wanted = [r for r in rows if actions is None or r.action in actions]
        for offset in range(len(rows) + 2):
            for limit in (1, 2, 3, 4, 100):
                got = list(
                    store.iter_upload_rows(UPLOAD, actions=actions, limit=limit, offset=offset)
                )
                _same(got, wanted[offset : offset + limit])
            _same(
                list(store.iter_upload_rows(UPLOAD, actions=actions, offset=offset)),
                wanted[offset:],
            )


def test_a_commit_reads_the_changes_in_file_order(planned):
    store, rows = planned
    changes = list(store.iter_planned_changes(UPLOAD))
    expected = [
        (r.action, r.expected_version, station_to_dict(r.station))
        for r in rows
        if r.action in ("create", "update", "close")
    ]
    assert changes == expected


def test_warnings_added_later_go_to_their_rows_in_any_chunk(planned):
    store, rows = planned
    near = {"code": "possible_duplicate_nearby", "field": "lon", "message": "近"}
    again = {"code": "again", "field": "lon", "message": "又"}
    # Rows at each chunk's edges, and a row number no row has (6: the gap).
    store.add_upload_warnings(UPLOAD, {2: near, 4: near, 5: near, 6: near, 10: near})
    store.add_upload_warnings(UPLOAD, {4: again})
    added = {2: (near,), 4: (near, again), 5: (near,), 10: (near,)}
    expected = [replace(r, warnings=(*r.warnings, *added.get(r.row, ()))) for r in rows]
    _same(list(store.iter_upload_rows(UPLOAD)), expected)
    _same(list(store.iter_upload_rows(UPLOAD, limit=2, offset=2)), expected[2:4])


def test_removing_an_upload_removes_its_chunks(planned):
    store, _ = planned
    assert store.delete_upload(UPLOAD)
    assert list(store.iter_upload_rows(UPLOAD)) == []
    assert list(store.iter_planned_changes(UPLOAD)) == []


# -- an older registry's per-row upload rows -----------------------------------------------


def _old_rows(districts: Any) -> list[tuple[Any, ...]]:
    """Upload rows as schema 11 stored them: one row each (2,500: three chunks)."""
    station = make_station(districts, external_id="A1")
    doc = json.dumps(station_to_dict(station), ensure_ascii=False)  # as written before orjson
    out = []
    for seq in range(1, 2501):
        if seq % 500 == 0:
            out.append(
                (
                    UPLOAD,
                    seq,
                    seq + 1,
                    "rejected",
                    f"R{seq}",
                    None,
                    None,
                    None,
                    "[]",
                    json.dumps(
                        [{"code": "bad", "field": "lon", "message": "坏", "value": math.nan}]
                    ),
                    "[]",
                    json.dumps({"经度": math.nan}, ensure_ascii=False),
                )
            )
        else:
            warnings = json.dumps([{"code": "w", "message": "近"}]) if seq % 3 == 0 else "[]"
            out.append(
                (
                    UPLOAD,
                    seq,
                    seq + 1,
                    "update",
                    f"S{seq}",
                    seq,
                    2,
                    doc,
                    '["name"]',
                    "[]",
                    warnings,
                    "{}",
                )
            )
    return out


def _expected_old(districts: Any) -> list[UploadRow]:
    from stations.domain.records import station_from_dict

    rows = _old_rows(districts)
    return [
        UploadRow(
            seq,
            row,
            action,
            ext,
            sid,
            ver,
            station_from_dict(json.loads(doc)) if doc else None,
            tuple(json.loads(changed)),
            tuple(json.loads(problems)),
            tuple(json.loads(warnings)),
            json.loads(cells),
        )
        for _, seq, row, action, ext, sid, ver, doc, changed, problems, warnings, cells in rows
    ]


_OLD_INSERT = (
    "INSERT INTO upload_rows (upload_id, seq, row, action, external_id, station_id, "
    "expected_version, station, changed, problems, warnings, cells) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_OLD_UPLOAD = (
    "INSERT INTO uploads (id, actor, owner, filename, crs, full_list, created_at, base_version,"
    " planned, counts) VALUES (?, 't', NULL, 'f.csv', 'wgs84', 0, ?, 0, 1, '{}')"
)


def _check_migrated(store: Any, districts: Any) -> None:
    """The migrated store reads the old rows back as they were, in pages across chunks."""
    expected = _expected_old(districts)
    _same(list(store.iter_upload_rows(UPLOAD)), expected)
    _same(list(store.iter_upload_rows(UPLOAD, limit=3, offset=998)), expected[998:1001])
    rejected = [r for r in expected if r.action == "rejected"]
    _same(list(store.iter_upload_rows(UPLOAD, actions=["rejected"])), rejected)
    assert len(list(store.iter_planned_changes(UPLOAD))) == len(expected) - len(rejected)


def test_a_sqlite_registry_of_schema_11_has_its_upload_rows_packed(tmp_path: Path, districts):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    sqlite_schema(conn, 11)  # schema 1 to 11, as those releases migrated
    conn.execute(_OLD_UPLOAD, (UPLOAD, _upload().created_at.isoformat()))
    conn.executemany(_OLD_INSERT, _old_rows(districts))
    conn.execute("COMMIT")
    conn.close()
    store = SQLiteStore(path)  # migrated to 12
    try:
        _check_migrated(store, districts)
        chunks = (
            store._conn()
            .execute("SELECT count(*) FROM upload_rows WHERE upload_id = ?", (UPLOAD,))
            .fetchone()[0]
        )
        assert chunks == 3
    finally:
        store.close()


@pytest.mark.slow
def test_a_postgis_registry_of_schema_11_has_its_upload_rows_packed(pg_cluster, districts):
    import psycopg

    from stations.storage import postgis

    url = pg_cluster.new_database()
    with psycopg.connect(url, autocommit=True) as conn:
        postgis_schema(conn, 11)
        conn.execute(_OLD_UPLOAD.replace("?", "%s"), (UPLOAD, _upload().created_at.isoformat()))
        with conn.cursor() as cur:
            cur.executemany(_OLD_INSERT.replace("?", "%s"), _old_rows(districts))
    store = postgis.PostGISStore(url)  # migrated to 12
    try:
        _check_migrated(store, districts)
    finally:
        store.close()
        pg_cluster.drop_database(url)
