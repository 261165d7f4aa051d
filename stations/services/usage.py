"""How much the stations are used: check-in counts by day, hour or occupation.

Usage counts are public figures (GET /v1/usage, the console's 使用情况): sums of the hourly
rollup only, with no address, comment or person in them, so anyone may read any district's
or station's. The console narrows a district clerk's view to their district by default.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date

from stations.domain.auth import Principal
from stations.domain.errors import InvalidOptionError
from stations.domain.visits import USAGE_BY, UsageBucket, UsageQuery
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


def usage_scope(by: Principal, district: str | None) -> str | None:
    """The district whose figures the console shows ``by``: a district union's own (what
    it asks for otherwise is ignored), the one asked for (None: the city) for the others."""
    return by.planning_scope if by.planning_scope is not None else district


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The console's 使用情况: one range, one scope, every figure."""

    since: date
    until: date
    district: str | None
    station_id: int | None
    by_day: list[UsageBucket]
    by_hour: list[UsageBucket]
    by_occupation: list[UsageBucket]

    @property
    def total(self) -> int:
        return sum(b.n for b in self.by_day)


def usage_report(
    store: Store,
    by: Principal,
    *,
    since: date,
    until: date,
    district: str | None,
    station_id: int | None,
    known_districts: Container[str] | None = None,
) -> UsageReport:
    """The three figures (by day, hour, occupation) of :func:`usage` for ``by``'s scope."""
    scope = usage_scope(by, district)
    figures = {
        kind: usage(
            store,
            by=kind,
            since=since,
            until=until,
            district=scope,
            station_id=station_id,
            known_districts=known_districts,
        )[1]
        for kind in USAGE_BY
    }
    return UsageReport(
        since, until, scope, station_id, figures["day"], figures["hour"], figures["occupation"]
    )
