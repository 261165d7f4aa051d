"""Review (R2) of the accounts: usernames as people type them, a reset password used at once,
two sessions of one account."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.api.console.helpers import PASSWORD, csrf_of, login, make_account, post


def test_a_username_typed_in_capitals_full_width_or_with_spaces_is_the_same_account(
    console, store, districts
):
    make_account(store, districts, role="admin", code=None)
    make_account(store, districts, code="500103")
    csrf = login(console, "city")
    for lookalike in ("YZ500103", " yz500103 ", "ｙｚ５００１０３"):
        answer = post(
            console,
            "/console/accounts",
            csrf,
            data={
                "role": "district",
                "district": "500105",
                "name": "江北区总工会",
                "username": lookalike,
                "password": "Another-pass-2026",
            },
        )
        assert answer.status_code == 422 and "已被使用" in answer.text, lookalike
    cyrillic = post(
        console,
        "/console/accounts",
        csrf,
        data={
            "role": "district",
            "district": "500105",
            "name": "江北区总工会",
            "username": "уz500103",  # a Cyrillic у
            "password": "Another-pass-2026",
        },
    )
    assert cyrillic.status_code == 422 and "用户名须为" in cyrillic.text
    assert len(store.list_accounts()) == 2


def test_a_reset_password_works_at_once_and_ends_both_sessions(console, store, districts, db_path):
    make_account(store, districts, role="admin", code=None)
    make_account(store, districts, code="500103")
    other = TestClient(console.app)
    login(other, "YZ500103")  # signs in however it is typed
    second = TestClient(console.app)
    login(second, "yz500103")
    assert other.get("/console/uploads").status_code == 200
    csrf = login(console, "city")
    answer = post(
        console, "/console/accounts/yz500103/password", csrf, data={"password": "New-pass-2026!"}
    )
    assert answer.status_code == 200 and "已重置" in answer.text
    for old in (other, second):
        page = old.get("/console/uploads", follow_redirects=False)
        assert page.status_code in (303, 401, 200)
        assert page.status_code != 200 or 'name="password"' in page.text
    fresh = TestClient(console.app)
    page = fresh.get("/console")
    signed = fresh.post(
        "/console/login",
        data={"username": "yz500103", "password": "New-pass-2026!", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert signed.status_code == 303
    refused = TestClient(console.app)
    page = refused.get("/console")
    old = refused.post(
        "/console/login",
        data={"username": "yz500103", "password": PASSWORD, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert old.status_code != 303
