"""Uploads' plans in SQL: the upload and its planned rows; its state is read from the
batches that name it (written by stations_repo's apply).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import orjson

from geodata.hours import TZ
from stations.domain.records import station_from_dict, station_to_dict
from stations.domain.uploads import PlannedCreate, Upload, UploadRow, UploadStatus
from stations.storage.sqlbase import SQLBase, dump_doc, dump_json
from stations.storage.store import UploadStore


def _json_list(text: str) -> tuple[Any, ...]:
    return () if text == "[]" else tuple(json.loads(text))


def _stored_row(upload_id: str, r: UploadRow | PlannedCreate) -> tuple[Any, ...]:
    if type(r) is PlannedCreate:  # a plain row's record: stored as an UploadRow's station
        # The planner's own warnings (text only): compact JSON, read back the same.
        warnings = orjson.dumps(r.warnings).decode() if r.warnings else "[]"
        record = dump_doc(r.record)
        return (
            upload_id,
            r.seq,
            r.row,
            "create",
            r.external_id,
            None,
            None,
            record,
            "[]",
            "[]",
            warnings,
            "{}",
        )
    assert isinstance(r, UploadRow)
    return (
        upload_id,
        r.seq,
        r.row,
        r.action,
        r.external_id,
        r.station_id,
        r.expected_version,
        dump_doc(station_to_dict(r.station)) if r.station else None,
        orjson.dumps(r.changed).decode(),  # field names
        # Problems, warnings and cells may hold what a file held (NaN…): json as before,
        # where there are any.
        dump_json(list(r.problems)) if r.problems else "[]",
        dump_json(list(r.warnings)) if r.warnings else "[]",
        dump_json(r.cells) if r.cells else "{}",
    )


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
        with self._write() as c:
            c.executemany(
                "INSERT INTO upload_rows (upload_id, seq, row, action, external_id, station_id, "
                "expected_version, station, changed, problems, warnings, cells) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_stored_row(upload_id, r) for r in rows],
            )

    def add_upload_warnings(self, upload_id: str, by_row: dict[int, dict[str, Any]]) -> None:
        rows = list(by_row)
        with self._write() as c:
            for start in range(0, len(rows), 500):
                part = rows[start : start + 500]
                # Sorted here, not by the statement: ORDER BY seq had SQLite walk the whole
                # upload in seq order for each part rather than look up its rows by row.
                found = sorted(
                    c.execute(
                        "SELECT seq, row, warnings FROM upload_rows WHERE upload_id = ? "
                        f"AND row IN ({','.join('?' * len(part))})",
                        [upload_id, *part],
                    ).fetchall(),
                    key=lambda f: int(f["seq"]),
                )
                first: dict[int, Any] = {}
                for f in found:  # a row number is one row of the file: its first seq
                    first.setdefault(int(f["row"]), f)
                if not first:
                    continue
                c.executemany(
                    "UPDATE upload_rows SET warnings = ? WHERE upload_id = ? AND seq = ?",
                    [
                        (
                            dump_json([*json.loads(f["warnings"]), by_row[row]]),
                            upload_id,
                            f["seq"],
                        )
                        for row, f in first.items()
                    ],
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

        where = "upload_id = ?"
        params: list[Any] = [upload_id]
        if actions:
            where += f" AND action IN ({','.join('?' * len(actions))})"
            params.extend(actions)
        # A fresh connection per stream: the caller may write (apply) while reading. All of
        # an upload's rows is what a commit reads: a bulk read.
        conn = self._conn() if limit is not None else self._bulk_conn()
        cur = conn.execute(
            f"SELECT * FROM upload_rows WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",
            [*params, self._NO_LIMIT if limit is None else limit, offset],
        )
        for r in cur:  # sqlite3 steps through; the PostGIS reader has fetched
            yield UploadRow(
                seq=r["seq"],
                row=r["row"],
                action=r["action"],
                external_id=r["external_id"],
                station_id=r["station_id"],
                expected_version=r["expected_version"],
                station=station_from_dict(orjson.loads(r["station"])) if r["station"] else None,
                changed=tuple(orjson.loads(r["changed"])),
                problems=_json_list(r["problems"]),
                warnings=_json_list(r["warnings"]),
                # Only rejected rows keep their cells: most rows read none.
                cells=json.loads(r["cells"]) if r["cells"] not in (None, "", "{}") else {},
            )

    def iter_planned_changes(
        self, upload_id: str
    ) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
        cur = self._bulk_conn().execute(
            "SELECT action, expected_version, station FROM upload_rows WHERE upload_id = ? "
            "AND action IN ('create', 'update', 'close') ORDER BY seq",
            (upload_id,),
        )
        for r in cur:
            yield r["action"], r["expected_version"], orjson.loads(r["station"])

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
