"""Signing in to the console and out, the session cookie and CSRF, as a clerk meets them."""

from __future__ import annotations

import pytest

from tests.api.console.helpers import PASSWORD, csrf_of, login, make_account, post


def test_console_shows_the_sign_in_form_with_its_labels(console):
    page = console.get("/console")
    assert page.status_code == 200
    assert "用户名" in page.text and "密码" in page.text and "登录" in page.text
    policy = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in policy
        and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    )
    assert page.headers["cache-control"] == "no-store"


def test_a_clerk_signs_in_sees_their_union_and_signs_out(console, store, districts):
    make_account(store, districts, code="500103", name="渝中区总工会")
    csrf = login(console, "yz500103")
    home = console.get("/console")
    assert "渝中区总工会" in home.text and "退出" in home.text
    cookie = console.cookies.get("yz_session")
    assert cookie
    answer = post(console, "/console/logout", csrf, follow_redirects=False)
    assert answer.status_code == 303
    # The old cookie opens nothing any more, even sent again by hand.
    console.cookies.set("yz_session", cookie, path="/console")
    assert "用户名" in console.get("/console").text


def test_the_session_cookie_is_httponly_samesite_and_path_limited(console, store, districts):
    make_account(store, districts)
    page = console.get("/console")
    answer = console.post(
        "/console/login",
        data={"username": "yz500103", "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "yz_session=" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http here; over TLS it is Secure (test_security)


def test_a_wrong_password_says_so_in_chinese_and_opens_nothing(console, store, districts):
    make_account(store, districts)
    page = console.get("/console")
    answer = console.post(
        "/console/login",
        data={"username": "yz500103", "password": "wrong-password", "csrf": csrf_of(page.text)},
    )
    assert answer.status_code == 401
    assert "用户名或密码不正确" in answer.text
    assert "yz_session" not in console.cookies


def test_sign_in_without_the_forms_token_is_refused(console, store, districts):
    make_account(store, districts)
    console.get("/console")
    answer = console.post("/console/login", data={"username": "yz500103", "password": PASSWORD})
    assert answer.status_code == 403
    assert "表单已过期" in answer.text


@pytest.mark.parametrize("target", ["https://evil.example/x", "//evil.example", "/v1/stations"])
def test_after_sign_in_the_browser_goes_only_to_a_console_page(console, store, districts, target):
    make_account(store, districts)
    page = console.get("/console")
    answer = console.post(
        "/console/login",
        data={
            "username": "yz500103",
            "password": PASSWORD,
            "csrf": csrf_of(page.text),
            "next": target,
        },
        follow_redirects=False,
    )
    assert answer.headers["location"] == "/console"


def test_a_page_asked_for_signed_out_comes_back_after_sign_in(console, store, districts):
    make_account(store, districts)
    answer = console.get("/console/password?from=home", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console?next=%2Fconsole%2Fpassword%3Ffrom%3Dhome"


def test_the_audit_trail_names_the_person_and_their_union(store, districts):
    account = make_account(store, districts, name="渝中区总工会")
    assert account.principal().actor == "district:500103 渝中区总工会 (user yz500103)"


def test_the_home_tile_counts_the_unions_open_cases_and_the_overdue(console, store, districts):
    from datetime import datetime, timedelta

    from geodata.hours import TZ
    from stations.services.feedback import submit_report
    from tests.builders import make_station

    station = store.create(make_station(districts), actor="t")
    for kind, days_ago in (("locked", 3), ("facility_broken", 0)):  # 24 h: overdue; 72 h: not
        submit_report(
            store,
            station,
            station.id,
            kind=kind,
            note="",
            client_address=f"198.51.100.{days_ago}",
            salt=store.feedback_salt(),
            per_client_per_hour=10,
            per_station_per_hour=30,
            at=datetime.now(TZ) - timedelta(days=days_ago),
        )
    make_account(store, districts, code="500103")
    login(console, "yz500103")
    home = console.get("/console").text
    assert "<b>2</b><span>待处理的反馈与投诉</span>" in home
    assert "其中 1 件已逾期" in home
    make_account(store, districts, code="500105", username="yz500105")
    other = console.__class__(console.app)
    login(other, "yz500105")
    assert "<b>0</b><span>待处理的反馈与投诉</span>" in other.get("/console").text
