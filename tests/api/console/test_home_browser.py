"""Signing in to the console in Debian's Chromium at 1366×768, as a clerk does."""

from __future__ import annotations

import pytest

from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]


def _accounts(store, districts):
    make_account(store, districts, code="500103", name="渝中区总工会")


def test_a_clerk_signs_in_and_out_in_chromium(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_accounts) as live,
        new_page(browser) as (page, log),
    ):
        page.goto(f"{live.base}/console")
        screenshot(page, "login")
        sign_in(page, live.base, "yz500103", "wrong-password-1")
        assert page.get_by_role("alert").inner_text().startswith("用户名或密码不正确")
        # The refused sign-in is a 401 page, which Chromium logs; nothing else may be.
        assert log.errors == [
            "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
        ]
        log.errors.clear()
        sign_in(page, live.base, "yz500103")
        assert page.locator(".union").inner_text() == "渝中区总工会"
        screenshot(page, "home")
        page.get_by_role("button", name="退出").click()
        page.wait_for_load_state("load")
        assert page.get_by_role("button", name="登录").is_visible()
    assert log.errors == [] and log.blocked == []
