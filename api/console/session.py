"""Who is signed in to the console: the session cookie, CSRF checks, the sign-in limiter.

The cookie holds a random secret; the database holds only its SHA-256 (services/accounts).
It is ``HttpOnly``, ``SameSite=Lax``, limited to ``/console`` and ``Secure`` when the request
came over TLS (``request.url.scheme``: uvicorn believes X-Forwarded-Proto only from the
trusted proxies, ``YIZHAN_FORWARDED_ALLOW_IPS``). Every POST carries the session's CSRF token
(form field ``csrf`` or header ``X-CSRF-Token``) and, when the browser says where it came
from (``Origin``, ``Sec-Fetch-Site``), must come from this site.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from starlette.datastructures import FormData

from api.deps import get_services
from stations.domain.auth import Principal, Role
from stations.domain.feedback import client_key
from stations.services.accounts import SignedIn, session_of

COOKIE = "yz_session"
LOGIN_CSRF_COOKIE = "yz_login_csrf"
COOKIE_PATH = "/console"


@dataclass(frozen=True, slots=True)
class ConsoleUser:
    """The person behind a console request and the union they act for."""

    account_id: int
    username: str
    name: str
    role: Role
    code: str | None
    principal: Principal
    csrf: str = field(repr=False)  # never in a log line or a traceback
    session_digest: str = field(repr=False)

    @property
    def is_city(self) -> bool:
        return self.role is Role.ADMIN

    @classmethod
    def of(cls, signed_in: SignedIn) -> ConsoleUser:
        a = signed_in.account
        assert a.id is not None
        return cls(
            a.id,
            a.username,
            a.name,
            a.role,
            a.code,
            signed_in.principal,
            signed_in.session.csrf,
            signed_in.session.id_sha256,
        )


class LoginRequiredError(Exception):
    """No live session: the browser goes to the sign-in form (and back after it)."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CsrfError(Exception):
    """A POST without this session's CSRF token, or from another site."""


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: object, request: Request, name: str, value: str, **kw: object) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        name,
        value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=is_tls(request),
        **kw,
    )


def delete_cookie(response: object, request: Request, name: str) -> None:
    response.delete_cookie(  # type: ignore[attr-defined]
        name, path=COOKIE_PATH, httponly=True, samesite="lax", secure=is_tls(request)
    )


def signed_in(request: Request) -> ConsoleUser | None:
    """The console user of ``request``, or None (no cookie, ended, expired, disabled)."""
    if hasattr(request.state, "console_user"):
        cached: ConsoleUser | None = request.state.console_user
        return cached
    secret = request.cookies.get(COOKIE, "")
    services = get_services(request)
    lasts = services.settings.console_session
    found = (
        session_of(services.store, secret, idle=lasts["idle"], max_age=lasts["max_age"])
        if secret
        else None
    )
    user = ConsoleUser.of(found) if found is not None else None
    request.state.console_user = user
    return user


def safe_next(url: str | None) -> str:
    """Where to go after signing in: a console path of ours, never another site (nor, by
    ``..``, another part of this one)."""
    if not url:
        return "/console"
    parts = urlsplit(url)
    ours = parts.path == "/console" or parts.path.startswith("/console/")
    odd = "\\" in url or ".." in parts.path.split("/") or any(ord(c) < 32 for c in url)
    if parts.scheme or parts.netloc or not ours or odd:
        return "/console"
    return url


def _return_to(request: Request) -> str:
    """The page to come back to after signing in: this one, or for a form sent when the
    session had ended (a POST, which a redirect cannot repeat) the page it was sent from."""
    if request.method in ("GET", "HEAD"):
        return request.url.path + (f"?{request.url.query}" if request.url.query else "")
    referer = request.headers.get("referer", "")
    base = str(request.base_url)
    return safe_next("/" + referer[len(base) :] if referer.startswith(base) else None)


def console_user(request: Request) -> ConsoleUser:
    user = signed_in(request)
    if user is None:
        raise LoginRequiredError("/console?next=" + quote(_return_to(request), safe=""))
    return user


def same_site(request: Request) -> bool:
    """Whether the browser says the request came from this site (or says nothing: a
    browser that sends neither ``Sec-Fetch-Site`` nor ``Origin`` still needs the token)."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    ours = {request.headers.get("host", ""), request.url.netloc}
    public = get_services(request).settings.public_url
    if public:
        ours.add(urlsplit(str(public)).netloc)
    return urlsplit(origin).netloc in ours


def tokens_match(sent: str | None, expected: str) -> bool:
    return bool(sent) and bool(expected) and hmac.compare_digest(str(sent), expected)


async def form_of(request: Request) -> FormData | None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        return await request.form()
    return None


async def checked_user(request: Request) -> ConsoleUser:
    """The signed-in user of a state-changing request, its CSRF token checked."""
    user = console_user(request)
    if not same_site(request):
        raise CsrfError
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await form_of(request)
        value = form.get("csrf") if form is not None else None
        sent = value if isinstance(value, str) else None
    if not tokens_match(sent, user.csrf):
        raise CsrfError
    return user


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


def client_address(request: Request) -> str:
    return client_key(request.client.host if request.client else "unknown")


UserDep = Annotated[ConsoleUser, Depends(console_user)]
FormUserDep = Annotated[ConsoleUser, Depends(checked_user)]
