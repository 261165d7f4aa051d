"""Rate limits on anonymous writes, checked inside the write's own transaction so that
every worker on every machine counts the same rows (reports, check-ins, ratings)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from stations.domain.feedback import RateLimit, TooManyRequestsError
from stations.storage.sqlbase import stamp


def check_limits(
    c: Any,
    *,
    table: str,
    time_column: str,
    limits: Sequence[RateLimit],
    client_hash: str,
    station_id: int,
    now: datetime,
    error: type[TooManyRequestsError],
) -> None:
    """Raise ``error`` if one more row of ``table`` would pass one of ``limits``: rows of
    the same client, about the same station, or both, after ``now - window``. The wait it
    names is exact: until the oldest row that counts leaves the window."""
    for limit in limits:
        params: list[Any]
        if limit.scope == "client":
            where, params = "client_hash = ?", [client_hash]
        elif limit.scope == "station":
            where, params = "station_id = ?", [station_id]
        else:
            where, params = "station_id = ? AND client_hash = ?", [station_id, client_hash]
        start = now - timedelta(seconds=limit.window_s)
        rows = c.execute(
            f"SELECT {time_column} FROM {table} WHERE {where} AND {time_column} > ? "
            f"ORDER BY {time_column} DESC LIMIT ?",
            [*params, stamp(start), limit.count],
        ).fetchall()
        if len(rows) >= limit.count:
            # Free again when the oldest row that counts leaves the window.
            oldest = datetime.fromisoformat(rows[limit.count - 1][0])
            wait = (oldest + timedelta(seconds=limit.window_s) - now).total_seconds()
            raise error(limit.scope, max(1, math.ceil(wait)))
