"""Debian Chromium driven by Playwright, with every request off this machine blocked."""

from __future__ import annotations

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


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path
