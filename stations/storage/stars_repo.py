"""Star ratings in SQL, and the year's figures they are computed from: aggregate queries
over the other operations' tables (inspections, ratings, visit_counts, cases,
rectifications), a few per call, never one per station."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from geodata.hours import TZ
from stations.domain.freshness import UNION_ACTOR_PREFIXES
from stations.domain.stars import DistrictOps, Reason, StarRating, StationOps, StationYear
from stations.storage.sqlbase import SQLBase, dump_json, stamp
from stations.storage.store import StarStore

_OPEN_CASE = "state IN ('open', 'in_progress')"
_UNION_ACTOR = " OR ".join("actor LIKE ?" for _ in UNION_ACTOR_PREFIXES)
_UNION_ACTOR_ARGS = tuple(f"{p}%" for p in UNION_ACTOR_PREFIXES)


def _day(at: datetime) -> str:
    return at.astimezone(TZ).date().isoformat()


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


# The last computation's time (save_star_ratings keeps it in meta).
_LAST_RUN = "SELECT value FROM meta WHERE key = 'stars_computed_at'"


class SQLStars(SQLBase, StarStore):
    """The StarStore interface in SQL tables (plumbing: sqlbase.py)."""

    def ops_inputs(
        self, since: datetime, now: datetime, *, hours_item: str
    ) -> dict[int, StationYear]:
        c = self._bulk_conn()
        start, end = stamp(since), stamp(now)
        figures: dict[int, dict[str, Any]] = defaultdict(dict)
        # Spot checks: their checklists are JSON, read here (a few per station a year).
        rows = c.execute(
            "SELECT station_id, announced, results FROM inspections "
            "WHERE inspected_at >= ? AND inspected_at <= ?",
            (start, end),
        ).fetchall()
        for r in rows:
            f = figures[r["station_id"]]
            results = {k: v for k, v in json.loads(r["results"] or "{}").items() if v in (0, 1)}
            passed = sum(1 for v in results.values() if v)
            f["checks"] = f.get("checks", 0) + 1
            if results and passed == len(results):
                f["checks_passed"] = f.get("checks_passed", 0) + 1
            f["items_checked"] = f.get("items_checked", 0) + len(results)
            f["items_passed"] = f.get("items_passed", 0) + passed
            if not r["announced"] and results and passed == len(results):
                f["unannounced_passed"] = f.get("unannounced_passed", 0) + 1
            if hours_item in results:
                f["hours_checked"] = f.get("hours_checked", 0) + 1
                f["hours_kept"] = f.get("hours_kept", 0) + bool(results[hours_item])
        for r in c.execute(
            "SELECT station_id, AVG(stars) AS average, COUNT(*) AS n FROM ratings "
            "WHERE updated_at >= ? GROUP BY station_id",
            (start,),
        ).fetchall():
            figures[r["station_id"]].update(
                rating_average=float(r["average"]), rating_count=int(r["n"])
            )
        for r in c.execute(
            "SELECT station_id, SUM(n) AS n FROM visit_counts WHERE day >= ? AND day <= ? "
            "GROUP BY station_id",
            (_day(since), _day(now)),
        ).fetchall():
            figures[r["station_id"]]["visits"] = int(r["n"] or 0)
        for r in c.execute(
            "SELECT station_id, "
            "SUM(CASE WHEN opened_at >= ? THEN 1 ELSE 0 END) AS opened, "
            "SUM(CASE WHEN opened_at >= ? AND resolved_at IS NOT NULL AND resolved_at <= due_at "
            "THEN 1 ELSE 0 END) AS in_time, "
            f"SUM(CASE WHEN {_OPEN_CASE} AND due_at < ? AND replied_at IS NULL "
            "THEN 1 ELSE 0 END) AS overdue, "
            "SUM(CASE WHEN opened_at >= ? AND kind = 'closed_during_hours' "
            "AND state = 'confirmed' THEN 1 ELSE 0 END) AS closed "
            f"FROM cases WHERE opened_at >= ? OR {_OPEN_CASE} GROUP BY station_id",
            (start, start, end, start, start),
        ).fetchall():
            figures[r["station_id"]].update(
                cases=int(r["opened"] or 0),
                cases_resolved_in_time=int(r["in_time"] or 0),
                cases_overdue_unanswered=int(r["overdue"] or 0),
                closed_confirmed=int(r["closed"] or 0),
            )
        return {station_id: StationYear(**f) for station_id, f in figures.items()}

    def save_star_ratings(self, rows: Sequence[StarRating], *, computed_at: datetime) -> None:
        with self._write() as c:
            # The run's time, kept even when it rated no station: the stars shown are the
            # last run's (a station it left unrated has none, not an older run's).
            c.execute("DELETE FROM meta WHERE key = 'stars_computed_at'")
            c.execute(
                "INSERT INTO meta (key, value) VALUES ('stars_computed_at', ?)",
                (stamp(computed_at),),
            )
            c.executemany(
                "INSERT INTO star_ratings (station_id, computed_at, district_adcode, stars, "
                "score, reasons, rules_version) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.station_id,
                        stamp(r.computed_at),
                        r.district_adcode,
                        r.stars,
                        r.score,
                        dump_json([reason.as_dict() for reason in r.reasons]),
                        r.rules_version,
                    )
                    for r in rows
                ],
            )

    def latest_star_ratings(self) -> dict[int, StarRating]:
        rows = (
            self._bulk_conn()
            .execute(
                "SELECT s.station_id, s.computed_at, s.district_adcode, s.stars, s.score, "
                "s.reasons, s.rules_version FROM star_ratings s "
                f"WHERE s.computed_at = ({_LAST_RUN})"
            )
            .fetchall()
        )
        return {
            r["station_id"]: StarRating(
                station_id=r["station_id"],
                district_adcode=r["district_adcode"],
                stars=int(r["stars"]),
                score=float(r["score"]),
                reasons=[Reason.from_dict(d) for d in json.loads(r["reasons"] or "[]")],
                computed_at=datetime.fromisoformat(r["computed_at"]),
                rules_version=r["rules_version"],
            )
            for r in rows
        }

    def ops_summary(
        self, *, check_in_day_min: int, check_ins_since: date | None = None
    ) -> dict[int, StationOps]:
        c = self._bulk_conn()
        found: dict[int, dict[str, Any]] = defaultdict(dict)
        for r in c.execute(
            "SELECT station_id, AVG(stars) AS average, COUNT(*) AS n FROM ratings "
            "GROUP BY station_id"
        ).fetchall():
            found[r["station_id"]].update(
                rating_average=round(float(r["average"]), 2), rating_count=int(r["n"])
            )
        for r in c.execute(
            f"SELECT s.station_id, s.stars FROM star_ratings s WHERE s.computed_at = ({_LAST_RUN})"
        ).fetchall():
            found[r["station_id"]]["stars"] = int(r["stars"])
        for r in c.execute(
            "SELECT station_id, MAX(inspected_at) AS at FROM inspections GROUP BY station_id"
        ).fetchall():
            found[r["station_id"]]["last_inspection_at"] = _time(r["at"])
        # A union's last edit: a create or update by a union's actor (an upload of unchanged
        # rows writes no audit entry, so it confirms nothing).
        for r in c.execute(
            "SELECT station_id, MAX(at) AS at FROM audit "
            f"WHERE action IN ('create', 'update') AND ({_UNION_ACTOR}) GROUP BY station_id",
            _UNION_ACTOR_ARGS,
        ).fetchall():
            found[r["station_id"]]["union_edit_at"] = _time(r["at"])
        for r in c.execute(
            "SELECT station_id, MAX(day) AS day FROM (SELECT station_id, day FROM visit_counts "
            "WHERE day >= ? GROUP BY station_id, day HAVING SUM(n) >= ?) d GROUP BY station_id",
            ((check_ins_since or date.min).isoformat(), check_in_day_min),
        ).fetchall():
            found[r["station_id"]]["last_check_in_day"] = date.fromisoformat(r["day"])
        return {station_id: StationOps(**f) for station_id, f in found.items()}

    def unannounced_passed_counts(self, since: datetime, now: datetime) -> dict[int, int]:
        rows = (
            self._bulk_conn()
            .execute(
                "SELECT station_id, results FROM inspections WHERE announced = 0 "
                "AND inspected_at >= ? AND inspected_at <= ?",
                (stamp(since), stamp(now)),
            )
            .fetchall()
        )
        found: dict[int, int] = defaultdict(int)
        for r in rows:
            results = [v for v in json.loads(r["results"] or "{}").values() if v in (0, 1)]
            if results and all(results):
                found[r["station_id"]] += 1
        return dict(found)

    def open_rectification_counts(self) -> dict[int, int]:
        rows = (
            self._bulk_conn()
            .execute(
                "SELECT station_id, COUNT(*) AS n FROM rectifications WHERE closed_at IS NULL "
                "GROUP BY station_id"
            )
            .fetchall()
        )
        return {r["station_id"]: int(r["n"]) for r in rows}

    def ops_figures_by_district(
        self, since: datetime, now: datetime, *, visits_since: datetime | None = None
    ) -> dict[str, DistrictOps]:
        c = self._bulk_conn()
        start, end = stamp(since), stamp(now)
        found: dict[str, dict[str, Any]] = defaultdict(dict)
        queries: tuple[tuple[str, str, tuple[Any, ...]], ...] = (
            (
                "checks",
                "SELECT district_adcode AS d, COUNT(*) AS v FROM inspections "
                "WHERE inspected_at >= ? AND inspected_at <= ? GROUP BY district_adcode",
                (start, end),
            ),
            (
                "rectifications_overdue",
                # A station's open work counts where the station is now (it may have moved);
                # a deleted station's, that no check can close any more, not at all.
                "SELECT s.district_adcode AS d, COUNT(*) AS v "
                "FROM rectifications r JOIN stations s ON s.id = r.station_id "
                "WHERE r.closed_at IS NULL AND r.due_at < ? GROUP BY 1",
                (end,),
            ),
            (
                "cases_overdue",
                "SELECT coalesce(s.district_adcode, c.district_adcode) AS d, COUNT(*) AS v "
                "FROM cases c LEFT JOIN stations s ON s.id = c.station_id "
                f"WHERE c.{_OPEN_CASE} AND c.due_at < ? GROUP BY 1",
                (end,),
            ),
            (
                "rating_average",
                "SELECT s.district_adcode AS d, AVG(r.stars) AS v FROM ratings r "
                "JOIN stations s ON s.id = r.station_id GROUP BY s.district_adcode",
                (),
            ),
            (
                "rating_count",
                "SELECT s.district_adcode AS d, COUNT(*) AS v FROM ratings r "
                "JOIN stations s ON s.id = r.station_id GROUP BY s.district_adcode",
                (),
            ),
            (
                "visits",
                "SELECT district_adcode AS d, SUM(n) AS v FROM visit_counts "
                "WHERE day >= ? AND day <= ? GROUP BY district_adcode",
                (_day(visits_since or since), _day(now)),
            ),
        )
        for name, sql, args in queries:
            for r in c.execute(sql, args).fetchall():
                value = r["v"]
                found[r["d"]][name] = (
                    round(float(value), 2) if name == "rating_average" else int(value or 0)
                )
        return {adcode: DistrictOps(**f) for adcode, f in found.items()}
