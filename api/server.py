"""uvicorn's HTTP protocol with the time and connection limits it lacks (slow clients).

uvicorn (0.54) holds a connection for ever until its first request's headers are complete:
its keep-alive timer runs only between requests, and any byte received cancels it, so a
client sending a header a byte at a time (slowloris), or nothing at all, keeps a file
descriptor for as long as it likes; and ``limit_concurrency`` only answers 503 to complete
requests once too many connections are open (the slow ones among them), so it keeps the
descriptors too and turns the normal clients away. Here a connection must deliver each
request's line and headers within ``head_timeout_s`` of opening (or of its first byte,
after the previous answer), and a body must not stall for more than ``body_timeout_s``
between two reads (nginx's ``client_header_timeout`` and ``client_body_timeout``); and a
worker accepts at most ``max_connections`` at once, ``max_per_client`` from one address
(nginx's ``limit_conn``), closing any more as soon as they are made.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from api.http_errors import ProblemHttpToolsProtocol

log = logging.getLogger("yizhan.server")


@dataclass(frozen=True)
class ConnectionLimits:
    """Per worker process; picklable, so that ``--workers`` processes get it too."""

    head_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000
    max_per_client: int = 100
    # Comma-separated addresses and networks (or "*") not limited per client: a reverse
    # proxy, whose connections are every client's (it limits them itself).
    unlimited_clients: str = "127.0.0.1"

    def per_client(self, host: str | None) -> bool:
        """Whether connections from ``host`` count against ``max_per_client``."""
        if host is None:  # a Unix socket: the proxy in front
            return False
        items = [i for i in self.unlimited_clients.split(",") if i]
        if "*" in items:
            return False
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return True
        return not any(address in ipaddress.ip_network(i, strict=False) for i in items)


# This process's open connections by client address (one server per worker process).
_per_client: Counter[str] = Counter()
_open = 0


class LimitedHttpToolsProtocol(ProblemHttpToolsProtocol):
    """One HTTP/1.1 connection, under :class:`ConnectionLimits` (see the module); a request
    its parser refuses is answered with problem+json (:mod:`api.http_errors`)."""

    def __init__(self, *args: Any, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._counted: str | None = None  # the client address counted, if any
        self._accepted = False

    # -- connection limits ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        global _open
        peer = transport.get_extra_info("peername")
        host = peer[0] if isinstance(peer, tuple) and peer else None
        limits = self.limits
        counted = host if host is not None and limits.per_client(host) else None
        if _open >= limits.max_connections or (
            counted is not None and _per_client[counted] >= limits.max_per_client
        ):
            # Closed before anything is read: the descriptor is free again at once.
            which = "in all" if _open >= limits.max_connections else f"from {host}"
            log.warning("refused a connection: too many open %s", which)
            transport.abort()  # type: ignore[attr-defined]
            return
        self._accepted = True
        _open += 1
        if counted is not None:
            _per_client[counted] += 1
            self._counted = counted
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        global _open
        if not self._accepted:
            return
        self._accepted = False
        _open -= 1
        if self._counted is not None:
            _per_client[self._counted] -= 1
            if _per_client[self._counted] <= 0:
                del _per_client[self._counted]
        self._cancel_timers()
        super().connection_lost(exc)

    # -- time limits ----------------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout_s, self._head_late)

    def _arm_body_timer(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
        self._body_timer = self.loop.call_later(self.limits.body_timeout_s, self._body_late)

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None

    def _head_late(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def _body_late(self) -> None:
        self._body_timer = None
        if self.flow is not None and self.flow.read_paused:
            # The application is not reading (a full buffer): the client is not to blame.
            self._arm_body_timer()
            return
        if not self.transport.is_closing():
            log.warning("closed a connection whose request body stalled: %s", self.client)
            self.transport.close()

    def on_headers_complete(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._arm_body_timer()  # until the message is complete (at once for most)
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._arm_body_timer()
        super().on_body(body)

    def on_message_complete(self) -> None:
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        # Idle between requests, the keep-alive timer runs (YIZHAN_KEEP_ALIVE_S, which may
        # be longer: a proxy's idle connections); the next request's first bytes stop it
        # and start its head's clock, the same time as the first request's.
        if self._head_timer is None and self.timeout_keep_alive_task is not None:
            self._arm_head_timer()
        super().data_received(data)

    def timeout_keep_alive_handler(self) -> None:
        self._cancel_timers()
        super().timeout_keep_alive_handler()
