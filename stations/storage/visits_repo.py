"""Workers' check-ins in SQL: the raw rows and the hourly rollup, written in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from stations.domain.errors import StationNotFoundError
from stations.domain.feedback import RateLimit, TooManyCheckInsError
from stations.domain.visits import (
    OCCUPATION_COLUMNS,
    NewVisit,
    UsageBucket,
    UsageQuery,
    shanghai_day_hour,
    usage_buckets,
)
from stations.storage.limits import check_limits
from stations.storage.sqlbase import SQLBase, stamp
from stations.storage.store import VisitStore

# Raw rows older than the keep time removed per check-in: bounded, so that no check-in
# pays for a backlog; at one purge per write the backlog shrinks as fast as it grows.
PURGE_BATCH = 100


class SQLVisits(SQLBase, VisitStore):
    """The VisitStore interface in SQL tables (plumbing: sqlbase.py)."""

    def add_visit(
        self, visit: NewVisit, *, dedupe_s: float, limits: Sequence[RateLimit], keep_s: float
    ) -> bool:
        at = visit.at
        # Only check-ins of the same client or station wait for each other (see
        # _keyed_write): de-duplication and the limits stay exact, other writes go on.
        with self._keyed_write((f"client:{visit.client_hash}", f"station:{visit.station_id}")) as c:
            seen = c.execute(
                "SELECT 1 FROM visits WHERE station_id = ? AND client_hash = ? AND at > ? LIMIT 1",
                (visit.station_id, visit.client_hash, stamp(at - timedelta(seconds=dedupe_s))),
            ).fetchone()
            if seen is not None:
                return False
            check_limits(
                c,
                table="visits",
                time_column="at",
                limits=limits,
                client_hash=visit.client_hash,
                station_id=visit.station_id,
                now=at,
                error=TooManyCheckInsError,
            )
            district = visit.district_adcode
            if district is None:
                row = c.execute(
                    "SELECT district_adcode FROM stations WHERE id = ?", (visit.station_id,)
                ).fetchone()
                if row is None:
                    raise StationNotFoundError(visit.station_id)
                district = row[0]
            c.execute(
                "INSERT INTO visits (station_id, client_hash, occupation, at, via_poster) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    visit.station_id,
                    visit.client_hash,
                    visit.occupation,
                    stamp(at),
                    int(visit.via_poster),
                ),
            )
            day, hour = shanghai_day_hour(at)
            column = OCCUPATION_COLUMNS[visit.occupation]  # a fixed vocabulary, not input
            c.execute(
                f"INSERT INTO visit_counts (station_id, district_adcode, day, hour, n, {column}) "
                "VALUES (?, ?, ?, ?, 1, 1) ON CONFLICT (station_id, day, hour) DO UPDATE SET "
                f"n = visit_counts.n + 1, {column} = visit_counts.{column} + 1",
                (visit.station_id, district, day, hour),
            )
            c.execute(
                "DELETE FROM visits WHERE id IN "
                f"(SELECT id FROM visits WHERE at < ? ORDER BY at LIMIT ?{self._SKIP_LOCKED})",
                (stamp(at - timedelta(seconds=keep_s)), PURGE_BATCH),
            )
        return True

    def usage(self, q: UsageQuery) -> list[UsageBucket]:
        clauses = ["day >= ?", "day <= ?"]
        params: list[Any] = [q.since.isoformat(), q.until.isoformat()]
        if q.district is not None:
            clauses.append("district_adcode = ?")
            params.append(q.district)
        if q.station_id is not None:
            clauses.append("station_id = ?")
            params.append(q.station_id)
        where = " AND ".join(clauses)
        conn = self._conn()
        counts: dict[str, int] = {}
        if q.by == "occupation":
            sums = ", ".join(f"coalesce(sum({col}), 0)" for col in OCCUPATION_COLUMNS.values())
            row = conn.execute(f"SELECT {sums} FROM visit_counts WHERE {where}", params).fetchone()
            counts = {code: int(n) for code, n in zip(OCCUPATION_COLUMNS, row, strict=True)}
        else:
            key = "day" if q.by == "day" else "hour"
            rows = conn.execute(
                f"SELECT {key}, sum(n) FROM visit_counts WHERE {where} GROUP BY {key}", params
            ).fetchall()
            counts = {str(r[0]): int(r[1]) for r in rows}
        return usage_buckets(q, counts)

    def visit_days(
        self, station_ids: Sequence[int], *, since: date
    ) -> dict[int, list[tuple[str, int]]]:
        if not station_ids:
            return {}
        ids = sorted(set(station_ids))
        rows = self._conn().execute(
            "SELECT station_id, day, sum(n) FROM visit_counts "
            f"WHERE station_id IN ({','.join('?' * len(ids))}) AND day >= ? "
            "GROUP BY station_id, day ORDER BY station_id, day",
            [*ids, since.isoformat()],
        )
        out: dict[int, list[tuple[str, int]]] = {}
        for r in rows:
            out.setdefault(int(r[0]), []).append((str(r[1]), int(r[2])))
        return out
