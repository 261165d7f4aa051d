"""JSON bytes that are kept (in a calendar, a snapshot's cache, an app's assets).

orjson 3.12 and later return ``dumps`` output in the buffer it grew while writing and never
give back the rest: a 300-byte event brief holds 4 KB, a 1.5 KB document 16 KB (measured
with tracemalloc; ijl/orjson#483, home-assistant/core#181240). That costs nothing for an
answer sent and dropped, but ten times the memory for what stays. What is kept is made
with :func:`kept_json`: the same bytes in an allocation of their own length.
"""

from __future__ import annotations

from typing import Any

import orjson


def trimmed(data: bytes) -> bytes:
    """``data`` in an allocation of its own length (a copy: one memcpy)."""
    return bytes(memoryview(data))


def kept_json(value: Any, *, option: int | None = None) -> bytes:
    """``orjson.dumps(value, option=option)``, trimmed to its length, for keeping."""
    return trimmed(orjson.dumps(value, option=option))
