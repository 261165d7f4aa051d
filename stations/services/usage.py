"""How much the stations are used: check-in counts by day, hour or occupation.

Usage counts are public figures (GET /v1/usage, the console's 使用情况): sums of the hourly
rollup only, with no address, comment or person in them, so anyone may read any district's
or station's. The console narrows a district clerk's view to their district by default.
"""

from __future__ import annotations

from collections.abc import Container
from datetime import date

from stations.domain.errors import InvalidOptionError
from stations.domain.visits import UsageBucket, UsageQuery
from stations.storage.store import Store


def usage(
    store: Store,
    *,
    by: str,
    since: date,
    until: date,
    district: str | None = None,
    station_id: int | None = None,
    known_districts: Container[str] | None = None,
) -> tuple[UsageQuery, list[UsageBucket]]:
    """The check-ins of ``district`` or ``station_id`` (neither: the whole city) over the
    Shanghai days ``since``..``until`` (inclusive), one bucket per ``by`` value, zeros
    included. ``known_districts``: the adcodes a district must be one of."""
    if district is not None and known_districts is not None and district not in known_districts:
        raise InvalidOptionError("district", f"没有这个区县：{district}", code="unknown_district")
    q = UsageQuery(by=by, since=since, until=until, district=district, station_id=station_id)
    return q, store.usage(q)
