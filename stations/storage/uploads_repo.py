"""Uploads' plans in SQL: the upload and its planned rows; its state is read from the
batches that name it (written by stations_repo's apply).
"""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from itertools import pairwise
from typing import Any

import orjson
from isal import isal_zlib

from geodata.hours import TZ
from stations.domain.records import station_from_dict, station_to_dict
from stations.domain.uploads import (
    CHUNK_ROWS,
    PlannedCreate,
    Upload,
    UploadNotFoundError,
    UploadRow,
    UploadStatus,
)
from stations.storage.sqlbase import _DOC_OPTIONS, SQLBase, _plain, dump_json
from stations.storage.store import UploadStore


def _json_list(text: str) -> tuple[Any, ...]:
    return () if text == "[]" else tuple(json.loads(text))


# A chunk's rows (upload_rows.packed, schema 12): orjson, a row at a time (zlib), each the list
# [seq, row, action, external_id, station_id, expected_version, station, changed, problems,
# warnings, cells]; station the record (station_to_dict's form, sorted keys as dump_doc
# writes it) or null. Problems, warnings and cells may hold what a file held (NaN, which
# orjson would write as null): each is JSON text (dump_json, as the per-row columns held
# them), or, when there are none or they are the planner's own text, the value itself.
# Warnings found once every row is planned are the chunk's added_warnings (JSON text), read
# with its rows.
_ACTIONS = ("create", "update", "close", "unchanged", "rejected")
_SEQ, _ROW, _ACTION, _STATION, _WARNINGS = 0, 1, 2, 6, 9


def _packed_row(r: UploadRow | PlannedCreate) -> list[Any]:
    if type(r) is PlannedCreate:  # a plain row's record: stored as an UploadRow's station
        return [r.seq, r.row, "create", r.external_id, None, None, r.record, (), (), r.warnings, {}]
    assert isinstance(r, UploadRow)
    return [
        r.seq,
        r.row,
        r.action,
        r.external_id,
        r.station_id,
        r.expected_version,
        station_to_dict(r.station) if r.station else None,
        r.changed,
        dump_json(list(r.problems)) if r.problems else (),
        dump_json(list(r.warnings)) if r.warnings else (),
        dump_json(r.cells) if r.cells else {},
    ]


_BETWEEN_ROWS = orjson.Fragment(b"\n")  # written as it is: orjson writes no line break
_ROWS_APART = b",\n,"  # what lies between two rows' JSON in a chunk's text


def _pack(rows: list[list[Any]]) -> bytes:
    # Each row its own JSON, so that a reader parses one row at a time (a page parses
    # only as far as it reads; one 0.8 MB document parsed at once took twice as long per
    # row), written in one call with the rows apart by a raw line break ("r1,\n,r2": one
    # orjson call per row cost ten times as much). The zlib format, written by ISA-L at its
    # level 1: ~1 ms for a chunk of 1.1 MB and a tenth of the bytes kept, which the database
    # writes several times faster (zlib's own level 1: 4 ms, and 6 % more bytes; bench/upload).
    between: list[Any] = [_BETWEEN_ROWS] * (2 * len(rows) - 1)
    between[::2] = rows
    return isal_zlib.compress(
        orjson.dumps(between, default=_plain, option=_DOC_OPTIONS)[1:-1], isal_zlib.ISAL_BEST_SPEED
    )


def _unpack(packed: bytes) -> list[bytes]:
    """A chunk's rows, each its JSON (parsed by the reader, as it goes)."""
    return isal_zlib.decompress(packed).split(_ROWS_APART)


def _row_number(line: bytes) -> int | None:
    """The file row number of a packed row's JSON, without parsing the rest: the row's
    list begins ``[seq,row,"action",`` (two integers, or null for a row of no file line,
    then one of _ACTIONS)."""
    value = line[1:48].split(b",", 2)[1]
    return None if value == b"null" else int(value)


