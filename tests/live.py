"""A real ``yizhan serve`` process on a free loopback port, for tests that use real clients."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

# The checkout under test: the server must run this code, not whatever copy of yizhan the
# environment has installed (an editable install may point at another work tree).
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _pythonpath() -> str:
    existing = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(ROOT), existing]) if existing else str(ROOT)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict


def call(
    url: str,
    *,
    method: str = "GET",
    body: dict | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
) -> Answer:
    """One HTTP request from the loopback address ``source`` (127.0.0.2, …: another client
    than 127.0.0.1, as far as the server can tell); any status, JSON body."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1",
        parts.port,
        timeout=10,
        source_address=(source, 0) if source else None,
    )
    try:
        data = json.dumps(body).encode() if body is not None else None
        sent = {"Content-Type": "application/json"} if data is not None else {}
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=data, headers={**sent, **(headers or {})})
        r = conn.getresponse()
        raw = r.read()
        return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(raw or b"{}"))
    finally:
        conn.close()


@dataclass
class Server:
    base: str
    proc: subprocess.Popen[bytes]
    output: str = ""


@contextmanager
def serve(
    database_url: str,
    *args: str,
    env: dict[str, str] | None = None,
    open_files: int | None = None,
    healthy: bool = True,
    start_s: float = 30,
) -> Iterator[Server]:
    """Start ``yizhan serve`` on ``database_url``; wait for /healthz (with ``healthy``
    False, for any answer: a 503 too); stop it with SIGINT.
    ``open_files``: the server's hard limit of open file descriptors (``ulimit -Hn``);
    ``start_s``: how long it may take to answer."""
    port = free_port()
    exe = Path(sys.executable).with_name("yizhan")

    def limit_files() -> None:
        import resource

        if open_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, open_files))

    proc = subprocess.Popen(
        [str(exe), "serve", "--database", database_url, "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": _pythonpath(), **(env or {})},
        preexec_fn=limit_files if open_files is not None else None,
    )
    server = Server(f"http://127.0.0.1:{port}", proc)
    try:
        deadline = time.monotonic() + start_s
        while True:
            try:
                get_json(f"{server.base}/healthz")
                break
            except OSError as exc:
                if isinstance(exc, urllib.error.HTTPError) and not healthy:
                    break
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.communicate()[0].decode() if proc.poll() is not None else ""
                    pytest.fail(f"the server did not start:\n{out}")
                time.sleep(0.1)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            server.output = proc.communicate(timeout=20)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            server.output = proc.communicate()[0].decode()
