"""Bearer-token authentication for writes, with failed attempts rate-limited per client."""

from __future__ import annotations

import hashlib
import hmac
import math
import threading
import time
from collections import OrderedDict
from typing import Annotated, Protocol

from fastapi import Depends, Request

from api.deps import get_services
from api.problems import Problem
from stations.domain.auth import Principal, principal, split_token, verify
from stations.domain.errors import ReadOnlyError
from stations.domain.feedback import client_hash, client_key
from stations.storage.store import Store

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="yizhan"'}


class Limiter(Protocol):
    def retry_after_s(self, client: str) -> int: ...

    def fail(self, client: str) -> None: ...


# Clients the in-process limiter remembers at most (Settings.auth_failure_clients_max).
DEFAULT_MAX_CLIENTS = 20_000


class FailureLimiter:
    """At most ``limit`` failed authentications per client in ``window_s`` seconds, counted
    in this process (one process serves: SQLite).

    Memory is bounded: a client is forgotten a window after its last failure, and beyond
    ``max_clients`` the one whose last failure is oldest goes first (a spray of addresses
    evicts itself). Each failure costs the same however many clients are remembered.
    """

    def __init__(
        self, *, limit: int = 10, window_s: float = 60.0, max_clients: int = DEFAULT_MAX_CLIENTS
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_clients = max_clients
        # client -> its last ``limit`` failure times, the least recently failing first.
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._failures)

    def _expire(self, now: float) -> None:
        failures = self._failures
        while failures:
            oldest = next(iter(failures.values()))
            if now - oldest[-1] <= self.window_s:
                return
            failures.popitem(last=False)

    def retry_after_s(self, client: str) -> int:
        """Seconds until this client may try again; 0 if it may now."""
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            times = self._failures.get(client)
            if times is None or len(times) < self.limit:
                return 0
            # ``times`` holds the last ``limit`` failures: free when the first leaves.
            age = now - times[0]
            return 0 if age > self.window_s else max(1, int(self.window_s - age) + 1)

    def fail(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            times = self._failures.pop(client, None) or []
            times.append(now)
            if len(times) > self.limit:
                del times[0]
            self._failures[client] = times
            self._expire(now)
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)


class SharedFailureLimiter:
    """The same limit counted in the registry's database, so that it holds across every
    worker of every machine (PostgreSQL). A failure is kept for one window as a keyed hash
    of the client and the database's time; never a token, never the address.

    Requests already past the check when the limit is reached may still fail and count (at
    most one per request in flight), as with the in-process limiter.
    """

    def __init__(
        self,
        store: Store,
        *,
        key: bytes,
        limit: int = 10,
        window_s: float = 60.0,
        max_clients: int = DEFAULT_MAX_CLIENTS,
    ):
        self.limit = limit
        self.window_s = window_s
        self._store = store
        # Not the feedback hashes' key itself: one address hashes differently in each table.
        self._key = hmac.new(key, b"auth_failures", hashlib.sha256).digest()
        # A read replica's workers can read the failures but not record them: they count
        # their own here (and the primary's, through the table).
        self._local = FailureLimiter(limit=limit, window_s=window_s, max_clients=max_clients)

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


def failure_limiter(
    store: Store, *, limit: int, window_s: float = 60.0, max_clients: int = DEFAULT_MAX_CLIENTS
) -> Limiter:
    """The limiter for ``store``: shared through the database when workers on several
    machines share it, else in this process (fast, and nothing to write)."""
    if store.networked:
        return SharedFailureLimiter(
            store,
            key=store.feedback_salt(),
            limit=limit,
            window_s=window_s,
            max_clients=max_clients,
        )
    return FailureLimiter(limit=limit, window_s=window_s, max_clients=max_clients)


def _too_many(wait: int) -> Problem:
    return Problem(
        "too_many_requests",
        f"too many failed authentications from this address; try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


def get_principal(request: Request) -> Principal:
    """The union behind the request's ``Authorization: Bearer`` token (401/403/429 if not).

    Failures count against the client's address (an IPv6 client's /64) and, when the token
    names a real token, against that token from that address. A valid token is refused
    only when its own count from this address is full: one office behind a NAT address
    keeps working after a colleague's typos. A locked address still gets 429 for every
    token that is not valid (so it learns nothing), and guesses at a known token from it
    fill that token's count, which then holds even the right secret back.
    """
    services = get_services(request)
    limiter: Limiter = request.app.state.auth_limiter
    address = client_key(request.client.host if request.client else "unknown")
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    parts = split_token(value) if header and scheme.lower() == "bearer" else None
    record = services.store.find_token(parts[0]) if parts else None
    token_key = f"{address} token {record.id}" if record is not None else None
    if parts is not None and record is not None and verify(record, parts[1]):
        assert token_key is not None
        wait = limiter.retry_after_s(token_key)
        if wait:
            raise _too_many(wait)
        return principal(record)
    wait = limiter.retry_after_s(address)
    if token_key is not None:
        wait = max(wait, limiter.retry_after_s(token_key))
        limiter.fail(token_key)
    if wait:
        raise _too_many(wait)
    if not header:
        raise Problem(
            "unauthorized", "send Authorization: Bearer <token> to write", headers=_CHALLENGE
        )
    limiter.fail(address)
    # One message for unknown, wrong and revoked tokens: no hint which it was.
    raise Problem(
        "unauthorized",
        "the token is not valid (unknown, wrong or revoked)",
        headers=_CHALLENGE,
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]
