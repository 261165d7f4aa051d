"""Riders' ratings in SQL, one per station and client; a low rating's case opened in the
same transaction."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from stations.domain.cases import LOW_RATING, NewCase
from stations.domain.feedback import RateLimit, TooManyRatingsError
from stations.domain.ratings import NewRating, Rating
from stations.storage.cases_repo import open_case
from stations.storage.limits import check_limits
from stations.storage.sqlbase import SQLBase, stamp
from stations.storage.store import RatingStore

# Client hashes cleared per write once their window has passed: the table's share of
# hashes can then never grow without bound, and no write does unbounded work.
_PURGE_BATCH = 200
_COLUMNS = (
    "r.id, r.station_id, coalesce(s.owner, r.owner) AS owner, r.stars, r.comment, "
    "r.created_at, r.updated_at, r.case_id"
)


def _pace(limits: Sequence[RateLimit], last: datetime, now: datetime) -> None:
    """A replacement counts too: one row holds a client's rating of a station, so after
    the first correction its replacements are paced, one every ``window / count`` of a
    per-client limit: a flood of them is refused, not just kept to one vote."""
    for limit in limits:
        if limit.scope in ("client", "client_station"):
            gap = limit.window_s / limit.count
            wait = gap - (now - last).total_seconds()
            if wait > 0:
                raise TooManyRatingsError(limit.scope, max(1, math.ceil(wait)))


class SQLRatings(SQLBase, RatingStore):
    """The RatingStore interface in SQL tables (plumbing: sqlbase.py)."""

    @staticmethod
    def _rating(r: Any) -> Rating:
        return Rating(
            id=r["id"],
            station_id=r["station_id"],
            owner=r["owner"],
            stars=r["stars"],
            comment=r["comment"],
            created_at=datetime.fromisoformat(r["created_at"]),
            updated_at=datetime.fromisoformat(r["updated_at"]),
            case_id=r["case_id"],
        )

    def add_rating(
        self, rating: NewRating, *, dedupe_s: float, limits: Sequence[RateLimit] = ()
    ) -> tuple[Rating, bool]:
        now = rating.created_at
        window_start = stamp(now - timedelta(seconds=dedupe_s))
        with self._write() as c:
            # Each rating or replacement refreshes updated_at, so both count.
            check_limits(
                c,
                table="ratings",
                time_column="updated_at",
                limits=limits,
                client_hash=rating.client_hash,
                station_id=rating.station_id,
                now=now,
                error=TooManyRatingsError,
            )
            c.execute(
                "UPDATE ratings SET client_hash = NULL WHERE id IN (SELECT id FROM ratings "
                "WHERE client_hash IS NOT NULL AND created_at < ? ORDER BY created_at LIMIT ?)",
                (window_start, _PURGE_BATCH),
            )
            c.execute(  # this client's own earlier rating, past its window, whatever the batch
                "UPDATE ratings SET client_hash = NULL "
                "WHERE station_id = ? AND client_hash = ? AND created_at < ?",
                (rating.station_id, rating.client_hash, window_start),
            )
            earlier = c.execute(
                "SELECT id, case_id, created_at, updated_at FROM ratings "
                "WHERE station_id = ? AND client_hash = ?",
                (rating.station_id, rating.client_hash),
            ).fetchone()
            if earlier is not None:
                if earlier["updated_at"] != earlier["created_at"]:
                    # The first correction is free (a mistaken tap); later ones are paced.
                    _pace(limits, datetime.fromisoformat(earlier["updated_at"]), now)
                rating_id, case_id = int(earlier["id"]), earlier["case_id"]
                c.execute(
                    "UPDATE ratings SET stars = ?, comment = ?, updated_at = ? WHERE id = ?",
                    (rating.stars, rating.comment, stamp(now), rating_id),
                )
            else:
                rating_id = int(
                    c.execute(
                        "INSERT INTO ratings (station_id, owner, stars, comment, client_hash, "
                        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                        (
                            rating.station_id,
                            rating.owner,
                            rating.stars,
                            rating.comment,
                            rating.client_hash,
                            stamp(now),
                            stamp(now),
                        ),
                    ).fetchone()[0]
                )
                case_id = None
            if rating.opens_case and rating.receipt_sha256 and rating.case_due_at:
                self._open_or_keep_case(c, rating, rating_id, case_id)
            row = c.execute(
                f"SELECT {_COLUMNS} FROM ratings r LEFT JOIN stations s ON s.id = r.station_id "
                "WHERE r.id = ?",
                (rating_id,),
            ).fetchone()
            return self._rating(row), earlier is not None

    @staticmethod
    def _open_or_keep_case(c: Any, rating: NewRating, rating_id: int, case_id: Any) -> None:
        assert rating.receipt_sha256 is not None
        assert rating.case_due_at is not None
        if case_id is None:
            new_id = open_case(
                c,
                NewCase(
                    station_id=rating.station_id,
                    owner=rating.owner,
                    district_adcode=rating.district_adcode,
                    source="rating",
                    kind=LOW_RATING,
                    opened_at=rating.created_at,
                    due_at=rating.case_due_at,
                    receipt_sha256=rating.receipt_sha256,
                ),
                feedback_id=None,
                rating_id=rating_id,
            )
            c.execute("UPDATE ratings SET case_id = ? WHERE id = ?", (new_id, rating_id))
        # Otherwise the case stays (its text is the rating's comment, now the new one), with
        # the receipt it was opened with: that one was shown and kept in 我的反馈 (and on a
        # shared address may be someone else's); the replacement gets none.

    def rating_summary(
        self, station_ids: Sequence[int] | None = None
    ) -> dict[int, tuple[float, int]]:
        where, params = "", []
        if station_ids is not None:
            ids = sorted(set(station_ids))
            if not ids:
                return {}
            where, params = f" WHERE station_id IN ({','.join('?' * len(ids))})", ids
        rows = self._conn().execute(
            "SELECT station_id, avg(stars) AS average, count(*) AS n FROM ratings"
            f"{where} GROUP BY station_id",
            params,
        )
        return {int(r["station_id"]): (float(r["average"]), int(r["n"])) for r in rows}

    def list_ratings(
        self,
        *,
        owner: str | None,
        station_id: int | None = None,
        with_comments: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Rating], int]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if owner is not None:
            clauses.append("coalesce(s.owner, r.owner) = ?")
            params.append(owner)
        if station_id is not None:
            clauses.append("r.station_id = ?")
            params.append(station_id)
        if with_comments:
            clauses.append("r.comment <> ''")
        where = " AND ".join(clauses)
        source = "ratings r LEFT JOIN stations s ON s.id = r.station_id"
        conn = self._conn()
        total = int(
            conn.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()[0]
        )
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM {source} WHERE {where} "
            "ORDER BY r.updated_at DESC, r.id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        ).fetchall()
        return [self._rating(r) for r in rows], total
