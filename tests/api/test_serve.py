"""`yizhan serve` as an operator starts it: a real process answering on a real port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from stations.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.slow
def test_serve_answers_and_sees_writes_from_another_process(tmp_path: Path, districts):
    db = tmp_path / "r.sqlite3"
    with SQLiteStore(db) as store:
        store.create(make_station(districts, external_id="S1", name="第一站"), actor="t")
    port = free_port()
    exe = Path(sys.executable).with_name("yizhan")
    proc = subprocess.Popen(
        [str(exe), "serve", "--database", f"sqlite:///{db}", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                assert get_json(f"{base}/healthz")["stations"] == 1
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        q = f"{base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
        assert [r["name"] for r in get_json(q)["results"]] == ["第一站"]
        # A write by another process (the CLI, another worker) shows at the next query.
        with SQLiteStore(db) as store:
            store.create(make_station(districts, external_id="S2", name="第二站"), actor="t")
        assert {r["name"] for r in get_json(q)["results"]} == {"第一站", "第二站"}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out = proc.communicate(timeout=20)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
    assert "GET /v1/stations/nearest" not in out  # access log is off by default
