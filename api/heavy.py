"""Costly public reads (coverage, gaps, district figures, the coverage map, along-route): a
few at a time per worker, and at most two at a time from one client address.

Each of them may take seconds of CPU that no cache saves when the question is new (a new
radius, time or route each), and anyone may ask. Unbounded, a handful of such requests
held every worker thread and both cores, and a rider's nearest or a clerk's page waited
behind them. So a worker runs at most :data:`RUNNING` at once and lets :data:`WAITING`
more wait up to :data:`WAIT_S` for a turn; past that a request is refused at once (503
``busy``, Retry-After). One address may have :data:`PER_CLIENT` running or waiting (429
``too_many_at_once``): one client cannot take every turn. What is kept is bounded by the
requests in flight, never by how many addresses ever asked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Annotated

from fastapi import Depends, Request

from stations.domain.errors import BusyError, TooManyAtOnceError
from stations.domain.feedback import client_key

RUNNING = max(1, min(4, os.cpu_count() or 1))
WAITING = 6
PER_CLIENT = 2
WAIT_S = 10.0


class HeavyGate:
    """Turns for costly requests (see the module): ``slot(client)`` holds one."""

    def __init__(
        self,
        *,
        running: int = RUNNING,
        waiting: int = WAITING,
        per_client: int = PER_CLIENT,
        wait_s: float = WAIT_S,
    ) -> None:
        self.running, self.waiting, self.per_client, self.wait_s = (
            running,
            waiting,
            per_client,
            wait_s,
        )
        self._turns = threading.BoundedSemaphore(running)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._by_client: dict[str, int] = {}  # only clients with a request in flight

    def _enter(self, client: str) -> None:
        with self._lock:
            if self._by_client.get(client, 0) >= self.per_client:
                raise TooManyAtOnceError(self.per_client)
            if self._in_flight >= self.running + self.waiting:
                raise BusyError()
            self._in_flight += 1
            self._by_client[client] = self._by_client.get(client, 0) + 1

    def _leave(self, client: str) -> None:
        with self._lock:
            self._in_flight -= 1
            left = self._by_client[client] - 1
            if left:
                self._by_client[client] = left
            else:
                del self._by_client[client]

    @contextmanager
    def slot(self, client: str) -> Iterator[None]:
        """Hold a turn while the request runs."""
        self._enter(client)
        try:
            if not self._turns.acquire(timeout=self.wait_s):
                raise BusyError()
            try:
                yield
            finally:
                self._turns.release()
        finally:
            self._leave(client)

    def in_flight(self) -> tuple[int, int]:
        """Requests running or waiting, and how many addresses they come from."""
        with self._lock:
            return self._in_flight, len(self._by_client)


def heavy_turn(request: Request) -> Iterator[None]:
    """A dependency: the request waits for its turn at the app's :class:`HeavyGate`."""
    with heavy_slot(request):
        yield


def heavy_slot(request: Request) -> AbstractContextManager[None]:
    """A turn at the app's :class:`HeavyGate` for ``request``'s client."""
    gate: HeavyGate = request.app.state.heavy_gate
    return gate.slot(client_key(request.client.host if request.client else "unknown"))


HeavyTurn = Annotated[None, Depends(heavy_turn)]
