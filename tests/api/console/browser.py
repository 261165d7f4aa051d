"""The console in Debian's Chromium against a real ``yizhan serve`` (1366×768 laptop).

Every request off this machine is blocked (map tiles get stub tiles), console errors are
recorded (a CSP refusal among them): a test asserts both are empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from geodata.districts import Districts
from stations.storage.sqlite import SQLiteStore
from stations.storage.store import Store
from tests.api.console.helpers import PASSWORD
from tests.browser import ARTIFACTS, PageLog, block_external
from tests.live import Server, serve

LAPTOP = {"width": 1366, "height": 768}


@dataclass
class LiveConsole:
    base: str
    db_path: Path
    server: Server

    def store(self) -> Store:
        """Another connection to the served registry (for checks and setup)."""
        return SQLiteStore(self.db_path)


@contextmanager
def live_console(
    db_path: Path, districts: Districts, *, setup: Any = None, env: dict[str, str] | None = None
) -> Iterator[LiveConsole]:
    """``yizhan serve`` on a new SQLite registry at ``db_path``; ``setup(store, districts)``
    runs first (make accounts, stations)."""
    store = SQLiteStore(db_path)
    try:
        if setup is not None:
            setup(store, districts)
    finally:
        store.close()
    with serve(f"sqlite:///{db_path}", env={"YIZHAN_WARM_START": "0", **(env or {})}) as server:
        yield LiveConsole(server.base, db_path, server)


@contextmanager
def new_page(
    browser: Any, *, viewport: dict[str, int] | None = None
) -> Iterator[tuple[Any, PageLog]]:
    """A fresh browser context (its own cookies) and page; external requests blocked."""
    context = browser.new_context(viewport=viewport or LAPTOP, locale="zh-CN")
    page = context.new_page()
    log = PageLog()
    block_external(page, log)
    try:
        yield page, log
    finally:
        context.close()


def sign_in(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"{base}/console")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state("load")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
