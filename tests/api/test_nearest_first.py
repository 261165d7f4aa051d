"""The app answering a plain nearest request before its middleware stack
(api/fast_nearest.py ``NearestFirstAPI``) against the same request down the stack.

Three builds of the app on one store: as served (the lane ahead of the stack, then
``FastNearest`` in it), with the lane off (``nearest_first = False``: every request down
the stack, to ``FastNearest``) and with neither (the FastAPI route answers). Every answer
must be the same to the byte, errors and the requests the lane hands on included; and
through a real uvicorn server, the headers it adds and its access log lines too.
"""

from __future__ import annotations

import asyncio
import functools
import http.client
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from urllib.parse import quote

import pytest
import uvicorn
import uvloop
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from api.fast_nearest import FastNearest, NearestFirstAPI, PerTurn
from api.server import ConnectionLimits, LimitedHttpToolsProtocol
from stations.domain.errors import DatabaseUnavailableError
from stations.readmodel.index import IndexHolder
from tests.api.clients import make_app
from tests.api.test_fast_nearest import AT, queries, seed, without_fast_path

PLAIN = "lon=106.5772&lat=29.557&at=" + quote(AT)
# Plain ones, every error the lane hands on, by route, and odd forms (path, method, query).
TARGETS = [
    ("GET", f"/v1/stations/nearest?{PLAIN}"),
    ("GET", f"/v1/stations/nearest?{PLAIN}&k=3&f=geojson&out_crs=gcj02"),
    ("GET", f"/v1/stations/nearest?{PLAIN}&f=csv&status=any&amenity=hot_water"),
    ("GET", f"/v1/stations/nearest?{PLAIN}&radius_m=1"),  # none within: the hint
    ("GET", f"/v1/stations/nearest?{PLAIN}&k=1000"),  # 422
    ("GET", "/v1/stations/nearest?lon=106.5772"),  # 422: lat missing
    ("GET", f"/v1/stations/nearest?{PLAIN}&crs=mars"),  # 422
    ("GET", f"/v1/stations/nearest?{PLAIN}&travel=walk"),  # by route: no network, 409
    ("GET", f"/v1/stations/nearest?{PLAIN}&k=5&k=200&&=&flag"),
    ("GET", f"/v1/stations/nearest/?{PLAIN}"),  # the router's redirect
    ("HEAD", f"/v1/stations/nearest?{PLAIN}"),
    ("POST", f"/v1/stations/nearest?{PLAIN}"),  # 405
    ("GET", "/healthz"),
]
# Headers a client may send: none changes the answer, on either way.
HEADERS = [
    {},
    {"Accept-Encoding": "gzip, br", "Accept": "application/geo+json"},
    {"Origin": "https://example.org", "If-None-Match": '"x"', "Authorization": "Bearer nope"},
    {"X-Forwarded-For": "203.0.113.9", "X-Request-Id": "abc", "Cookie": "a=b"},
]


def lane_off(app: FastAPI) -> FastAPI:
    """``app`` with every request going down its middleware stack (FastNearest in it)."""
    assert isinstance(app, NearestFirstAPI)
    app.nearest_first = False
    return app


@pytest.fixture
def apps(any_store, districts, db_path):
    """(served, lane off, route only) apps on one seeded store (SQLite; PostGIS, slow)."""
    seed(any_store, districts)
    return (
        make_app(any_store, districts, db_path),
        lane_off(make_app(any_store, districts, db_path)),
        without_fast_path(make_app(any_store, districts, db_path)),
    )


@pytest.fixture
def clients(apps):
    made = [TestClient(app, raise_server_exceptions=False) for app in apps]
    with made[0], made[1], made[2]:
        yield made


def answers(clients, method: str, target: str, headers: dict[str, str] | None = None):
    got = []
    for client in clients:
        r = client.request(method, target, headers=headers, follow_redirects=False)
        got.append((r.status_code, r.headers.multi_items(), r.content))
    return got


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=queries())
def test_the_lane_answers_as_the_stack_and_the_route_do(clients, query):
    served, stack, route = answers(clients, "GET", f"/v1/stations/nearest?{query}")
    assert served == stack, query
    assert served == route, query


@pytest.mark.parametrize("headers", HEADERS)
@pytest.mark.parametrize(("method", "target"), TARGETS)
def test_every_kind_of_request_is_answered_alike(clients, method, target, headers):
    served, stack, route = answers(clients, method, target, headers)
    assert served == stack
    assert served == route


def test_a_plain_request_skips_the_stack_and_an_error_goes_down_it_once(apps, clients, monkeypatch):
    """The lane is really taken (FastNearest never sees a plain request), and a request
    it hands on is worked out once: an outage asks the database once, not twice."""
    seen: list[str] = []
    inner = FastNearest.__call__

    async def spy(self, scope, receive, send):
        if scope["path"] == "/v1/stations/nearest":
            seen.append(scope["query_string"].decode())
        await inner(self, scope, receive, send)

    monkeypatch.setattr(FastNearest, "__call__", spy)
    served, stack, _ = clients
    assert served.get(f"/v1/stations/nearest?{PLAIN}").status_code == 200
    assert seen == []
    assert stack.get(f"/v1/stations/nearest?{PLAIN}").status_code == 200
    assert seen == [PLAIN]  # the lane off: down the stack
    seen.clear()
    assert served.get(f"/v1/stations/nearest?{PLAIN}&k=0").status_code == 422
    assert served.get(f"/v1/stations/nearest?{PLAIN}&travel=walk").status_code == 409
    assert seen == [f"{PLAIN}&k=0", f"{PLAIN}&travel=walk"]

    asked: list[int] = []
    current = IndexHolder.current

    def counted(self):
        asked.append(1)
        return current(self)

    monkeypatch.setattr(IndexHolder, "current", counted)
    for client in clients[:2]:  # by route: the index asked as often with the lane as without
        assert client.get(f"/v1/stations/nearest?{PLAIN}&travel=walk").status_code == 409
    assert len(asked) == 4
    asked.clear()

    def down(self):
        asked.append(1)
        raise DatabaseUnavailableError("connection refused (host db.example)")

    monkeypatch.setattr(IndexHolder, "current", down)
    a, b, c = answers(clients, "GET", f"/v1/stations/nearest?{PLAIN}")
    assert a == b == c
    assert a[0] == 503
    assert len(asked) == 3  # once per app


