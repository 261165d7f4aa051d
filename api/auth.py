"""Bearer-token authentication for writes, with failed attempts rate-limited per client."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import deque
from typing import Annotated, Protocol

from fastapi import Depends, Request

from stations.auth import Principal, principal, split_token, verify
from stations.feedback import client_hash
from stations.store import ReadOnlyError, Store

from .deps import get_services
from .problems import Problem

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="yizhan"'}


class Limiter(Protocol):
    def retry_after_s(self, client: str) -> int: ...

    def fail(self, client: str) -> None: ...


class FailureLimiter:
    """At most ``limit`` failed authentications per client address in ``window_s`` seconds,
    counted in this process (one process serves: SQLite)."""

    def __init__(self, *, limit: int = 10, window_s: float = 60.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._failures.setdefault(client, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after_s(self, client: str) -> int:
        """Seconds until this client may try again; 0 if it may now."""
        now = time.monotonic()
        with self._lock:
            times = self._recent(client, now)
            if len(times) < self.limit:
                return 0
            return max(1, int(self.window_s - (now - times[0])) + 1)

    def fail(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._recent(client, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of addresses
                self._failures = {k: v for k, v in self._failures.items() if v}


class SharedFailureLimiter:
    """The same limit counted in the registry's database, so that it holds across every
    worker of every machine (PostgreSQL). A failure is kept for one window as a keyed hash
    of the address and the database's time; never a token, never the address.

    Requests already past the check when the limit is reached may still fail and count (at
    most one per request in flight), as with the in-process limiter.
    """

    def __init__(self, store: Store, *, key: bytes, limit: int = 10, window_s: float = 60.0):
        self.limit = limit
        self.window_s = window_s
        self._store = store
        # Not the feedback hashes' key itself: one address hashes differently in each table.
        self._key = hmac.new(key, b"auth_failures", hashlib.sha256).digest()
        # A read replica's workers can read the failures but not record them: they count
        # their own here (and the primary's, through the table).
        self._local = FailureLimiter(limit=limit, window_s=window_s)

    def retry_after_s(self, client: str) -> int:
        ages = self._store.auth_failure_ages(client_hash(client, self._key), window_s=self.window_s)
        wait = 0
        if len(ages) >= self.limit:
            # Free again when the oldest failure that counts leaves the window.
            wait = max(1, math.ceil(self.window_s - ages[len(ages) - self.limit]))
        return max(wait, self._local.retry_after_s(client))

    def fail(self, client: str) -> None:
        try:
            self._store.add_auth_failure(client_hash(client, self._key), keep_s=self.window_s)
        except ReadOnlyError:
            self._local.fail(client)


def failure_limiter(store: Store, *, limit: int, window_s: float = 60.0) -> Limiter:
    """The limiter for ``store``: shared through the database when workers on several
    machines share it, else in this process (fast, and nothing to write)."""
    if store.networked:
        return SharedFailureLimiter(
            store, key=store.feedback_salt(), limit=limit, window_s=window_s
        )
    return FailureLimiter(limit=limit, window_s=window_s)


def get_principal(request: Request) -> Principal:
    """The union behind the request's ``Authorization: Bearer`` token (401/403/429 if not)."""
    services = get_services(request)
    limiter: Limiter = request.app.state.auth_limiter
    client = request.client.host if request.client else "unknown"
    wait = limiter.retry_after_s(client)
    if wait:
        raise Problem(
            "too_many_requests",
            f"too many failed authentications from this address; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if not header:
        raise Problem(
            "unauthorized", "send Authorization: Bearer <token> to write", headers=_CHALLENGE
        )
    parts = split_token(value) if scheme.lower() == "bearer" else None
    record = services.store.find_token(parts[0]) if parts else None
    if parts is None or record is None or not verify(record, parts[1]):
        limiter.fail(client)
        # One message for unknown, wrong and revoked tokens: no hint which it was.
        raise Problem(
            "unauthorized",
            "the token is not valid (unknown, wrong or revoked)",
            headers=_CHALLENGE,
        )
    return principal(record)


PrincipalDep = Annotated[Principal, Depends(get_principal)]
