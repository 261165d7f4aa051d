"""The change feed for mirrors: a page of changes after a cursor, and the export a mirror
starts from (the rules of cursors: stations.domain.feed).

A mirror takes the export (every station, and the cursor of exactly that state), then
follows the changes from that cursor: each page's stations once, in their state after the
page, and the ids deleted. A page may end inside a batch (an upload of 100,000 rows is one):
the mirror equals the registry when it reaches the head (``more`` false).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from stations.domain.errors import InvalidOptionError
from stations.domain.feed import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    CursorExpiredError,
    expired,
    latest,
    parse_cursor,
)
from stations.readmodel.index import CacheName, StationIndex
from stations.storage.store import FeedSnapshot, Store

EXPIRED = (
    "这个游标已失效（注册库已从备份恢复、已迁移到新的序列，或变更记录已被清理到它之后）："
    "请重新下载全量导出 GET /v1/stations/export，再从导出带的游标（X-Yizhan-Cursor）继续"
    "跟随变更。This cursor has expired: re-sync from the export, then follow from the "
    "cursor it carries."
)


@dataclass(frozen=True, slots=True)
class Changes:
    """One answer of the feed: records (station_to_dict) of the stations changed and the ids
    deleted, the cursor after them; ``more``: rows after it already; ``ahead``: the cursor
    is past this database's head (a replica behind): ask again shortly; ``first``: the
    answer without a cursor."""

    changed: list[dict[str, Any]]
    deleted: list[int]
    next: str
    more: bool
    ahead: bool = False
    first: bool = False
    full: bool = False  # the page read as many audit rows as it might


def changes(store: Store, since: str | None, *, limit: int = DEFAULT_LIMIT) -> Changes:
    """The changes after ``since`` (a cursor given out by this feed or the export), at most
    ``limit`` audit rows; without ``since``, none, and the cursor of now."""
    if not 1 <= limit <= MAX_LIMIT:
        msg = f"limit is 1 to {MAX_LIMIT} (audit rows per page)"
        raise InvalidOptionError("limit", msg, code="out_of_range")
    meta = store.feed_meta()
    if since is None:
        head_id, check = store.head_cursor()
        return Changes([], [], Cursor(meta.epoch, head_id, check).token(), False, first=True)
    cursor = parse_cursor(since)
    page = store.changes_page(cursor.audit_id, limit) if cursor.epoch == meta.epoch else None
    head_id = page.head_id if page is not None else 0
    if page is None or expired(
        cursor,
        meta,
        found_check=store.feed_row_check(cursor.audit_id) if cursor.audit_id <= head_id else None,
        head_id=head_id,
    ):
        raise CursorExpiredError(EXPIRED)
    if not page.rows:
        ahead = cursor.audit_id > head_id
        return Changes([], [], since, False, ahead=ahead)
    changed, deleted = latest(page.rows)
    token = Cursor(meta.epoch, page.next_id, page.next_check or "0").token()
    more = page.next_id < page.head_id
    return Changes(changed, deleted, token, more, full=len(page.rows) == limit)


@dataclass(frozen=True, slots=True)
class Export:
    """The registry from one snapshot: its cursor, how many stations, and the stations."""

    cursor: str
    count: int
    snapshot: FeedSnapshot


@contextmanager
def export(store: Store) -> Iterator[Export]:
    """Every station and the cursor to follow the feed from, read in one snapshot held
    until the context ends (the stations a page at a time)."""
    with store.export_snapshot() as snap:
        cursor = Cursor(snap.meta.epoch, snap.head_id, snap.head_check).token()
        yield Export(cursor, snap.count, snap)


# Per snapshot of the read index: each station's updated_at in microseconds since 1970.
_UPDATED_US = CacheName[str, npt.NDArray[np.int64]]("updated_at_us", 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def _micros(at: datetime) -> int:
    return (at - _EPOCH) // _US


def updated_since(
    index: StationIndex, positions: npt.NDArray[np.intp], since: datetime
) -> npt.NDArray[np.intp]:
    """Those of ``positions`` whose station was last written at ``since`` or later
    (inclusive). Deletions are not there: a mirror follows the change feed instead."""

    def compute() -> npt.NDArray[np.int64]:
        return np.array(
            [_micros(s.updated_at) if s.updated_at else -1 for s in index.stations],
            dtype=np.int64,
        )

    updated = index.cache(_UPDATED_US).get_or_compute("all", compute)
    return positions[updated[positions] >= _micros(since)]
