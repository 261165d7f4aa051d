"""/docs and /redoc in Debian Chromium with every request off this machine blocked."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import PageLog, block_external
from tests.live import Server, get_json, serve

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    db = tmp_path_factory.mktemp("docs") / "r.sqlite3"
    with serve(f"sqlite:///{db}") as s:
        yield s


def operations(server: Server) -> int:
    spec = get_json(f"{server.base}/openapi.json")
    return sum(
        1
        for item in spec["paths"].values()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


def test_swagger_ui_shows_every_operation_offline(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    log = PageLog()
    block_external(page, log)
    page.goto(f"{server.base}/docs")
    page.wait_for_selector(".opblock-summary", timeout=20_000)
    assert page.locator(".opblock").count() == operations(server)
    assert page.locator(".opblock-summary-path", has_text="/v1/stations/nearest").count() == 1
    assert log.blocked == []
    assert log.errors == []
    page.close()


def test_redoc_shows_the_operations_offline(browser, server):
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    log = PageLog()
    block_external(page, log)
    page.goto(f"{server.base}/redoc")
    heading = page.locator("h2", has_text="The nearest stations to a point, nearest first")
    heading.wait_for(timeout=20_000)
    assert page.locator("h2").count() >= operations(server)
    assert log.blocked == []
    assert log.errors == []
    page.close()
