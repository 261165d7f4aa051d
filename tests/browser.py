"""Debian Chromium driven by Playwright, with every request off this machine blocked."""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from geodata.tiles import TILE_PROVIDERS

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
LOCAL = {"127.0.0.1", "localhost", ""}


# Every tile host a page of ours may ask, and a stub tile's colour for each provider, so
# that a screenshot shows which tiles a page drew (the real servers are never asked).
TILE_COLOURS = {"osm": (214, 236, 214), "amap": (246, 238, 214), "tianditu": (214, 226, 246)}


def tile_provider_of(url: str) -> str | None:
    """The name of the provider whose tile server ``url`` is on, or None."""
    host = urlparse(url).hostname or ""
    for p in TILE_PROVIDERS.values():
        if any(urlparse(h).hostname == host for h in p.hosts()):
            return p.name
    return None


def stub_tile(rgb: tuple[int, int, int], size: int = 256) -> bytes:
    """A PNG tile of one colour with a darker edge (the tile grid shows in screenshots)."""
    edge = bytes(max(0, c - 40) for c in rgb)
    fill = bytes(rgb)
    row = b"\x00" + edge + fill * (size - 1)
    raw = b"\x00" + edge * size + row * (size - 1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


STUB_TILES = {name: stub_tile(rgb) for name, rgb in TILE_COLOURS.items()}


@dataclass
class PageLog:
    """What a page did that a test checks: console errors and the requests we blocked."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    tiles: list[str] = field(default_factory=list)  # tile requests, answered with stubs


def block_external(page: Any, log: PageLog) -> None:
    """Requests off this machine fail (recorded in ``log.blocked``), except map tiles: a
    known provider's tile is answered with a stub tile (recorded in ``log.tiles``)."""

    def route(r: Any) -> None:
        url = r.request.url
        parsed = urlparse(url)
        provider = tile_provider_of(url)
        if parsed.scheme in ("data", "blob", "about", "file") or parsed.hostname in LOCAL:
            r.continue_()
        elif provider is not None:
            log.tiles.append(url)
            r.fulfill(status=200, content_type="image/png", body=STUB_TILES[provider])
        else:
            log.blocked.append(url)
            r.abort()

    page.route("**/*", route)

    def console(message: Any) -> None:
        # A request we aborted is logged as net::ERR_FAILED: that is ours, not the page's.
        if message.type == "error" and "net::ERR_FAILED" not in message.text:
            log.errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: log.errors.append(str(e)))


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_process(executable: str = CHROMIUM, *, timeout_s: float = 30) -> Iterator[str]:
    """Start Chromium (headless, its own throwaway profile) and yield its DevTools
    WebSocket URL, for :func:`connected`; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="yizhan-chromium-") as profile:
        proc = subprocess.Popen(
            [
                executable,
                "--headless",
                *ARGS,
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        found: list[str] = []
        seen: list[str] = []
        reader = threading.Thread(target=_read_stderr, args=(proc, found, seen), daemon=True)
        reader.start()
        try:
            yield _devtools_url(proc, found, seen, timeout_s)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(timeout=5)
            assert proc.stderr is not None
            proc.stderr.close()


def _read_stderr(proc: subprocess.Popen[str], found: list[str], seen: list[str]) -> None:
    """Find Chromium's DevTools URL, and keep reading so a full pipe never blocks it."""
    assert proc.stderr is not None
    for line in proc.stderr:
        match = re.search(r"DevTools listening on (ws://\S+)", line)
        if match and not found:
            found.append(match.group(1))
        elif not found:
            seen.append(line)


def _devtools_url(
    proc: subprocess.Popen[str], found: list[str], seen: list[str], timeout_s: float
) -> str:
    deadline = time.monotonic() + timeout_s
    while not found and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        msg = f"Chromium did not start (exit code {proc.poll()}):\n{''.join(seen[-20:])}"
        raise RuntimeError(msg)
    return found[0]


@contextmanager
def connected(devtools_url: str) -> Iterator[Any]:
    """Playwright attached to a running Chromium (see :func:`chromium_process`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.connect_over_cdp(devtools_url)
        try:
            yield browser
        finally:
            browser.close()  # the contexts this connection made; Chromium goes on


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
