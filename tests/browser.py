"""Debian Chromium driven by Playwright, with every request off this machine blocked."""

from __future__ import annotations

import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

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


@dataclass
class PageLog:
    """What a page did that a test checks: console errors and the requests we blocked."""

    errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def block_external(page: Any, log: PageLog) -> None:
    def route(r: Any) -> None:
        url = r.request.url
        parsed = urlparse(url)
        if parsed.scheme in ("data", "blob", "about", "file") or parsed.hostname in LOCAL:
            r.continue_()
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
