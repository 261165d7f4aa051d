"""Rows of the operations' tables seeded with raw SQL (the packages that write them are
built in parallel; these are the schema's columns, stations/storage/schema.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from geodata.hours import TZ
from stations.storage.sqlbase import stamp

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=TZ)


def _at(at: datetime | None) -> str:
    return stamp(at or NOW)


def inspection(
    store: Any,
    station_id: int,
    results: dict[str, bool],
    *,
    at: datetime | None = None,
    announced: bool = False,
    district: str = "500103",
) -> int:
    with store._write() as c:
        return int(
            c.execute(
                "INSERT INTO inspections (station_id, owner, district_adcode, inspected_at, "
                "recorded_at, actor, announced, results, checklist_version, station_version) "
                "VALUES (?, 'district:500103', ?, ?, ?, 'district:500103 t', ?, ?, 'v', 1) "
                "RETURNING id",
                (station_id, district, _at(at), _at(at), int(announced), json.dumps(results)),
            ).fetchone()[0]
        )


def rectification(
    store: Any,
    station_id: int,
    inspection_id: int,
    *,
    due: datetime,
    closed: bool = False,
    district: str = "500103",
) -> None:
    with store._write() as c:
        c.execute(
            "INSERT INTO rectifications (station_id, district_adcode, inspection_id, item_code, "
            "item_label, opened_at, due_at, closed_at) "
            "VALUES (?, ?, ?, 'hygiene', '卫生', ?, ?, ?)",
            (
                station_id,
                district,
                inspection_id,
                _at(due - timedelta(days=7)),
                _at(due),
                _at(due) if closed else None,
            ),
        )


def rating(
    store: Any,
    station_id: int,
    stars: int,
    *,
    comment: str = "",
    client: str = "h",
    at: datetime | None = None,
) -> int:
    with store._write() as c:
        return int(
            c.execute(
                "INSERT INTO ratings (station_id, owner, stars, comment, client_hash, created_at, "
                "updated_at) VALUES (?, 'district:500103', ?, ?, ?, ?, ?) RETURNING id",
                (station_id, stars, comment, client, _at(at), _at(at)),
            ).fetchone()[0]
        )


def visits(
    store: Any, station_id: int, day: str, n: int, *, hour: int = 12, district: str = "500103"
) -> None:
    with store._write() as c:
        c.execute(
            "INSERT INTO visit_counts (station_id, district_adcode, day, hour, n, n_delivery) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (station_id, district, day, hour, n, n),
        )


def case(
    store: Any,
    station_id: int,
    *,
    kind: str = "locked",
    state: str = "open",
    opened: datetime | None = None,
    due: datetime | None = None,
    resolved: datetime | None = None,
    replied: bool = False,
    district: str = "500103",
) -> None:
    opened = opened or NOW - timedelta(days=5)
    due = due or opened + timedelta(days=1)
    with store._write() as c:
        c.execute(
            "INSERT INTO cases (station_id, owner, district_adcode, source, kind, state, "
            "opened_at, due_at, state_at, resolved_at, reply, replied_at) "
            "VALUES (?, 'district:500103', ?, 'report', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                station_id,
                district,
                kind,
                state,
                _at(opened),
                _at(due),
                _at(opened),
                _at(resolved) if resolved else None,
                "已处理" if replied else "",
                _at(opened) if replied else None,
            ),
        )
