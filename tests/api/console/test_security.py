"""The console's security, tested as an attacker would try it: session fixation, CSRF on
every POST, logout, disabled accounts, resets, expiry, the Secure cookie behind a proxy,
passwords in logs or the database, the sign-in limiter and timing."""

from __future__ import annotations

import http.client
import logging
import re
import sqlite3
import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from geodata.hours import TZ
from stations.domain.accounts import session_digest
from stations.services.accounts import (
    create_account,
    disable_account,
    find_account,
    reset_password,
    session_of,
    sign_in,
)
from stations.storage.sqlite import SQLiteStore
from tests.api.console.helpers import PASSWORD, csrf_of, login, make_account, post
from tests.live import serve

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
WRONG = "not-the-password-1"


def _other_client(console: TestClient, address: str = "testclient") -> TestClient:
    """Another browser (its own cookies) on the same app, calling from ``address``."""
    return TestClient(console.app, client=(address, 50001))


def _session_cookie(answer) -> str:
    for key, value in answer.headers.multi_items():
        if key == "set-cookie" and value.startswith("yz_session="):
            return value
    raise AssertionError("no session cookie set")


def _sign_in_form(client: TestClient, username: str, password: str, **headers: str):
    page = client.get("/console")
    return client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        headers=headers,
        follow_redirects=False,
    )


# -- session fixation ----------------------------------------------------------------------


