"""The warm-up after start-up (``YIZHAN_WARM_START``), in a background thread: every
station's serialised nearest result made, then the app asks itself, as a client would,
for what takes seconds on a cold snapshot."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import MutableMapping, Sequence
from typing import Any

from fastapi import FastAPI

from api.representation import fill_nearest_parts
from geodata.area_tiles import EXACT_FROM, LEVELS

log = logging.getLogger("yizhan.api")

# What a planner opens first, and what takes seconds on a cold snapshot (coverage of every
# district, the map drawn): asked for once after start-up, as a client would, so that the
# answers are kept in the snapshot's memo before anyone waits for them. The map by walking
# time also builds the walk network's cell grid (snapping every 50 m cell: 10-30 s per
# million edges), which every coverage, gaps and map request by travel needs; without a
# walk network it is a quick 409.
# A district tile of each zoom the area tiles keep a simplified copy for makes that copy
# (0.5-4 s each for China's 2,848 counties, 10 s for the first, which also puts them in
# Web Mercator and dissolves the provinces).
WARM_PATHS = (
    "/v1/districts",
    "/maps/coverage",
    *(f"/tiles/districts/{z}/0/0.json" for z in (*LEVELS, EXACT_FROM)),
    "/maps/coverage?travel=walk",
)


class Warmer:
    """The warm-up thread: :meth:`stop` skips what it has not started and waits for it."""

    def __init__(self, app: FastAPI, paths: Sequence[str]) -> None:
        self.stopping = threading.Event()
        self.thread = threading.Thread(
            target=lambda: asyncio.run(_warm(app, paths, self.stopping)),
            name="yizhan-warm",
            daemon=True,
        )
        self.thread.start()

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)

    def is_alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self, timeout_s: float = 60.0) -> None:
        self.stopping.set()
        self.thread.join(timeout_s)


def start_warming(app: FastAPI, paths: Sequence[str] = WARM_PATHS) -> Warmer:
    """Request ``paths`` from ``app`` itself in a background thread (its own event loop)."""
    return Warmer(app, paths)


async def _warm(app: FastAPI, paths: Sequence[str], stopping: threading.Event) -> None:
    _warm_nearest(app, stopping)
    for path in paths:
        if stopping.is_set():
            return
        started = time.perf_counter()
        try:
            status = await _get(app, path)
        except Exception:  # a warm-up that fails leaves the first request to do the work
            log.exception("warming %s failed", path)
            continue
        log.info("warmed %s (%d) in %.1f s", path, status, time.perf_counter() - started)


def _warm_nearest(app: FastAPI, stopping: threading.Event) -> None:
    """Every station's serialised nearest result, first (the riders' answers: without it
    the first answers near each station pay for it, most of an answer's time across
    China); again for a snapshot that a write replaced meanwhile (its other stations'
    are carried over)."""
    started = time.perf_counter()
    limit = app.state.services.settings.nearest_memo_stations
    warmed = None
    try:
        for _ in range(3):
            index = app.state.services.index.current()
            if index is warmed:
                break
            made = fill_nearest_parts(index, limit=limit, stopping=stopping.is_set)
            warmed = index
    except Exception:  # as a warm-up path's failure: the answers make them as before
        log.exception("warming the nearest results failed")
        return
    log.info("warmed %d nearest results in %.1f s", made, time.perf_counter() - started)


async def _get(app: FastAPI, target: str) -> int:
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"user-agent", b"yizhan-warm")],
        "client": ("127.0.0.1", 0),
        "server": ("localhost", 80),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0] if status else 0
