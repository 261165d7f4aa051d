"""Requests the HTTP parser refuses get a problem+json 400 from a real `yizhan serve`."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import Server, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    db: Path = tmp_path_factory.mktemp("http") / "r.sqlite3"
    with serve(f"sqlite:///{db}") as s:
        yield s


def raw_request(
    server: Server, head: bytes, *, host_header: bytes | None = None
) -> tuple[bytes, dict[str, str], bytes]:
    """Send ``head`` as it is (no client library to clean it up), with one Host header; the
    status line, headers and body of the answer."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(head + b"\r\nHost: " + (host_header or host.encode()) + b"\r\n\r\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    header_block, _, body = data.partition(b"\r\n\r\n")
    status, *lines = header_block.split(b"\r\n")
    headers = {
        k.decode().lower(): v.decode().strip() for k, v in (line.split(b":", 1) for line in lines)
    }
    return status, headers, body


@pytest.mark.parametrize(
    "head",
    [
        pytest.param("GET /v1/coverage?demand=示例 HTTP/1.1".encode(), id="raw-utf8-query"),
        pytest.param(b"GET /" + b"a" * 100_000 + b" HTTP/1.1", id="100-kB-url"),
        pytest.param(b"GET /v1/stations HTTP/9.9\r\nBad Header", id="garbage"),
    ],
)
def test_a_request_the_parser_refuses_is_a_problem_json_400(server, head):
    status, headers, body = raw_request(server, head)
    assert status.startswith(b"HTTP/1.1 400")
    assert headers["content-type"] == "application/problem+json"
    doc = json.loads(body)
    assert doc["type"] == "/problems/bad_request" and doc["status"] == 400
    assert "%E7%A4%BA%E4%BE%8B" in doc["detail"]  # how to send 示例 instead


def test_the_same_query_percent_encoded_is_answered(server):
    status, _headers, body = raw_request(
        server, b"GET /v1/coverage?demand=%E7%A4%BA%E4%BE%8B HTTP/1.1"
    )
    assert status.startswith(b"HTTP/1.1 404")  # no such layer, said as a problem
    assert json.loads(body)["detail"].startswith("no demand layer '示例'")


def test_ogc_links_ignore_a_forged_host_header(server):
    status, _headers, body = raw_request(
        server, b"GET /collections HTTP/1.1", host_header=b"evil.example"
    )
    assert status.startswith(b"HTTP/1.1 200"), body
    hrefs = [link["href"] for link in json.loads(body)["links"]]
    assert hrefs == [f"{server.base}/collections"]