def test_an_unexpected_error_in_the_lane_is_the_stacks_logged_500(clients, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("api.fast_nearest.straight_answer", broken)
    served, stack = answers(clients[:2], "GET", f"/v1/stations/nearest?{PLAIN}")
    assert served == stack
    assert served[0] == 500
    logged = [m for m in caplog.messages if "unexpected error on GET /v1/stations/nearest" in m]
    assert len(logged) == 2  # one per request: the lane's error logged once


def test_with_telemetry_on_every_request_goes_down_the_stack(apps, monkeypatch):
    served = apps[0]
    with TestClient(served) as client:
        monkeypatch.setattr(type(served._native_telemetry), "enabled", lambda self: True)
        calls: list[int] = []
        inner = FastNearest.__call__

        async def spy(self, scope, receive, send):
            calls.append(1)
            await inner(self, scope, receive, send)

        monkeypatch.setattr(FastNearest, "__call__", spy)
        r = client.get(f"/v1/stations/nearest?{PLAIN}")
        assert r.status_code == 200
        assert calls == [1]


# -- through a real server: its headers and its access log ----------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def access_lines() -> Iterator[list[str]]:
    """The lines uvicorn's access log writes meanwhile (every server's)."""
    access, lines = logging.getLogger("uvicorn.access"), Lines()
    access.addHandler(lines)
    try:
        yield lines.lines
    finally:
        access.removeHandler(lines)


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """``app`` under uvicorn with the served protocol (api/server.py) and its access log
    on, in a thread: its port."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        access_log=True,
        log_config=None,
        log_level="info",
        http=functools.partial(LimitedHttpToolsProtocol, limits=ConnectionLimits()),  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _fetch(port: int, method: str, target: str, headers: dict[str, str]):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = b"{}" if method == "GET" and "Cookie" in headers else None  # a GET with a body
        conn.request(method, target, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def test_through_uvicorn_the_answers_and_access_lines_are_the_same(apps):
    """Status, every header in order (Date apart: present and well formed in each) and
    body, as a client reads them; and the access log's lines, the client's port apart."""
    got = []
    with (
        serving(apps[0]) as a,
        serving(apps[1]) as b,
        serving(apps[2]) as c,
        access_lines() as lines,
    ):
        for method, target in TARGETS:
            for headers in HEADERS:
                each = []
                for port in (a, b, c):  # one after the other: their lines in this order
                    status, head, body = _fetch(port, method, target, headers)
                    dates = [v for n, v in head if n.lower() == "date"]
                    assert len(dates) == 1
                    assert parsedate_to_datetime(dates[0]).tzinfo is not None
                    # A redirect's Location names the server's port.
                    rest = [(n, v.replace(f":{port}/", ":PORT/")) for n, v in head if n != "date"]
                    each.append((status, rest, body))
                assert each[0] == each[1] == each[2], (method, target, headers)
                got.append(each[0][0])
    assert {200, 307, 405, 409, 422} <= set(got)
    lines = [re.sub(r":\d+ - ", ":PORT - ", m) for m in lines]
    assert len(lines) == 3 * len(TARGETS) * len(HEADERS)
    assert lines[0::3] == lines[1::3] == lines[2::3]
    assert lines[0] == f'127.0.0.1:PORT - "GET /v1/stations/nearest?{PLAIN} HTTP/1.1" 200'


def test_the_lane_answers_without_the_lifespan(apps):
    """As bench/http_api.py and api/warm.py call the app in-process: no lifespan ran, the
    first request builds the stack, the second takes the lane."""
    got = []
    for app in apps[:2]:
        client = TestClient(app)  # outside ``with``: no lifespan
        for _ in range(2):
            r = client.get(f"/v1/stations/nearest?{PLAIN}")
            got.append((r.status_code, r.headers.multi_items(), r.content))
    assert got[0] == got[1] == got[2] == got[3]
    assert got[0][0] == 200


# -- asked once per turn of the event loop ---------------------------------------------------


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_a_value_per_turn_is_computed_again_for_a_request_queued_after_it(loop):
    """PerTurn keeps its value for what the loop had queued when it was computed, never
    for a request queued later (read from its socket after the value was made)."""
    made: list[int] = []
    memo = PerTurn(lambda: made.append(1) or len(made))
    assert (memo.get(), memo.get()) == (1, 2)  # no running loop: every time

    async def main() -> list[int]:
        seen: list[int] = []
        later: list[asyncio.Task[None]] = []

        async def late() -> None:
            seen.append(memo.get())

        async def early() -> None:
            seen.append(memo.get())
            later.append(asyncio.get_running_loop().create_task(late()))

        async def other() -> None:
            seen.append(memo.get())

        await asyncio.gather(early(), other())
        await asyncio.gather(*later)
        return seen

    runner = uvloop.run if loop == "uvloop" else asyncio.run
    assert runner(main()) == [3, 3, 4]
