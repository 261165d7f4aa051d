"""A real ``yizhan serve`` on PostgreSQL when the database is down, refuses the login, or
has just taken a write: the server stays up and says why, once; its own writes show."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

from tests.builders import JIEFANGBEI
from tests.live import call, serve
from tests.stations.storage.test_postgis import admin_token, station_body

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(pg_cluster) -> str:
    from tests.conftest import PG_TEMPLATE

    return pg_cluster.new_database(template=PG_TEMPLATE)


@pytest.fixture
def restartable(pg_cluster):
    if pg_cluster.datadir is None:
        pytest.skip("the server was given by URL: the test cannot stop or reconfigure it")
    yield pg_cluster
    # Whatever the test did, the other tests get a running server (start fails if it runs).
    with contextlib.suppress(subprocess.CalledProcessError):
        pg_cluster.start()


def wait_for(check, *, within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {within_s} s"
        time.sleep(0.1)


def lines_with(output: str, text: str) -> list[str]:
    return [line for line in output.splitlines() if text in line]


def test_a_server_started_while_the_database_is_down_answers_503_and_recovers(pg_url, restartable):
    token = admin_token(pg_url)
    auth = {"Authorization": f"Bearer {token}"}
    restartable.stop()
    with serve(pg_url, healthy=False) as server:
        health = call(server.base + "/healthz")
        assert health.status == 503
        assert health.body["type"] == "/problems/database_unavailable"
        assert call(server.base + "/v1/stations").status == 503
        asked = time.monotonic()
        write = call(
            server.base + "/v1/stations", method="POST", body=station_body("A"), headers=auth
        )
        assert write.status == 503 and write.body["type"] == "/problems/database_unavailable"
        assert time.monotonic() - asked < 0.5  # at once, not after waiting for a connection
        restartable.start()
        wait_for(lambda: call(server.base + "/healthz").status == 200, within_s=10, what="recovery")
        write = call(
            server.base + "/v1/stations", method="POST", body=station_body("A"), headers=auth
        )
        assert write.status == 201
        assert call(f"{server.base}/v1/stations/{write.body['id']}").status == 200
    assert "Traceback" not in server.output
    # The cause, in one line, once (not once per retry or per request).
    causes = lines_with(server.output, "cannot reach the database: ")
    assert causes and "Connection refused" in causes[0]
    assert len(lines_with(server.output, "Connection refused")) <= 3
    assert "the database can be reached again" in server.output


@pytest.fixture
def password_role(restartable, pg_url) -> str:
    """A role that must give its password (scram-sha-256), as in the README's recipe."""
    assert restartable.datadir is not None
    with psycopg.connect(restartable.admin_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS yizhan_pw")
        conn.execute("CREATE ROLE yizhan_pw LOGIN PASSWORD 'right-Pa55'")
    hba = Path(restartable.datadir) / "pg_hba.conf"
    rule = "host all yizhan_pw 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if rule not in text:
        hba.write_text(rule + text)  # the first matching line decides
        with psycopg.connect(restartable.admin_url, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")
    return "yizhan_pw"


@pytest.mark.parametrize(
    ("password", "cause"),
    [("wrong-Secret9", "password authentication failed"), (None, "no password supplied")],
    ids=["wrong password", "no password"],
)
def test_a_refused_login_is_said_in_one_line_and_the_server_stays_up(
    pg_url, password_role, tmp_path, password, cause
):
    given = f":{password}" if password else ""
    url = pg_url.replace("postgresql://postgres@", f"postgresql://{password_role}{given}@")
    env = {"PGPASSFILE": str(tmp_path / "no-such-pgpass")}
    with serve(url, healthy=False, env=env) as server:
        for _ in range(3):
            assert call(server.base + "/healthz").status == 503
            time.sleep(0.5)
    assert "Traceback" not in server.output
    said = lines_with(server.output, cause)
    assert said, server.output
    assert "cannot reach the database" in said[0]
    assert len(said) <= 3  # the store's line, and those that repeat it once
    if password:
        assert password not in server.output


def test_the_worker_that_writes_answers_with_the_write_at_once(pg_url):
    token = admin_token(pg_url)
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    # The watcher asks only every 2 s: whatever this worker shows at once, it applied itself.
    with serve(pg_url, env={"YIZHAN_INDEX_CHECK_S": "2"}) as server:
        port = int(server.base.rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # one worker

        def ask(method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data, headers=auth)
            r = conn.getresponse()
            raw = r.read()
            return r.status, json.loads(raw or b"{}")

        try:
            for i in range(25):
                status, created = ask("POST", "/v1/stations", station_body(f"RYW{i}"))
                assert status == 201
                path = f"/v1/stations/{created['id']}"
                status, got = ask("GET", path)
                assert status == 200 and got["name"] == created["name"]
                status, changed = ask(
                    "PATCH", path, {"name": f"改名 {i}", "version": got["version"]}
                )
                assert status == 200
                assert ask("GET", path)[1]["name"] == f"改名 {i}"
                if i % 5 == 4:
                    assert ask("DELETE", f"{path}?version={changed['version']}")[0] == 204
                    assert ask("GET", path)[0] == 404
            near = f"/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}&k=50&status=any"
            assert ask("GET", near)[1]["count"] == 20
        finally:
            conn.close()


def test_an_outage_logs_a_few_lines_not_one_per_request(pg_url, restartable):
    token = admin_token(pg_url)
    auth = {"Authorization": f"Bearer {token}"}
    with serve(pg_url, env={"YIZHAN_LOG_REPEAT_S": "1"}) as server:
        restartable.stop()
        wait_for(lambda: call(server.base + "/healthz").status == 503, within_s=5, what="503")
        started, requests, slowest_write_s = time.monotonic(), 0, 0.0
        while time.monotonic() - started < 3:
            assert call(server.base + "/v1/stations").status == 503
            asked = time.monotonic()
            write = call(
                server.base + "/v1/stations", method="POST", body=station_body("X"), headers=auth
            )
            assert write.status == 503
            slowest_write_s = max(slowest_write_s, time.monotonic() - asked)
            requests += 2
        restartable.start()
        wait_for(lambda: call(server.base + "/healthz").status == 200, within_s=10, what="recovery")
    assert requests > 100
    assert slowest_write_s < 0.5  # writes fail at once too, once the database is known down
    logged = lines_with(server.output, "database unavailable on")
    assert 1 <= len(logged) <= 8, "\n".join(logged)  # about one a second, over 3 s
    assert any("more like this" in line for line in logged)
