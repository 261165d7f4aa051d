"""Cases of the owning union in SQL: states with their history, replies, receipts' hashes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from stations.domain.cases import (
    SYSTEM,
    Case,
    CaseEvent,
    CaseNotFoundError,
    CaseQuery,
    CaseState,
    NewCase,
    StaleCaseError,
    check_transition,
)
from stations.storage.sqlbase import SQLBase, stamp
from stations.storage.store import CaseStore

_SOURCE = (
    "cases c LEFT JOIN stations s ON s.id = c.station_id "
    "LEFT JOIN feedback f ON f.id = c.feedback_id LEFT JOIN ratings r ON r.id = c.rating_id"
)
_COLUMNS = (
    "c.id, c.station_id, coalesce(s.owner, c.owner) AS owner, "
    "coalesce(s.district_adcode, c.district_adcode) AS district_adcode, c.source, c.kind, "
    "c.feedback_id, c.rating_id, c.state, c.opened_at, c.due_at, c.state_at, c.resolved_at, "
    "c.confirmed_at, c.reply, c.replied_at, c.replied_by, c.reopened, c.version, "
    "coalesce(f.note, r.comment, '') AS text, r.stars AS stars"
)
_UNRESOLVED = "c.state IN ('open', 'in_progress')"


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def open_case(c: Any, case: NewCase, *, feedback_id: int | None, rating_id: int | None) -> int:
    """Insert ``case`` (and its first event) inside the caller's transaction; its id."""
    case_id = int(
        c.execute(
            "INSERT INTO cases (station_id, owner, district_adcode, source, kind, feedback_id, "
            "rating_id, state, opened_at, due_at, state_at, receipt_sha256) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?, ?, ?, ?) RETURNING id",
            (
                case.station_id,
                case.owner,
                case.district_adcode,
                case.source,
                case.kind,
                feedback_id,
                rating_id,
                stamp(case.opened_at),
                stamp(case.due_at),
                stamp(case.opened_at),
                case.receipt_sha256,
            ),
        ).fetchone()[0]
    )
    c.execute(
        "INSERT INTO case_events (case_id, at, actor, from_state, to_state) "
        "VALUES (?, ?, 'reporter', NULL, 'open')",
        (case_id, stamp(case.opened_at)),
    )
    return case_id


def step_case(
    c: Any,
    row: Any,
    to: CaseState,
    *,
    actor: str,
    reply: str,
    at: datetime,
    due_at: datetime | None = None,
) -> None:
    """Write one (already allowed) step of the case ``row`` inside the caller's transaction:
    the case (compare-and-set on its version), its event, its report's resolved flag."""
    sets = ["state = ?", "state_at = ?", "version = version + 1"]
    params: list[Any] = [to.value, stamp(at)]
    if to is CaseState.RESOLVED:
        sets += ["resolved_at = ?", "reply = ?", "replied_at = ?", "replied_by = ?"]
        params += [stamp(at), reply, stamp(at), actor]
    elif to is CaseState.CONFIRMED:
        sets.append("confirmed_at = ?")
        params.append(stamp(at))
    elif to is CaseState.OPEN:  # reopened by the reporter
        sets += ["resolved_at = NULL", "reopened = reopened + 1"]
        if due_at is not None:
            sets.append("due_at = ?")
            params.append(stamp(due_at))
    done = c.execute(
        f"UPDATE cases SET {', '.join(sets)} WHERE id = ? AND version = ?",
        [*params, row["id"], row["version"]],
    )
    if done.rowcount != 1:  # pragma: no cover - another writer got there in between
        raise StaleCaseError(row["id"], row["version"], row["version"] + 1)
    c.execute(
        "INSERT INTO case_events (case_id, at, actor, from_state, to_state, note) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (
            row["id"],
            stamp(at),
            actor,
            row["state"],
            to.value,
            reply if to is CaseState.RESOLVED else "",
        ),
    )
    if row["feedback_id"] is not None:
        if to is CaseState.RESOLVED:
            c.execute(
                "UPDATE feedback SET resolved_at = ?, resolved_by = ?, resolution_note = ? "
                "WHERE id = ?",
                (stamp(at), actor, reply, row["feedback_id"]),
            )
        elif to is CaseState.OPEN:
            c.execute(
                "UPDATE feedback SET resolved_at = NULL, resolved_by = NULL, "
                "resolution_note = '' WHERE id = ?",
                (row["feedback_id"],),
            )


