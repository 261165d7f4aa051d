"""The city union's accounts page: list, create, disable, enable, reset a password."""

from __future__ import annotations

import re

import pytest

from stations.services.accounts import find_account
from tests.api.console.helpers import PASSWORD, csrf_of, login, make_account, post

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def city(console, store, districts):
    """The console signed in as the city union; its CSRF token."""
    make_account(store, districts, role="admin", code=None, username="city")
    return login(console, "city")


def _shown_password(html: str) -> str:
    found = re.search(r'<code class="password" id="shown-password">([^<]+)</code>', html)
    assert found is not None, "no password shown"
    return found.group(1)


def test_the_city_sees_every_account_with_role_and_state(console, store, districts, city):
    make_account(store, districts, code="500103", name="渝中区总工会")
    make_account(
        store, districts, role="industry", code="jiaotong", username="jt01", name="交通工会"
    )
    page = console.get("/console/accounts")
    assert page.status_code == 200
    for text in ("yz500103", "渝中区总工会", "区县工会", "500103", "交通工会", "产业工会", "正常"):
        assert text in page.text
    assert "argon2" not in page.text
    # The 38 districts, by name with their adcode, for the new account's code.
    assert page.text.count('data-name="') == len(districts)
    assert "渝中区（500103）" in page.text
    assert 'href="/console/accounts"' in page.text  # the nav shows 账号 to the city


@pytest.mark.parametrize(("role", "code"), [("district", "500103"), ("industry", "jiaotong")])
def test_a_district_or_industry_clerk_gets_403(console, store, districts, role, code):
    make_account(store, districts, role=role, code=code, username="clerk")
    csrf = login(console, "clerk")
    page = console.get("/console/accounts")
    assert page.status_code == 403 and "只有市总工会可以管理账号" in page.text
    assert 'href="/console/accounts"' not in page.text
    created = post(
        console,
        "/console/accounts",
        csrf,
        data={"role": "admin", "name": "x", "username": "mine", "password": PASSWORD},
    )
    assert created.status_code == 403
    assert store.find_account("mine") is None
    make_account(store, districts, code="500104", name="大渡口区总工会")
    assert post(console, "/console/accounts/yz500104/disable", csrf).status_code == 403
    assert find_account(store, "yz500104").active
    answer = post(console, "/console/accounts/yz500104/password", csrf, data={"password": "x"})
    assert answer.status_code == 403


def test_create_with_a_random_password_shown_once(console, store, districts, city):
    answer = post(
        console,
        "/console/accounts",
        city,
        data={
            "role": "district",
            "district": "500103",
            "name": "渝中区总工会",
            "username": "yz500103",
            "generate": "1",
        },
    )
    assert answer.status_code == 200, answer.text[:300]
    assert "已创建账号 yz500103" in answer.text
    password = _shown_password(answer.text)
    assert len(password) >= 16
    assert password not in console.get("/console/accounts").text  # once only
    account = find_account(store, "yz500103")
    assert (account.role.value, account.code, account.name) == (
        "district",
        "500103",
        "渝中区总工会",
    )
    other = type(console)(console.app)
    with other:
        login(other, "yz500103", password)
        assert "渝中区总工会" in other.get("/console").text