def test_a_session_id_from_before_sign_in_is_not_the_one_after(console, store, districts):
    make_account(store, districts)
    make_account(store, districts, code="500104", username="other")
    planted = "planted-by-an-attacker-0123456789abcdef"
    console.cookies.set("yz_session", planted, domain="testserver.local", path="/console")
    answer = _sign_in_form(console, "yz500103", PASSWORD)
    assert answer.status_code == 303
    first = console.cookies.get("yz_session")
    assert first and first != planted and planted not in _session_cookie(answer)
    # An attacker plants their own live session id, then the victim signs in: the
    # victim gets a new id, and the planted one ends (it opens nothing, for anyone).
    with _other_client(console) as attacker:
        login(attacker, "other")
        theirs = attacker.cookies.get("yz_session")
    with _other_client(console) as victim:
        token = csrf_of(victim.get("/console").text)
        victim.cookies.set("yz_session", theirs, domain="testserver.local", path="/console")
        answer = victim.post(
            "/console/login",
            data={"username": "yz500103", "password": PASSWORD, "csrf": token},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert theirs not in _session_cookie(answer)
    found = store.find_session(session_digest(theirs))
    assert found is not None and found[0].ended_at is not None
    assert session_of(store, theirs) is None


# -- CSRF ----------------------------------------------------------------------------------


def _api_routes(routes, prefix: str = ""):
    """Every APIRoute with its full path (this FastAPI keeps included routers as such)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route.methods
        elif hasattr(route, "original_router"):
            inner = prefix + route.include_context.prefix
            yield from _api_routes(route.original_router.routes, inner)


def _console_posts(app) -> list[str]:
    """Every POST route under /console (others' too, once merged) but the sign-in form."""
    paths = []
    for path, methods in _api_routes(app.routes):
        if "POST" in methods and path.startswith("/console") and path != "/console/login":
            # Path parameters get a plausible value: the check comes before they are used.
            paths.append(re.sub(r"\{[^}]+\}", "1", path))
    return sorted(set(paths))


@pytest.fixture
def signed_in_city(console, store, districts):
    make_account(store, districts, role="admin", code=None, username="city")
    make_account(store, districts)
    return login(console, "city")


def test_every_console_post_is_covered(console):
    posts = _console_posts(console.app)
    for expected in ("/console/logout", "/console/password", "/console/accounts"):
        assert expected in posts
    assert "/console/accounts/1/disable" in posts


@pytest.mark.parametrize(
    ("case", "headers", "with_token"),
    [
        ("no token", {}, False),
        ("wrong token", {}, "wrong"),
        ("foreign origin", {"Origin": "https://evil.example"}, True),
        ("null origin", {"Origin": "null"}, True),
        ("cross-site fetch", {"Sec-Fetch-Site": "cross-site"}, True),
        ("same-site fetch", {"Sec-Fetch-Site": "same-site"}, True),
    ],
)
def test_every_console_post_refuses_a_forged_request(
    console, store, signed_in_city, case, headers, with_token
):
    refused = []
    for path in _console_posts(console.app):
        data = {"password": "x" * 12, "name": "x", "username": "forged", "role": "admin"}
        if with_token is True:
            data["csrf"] = signed_in_city
        elif with_token:
            data["csrf"] = with_token
        answer = console.post(path, data=data, headers=headers, follow_redirects=False)
        if answer.status_code != 403 or "表单已过期" not in answer.text:
            refused.append((path, answer.status_code))
    assert refused == [], f"{case}: these POSTs were not refused"
    # Nothing happened: still signed in, nothing created, nobody disabled.
    assert store.find_account("forged") is None
    assert find_account(store, "yz500103").active
    assert "退出" in console.get("/console").text


def test_the_token_in_a_header_is_taken_too_and_the_right_token_passes(console, signed_in_city):
    answer = console.post(
        "/console/accounts/yz500103/disable",
        headers={"X-CSRF-Token": signed_in_city, "Origin": "http://testserver"},
    )
    assert answer.status_code == 200 and "已停用 yz500103" in answer.text


def test_another_sessions_token_is_refused(console, store, districts, signed_in_city):
    with _other_client(console) as clerk:
        clerk_csrf = login(clerk, "yz500103")
    answer = post(console, "/console/accounts/yz500103/disable", clerk_csrf)
    assert answer.status_code == 403


def test_sign_in_needs_its_own_form_token_and_this_site(console, store, districts):
    make_account(store, districts)
    page = console.get("/console")
    token = csrf_of(page.text)
    form = {"username": "yz500103", "password": PASSWORD}
    for data, headers in [
        (form, {}),
        ({**form, "csrf": "wrong"}, {}),
        ({**form, "csrf": token}, {"Origin": "https://evil.example"}),
        ({**form, "csrf": token}, {"Sec-Fetch-Site": "cross-site"}),
    ]:
        answer = console.post("/console/login", data=data, headers=headers)
        assert answer.status_code == 403
    assert "yz_session" not in console.cookies
    # The token of another browser's form (its cookie not sent) is refused too.
    with _other_client(console) as other:
        foreign = csrf_of(other.get("/console").text)
    console.cookies.delete("yz_login_csrf")
    assert console.post("/console/login", data={**form, "csrf": foreign}).status_code == 403


# -- ending sessions -----------------------------------------------------------------------


def test_logout_ends_the_session_in_the_database(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    secret = console.cookies.get("yz_session")
    assert post(console, "/console/logout", csrf, follow_redirects=False).status_code == 303
    found = store.find_session(session_digest(secret))
    assert found is not None and found[0].ended_at is not None
    with _other_client(console) as replay:
        replay.cookies.set("yz_session", secret, path="/console")
        answer = replay.get("/console/password", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/console?")
        assert post(replay, "/console/password", csrf, follow_redirects=False).status_code == 303


def test_a_disabled_account_is_out_at_once_and_cannot_sign_in(console, store, districts):
    account = make_account(store, districts)
    login(console, "yz500103")
    assert console.get("/console/password", follow_redirects=False).status_code == 200
    disable_account(store, account)
    assert console.get("/console/password", follow_redirects=False).status_code == 303
    assert "用户名" in console.get("/console").text
    answer = _sign_in_form(console, "yz500103", PASSWORD)
    assert answer.status_code == 401 and "yz_session" not in answer.headers.get("set-cookie", "")


def test_a_password_reset_ends_the_other_sessions(console, store, districts):
    account = make_account(store, districts)
    login(console, "yz500103")
    with _other_client(console) as laptop:
        login(laptop, "yz500103")
        reset_password(store, account, "换了的新密码-2026")
        for client in (console, laptop):
            assert client.get("/console/password", follow_redirects=False).status_code == 303
        assert _sign_in_form(laptop, "yz500103", PASSWORD).status_code == 401
        login(laptop, "yz500103", "换了的新密码-2026")


def test_changing_ones_own_password_ends_the_other_sessions_and_keeps_this_one(
    console, store, districts
):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    with _other_client(console) as laptop:
        login(laptop, "yz500103")
        answer = post(
            console,
            "/console/password",
            csrf,
            data={"current": PASSWORD, "new": "自己改的密码-2026", "again": "自己改的密码-2026"},
        )
        assert answer.status_code == 200 and "密码已修改" in answer.text
        assert laptop.get("/console/password", follow_redirects=False).status_code == 303
    assert console.get("/console/password", follow_redirects=False).status_code == 200


# -- expiry (a fake now) -------------------------------------------------------------------


def test_an_idle_session_expires(store, districts):
    make_account(store, districts)
    idle, max_age = timedelta(hours=8), timedelta(days=7)
    result = sign_in(store, "yz500103", PASSWORD, idle=idle, now=T0)
    assert result is not None
    secret = result[0]
    kw = {"idle": idle, "max_age": max_age}
    assert session_of(store, secret, now=T0 + timedelta(hours=7), **kw) is not None
    # Used at 7 h, it lasts until 15 h; not used again, it is gone at 15 h.
    assert session_of(store, secret, now=T0 + timedelta(hours=14, minutes=59), **kw) is not None
    assert session_of(store, secret, now=T0 + timedelta(hours=23), **kw) is None


def test_a_session_used_all_along_ends_at_its_max_age(store, districts):
    make_account(store, districts)
    idle, max_age = timedelta(hours=8), timedelta(days=7)
    result = sign_in(store, "yz500103", PASSWORD, idle=idle, now=T0)
    assert result is not None
    secret, at = result[0], T0
    kw = {"idle": idle, "max_age": max_age}
    while at + timedelta(hours=6) < T0 + max_age:
        at += timedelta(hours=6)
        assert session_of(store, secret, now=at, **kw) is not None, at
    assert session_of(store, secret, now=T0 + max_age + timedelta(minutes=1), **kw) is None


def test_the_app_uses_the_configured_lifetimes(store, districts, db_path, monkeypatch):
    from tests.api.clients import api_client

    make_account(store, districts)
    with api_client(
        store, districts, db_path, warm_start=False, console_session_idle_minutes=30
    ) as client:
        login(client, "yz500103")
        secret = client.cookies.get("yz_session")
        found = store.find_session(session_digest(secret))
        assert found is not None
        session = found[0]
        assert session.expires_at - session.created_at == timedelta(minutes=30)


# -- the Secure cookie behind a trusted proxy (a real yizhan serve) -------------------------


def _raw(base: str, method: str, path: str, *, source: str, headers: dict, body: str = ""):
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=20, source_address=(source, 0)
    )
    try:
        conn.request(method, path, body=body or None, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.getheaders(), answer.read().decode()
    finally:
        conn.close()


def _cookies(headers: list[tuple[str, str]]) -> dict[str, str]:
    out = {}
    for key, value in headers:
        if key.lower() == "set-cookie":
            out[value.split("=", 1)[0]] = value
    return out


@pytest.mark.slow
def test_the_cookie_is_secure_over_tls_through_a_trusted_proxy_only(tmp_path, districts):
    db = tmp_path / "r.sqlite3"
    store = SQLiteStore(db)
    try:
        make_account(store, districts)
    finally:
        store.close()
    # 127.0.0.2 is the trusted proxy; 127.0.0.1 is any other peer (both this machine).
    env = {"YIZHAN_FORWARDED_ALLOW_IPS": "127.0.0.2", "YIZHAN_WARM_START": "0"}
    with serve(f"sqlite:///{db}", "--access-log", env=env) as server:
        results = {}
        for source in ("127.0.0.2", "127.0.0.1"):
            tls = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.9"}
            status, headers, body = _raw(server.base, "GET", "/console", source=source, headers=tls)
            assert status == 200
            login_cookie = _cookies(headers)["yz_login_csrf"]
            token = csrf_of(body)
            form = urlencode({"username": "yz500103", "password": PASSWORD, "csrf": token})
            status, headers, _ = _raw(
                server.base,
                "POST",
                "/console/login",
                source=source,
                body=form,
                headers={
                    **tls,
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Cookie": login_cookie.split(";", 1)[0],
                },
            )
            assert status == 303
            results[source] = (login_cookie, _cookies(headers)["yz_session"])
    for cookie in results["127.0.0.2"]:
        assert "Secure" in cookie and "HttpOnly" in cookie
    for cookie in results["127.0.0.1"]:
        assert "Secure" not in cookie and "HttpOnly" in cookie
    assert PASSWORD not in server.output


# -- passwords never in logs or in the database in the clear --------------------------------


def test_no_password_in_the_logs(console, store, districts, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = [PASSWORD, WRONG, "重置后的密码-2026-x", "城市自己的密码-2026"]
    make_account(store, districts, role="admin", code=None, username="city", password=secrets[3])
    city = login(console, "city", secrets[3])
    post(
        console,
        "/console/accounts",
        city,
        data={"role": "district", "district": "500103", "name": "渝中区总工会",
              "username": "yz500103", "password": PASSWORD},
    )  # fmt: skip
    with _other_client(console) as clerk:
        assert _sign_in_form(clerk, "yz500103", WRONG).status_code == 401
        login(clerk, "yz500103")
    post(console, "/console/accounts/yz500103/password", city, data={"password": secrets[2]})
    shown = post(console, "/console/accounts/yz500103/password", city)
    secrets.append(re.search(r'id="shown-password">([^<]+)<', shown.text).group(1))
    logged = "\n".join(
        f"{r.getMessage()} {r.args!r} {getattr(r, '__dict__', {})!r}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged: the capture is not working"
    for secret in secrets:
        assert secret not in logged


def _sqlite_dump(path: Path) -> tuple[str, bytes]:
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        text = "\n".join(repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"'))
    finally:
        conn.close()
    raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    return text, raw


def _postgres_dump(url: str) -> str:
    import psycopg  # deferred: only the PostGIS case needs it

    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        return "\n".join(
            repr(row)
            for schema, name in tables
            for row in conn.execute(f'SELECT * FROM "{schema}"."{name}"').fetchall()
        )


def test_no_password_or_session_secret_in_the_database(any_store, store_url, districts):
    passwords = ["初始密码-Ab-2026", "重置后的密码-Cd-2026"]
    account = create_account(
        any_store, districts, username="yz500103", password=passwords[0], role="district",
        code="500103", name="渝中区总工会",
    )  # fmt: skip
    result = sign_in(any_store, "yz500103", passwords[0])
    assert result is not None
    assert sign_in(any_store, "yz500103", "错误的密码-Ef-2026") is None
    account = reset_password(any_store, account, passwords[1])
    result = sign_in(any_store, "yz500103", passwords[1])
    assert result is not None
    secret = result[0]
    if store_url.startswith("sqlite"):
        text, raw = _sqlite_dump(Path(store_url.removeprefix("sqlite:///")))
        for p in [*passwords, secret]:
            assert p.encode() not in raw and p.encode("utf-8").hex() not in raw.decode("latin-1")
    else:
        text = _postgres_dump(store_url)
    for p in [*passwords, "错误的密码-Ef-2026", secret]:
        assert p not in text and p.encode().hex() not in text
    hashes = re.findall(r"'(\$argon2[^']*)'", text)
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)
    assert find_account(any_store, "yz500103").password_hash.startswith("$argon2id$v=19$")


# -- the sign-in limiter -------------------------------------------------------------------


def test_failed_sign_ins_lock_the_username_and_the_address(console, store, districts):
    make_account(store, districts)
    make_account(store, districts, code="500104", username="other")
    for _ in range(10):
        assert _sign_in_form(console, "yz500103", WRONG).status_code == 401
    locked = _sign_in_form(console, "yz500103", PASSWORD)  # right, but locked out
    assert locked.status_code == 429 and "yz_session" not in console.cookies
    assert re.search(r"登录失败次数过多，已暂停登录，请 \d+ 秒后再试", locked.text)
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    # This address is locked for every username ...
    assert _sign_in_form(console, "other", PASSWORD).status_code == 429
    with _other_client(console, "127.0.0.2") as elsewhere:
        # ... another address cannot sign in the locked username (nor the same name
        # written another way: upper case, full width), but signs in another person.
        assert _sign_in_form(elsewhere, "yz500103", PASSWORD).status_code == 429
        assert _sign_in_form(elsewhere, "ＹＺ500103", PASSWORD).status_code == 429
        assert _sign_in_form(elsewhere, "other", PASSWORD).status_code == 303


def test_the_limit_follows_the_setting(store, districts, db_path):
    from tests.api.clients import api_client

    make_account(store, districts)
    with api_client(
        store, districts, db_path, warm_start=False, auth_failures_per_minute=2
    ) as client:
        for _ in range(2):
            assert _sign_in_form(client, "yz500103", WRONG).status_code == 401
        answer = _sign_in_form(client, "yz500103", PASSWORD)
        assert answer.status_code == 429 and "每分钟最多输错 2 次" in answer.text


def test_guessing_the_current_password_from_a_session_is_limited(console, store, districts):
    make_account(store, districts)
    csrf = login(console, "yz500103")
    form = {"current": WRONG, "new": "新的密码-2026-ab", "again": "新的密码-2026-ab"}
    for _ in range(10):
        assert post(console, "/console/password", csrf, data=form).status_code == 422
    answer = post(console, "/console/password", csrf, data={**form, "current": PASSWORD})
    assert answer.status_code == 429 and "秒后再试" in answer.text
    assert sign_in(store, "yz500103", PASSWORD) is not None  # unchanged


# -- timing --------------------------------------------------------------------------------


def test_an_unknown_username_takes_as_long_as_a_wrong_password(store, districts):
    make_account(store, districts)
    make_account(store, districts, code="500104", username="gone")
    disable_account(store, find_account(store, "gone"))

    # Taken in turns, so that the load of a shared machine falls on all three alike.
    times: dict[str, list[float]] = {"yz500103": [], "nobody": [], "gone": []}
    for _ in range(5):
        for username, spent in times.items():
            start = time.perf_counter()
            assert sign_in(store, username, PASSWORD if username == "gone" else WRONG) is None
            spent.append(time.perf_counter() - start)
    wrong, unknown, disabled = (statistics.median(t) for t in times.values())
    for other in (unknown, disabled):
        assert 0.5 < other / wrong < 2, (wrong, unknown, disabled)


# -- smaller things ------------------------------------------------------------------------


def test_no_secret_in_the_reprs_a_traceback_would_show(console, store, districts):
    from api.console.session import ConsoleUser

    account = make_account(store, districts)
    result = sign_in(store, "yz500103", PASSWORD)
    assert result is not None
    secret, signed = result
    user = ConsoleUser.of(signed)
    for text in (repr(user), repr(signed), repr(account)):
        assert signed.session.csrf not in text  # (the digest may show: it opens nothing)
        assert secret not in text and account.password_hash not in text


@pytest.mark.parametrize("referer", ["https://evil.example/x", "//evil.example/x", "/elsewhere"])
def test_the_error_pages_back_link_stays_on_this_site(console, store, districts, referer):
    make_account(store, districts)
    login(console, "yz500103")
    page = console.get("/console/accounts", headers={"Referer": referer})
    assert page.status_code == 403
    assert 'href="/console">返回' in page.text and "evil" not in page.text


def test_a_clerk_cannot_reset_even_their_own_password_without_the_current_one(store, districts):
    from stations.domain.errors import ForbiddenError

    account = make_account(store, districts)
    with pytest.raises(ForbiddenError):
        reset_password(store, account, "不用旧密码的新密码-1", by=account.principal())
    assert sign_in(store, "yz500103", PASSWORD) is not None


@pytest.mark.parametrize(
    ("target", "goes"),
    [
        ("/console/accounts?x=1", "/console/accounts?x=1"),
        ("/console/../v1/stations", "/console"),
        ("/console-elsewhere", "/console"),
        ("/console/\\evil.example", "/console"),
        ("/console/a\r\nSet-Cookie: x=1", "/console"),
        ("https://evil.example/console", "/console"),
    ],
)
def test_after_sign_in_only_a_console_page(target, goes):
    from api.console.session import safe_next

    assert safe_next(target) == goes


def test_a_form_sent_after_the_session_ended_comes_back_to_its_page(console, store, districts):
    make_account(store, districts, role="admin", code=None, username="city")
    make_account(store, districts)
    csrf = login(console, "city")
    disable_account(store, find_account(store, "city"))  # (or: it expired)
    answer = post(
        console,
        "/console/accounts/yz500103/disable",
        csrf,
        headers={"Referer": "http://testserver/console/accounts?page=2"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console?next=%2Fconsole%2Faccounts%3Fpage%3D2"
    assert find_account(store, "yz500103").active
    foreign = post(
        console,
        "/console/accounts/yz500103/disable",
        csrf,
        headers={"Referer": "https://evil.example/console/x"},
        follow_redirects=False,
    )
    assert foreign.headers["location"] == "/console?next=%2Fconsole"