class SQLCases(SQLBase, CaseStore):
    """The CaseStore interface in SQL tables (plumbing: sqlbase.py)."""

    @staticmethod
    def _case(r: Any, events: tuple[CaseEvent, ...] = (), *, joined: bool = True) -> Case:
        return Case(
            id=r["id"],
            station_id=r["station_id"],
            owner=r["owner"],
            district_adcode=r["district_adcode"],
            source=r["source"],
            kind=r["kind"],
            state=CaseState(r["state"]),
            opened_at=datetime.fromisoformat(r["opened_at"]),
            due_at=datetime.fromisoformat(r["due_at"]),
            state_at=datetime.fromisoformat(r["state_at"]),
            version=r["version"],
            feedback_id=r["feedback_id"],
            rating_id=r["rating_id"],
            resolved_at=_time(r["resolved_at"]),
            confirmed_at=_time(r["confirmed_at"]),
            reply=r["reply"],
            replied_at=_time(r["replied_at"]),
            replied_by=r["replied_by"],
            reopened=r["reopened"],
            text=r["text"] if joined else "",
            stars=r["stars"] if joined else None,
            events=events,
        )

    def _events(self, ids: list[int]) -> dict[int, tuple[CaseEvent, ...]]:
        if not ids:
            return {}
        rows = self._conn().execute(
            "SELECT case_id, at, actor, from_state, to_state, note FROM case_events "
            f"WHERE case_id IN ({','.join('?' * len(ids))}) ORDER BY at, id",
            ids,
        )
        out: dict[int, list[CaseEvent]] = {}
        for r in rows:
            out.setdefault(r["case_id"], []).append(
                CaseEvent(
                    at=datetime.fromisoformat(r["at"]),
                    actor=r["actor"],
                    from_state=CaseState(r["from_state"]) if r["from_state"] else None,
                    to_state=CaseState(r["to_state"]),
                    note=r["note"],
                )
            )
        return {k: tuple(v) for k, v in out.items()}

    def _select(self, where: str, params: list[Any], tail: str = "") -> list[Case]:
        rows = (
            self._conn()
            .execute(f"SELECT {_COLUMNS} FROM {_SOURCE} WHERE {where}{tail}", params)
            .fetchall()
        )
        events = self._events([int(r["id"]) for r in rows])
        return [self._case(r, events.get(int(r["id"]), ())) for r in rows]

    def find_case(self, case_id: int) -> Case | None:
        found = self._select("c.id = ?", [case_id])
        return found[0] if found else None

    def find_case_by_receipt(self, receipt_sha256: str) -> Case | None:
        found = self._select("c.receipt_sha256 = ?", [receipt_sha256])
        return found[0] if found else None

    def list_cases(
        self, q: CaseQuery, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Case], int]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if q.owner is not None:
            clauses.append("coalesce(s.owner, c.owner) = ?")
            params.append(q.owner)
        if q.district is not None:
            clauses.append("coalesce(s.district_adcode, c.district_adcode) = ?")
            params.append(q.district)
        if q.state is not None:
            clauses.append("c.state = ?")
            params.append(q.state.value)
        if q.overdue_at is not None:
            clauses.append(f"{_UNRESOLVED} AND c.due_at < ?")
            params.append(stamp(q.overdue_at))
        if q.station_id is not None:
            clauses.append("c.station_id = ?")
            params.append(q.station_id)
        where = " AND ".join(clauses)
        total = self._conn().execute(f"SELECT count(*) FROM {_SOURCE} WHERE {where}", params)
        count = int(total.fetchone()[0])
        page = self._select(
            where,
            [*params, self._NO_LIMIT if limit is None else limit, offset],
            " ORDER BY c.due_at, c.id LIMIT ? OFFSET ?",
        )
        return page, count

    def transition_case(
        self,
        case_id: int,
        to: CaseState,
        *,
        role: str,
        actor: str,
        reply: str = "",
        expected_version: int | None = None,
        at: datetime,
        due_at: datetime | None = None,
    ) -> Case:
        with self._write() as c:
            row = c.execute("SELECT * FROM cases WHERE id = ?", (case_id,)).fetchone()
            if row is None:
                raise CaseNotFoundError(case_id)
            if expected_version is not None and row["version"] != expected_version:
                raise StaleCaseError(case_id, expected_version, row["version"])
            check_transition(
                self._case(row, joined=False),
                to,
                actor=role,
                reply=reply,
            )
            step_case(c, row, to, actor=actor, reply=reply, at=at, due_at=due_at)
        return self.get_case(case_id)

    def auto_confirm(self, now: datetime, *, confirm_after: timedelta, batch: int = 200) -> int:
        due = (stamp(now - confirm_after), batch)
        query = (
            "SELECT * FROM cases WHERE state = 'resolved' AND resolved_at < ? "
            "ORDER BY resolved_at LIMIT ?"
        )
        # Looked for first outside a write: most reads find nothing to confirm.
        if not self._conn().execute(query, due).fetchall():
            return 0
        with self._write() as c:
            rows = c.execute(query, due).fetchall()
            for row in rows:
                step_case(c, row, CaseState.CONFIRMED, actor=SYSTEM, reply="", at=now)
        return len(rows)

    def overdue_counts(self, now: datetime) -> dict[str, int]:
        rows = self._conn().execute(
            "SELECT coalesce(s.district_adcode, c.district_adcode) AS d, count(*) AS n "
            "FROM cases c LEFT JOIN stations s ON s.id = c.station_id "
            f"WHERE {_UNRESOLVED} AND c.due_at < ? GROUP BY 1",
            (stamp(now),),
        )
        return {str(r["d"]): int(r["n"]) for r in rows}
