"""Costly computations for requests (coverage and district figures, maps, gaps, along-route):
a few at a time per worker, and at most two at a time for one client address.

Each may take seconds of CPU that no cache saves when the question is new (a new radius,
time or route each), and anyone may ask. Unbounded, a handful of such requests held every
worker thread and both cores, and a rider's nearest or a clerk's page waited behind them.
So a worker computes at most :data:`RUNNING` at once and lets :data:`WAITING` more wait up
to :data:`WAIT_S` for a turn; past that a request is refused at once (503 ``busy``,
Retry-After). One address may have :data:`PER_CLIENT` computing or waiting (429
``too_many_at_once``): one client cannot take every turn.

A turn is taken only to compute (:func:`stations.readmodel.index.computing`: a cache's miss,
gaps, an along-route search) and given back before the answer is sent: what is kept
already is answered at once, and a slow phone downloading a map holds no turn. The
:class:`HeavyTurns` middleware names each request's client for it. What is kept is
bounded by the requests in flight, never by how many addresses ever asked.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import partial

from starlette.types import ASGIApp, Receive, Scope, Send

from stations.domain.errors import BusyError, TooManyAtOnceError
from stations.domain.feedback import client_key
from stations.readmodel.index import COMPUTE_TURN, NoTurnNow

RUNNING = max(1, min(4, os.cpu_count() or 1))
WAITING = 6
PER_CLIENT = 2
WAIT_S = 10.0
# Whether this context holds a turn already (a nested computation takes no other).
_HOLDING: ContextVar[bool] = ContextVar("holding_a_turn", default=False)


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
    def slot(self, client: str, *, wait: bool = True) -> Iterator[None]:
        """Hold a turn while computing; within one, a nested computation needs no other.
        ``wait`` False: only a turn free now (NoTurnNow if none is, the client's count
        untouched)."""
        if _HOLDING.get():
            yield
            return
        self._enter(client)
        try:
            if not self._turns.acquire(timeout=self.wait_s if wait else 0):
                raise BusyError() if wait else NoTurnNow()
            held = _HOLDING.set(True)
            try:
                yield
            finally:
                _HOLDING.reset(held)
                self._turns.release()
        finally:
            self._leave(client)

    def in_flight(self) -> tuple[int, int]:
        """Requests running or waiting, and how many addresses they come from."""
        with self._lock:
            return self._in_flight, len(self._by_client)


class HeavyTurns:
    """Pure ASGI middleware: each HTTP request's computations take their turns at the app's
    :class:`HeavyGate` (``app.state.heavy_gate``) as its client's (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gate: HeavyGate = scope["app"].state.heavy_gate
        client = scope.get("client")
        key = client_key(client[0] if client else "unknown")
        token = COMPUTE_TURN.set(partial(gate.slot, key))
        try:
            await self.app(scope, receive, send)
        finally:
            COMPUTE_TURN.reset(token)
