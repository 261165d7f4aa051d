"""Riders' reports in SQL, with their atomic rate limits; and the failed authentications
a shared rate limit counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from stations.domain.cases import CaseState, NewCase
from stations.domain.errors import (
    SchemaError,
)
from stations.domain.feedback import (
    Feedback,
    FeedbackKind,
    FeedbackNotFoundError,
    FeedbackQuery,
    FeedbackResolvedError,
    NewFeedback,
    RateLimit,
    TooManyReportsError,
)
from stations.storage.cases_repo import open_case, step_case
from stations.storage.limits import check_limits
from stations.storage.sqlbase import SQLBase, stamp
from stations.storage.store import FeedbackStore

HOUR_S = 3600
HASH_CLEAR_BATCH = 100


class SQLFeedback(SQLBase, FeedbackStore):
    """The FeedbackStore interface in SQL tables (plumbing: sqlbase.py)."""

    def feedback_salt(self) -> bytes:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'feedback_salt'").fetchone()
        if row is None:  # pragma: no cover - the schema-4 migration makes it
            msg = "the registry has no feedback salt; it was not migrated to schema 4"
            raise SchemaError(msg)
        return bytes.fromhex(row[0])

    @staticmethod
    def _feedback(r: Any) -> Feedback:
        return Feedback(
            id=r["id"],
            station_id=r["station_id"],
            owner=r["owner"],
            kind=FeedbackKind(r["kind"]),
            note=r["note"],
            created_at=datetime.fromisoformat(r["created_at"]),
            resolved_at=datetime.fromisoformat(r["resolved_at"]) if r["resolved_at"] else None,
            resolved_by=r["resolved_by"],
            resolution_note=r["resolution_note"],
        )

    def add_feedback(
        self,
        report: NewFeedback,
        *,
        limits: Sequence[RateLimit] = (),
        case: NewCase | None = None,
    ) -> Feedback:
        now = report.created_at
        with self._write() as c:
            check_limits(
                c,
                table="feedback",
                time_column="created_at",
                limits=limits,
                client_hash=report.client_hash,
                station_id=report.station_id,
                now=now,
                error=TooManyReportsError,
            )
            feedback_id = int(
                c.execute(
                    "INSERT INTO feedback (station_id, owner, kind, note, created_at, client_hash)"
                    " VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        report.station_id,
                        report.owner,
                        report.kind.value,
                        report.note,
                        stamp(now),
                        report.client_hash,
                    ),
                ).fetchone()[0]
            )
            if case is not None:
                open_case(c, case, feedback_id=feedback_id, rating_id=None)
            # An address hash is needed only while a limit may count it: older ones are
            # cleared (a bounded batch per report, so none waits for a backlog).
            keep_s = max((limit.window_s for limit in limits), default=HOUR_S)
            c.execute(
                "UPDATE feedback SET client_hash = '' WHERE id IN (SELECT id FROM feedback "
                f"WHERE client_hash <> '' AND created_at < ? LIMIT ?{self._SKIP_LOCKED})",
                (stamp(now - timedelta(seconds=keep_s)), HASH_CLEAR_BATCH),
            )
        return self.get_feedback(feedback_id)

    def find_feedback(self, feedback_id: int) -> Feedback | None:
        found, _ = self.list_feedback(FeedbackQuery(feedback_id=feedback_id))
        return found[0] if found else None

    def list_feedback(
        self, q: FeedbackQuery, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Feedback], int]:
        clauses: list[str] = []
        params: list[Any] = []
        if q.owner is not None:
            # The station's owner now (a transferred station's reports go with it); the
            # owner when reported once the station is deleted.
            clauses.append("coalesce(s.owner, f.owner) = ?")
            params.append(q.owner)
        if q.unresolved is not None:
            clauses.append("f.resolved_at IS NULL" if q.unresolved else "f.resolved_at IS NOT NULL")
        if q.station_id is not None:
            clauses.append("f.station_id = ?")
            params.append(q.station_id)
        if q.feedback_id is not None:
            clauses.append("f.id = ?")
            params.append(q.feedback_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        source = "feedback f LEFT JOIN stations s ON s.id = f.station_id"
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM {source}{where}", params).fetchone()[0]
        rows = conn.execute(
            "SELECT f.id, f.station_id, coalesce(s.owner, f.owner) AS owner, f.kind, f.note, "
            "f.created_at, f.resolved_at, f.resolved_by, f.resolution_note "
            f"FROM {source}{where} "
            "ORDER BY f.created_at DESC, f.id DESC LIMIT ? OFFSET ?",
            [*params, self._NO_LIMIT if limit is None else limit, offset],
        ).fetchall()
        return [self._feedback(r) for r in rows], int(total)

    def resolve_feedback(
        self, feedback_id: int, *, actor: str, note: str, at: datetime
    ) -> Feedback:

        with self._write() as c:
            row = c.execute("SELECT * FROM feedback WHERE id = ?", (feedback_id,)).fetchone()
            if row is None:
                raise FeedbackNotFoundError(feedback_id)
            if row["resolved_at"] is not None:
                raise FeedbackResolvedError(feedback_id)
            case = c.execute("SELECT * FROM cases WHERE feedback_id = ?", (feedback_id,)).fetchone()
            if case is not None and case["state"] in ("open", "in_progress"):
                # The case follows (and writes the report's resolution with it).
                step_case(c, case, CaseState.RESOLVED, actor=actor, reply=note or "已处理", at=at)
            c.execute(
                "UPDATE feedback SET resolved_at = ?, resolved_by = ?, resolution_note = ? "
                "WHERE id = ?",
                (stamp(at), actor, note, feedback_id),
            )
        return self.get_feedback(feedback_id)

    def unresolved_feedback_counts(
        self, station_ids: Sequence[int], *, since: datetime
    ) -> dict[int, dict[str, int]]:
        if not station_ids:
            return {}
        ids = sorted(set(station_ids))
        rows = self._conn().execute(
            "SELECT station_id, kind, count(*) AS n FROM feedback "
            f"WHERE station_id IN ({','.join('?' * len(ids))}) AND created_at > ? "
            "AND resolved_at IS NULL GROUP BY station_id, kind",
            [*ids, stamp(since)],
        )
        out: dict[int, dict[str, int]] = {}
        for r in rows:
            out.setdefault(r["station_id"], {})[r["kind"]] = r["n"]
        return out

    # -- failed authentications ------------------------------------------------------------

    def auth_failure_ages(self, client_hash: str, *, window_s: float) -> list[float]:
        rows = self._conn().execute(
            f"SELECT {self._NOW_S} - at FROM auth_failures WHERE client_hash = ? "
            f"AND at > {self._NOW_S} - ? ORDER BY at",
            (client_hash, window_s),
        )
        return [float(r[0]) for r in rows]

    def add_auth_failure(self, client_hash: str, *, keep_s: float) -> None:
        # Not a write batch (no turn to wait for, no registry version): a note kept for one
        # rate-limit window, each statement its own transaction.
        c = self._conn()
        c.execute(
            f"INSERT INTO auth_failures (client_hash, at) VALUES (?, {self._NOW_S})",
            (client_hash,),
        )
        c.execute(f"DELETE FROM auth_failures WHERE at < {self._NOW_S} - ?", (keep_s,))
