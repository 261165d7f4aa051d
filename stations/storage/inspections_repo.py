"""Spot checks in SQL: each with its photos and the rectifications it opens or closes,
in one transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from stations.domain.inspections import (
    Inspection,
    InspectionQuery,
    NewInspection,
    Photo,
    Rectification,
)
from stations.storage.sqlbase import SQLBase, dump_json, stamp
from stations.storage.store import InspectionStore

# A check and its rectifications follow their station to its current owner and district
# (as its reports and cases do): the check's own columns only for a station no longer kept.
_OWNER = "coalesce(s.owner, i.owner)"
_DISTRICT = "coalesce(s.district_adcode, i.district_adcode)"
_R_DISTRICT = "coalesce(s.district_adcode, r.district_adcode)"
_INSPECTIONS = "inspections i LEFT JOIN stations s ON s.id = i.station_id"
_RECTIFICATIONS = (
    "rectifications r JOIN inspections i ON i.id = r.inspection_id "
    "LEFT JOIN stations s ON s.id = r.station_id"
)
_RECTIFICATION_COLUMNS = (
    f"r.id, r.station_id, {_R_DISTRICT} AS district_adcode, r.inspection_id, r.item_code, "
    "r.item_label, r.opened_at, r.due_at, r.closed_at, r.closed_by, r.failed_again"
)
_INSPECTION_COLUMNS = (
    f"i.id, i.station_id, {_OWNER} AS owner, {_DISTRICT} AS district_adcode, "
    "i.inspected_at, i.recorded_at, i.actor, "
    "i.announced, i.results, i.checklist_version, i.station_version, i.note, "
    "(SELECT count(*) FROM inspection_photos p WHERE p.inspection_id = i.id) AS photo_count"
)


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


class SQLInspections(SQLBase, InspectionStore):
    """The InspectionStore interface in SQL tables (plumbing: sqlbase.py)."""

    @staticmethod
    def _inspection(r: Any, hashes: tuple[str, ...] = ()) -> Inspection:
        return Inspection(
            id=r["id"],
            station_id=r["station_id"],
            owner=r["owner"],
            district_adcode=r["district_adcode"],
            inspected_at=datetime.fromisoformat(r["inspected_at"]),
            recorded_at=datetime.fromisoformat(r["recorded_at"]),
            actor=r["actor"],
            announced=bool(r["announced"]),
            results={str(k): bool(v) for k, v in json.loads(r["results"]).items()},
            checklist_version=r["checklist_version"],
            station_version=r["station_version"],
            note=r["note"],
            photo_count=int(r["photo_count"]),
            photo_hashes=hashes,
        )

    @staticmethod
    def _rectification(r: Any) -> Rectification:
        return Rectification(
            id=r["id"],
            station_id=r["station_id"],
            district_adcode=r["district_adcode"],
            inspection_id=r["inspection_id"],
            item_code=r["item_code"],
            item_label=r["item_label"],
            opened_at=datetime.fromisoformat(r["opened_at"]),
            due_at=datetime.fromisoformat(r["due_at"]),
            closed_at=_time(r["closed_at"]),
            closed_by=r["closed_by"],
            failed_again=int(r["failed_again"]),
        )

    def add_inspection(
        self,
        inspection: NewInspection,
        photos: Sequence[Photo],
        *,
        rectification_due: dict[str, datetime],
    ) -> Inspection:
        n = inspection
        at = stamp(n.inspected_at)
        with self._write() as c:
            inspection_id = int(
                c.execute(
                    "INSERT INTO inspections (station_id, owner, district_adcode, inspected_at,"
                    " recorded_at, actor, announced, results, checklist_version, station_version,"
                    " note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (
                        n.station_id,
                        n.owner,
                        n.district_adcode,
                        at,
                        stamp(n.recorded_at),
                        n.actor,
                        int(n.announced),
                        dump_json(n.results),
                        n.checklist_version,
                        n.station_version,
                        n.note,
                    ),
                ).fetchone()[0]
            )
            for seq, photo in enumerate(photos, 1):
                c.execute(
                    "INSERT INTO inspection_photos (inspection_id, seq, content_type, width,"
                    " height, sha256, data, thumb) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        inspection_id,
                        seq,
                        photo.content_type,
                        photo.width,
                        photo.height,
                        photo.sha256,
                        photo.data,
                        photo.thumb,
                    ),
                )
            passed = [code for code, ok in n.results.items() if ok]
            if passed:
                c.execute(
                    # Not one opened after this check's time (a check recorded late).
                    "UPDATE rectifications SET closed_at = ?, closed_by = ? "
                    "WHERE station_id = ? AND closed_at IS NULL AND opened_at <= ? "
                    f"AND item_code IN ({','.join('?' * len(passed))})",
                    (at, inspection_id, n.station_id, at, *passed),
                )
            if n.results:
                # An item this check's list no longer has (an amenity taken off the record,
                # an item taken out of the checklist file) no longer applies: its open
                # rectification closes too, or no check could ever close it.
                codes = list(n.results)
                c.execute(
                    "UPDATE rectifications SET closed_at = ?, closed_by = ? "
                    "WHERE station_id = ? AND closed_at IS NULL AND opened_at <= ? "
                    f"AND item_code NOT IN ({','.join('?' * len(codes))})",
                    (at, inspection_id, n.station_id, at, *codes),
                )
            for code, ok in n.results.items():
                if not ok:
                    # One open per station and item (the partial unique index): a second
                    # failure, even by a check committed meanwhile, counts on the open one.
                    c.execute(
                        "INSERT INTO rectifications (station_id, district_adcode, inspection_id,"
                        " item_code, item_label, opened_at, due_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                        " ON CONFLICT (station_id, item_code) WHERE closed_at IS NULL"
                        " DO UPDATE SET failed_again = rectifications.failed_again + 1",
                        (
                            n.station_id,
                            n.district_adcode,
                            inspection_id,
                            code,
                            n.labels.get(code, code),
                            at,
                            stamp(rectification_due[code]),
                        ),
                    )
        found = self.find_inspection(inspection_id)
        assert found is not None
        return found

    def find_inspection(self, inspection_id: int) -> Inspection | None:
        conn = self._conn()
        row = conn.execute(
            f"SELECT {_INSPECTION_COLUMNS} FROM {_INSPECTIONS} WHERE i.id = ?", (inspection_id,)
        ).fetchone()
        if row is None:
            return None
        hashes = conn.execute(
            "SELECT sha256 FROM inspection_photos WHERE inspection_id = ? ORDER BY seq",
            (inspection_id,),
        ).fetchall()
        return self._inspection(row, tuple(h["sha256"] for h in hashes))

    def list_inspections(self, q: InspectionQuery) -> tuple[list[Inspection], int]:
        clauses: list[str] = []
        params: list[Any] = []
        if q.station_id is not None:
            clauses.append("i.station_id = ?")
            params.append(q.station_id)
        if q.district is not None:
            clauses.append(f"{_DISTRICT} = ?")
            params.append(q.district)
        if q.owner is not None:
            clauses.append(f"{_OWNER} = ?")
            params.append(q.owner)
        if q.since is not None:
            clauses.append("i.inspected_at >= ?")
            params.append(stamp(q.since))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        conn = self._conn()
        total = conn.execute(f"SELECT count(*) FROM {_INSPECTIONS}{where}", params).fetchone()[0]
        rows = conn.execute(
            f"SELECT {_INSPECTION_COLUMNS} FROM {_INSPECTIONS}{where} "
            "ORDER BY i.inspected_at DESC, i.id DESC LIMIT ? OFFSET ?",
            [*params, q.limit, q.offset],
        ).fetchall()
        return [self._inspection(r) for r in rows], int(total)

    def get_photo(self, inspection_id: int, seq: int, *, thumb: bool) -> tuple[bytes, str] | None:
        column = "thumb" if thumb else "data"
        row = (
            self._conn()
            .execute(
                f"SELECT {column} AS body, content_type FROM inspection_photos "
                "WHERE inspection_id = ? AND seq = ?",
                (inspection_id, seq),
            )
            .fetchone()
        )
        return None if row is None else (bytes(row["body"]), row["content_type"])

    def list_rectifications(
        self,
        *,
        station_id: int | None = None,
        district: str | None = None,
        owner: str | None = None,
        overdue_at: datetime | None = None,
        open_only: bool = True,
        limit: int = 1000,
    ) -> list[Rectification]:
        clauses: list[str] = []
        params: list[Any] = []
        if station_id is not None:
            clauses.append("r.station_id = ?")
            params.append(station_id)
        if district is not None:
            clauses.append(f"{_R_DISTRICT} = ?")
            params.append(district)
        if owner is not None:
            clauses.append(f"{_OWNER} = ?")
            params.append(owner)
        if open_only or overdue_at is not None:
            # A deleted station's are nobody's work: no later check can close them.
            clauses.append("r.closed_at IS NULL AND s.id IS NOT NULL")
        if overdue_at is not None:
            clauses.append("r.due_at < ?")
            params.append(stamp(overdue_at))
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        rows = (
            self._conn()
            .execute(
                f"SELECT {_RECTIFICATION_COLUMNS} FROM {_RECTIFICATIONS}"
                f"{where} ORDER BY r.closed_at IS NOT NULL, r.due_at, r.id LIMIT ?",
                [*params, limit],
            )
            .fetchall()
        )
        return [self._rectification(r) for r in rows]

    def last_inspection_at(self, station_ids: Sequence[int]) -> dict[int, datetime]:
        if not station_ids:
            return {}
        ids = sorted(set(station_ids))
        rows = self._conn().execute(
            "SELECT station_id, max(inspected_at) AS at FROM inspections "
            f"WHERE station_id IN ({','.join('?' * len(ids))}) GROUP BY station_id",
            ids,
        )
        return {r["station_id"]: datetime.fromisoformat(r["at"]) for r in rows}

    def inspection_figures(self, *, since: datetime, now: datetime) -> dict[str, dict[str, int]]:
        conn = self._conn()
        out: dict[str, dict[str, int]] = {}
        empty = {
            "checks": 0,
            "stations_checked": 0,
            "rectifications_open": 0,
            "rectifications_overdue": 0,
        }
        for r in conn.execute(
            "SELECT district_adcode, count(*) AS n, count(DISTINCT station_id) AS s "
            "FROM inspections WHERE inspected_at >= ? GROUP BY district_adcode",
            (stamp(since),),
        ):
            row = out.setdefault(r["district_adcode"], dict(empty))
            row["checks"], row["stations_checked"] = int(r["n"]), int(r["s"])
        for r in conn.execute(
            f"SELECT {_R_DISTRICT} AS district_adcode, count(*) AS n, "
            "sum(CASE WHEN r.due_at < ? THEN 1 ELSE 0 END) AS late "
            f"FROM {_RECTIFICATIONS} WHERE r.closed_at IS NULL AND s.id IS NOT NULL GROUP BY 1",
            (stamp(now),),
        ):
            row = out.setdefault(r["district_adcode"], dict(empty))
            row["rectifications_open"] = int(r["n"])
            row["rectifications_overdue"] = int(r["late"] or 0)
        return out
