"""What the console's tests share: accounts, signing in with a TestClient, its CSRF token."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from geodata.districts import Districts
from stations.domain.accounts import Account
from stations.services.accounts import create_account
from stations.storage.store import Store

PASSWORD = "驿站-Test-2026!"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def make_account(
    store: Store,
    districts: Districts,
    *,
    role: str = "district",
    code: str | None = "500103",
    username: str | None = None,
    password: str = PASSWORD,
    name: str | None = None,
) -> Account:
    """A new account in ``store`` (username ``yz<code>`` or ``city`` by default)."""
    username = username or (f"yz{code}" if code else "city")
    name = name or {"admin": "重庆市总工会", "district": f"{code} 区县工会"}.get(
        role, f"{code} 产业工会"
    )
    return create_account(
        store, districts, username=username, password=password, role=role, code=code, name=name
    )


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in; return the session's CSRF token (to post with)."""
    page = client.get("/console")
    answer = client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:500]
    return csrf_of(client.get("/console").text)


def post(client: TestClient, url: str, csrf: str, **kw: Any) -> Any:
    """A console POST with the session's CSRF token in the form."""
    data = dict(kw.pop("data", None) or {})
    data["csrf"] = csrf
    return client.post(url, data=data, **kw)


def as_posted(values: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Form values (with ``changes``) as a browser posts them: ticked boxes as "1",
    unticked ones absent."""
    out: dict[str, Any] = {}
    for key, value in {**values, **changes}.items():
        if value is True:
            out[key] = "1"
        elif value is not False:
            out[key] = value
    return out