def _action(line: bytes) -> bytes:
    """The action of a packed row's JSON, as its bytes between quotes, without parsing it."""
    return line[1:64].split(b",", 3)[2]


_QUOTED = {a: f'"{a}"'.encode() for a in _ACTIONS}


def _listed(value: str | list[Any]) -> tuple[Any, ...]:
    return _json_list(value) if isinstance(value, str) else tuple(value)


def _unpacked(p: list[Any]) -> UploadRow:
    seq, row, action, ext, station_id, expected, station, changed, problems, warnings, cells = p
    return UploadRow(
        seq=seq,
        row=row,
        action=action,
        external_id=ext,
        station_id=station_id,
        expected_version=expected,
        station=station_from_dict(station) if station else None,
        changed=tuple(changed),
        problems=_listed(problems),
        warnings=_listed(warnings),
        # Only rejected rows keep their cells: most rows read none.
        cells=json.loads(cells) if isinstance(cells, str) else cells,
    )


def _chunk_values(upload_id: str, packed: list[list[Any]]) -> tuple[Any, ...]:
    """One upload_rows row of the chunk ``packed`` (its rows, packed, in seq order)."""
    numbers = [p[_ROW] for p in packed if p[_ROW] is not None]
    counts = dict.fromkeys(_ACTIONS, 0)
    for p in packed:
        counts[p[_ACTION]] += 1
    return (
        upload_id,
        packed[0][_SEQ],
        min(numbers, default=None),
        max(numbers, default=None),
        *counts.values(),
        _pack(packed),
    )


