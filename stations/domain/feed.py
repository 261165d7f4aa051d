"""The change feed for mirrors: its cursor, and the rules of when a cursor has expired.

A cursor names a place in the audit trail: the id of the last audit row a mirror has
applied, in a token ``v1.<epoch>.<audit id>.<check>``. The registry's writers take audit ids
one batch at a time under the write lock, so every snapshot of the database (another
worker, a restarted one, a streaming replica) holds a prefix of them: the rows after a
cursor are exactly the changes a mirror at that cursor has not seen, in commit order.

``epoch`` names this registry's sequence of audit ids (a meta row made with the schema and
copied by ``yizhan migrate``); ``check`` is a short hash of that audit row (its id, batch
and time), so that a database restored from an older backup, which gives those ids to other
rows, is noticed. ``feed_floor`` is the lowest audit id still kept.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from stations.domain.errors import InvalidOptionError

# The most audit rows one page reads, and the default.
MAX_LIMIT = 1000
DEFAULT_LIMIT = 500

_TOKEN = re.compile(r"v1\.([0-9a-f]{1,32})\.(0|[1-9][0-9]{0,18})\.([0-9a-f]{8}|0)")
_MAX_ID = 2**63 - 1


class CursorError(InvalidOptionError):
    """The text is not a cursor this registry gives (400 ``bad_cursor``)."""

    def __init__(self, message: str) -> None:
        super().__init__("since", message, code="bad_cursor")


class CursorExpiredError(InvalidOptionError):
    """The cursor is of another registry or an older trail, or below what is kept: the
    mirror must re-sync from the export (410 ``cursor_expired``)."""

    def __init__(self, message: str) -> None:
        super().__init__("since", message, code="cursor_expired")


@dataclass(frozen=True, slots=True)
class FeedMeta:
    epoch: str
    floor: int


@dataclass(frozen=True, slots=True)
class FeedRow:
    """One audit row as the feed reads it: ``after`` is the station's record after the
    change (:func:`~stations.domain.records.station_to_dict`), None for a deletion."""

    id: int
    station_id: int
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class FeedPage:
    """Audit rows after a cursor, in id order; ``next_id`` the last one's id (the cursor's
    if none); ``head_id`` the last audit id seen (0: an empty trail), never below
    ``next_id``."""

    rows: tuple[FeedRow, ...]
    next_id: int
    head_id: int
    next_check: str | None = None  # the check of the last row read (None: none read)


@dataclass(frozen=True, slots=True)
class Cursor:
    epoch: str
    audit_id: int
    check: str

    def token(self) -> str:
        return f"v1.{self.epoch}.{self.audit_id}.{self.check}"


def row_check(audit_id: int, batch_id: int, at: str) -> str:
    """The check of audit row ``audit_id`` ("0" for the start of the trail)."""
    if audit_id == 0:
        return "0"
    return hashlib.sha256(f"{audit_id}|{batch_id}|{at}".encode()).hexdigest()[:8]


def parse_cursor(text: str) -> Cursor:
    """A cursor token as given out; CursorError if it is not one."""
    found = _TOKEN.fullmatch(text)
    if found is None or int(found.group(2)) > _MAX_ID:
        msg = (
            f"since={text[:80]!r} 不是本变更流给出的游标：请使用上一次回答中的 next（或全量导出的 "
            "X-Yizhan-Cursor），第一次调用时不带 since。It is not a cursor of this feed: use "
            "the `next` of an earlier answer, or leave since out to start from now"
        )
        raise CursorError(msg)
    return Cursor(found.group(1), int(found.group(2)), found.group(3))


def expired(cursor: Cursor, meta: FeedMeta, *, found_check: str | None, head_id: int) -> bool:
    """Whether ``cursor`` can no longer be followed: of another epoch, below the floor, or
    naming an audit row that is not the one it was given for (``found_check``: that row's
    check now, None when there is no such row). A cursor past ``head_id`` (a replica that is
    behind, a standby promoted) has not expired: the rows will come."""
    if cursor.epoch != meta.epoch or cursor.audit_id < meta.floor:
        return True
    if cursor.audit_id > head_id:
        return False
    if cursor.audit_id == 0:
        return cursor.check != "0"
    return found_check != cursor.check


def latest(rows: tuple[FeedRow, ...]) -> tuple[list[dict[str, Any]], list[int]]:
    """A page's stations, each once with its last state: the records of those that are there
    after the page (in the order of their last change) and the ids of those deleted (a
    station created and deleted within the page is only deleted)."""
    last: dict[int, FeedRow] = {}
    for row in rows:
        last.pop(row.station_id, None)  # re-inserted: ordered by its last change
        last[row.station_id] = row
    changed = [r.after for r in last.values() if r.after is not None]
    deleted = [r.station_id for r in last.values() if r.after is None]
    return changed, deleted
