"""The change feed in SQL: pages of the audit trail by id, a row's check, the feed's meta
rows, and the whole registry from one snapshot (the export), with its cursor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from stations.domain.feed import FeedMeta, FeedPage, FeedRow, row_check
from stations.domain.model import Station
from stations.storage.sqlbase import SQLBase
from stations.storage.store import FeedSnapshot, FeedStore

# Stations read at a time by an export: memory holds one page, whatever the registry's size.
EXPORT_PAGE = 1000


def _with_code(after: str | None, code: str | None) -> dict[str, Any] | None:
    if after is None:
        return None
    doc: dict[str, Any] = json.loads(after)
    if doc.get("code") is None:
        doc["code"] = code
    return doc


class SQLFeed(SQLBase, FeedStore):
    """The FeedStore interface over the audit trail (its primary key serves every page)."""

    def feed_meta(self) -> FeedMeta:
        rows = self._conn().execute(
            "SELECT key, value FROM meta WHERE key IN ('feed_epoch', 'feed_floor')"
        )
        found = {r[0]: r[1] for r in rows}
        return FeedMeta(found["feed_epoch"], int(found["feed_floor"]))

    def feed_row_check(self, audit_id: int) -> str | None:
        if audit_id == 0:
            return row_check(0, 0, "")
        row = (
            self._conn()
            .execute("SELECT id, batch_id, at FROM audit WHERE id = ?", (audit_id,))
            .fetchone()
        )
        return None if row is None else row_check(int(row[0]), int(row[1]), row[2])

    def changes_page(self, since_id: int, limit: int) -> FeedPage:
        conn = self._conn()
        # With the station's code: updates before schema 10 kept their record without it
        # (a code never changes, so the one of station_codes is the record's).
        found = conn.execute(
            "SELECT a.id, a.station_id, a.after, a.batch_id, a.at, k.code FROM audit a "
            "LEFT JOIN station_codes k ON k.station_id = a.station_id "
            "WHERE a.id > ? ORDER BY a.id LIMIT ?",
            (since_id, limit),
        ).fetchall()
        # After the page: the head is at least its last row (they may be two snapshots).
        head = conn.execute("SELECT max(id) FROM audit").fetchone()[0]
        rows = tuple(FeedRow(int(r[0]), int(r[1]), _with_code(r[2], r[5])) for r in found)
        if not rows:
            return FeedPage((), since_id, int(head or 0))
        last = found[-1]
        check = row_check(int(last[0]), int(last[3]), last[4])
        return FeedPage(rows, rows[-1].id, max(int(head or 0), rows[-1].id), check)

    def head_cursor(self) -> tuple[int, str]:
        return self._head(self._conn())

    @staticmethod
    def _head(c: object) -> tuple[int, str]:
        row = c.execute(  # type: ignore[attr-defined]
            "SELECT id, batch_id, at FROM audit ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return 0, row_check(0, 0, "")
        return int(row[0]), row_check(int(row[0]), int(row[1]), row[2])

    @contextmanager
    def export_snapshot(self) -> Iterator[FeedSnapshot]:
        with self._snapshot() as c:
            # The cursor first: the snapshot is taken at the first read, so the stations
            # read after are those of exactly that head.
            head_id, check = self._head(c)
            meta = {r[0]: r[1] for r in c.execute("SELECT key, value FROM meta")}
            count = int(c.execute("SELECT count(*) FROM stations").fetchone()[0])

            def stations() -> Iterator[Station]:
                last = 0
                while True:
                    page = c.execute(
                        "SELECT * FROM stations WHERE id > ? ORDER BY id LIMIT ?",
                        (last, EXPORT_PAGE),
                    ).fetchall()
                    for row in page:
                        yield self._station(row)  # type: ignore[attr-defined]
                    if len(page) < EXPORT_PAGE:
                        return
                    last = int(page[-1]["id"])

            yield FeedSnapshot(
                FeedMeta(meta["feed_epoch"], int(meta["feed_floor"])),
                head_id,
                check,
                count,
                stations(),
            )