_INSERT_CHUNK = (
    "INSERT INTO upload_rows (upload_id, seq, first_row, last_row, "
    + ", ".join(f"n_{a}" for a in _ACTIONS)
    + ", packed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def schema_12_table(blob: str) -> str:
    """Schema 12's upload_rows (a chunk per row), as that migration creates it in each
    engine (``blob``: its binary type); once made, the migrations are history."""
    return f"""CREATE TABLE upload_rows (
    upload_id TEXT NOT NULL REFERENCES uploads (id),
    seq INTEGER NOT NULL,
    first_row INTEGER,
    last_row INTEGER,
    n_create INTEGER NOT NULL DEFAULT 0,
    n_update INTEGER NOT NULL DEFAULT 0,
    n_close INTEGER NOT NULL DEFAULT 0,
    n_unchanged INTEGER NOT NULL DEFAULT 0,
    n_rejected INTEGER NOT NULL DEFAULT 0,
    packed {blob} NOT NULL,
    added_warnings TEXT NOT NULL DEFAULT '{{}}',
    PRIMARY KEY (upload_id, seq)
)"""


def backfill_schema_12(execute: Callable[..., Any]) -> None:
    """Schema 12's data: the per-row upload rows (left in upload_rows_v11 by the migration)
    packed into chunks of CHUNK_ROWS, an upload at a time, then that table dropped."""
    uploads = [r[0] for r in execute("SELECT DISTINCT upload_id FROM upload_rows_v11").fetchall()]
    for upload_id in uploads:
        last = -1
        while True:
            found = execute(
                "SELECT seq, row, action, external_id, station_id, expected_version, station, "
                "changed, problems, warnings, cells FROM upload_rows_v11 "
                "WHERE upload_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (upload_id, last, CHUNK_ROWS),
            ).fetchall()
            if not found:
                break
            packed = [
                [
                    *tuple(r)[:6],
                    orjson.loads(r[6]) if r[6] else None,
                    orjson.loads(r[7]),
                    r[8] if r[8] != "[]" else (),
                    r[9] if r[9] != "[]" else (),
                    r[10] if r[10] not in (None, "", "{}") else {},
                ]
                for r in found
            ]
            execute(_INSERT_CHUNK, _chunk_values(upload_id, packed))
            last = int(found[-1][0])
    execute("DROP TABLE upload_rows_v11")


class SQLUploads(SQLBase, UploadStore):
    """The UploadStore interface in SQL tables (plumbing: sqlbase.py)."""

    def create_upload(self, upload: Upload) -> None:
        with self._write() as c:
            c.execute(
                "INSERT INTO uploads (id, actor, owner, filename, crs, full_list, created_at, "
                "base_version, unknown_columns, columns, notes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.id,
                    upload.actor,
                    upload.owner,
                    upload.filename,
                    upload.crs,
                    int(upload.full_list),
                    upload.created_at.isoformat(),
                    upload.base_version,
                    dump_json(list(upload.unknown_columns)),
                    dump_json(upload.columns),
                    dump_json(list(upload.notes)),
                ),
            )

    def add_upload_rows(self, upload_id: str, rows: Sequence[UploadRow | PlannedCreate]) -> None:
        if not rows:
            return
        packed = [_packed_row(r) for r in rows]
        if any(a[_SEQ] > b[_SEQ] for a, b in pairwise(packed)):
            packed.sort(key=lambda p: p[_SEQ])  # a chunk's rows are read in seq order
        with self._write() as c:
            self._before_blob_write(c)  # PostGIS: a chunk is a blob of ~0.7 MB (not pglz)
            c.execute(_INSERT_CHUNK, _chunk_values(upload_id, packed))

    def _chunk_heads(self, conn: Any, upload_id: str) -> list[Any]:
        """The upload's chunks without their rows, in seq order."""
        return conn.execute(
            "SELECT seq, first_row, last_row, "
            + ", ".join(f"n_{a}" for a in _ACTIONS)
            + " FROM upload_rows WHERE upload_id = ? ORDER BY seq",
            (upload_id,),
        ).fetchall()

    @staticmethod
    def _chunk_rows(
        conn: Any,
        upload_id: str,
        seq: int,
        actions: Sequence[str],
        skip: int = 0,
        *,
        warnings: bool = True,
    ) -> Iterator[list[Any]]:
        """A chunk's rows of ``actions``, packed, parsed one at a time, past the first
        ``skip`` of them (the rows passed over, of other actions or before those, are not
        parsed); with ``warnings``, each row's added warnings appended to its own (the
        first row of that number's). A chunk removed since its upload's chunks were listed
        (the plan deleted or purged meanwhile) raises UploadNotFoundError: a read is whole
        or fails, never cut short in silence."""
        found = conn.execute(
            f"SELECT packed{', added_warnings' if warnings else ''} FROM upload_rows "
            "WHERE upload_id = ? AND seq = ?",
            (upload_id, seq),
        ).fetchone()
        if found is None:
            raise UploadNotFoundError(upload_id)
        lines = _unpack(found[0])
        added: dict[int | None, list[Any]] = {}
        if warnings and found[1] != "{}":
            added = {int(row): said for row, said in json.loads(found[1]).items()}
        every = all(a in actions for a in _ACTIONS)
        wanted = {_QUOTED[a] for a in actions if a in _QUOTED}
        loads = orjson.loads
        for line in lines:
            passed = not every and _action(line) not in wanted
            if not passed and skip:
                skip -= 1
                passed = True
            if passed:
                if added:
                    added.pop(_row_number(line), None)  # a passed row's: not a later row's
                continue
            p = loads(line)
            if added:
                said = added.pop(p[_ROW], None)
                if said is not None:
                    p[_WARNINGS] = [*_listed(p[_WARNINGS]), *said]
            yield p

    def _chunks_with(
        self,
        conn: Any,
        upload_id: str,
        actions: Sequence[str],
        offset: int = 0,
        *,
        warnings: bool = True,
    ) -> Iterator[Iterator[list[Any]]]:
        """The rows of ``actions`` past the first ``offset`` such rows, a chunk at a time
        (chunks wholly before them are not read, rows before them are not parsed)."""
        for head in self._chunk_heads(conn, upload_id):
            n = sum(int(head[f"n_{a}"]) for a in actions if a in _ACTIONS)
            if n <= offset:
                offset -= n
                continue
            yield self._chunk_rows(conn, upload_id, head["seq"], actions, offset, warnings=warnings)
            offset = 0

    def add_upload_warnings(self, upload_id: str, by_row: dict[int, dict[str, Any]]) -> None:
        # A row number's warning goes to the first row of that number, as the per-row table
        # gave it: to the chunk of that row, in its added_warnings (the chunk's rows are not
        # rewritten). A number in the range [first_row, last_row] of one chunk only is that
        # chunk's if any row has it (rows are planned in file order: the usual case); one in
        # several chunks' ranges is looked for in their rows, in seq order.
        numbers = sorted(by_row)
        with self._write() as c:
            heads = c.execute(
                "SELECT seq, first_row, last_row, added_warnings FROM upload_rows "
                "WHERE upload_id = ? ORDER BY seq",
                (upload_id,),
            ).fetchall()
            candidates: dict[int, list[int]] = {}  # number -> the chunks (by position)
            for at, head in enumerate(heads):
                first, last = head["first_row"], head["last_row"]
                if first is None:
                    continue
                for n in numbers[bisect_left(numbers, first) : bisect_right(numbers, last)]:
                    candidates.setdefault(n, []).append(at)
            held: dict[int, set[int | None]] = {}  # a chunk's row numbers, read when needed

            def holds(at: int, n: int) -> bool:
                if at not in held:
                    packed = c.execute(
                        "SELECT packed FROM upload_rows WHERE upload_id = ? AND seq = ?",
                        (upload_id, heads[at]["seq"]),
                    ).fetchone()[0]
                    held[at] = {_row_number(line) for line in _unpack(packed)}
                return n in held[at]

            placed: dict[int, list[int]] = {}  # chunk position -> its numbers
            for n, chunks in candidates.items():
                if len(chunks) > 1:
                    chunks = [next((at for at in chunks if holds(at, n)), chunks[0])]
                placed.setdefault(chunks[0], []).append(n)
            for at, found in placed.items():
                head = heads[at]
                added = json.loads(head["added_warnings"])
                for n in found:
                    added.setdefault(str(n), []).append(by_row[n])
                c.execute(
                    "UPDATE upload_rows SET added_warnings = ? WHERE upload_id = ? AND seq = ?",
                    (dump_json(added), upload_id, head["seq"]),
                )

    def finish_upload(
        self, upload_id: str, counts: dict[str, int], notes: Sequence[str] | None = None
    ) -> None:
        with self._write() as c:
            if notes is None:
                c.execute(
                    "UPDATE uploads SET planned = 1, counts = ? WHERE id = ?",
                    (dump_json(counts), upload_id),
                )
            else:
                c.execute(
                    "UPDATE uploads SET planned = 1, counts = ?, notes = ? WHERE id = ?",
                    (dump_json(counts), dump_json(list(notes)), upload_id),
                )

    def add_upload_note(self, upload_id: str, note: str) -> None:
        with self._write() as c:
            found = c.execute("SELECT notes FROM uploads WHERE id = ?", (upload_id,)).fetchone()
            if found is not None:
                notes = [*json.loads(found["notes"]), note]
                c.execute(
                    "UPDATE uploads SET notes = ? WHERE id = ?", (dump_json(notes), upload_id)
                )

    def find_upload(self, upload_id: str) -> Upload | None:
        conn = self._conn()
        r = conn.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        if r is None:
            return None
        batches = {
            b["kind"]: b["id"]
            for b in conn.execute(
                "SELECT id, kind FROM batches WHERE upload_id = ? ORDER BY id", (upload_id,)
            )
        }
        if "revert" in batches:
            status = UploadStatus.REVERTED
        elif "upload" in batches:
            status = UploadStatus.COMMITTED
        else:
            status = UploadStatus.DRY_RUN if r["planned"] else UploadStatus.PLANNING
        return Upload(
            id=r["id"],
            actor=r["actor"],
            owner=r["owner"],
            filename=r["filename"],
            crs=r["crs"],
            full_list=bool(r["full_list"]),
            created_at=datetime.fromisoformat(r["created_at"]),
            base_version=r["base_version"],
            status=status,
            counts=json.loads(r["counts"]),
            unknown_columns=tuple(json.loads(r["unknown_columns"])),
            columns=json.loads(r["columns"]),
            notes=tuple(json.loads(r["notes"] or "[]")),
            batch_id=batches.get("upload"),
            revert_batch_id=batches.get("revert"),
        )

    _UNCOMMITTED = "NOT EXISTS (SELECT 1 FROM batches b WHERE b.upload_id = uploads.id)"

    def delete_upload(self, upload_id: str) -> bool:
        with self._write() as c:
            found = c.execute(
                f"SELECT id FROM uploads WHERE id = ? AND {self._UNCOMMITTED}", (upload_id,)
            ).fetchone()
            if found is None:
                return False
            c.execute("DELETE FROM upload_rows WHERE upload_id = ?", (upload_id,))
            c.execute("DELETE FROM uploads WHERE id = ?", (upload_id,))
            return True

    def purge_uploads(self, *, created_before: datetime) -> int:
        # created_at is stored as ISO text in Asia/Shanghai, so text order is time order.
        cutoff = created_before.astimezone(TZ).isoformat()
        with self._write() as c:
            ids = [
                r["id"]
                for r in c.execute(
                    f"SELECT id FROM uploads WHERE created_at < ? AND {self._UNCOMMITTED}",
                    (cutoff,),
                ).fetchall()
            ]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                c.execute(f"DELETE FROM upload_rows WHERE upload_id IN ({marks})", chunk)
                c.execute(f"DELETE FROM uploads WHERE id IN ({marks})", chunk)
            return len(ids)

    def iter_upload_rows(
        self,
        upload_id: str,
        *,
        actions: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[UploadRow]:
        wanted = set(actions) if actions else None
        # A fresh connection per stream: the caller may write (apply) while reading. All of
        # an upload's rows is what a commit reads: a bulk read, a chunk at a time.
        conn = self._conn() if limit is not None else self._blob_conn()
        left = limit
        if left is not None and left <= 0:
            return
        chunks = self._chunks_with(
            conn, upload_id, list(wanted) if wanted else _ACTIONS, max(offset, 0)
        )
        for packed in chunks:
            for p in packed:
                yield _unpacked(p)
                if left is not None:
                    left -= 1
                    if not left:
                        return

    def iter_planned_changes(
        self, upload_id: str
    ) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
        changes = ("create", "update", "close")
        chunks = self._chunks_with(self._blob_conn(), upload_id, changes, warnings=False)
        for packed in chunks:
            for p in packed:
                yield p[_ACTION], p[5], p[_STATION]

    def list_uploads(
        self, *, owner: str | None, every_owner: bool, limit: int, offset: int
    ) -> tuple[list[Upload], int]:
        """Uploads made as ``owner`` (None: the city union's), or every union's with
        ``every_owner``, newest first; and how many there are."""
        where: str = ""
        params: tuple[str, ...] = ()
        if not every_owner:
            where, params = (
                ("WHERE owner IS NULL", ()) if owner is None else ("WHERE owner = ?", (owner,))
            )
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM uploads {where}", params).fetchone()[0]
        ids = [
            r[0]
            for r in conn.execute(
                f"SELECT id FROM uploads {where} ORDER BY created_at DESC, id LIMIT ? OFFSET ?",
                (*params, limit, offset),
            )
        ]
        found = (self.find_upload(i) for i in ids)
        return [u for u in found if u is not None], int(total)
