"""Stations' public codes in SQL: given once, in the transaction that creates the station,
kept for ever (a deleted station's code is never reused); and the schema-8 backfill.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from stations.domain.codes import new_code
from stations.domain.codes import new_codes as draw_codes
from stations.storage.sqlbase import SQLBase
from stations.storage.store import CodeStore

# At schema 8 a report not yet dealt with became an open case due this long after it came.
_BACKFILL_CASE_DUE = timedelta(hours=72)
_ATTEMPTS = 20  # a collision is about n / 2.75e10 likely; twenty in a row means a bug


def assign_code(execute: Callable[..., Any], station_id: int, at: str) -> str:
    """The station's code: the one it had (a deleted station put back by a revert), else a
    new one, recorded in station_codes; inside the caller's transaction."""
    row = execute("SELECT code FROM station_codes WHERE station_id = ?", (station_id,)).fetchone()
    if row is not None:
        return str(row[0])
    for _ in range(_ATTEMPTS):
        code = new_code()
        taken = execute("SELECT 1 FROM station_codes WHERE code = ?", (code,)).fetchone()
        if taken is None:
            execute(
                "INSERT INTO station_codes (code, station_id, created_at) VALUES (?, ?, ?)",
                (code, station_id, at),
            )
            return code
    msg = "could not find a free station code"  # pragma: no cover
    raise RuntimeError(msg)  # pragma: no cover


def new_codes(execute: Callable[..., Any], n: int) -> list[str]:
    """``n`` new codes, distinct and free (none in station_codes), each drawn as assign_code
    draws one (codes.new_codes) and checked against the table in one query per draw;
    recorded by the caller, inside its transaction."""
    codes: dict[str, None] = {}
    for _ in range(_ATTEMPTS):
        drawn = [c for c in dict.fromkeys(draw_codes(n - len(codes))) if c not in codes]
        taken: set[str] = set()
        for start in range(0, len(drawn), 500):
            part = drawn[start : start + 500]
            taken.update(
                str(r[0])
                for r in execute(
                    f"SELECT code FROM station_codes WHERE code IN ({','.join('?' * len(part))})",
                    part,
                ).fetchall()
            )
        codes.update((c, None) for c in drawn if c not in taken)
        if len(codes) == n:
            return list(codes)
    msg = "could not find free station codes"  # pragma: no cover
    raise RuntimeError(msg)  # pragma: no cover


def backfill_schema_8(execute: Callable[..., Any]) -> None:
    """Schema 8's data: a code for every station, and a case for every report (open, or
    resolved with its resolution note as the reply)."""
    at = datetime.now(UTC).isoformat()
    ids = [int(r[0]) for r in execute("SELECT id FROM stations ORDER BY id").fetchall()]
    for station_id in ids:
        code = assign_code(execute, station_id, at)
        execute("UPDATE stations SET code = ? WHERE id = ?", (code, station_id))
    reports = execute(
        "SELECT f.id, f.station_id, coalesce(s.owner, f.owner), coalesce(s.district_adcode, ''),"
        " f.kind, f.created_at, f.resolved_at, f.resolved_by, f.resolution_note "
        "FROM feedback f LEFT JOIN stations s ON s.id = f.station_id ORDER BY f.id"
    ).fetchall()
    for fid, sid, owner, district, kind, created, resolved_at, resolved_by, note in reports:
        due = (datetime.fromisoformat(created) + _BACKFILL_CASE_DUE).isoformat()
        state = "resolved" if resolved_at else "open"
        case_id = execute(
            "INSERT INTO cases (station_id, owner, district_adcode, source, kind, feedback_id, "
            "state, opened_at, due_at, state_at, resolved_at, reply, replied_at, replied_by) "
            "VALUES (?, ?, ?, 'report', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                sid,
                owner,
                district,
                kind,
                fid,
                state,
                created,
                due,
                resolved_at or created,
                resolved_at,
                note or "",
                resolved_at,
                resolved_by,
            ),
        ).fetchone()[0]
        execute(
            "INSERT INTO case_events (case_id, at, actor, from_state, to_state) "
            "VALUES (?, ?, 'reporter', NULL, 'open')",
            (case_id, created),
        )
        if resolved_at:
            execute(
                "INSERT INTO case_events (case_id, at, actor, from_state, to_state, note) "
                "VALUES (?, ?, ?, 'open', 'resolved', ?)",
                (case_id, resolved_at, resolved_by or "", note or ""),
            )


class SQLCodes(SQLBase, CodeStore):
    """The CodeStore interface in SQL tables."""

    def station_for_code(self, code: str) -> int | None:
        row = (
            self._conn()
            .execute("SELECT station_id FROM station_codes WHERE code = ?", (code,))
            .fetchone()
        )
        return None if row is None else int(row[0])
