"""The server's logging: uvicorn's, with repeated lines counted instead of repeated."""

from __future__ import annotations

import copy
import logging
import threading
import time
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class RepeatFilter(logging.Filter):
    """Lets the first record of each kind through (same logger, level and message
    template: "database unavailable on %s %s: %s" is one kind whatever the path), drops
    the same kind for ``every_s`` seconds after it, and then lets the next one through
    with the count of those dropped. During a database outage every failing request has
    a line to log: hundreds a second, where one says it all."""

    def __init__(self, name: str = "", *, every_s: float = 10.0, kinds: int = 1000) -> None:
        super().__init__(name)
        self.every_s = every_s
        self._kinds = kinds  # at most this many kinds remembered (messages not templated)
        self._seen: dict[tuple[str, int, str], list[float]] = {}  # kind -> [since, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        with self._lock:
            seen = self._seen.get(kind)
            if seen is not None and now - seen[0] < self.every_s:
                seen[1] += 1
                return False
            dropped = int(seen[1]) if seen is not None else 0
            if seen is None and len(self._seen) >= self._kinds:
                self._seen.pop(next(iter(self._seen)))
            self._seen[kind] = [now, 0]
        if dropped:
            record.msg = (
                f"{record.getMessage()} [and {dropped} more like this in the "
                f"{now - seen[0]:.0f} s before, not shown]"  # type: ignore[index]
            )
            record.args = None
        return True


def log_config(*, every_s: float = 10.0) -> dict[str, Any]:
    """uvicorn's logging configuration, with ``yizhan.*`` logs at INFO beside its own and
    repeated lines rate-limited (not the access log: each of its lines is a request)."""
    config = copy.deepcopy(LOGGING_CONFIG)
    config["filters"] = {"repeats": {"()": RepeatFilter, "every_s": every_s}}
    config["handlers"]["default"]["filters"] = ["repeats"]
    config["loggers"]["yizhan"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    # The pool's own reconnection warnings repeat what the store says once (the cause),
    # in libpq's several lines each.
    config["loggers"]["psycopg.pool"] = {"level": "ERROR"}
    config["root"] = {"handlers": ["default"], "level": "WARNING"}
    return config