def test_create_with_a_given_password_and_the_industry_code(console, store, districts, city):
    answer = post(
        console,
        "/console/accounts",
        city,
        data={
            "role": "industry",
            "district": "500103",  # ignored: the role says which code counts
            "industry": "jiaotong",
            "name": "重庆市交通工会",
            "username": "jt01",
            "password": "交通-工会-2026-pw",
        },
    )
    assert answer.status_code == 200 and 'id="shown-password"' not in answer.text
    assert "交通-工会-2026-pw" not in answer.text
    account = find_account(store, "jt01")
    assert (account.role.value, account.code) == ("industry", "jiaotong")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"role": "district", "name": "x", "username": "abc"}, "初始密码"),
        ({"role": "district", "name": "x", "username": "abc", "generate": "1"}, "6 位行政区划代码"),
        ({"role": "industry", "name": "x", "username": "abc", "generate": "1"}, "产业代码"),
        ({"role": "admin", "name": "x", "username": "A B", "generate": "1"}, "用户名须为"),
        ({"role": "admin", "name": "x", "username": "abc", "password": "short"}, "至少 10 个字符"),
        ({"role": "boss", "name": "x", "username": "abc", "generate": "1"}, "角色须为"),
        ({"role": "admin", "name": "x", "username": "city", "generate": "1"}, "已被使用"),
    ],
)
def test_a_wrong_form_comes_back_with_a_chinese_message(console, city, data, message):
    answer = post(console, "/console/accounts", city, data=data)
    assert answer.status_code == 422 and message in answer.text
    assert 'role="alert"' in answer.text
    assert f'value="{data["username"]}"' in answer.text  # what was typed is kept


def test_disable_ends_their_sessions_at_once_and_enable_lets_them_in(
    console, store, districts, city
):
    make_account(store, districts)
    clerk = type(console)(console.app)
    with clerk:
        login(clerk, "yz500103")
        assert clerk.get("/console/password", follow_redirects=False).status_code == 200
        answer = post(console, "/console/accounts/yz500103/disable", city)
        assert answer.status_code == 200 and "已停用 yz500103" in answer.text
        assert "已停用" in answer.text and "启用" in answer.text
        out = clerk.get("/console/password", follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"].startswith("/console?next=")
        assert post(console, "/console/accounts/yz500103/enable", city).status_code == 200
        login(clerk, "yz500103")


def test_the_city_cannot_disable_or_reset_itself_here(console, city, store):
    page = console.get("/console/accounts")
    assert "当前登录的账号" in page.text
    assert 'action="/console/accounts/city/disable"' not in page.text
    answer = post(console, "/console/accounts/city/disable", city)
    assert answer.status_code == 422 and "不能停用自己" in answer.text
    assert find_account(store, "city").active
    answer = post(console, "/console/accounts/city/password", city, data={"password": "x" * 12})
    assert answer.status_code == 422 and "改密码" in answer.text


def test_reset_password_random_or_given_ends_sessions(console, store, districts, city):
    make_account(store, districts)
    clerk = type(console)(console.app)
    with clerk:
        login(clerk, "yz500103")
        answer = post(console, "/console/accounts/yz500103/password", city)
        assert answer.status_code == 200 and "已重置 yz500103 的密码" in answer.text
        new = _shown_password(answer.text)
        assert clerk.get("/console/password", follow_redirects=False).status_code == 303
        login(clerk, "yz500103", new)
        given = "指定的新密码-2026"
        answer = post(
            console, "/console/accounts/yz500103/password", city, data={"password": given}
        )
        assert answer.status_code == 200 and given not in answer.text
        login(clerk, "yz500103", given)
        weak = post(console, "/console/accounts/yz500103/password", city, data={"password": "a"})
        assert weak.status_code == 422 and "至少 10 个字符" in weak.text


def test_an_unknown_account_is_a_clear_message(console, city):
    answer = post(console, "/console/accounts/nobody/disable", city)
    assert answer.status_code in (404, 422) and "没有这个账号" in answer.text


def test_user_text_is_escaped(console, store, districts, city):
    make_account(store, districts, role="industry", code="x1", username="evil", name=XSS)
    page = console.get("/console/accounts")
    assert XSS not in page.text and "&lt;img src=x onerror=alert(1)&gt;" in page.text
    answer = post(
        console,
        "/console/accounts",
        city,
        data={"role": "admin", "name": XSS, "username": XSS, "generate": "1"},
    )
    assert answer.status_code == 422 and XSS not in answer.text


def test_the_page_loads_only_our_own_script_and_style(console, city):
    page = console.get("/console/accounts")
    scripts = re.findall(r"<script([^>]*)>", page.text)
    assert all('src="/console/static/' in s for s in scripts)
    assert "accounts.js" in page.text and "accounts.css" in page.text
    assert csrf_of(page.text) == city
