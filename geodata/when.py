"""Reading a wall-clock time as people write it: ISO 8601, Asia/Shanghai unless it says.

The one parser for every time a user gives (``at=`` on nearest, coverage and maps,
``yizhan map --at``, a listing's ``checked_at`` in a body or a spreadsheet). Naive times
are Asia/Shanghai wall time; aware ones are converted to it.

Only times in :data:`EARLIEST`..:data:`LATEST` are taken. Outside that range nothing in
this registry has a meaning (no station, no 上图 check, no holiday calendar), and the
edges of Python's calendar break: ``0001-01-01T00:00+14:00`` overflows when converted,
and Shanghai before 1901 is local mean time (``+08:05:43``), not China Standard Time.
Refusing them with a clear message is more useful than answering for the year 1.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from geodata.hours import TZ

__all__ = ["EARLIEST", "LATEST", "TimeError", "parse_time"]

EARLIEST: Final = datetime(2000, 1, 1, tzinfo=TZ)
LATEST: Final = datetime(2099, 12, 31, 23, 59, 59, tzinfo=TZ)


class TimeError(ValueError):
    """A time that cannot be read, or lies outside EARLIEST..LATEST; ``code`` says which.

    ``str()`` is the English reason (for API clients), ``zh`` the Chinese one (for clerks).
    """

    def __init__(self, code: str, message: str, zh: str) -> None:
        super().__init__(message)
        self.code = code
        self.zh = zh


def _checked(at: datetime, shown: object) -> datetime:
    # Years outside 1999..2100 are refused before any conversion, which could overflow
    # (year 1 at +14:00 is before datetime.min in UTC); within them every offset converts.
    in_years = EARLIEST.year - 1 <= at.year <= LATEST.year + 1
    if in_years:
        at = at.replace(tzinfo=TZ) if at.tzinfo is None else at.astimezone(TZ)
    if not in_years or not EARLIEST <= at <= LATEST:
        first, last = f"{EARLIEST:%Y-%m-%d}", f"{LATEST:%Y-%m-%d}"
        raise TimeError(
            "time_out_of_range",
            f"{shown} is outside the times this service answers for ({first} to {last})",
            f"时间超出可用范围（{first} 至 {last}）：{shown}",
        )
    return at


def parse_time(value: str | datetime) -> datetime:
    """Return ``value`` (ISO 8601 text, or a datetime) as an aware Asia/Shanghai datetime.

    ``2025-10-01 14:30``, ``2025-10-01T14:30``, ``2025-10-01T06:30Z`` and
    ``2025-10-01T14:30+08:00`` are all read; a date alone is its midnight. Raises
    :class:`TimeError` (code ``invalid_time`` or ``time_out_of_range``).
    """
    if isinstance(value, datetime):
        return _checked(value, value.isoformat())
    text = str(value).strip()
    try:
        at = datetime.fromisoformat(text.replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        raise TimeError(
            "invalid_time",
            f"{text!r} is not an ISO 8601 time; write e.g. 2025-10-01T14:30 (Asia/Shanghai) "
            "or 2025-10-01T06:30Z",
            f"日期时间格式不对（例：2025-06-30 10:00）：{text}",
        ) from None
    return _checked(at, text)
