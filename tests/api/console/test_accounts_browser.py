"""Accounts in Debian's Chromium at 1366×768: the lock-out a person meets, and the city union
handing out an account, then taking it back while its holder is signed in."""

from __future__ import annotations

import pytest

from tests.api.console.browser import live_console, new_page, screenshot, sign_in
from tests.api.console.helpers import make_account

pytestmark = [pytest.mark.slow, pytest.mark.needs_binary("chromium")]

UNAUTHORIZED = "Failed to load resource: the server responded with a status of 401 (Unauthorized)"
TOO_MANY = "Failed to load resource: the server responded with a status of 429 (Too Many Requests)"


def _city(store, districts):
    make_account(store, districts, role="admin", code=None, username="city")
    make_account(store, districts, code="500104", name="大渡口区总工会")


def test_eleven_wrong_passwords_meet_the_chinese_lockout(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_city) as live,
        new_page(browser) as (page, log),
    ):
        for _ in range(10):
            sign_in(page, live.base, "yz500104", "wrong-password-1")
            assert page.get_by_role("alert").inner_text().startswith("用户名或密码不正确")
        sign_in(page, live.base, "yz500104", "wrong-password-1")
        alert = page.get_by_role("alert").inner_text()
        assert alert.startswith("登录失败次数过多，已暂停登录，请 ") and "秒后再试" in alert
        # What was typed stays; the form is there to try again later.
        assert page.get_by_label("用户名").input_value() == "yz500104"
        screenshot(page, "lockout")
        # The right password is refused too while locked out.
        sign_in(page, live.base, "yz500104")
        assert page.get_by_role("alert").inner_text().startswith("登录失败次数过多")
        # Chromium logs the refused pages' statuses as errors: exactly those, nothing else.
        assert log.errors == [UNAUTHORIZED] * 10 + [TOO_MANY] * 2
    assert log.blocked == []


def test_the_city_hands_out_an_account_and_takes_it_back(browser, tmp_path, districts):
    with (
        live_console(tmp_path / "r.sqlite3", districts, setup=_city) as live,
        new_page(browser) as (city, city_log),
        new_page(browser) as (clerk, clerk_log),
    ):
        city.on("dialog", lambda dialog: dialog.accept())
        sign_in(city, live.base, "city")
        city.get_by_role("link", name="账号").click()
        city.wait_for_load_state("load")
        assert city.get_by_role("heading", name="账号管理").is_visible()
        # A district: its name comes from the district chosen; the password is generated.
        city.get_by_label("区县").select_option("500103")
        assert city.get_by_label("工会名称").input_value() == "渝中区总工会"
        city.get_by_label("用户名", exact=True).fill("yz500103")
        city.get_by_label("生成随机密码").check()
        assert city.get_by_label("初始密码").is_disabled()
        city.get_by_role("button", name="开通账号").click()
        city.wait_for_load_state("load")
        assert "已创建账号 yz500103" in city.get_by_role("status").first.inner_text()
        password = city.locator("#shown-password").inner_text()
        row = city.locator('tr[data-username="yz500103"]')
        assert "渝中区总工会" in row.inner_text() and "正常" in row.inner_text()
        screenshot(city, "accounts")

        sign_in(clerk, live.base, "yz500103", password)
        assert clerk.locator(".union").inner_text() == "渝中区总工会"
        assert clerk.get_by_role("link", name="账号").count() == 0

        row.get_by_role("button", name="停用").click()
        city.wait_for_load_state("load")
        row = city.locator('tr[data-username="yz500103"]')
        assert "已停用" in row.inner_text()
        # The clerk's next click lands on the sign-in form.
        clerk.get_by_role("link", name="改密码").click()
        clerk.wait_for_load_state("load")
        assert clerk.get_by_role("button", name="登录").is_visible()
        assert clerk.url.startswith(f"{live.base}/console?next=")
        # Nor can the clerk sign in again.
        sign_in(clerk, live.base, "yz500103", password)
        assert clerk.get_by_role("alert").inner_text().startswith("用户名或密码不正确")
        assert clerk_log.errors == [UNAUTHORIZED]

        # Enabled again with a new random password (the clerk had forgotten the old one).
        row.get_by_role("button", name="启用").click()
        city.wait_for_load_state("load")
        row = city.locator('tr[data-username="yz500103"]')
        row.locator("summary", has_text="重置密码").click()
        screenshot(city, "accounts-reset")
        row.get_by_role("button", name="重置").click()
        city.wait_for_load_state("load")
        new = city.locator("#shown-password").inner_text()
        assert new != password
        sign_in(clerk, live.base, "yz500103", new)
        assert clerk.locator(".union").inner_text() == "渝中区总工会"
    assert city_log.errors == [] and city_log.blocked == [] and clerk_log.blocked == []
