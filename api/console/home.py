"""The console's door: the sign-in form at /console, signing in and out, the home page and
the console's own static files."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from api.console.session import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    ConsoleUser,
    CsrfError,
    FormUserDep,
    UserDep,
    client_address,
    delete_cookie,
    new_login_csrf,
    safe_next,
    same_site,
    set_cookie,
    signed_in,
    tokens_match,
)
from api.console.templating import render, static_asset
from api.deps import ServicesDep
from api.problems import Problem
from api.rider_page import IMMUTABLE, REVALIDATE
from stations.domain.accounts import AccountError, normal_username
from stations.services.accounts import change_own_password, sign_in, sign_out
from stations.services.home import union_summary

router = APIRouter(include_in_schema=False)


def _login_page(
    request: Request,
    *,
    next_url: str,
    status_code: int = 200,
    error: str | None = None,
    username: str = "",
    headers: dict[str, str] | None = None,
) -> Response:
    token = new_login_csrf()
    response = render(
        request,
        "login.html",
        user=None,
        status_code=status_code,
        headers=headers,
        login_csrf=token,
        next_url=safe_next(next_url),
        username=username,
        error=error,
    )
    set_cookie(response, request, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


def _user_key(username: str) -> str:
    return f"console user {normal_username(username[:256])}"


def _locked_out(request: Request, wait: int) -> str:
    limit = request.app.state.services.settings.auth_failures_per_minute
    return (
        f"登录失败次数过多，已暂停登录，请 {wait} 秒后再试。"
        f"（同一用户名或同一网络地址每分钟最多输错 {limit} 次；忘记密码请联系市总工会重置。）"
    )


@router.get("/console")
def console_home(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    user = signed_in(request)
    if user is None:
        return _login_page(request, next_url=next or "/console")
    summary = union_summary(services.store, services.index.current(), by=user.principal)
    return render(request, "home.html", user=user, summary=summary)


@router.post("/console/login")
def login(
    request: Request,
    services: ServicesDep,
    username: Annotated[str, Form(max_length=256)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf: Annotated[str, Form(max_length=256)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/console",
) -> Response:
    if not same_site(request) or not tokens_match(csrf, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        raise CsrfError
    limiter = request.app.state.auth_limiter
    # Counted per address (an IPv6 client's /64) and per username: guessing one person's
    # password from many addresses, or many people's from one, both stop.
    # The username as accounts are looked up (NFKC, lower case): ＹＺ500103 is yz500103.
    keys = (f"{client_address(request)} console", _user_key(username))
    wait = max(limiter.retry_after_s(k) for k in keys)
    if wait:
        return _login_page(
            request,
            next_url=next,
            status_code=429,
            username=username,
            error=_locked_out(request, wait),
            headers={"Retry-After": str(wait)},
        )
    settings = services.settings
    result = sign_in(services.store, username, password, idle=settings.console_session["idle"])
    if result is None:
        for k in keys:
            limiter.fail(k)
        return _login_page(
            request,
            next_url=next,
            status_code=401,
            username=username,
            error="用户名或密码不正确，或账号已停用。",
        )
    old = request.cookies.get(COOKIE)
    if old:  # a session id from before signing in never carries on (session fixation)
        sign_out(services.store, old)
    secret, _ = result
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(response, request, COOKIE, secret)
    delete_cookie(response, request, LOGIN_CSRF_COOKIE)
    return response


@router.post("/console/logout")
def logout(request: Request, services: ServicesDep, user: FormUserDep) -> Response:
    sign_out(services.store, request.cookies.get(COOKIE, ""))
    response = RedirectResponse("/console", status_code=303)
    delete_cookie(response, request, COOKIE)
    return response


@router.get("/console/static/{name}")
def console_static(name: str, request: Request) -> Response:
    asset = static_asset(name)
    if asset is None:
        raise Problem("not_found", f"no file {name!r} here")
    versioned = request.query_params.get("v") == asset.version
    return asset.response(request, cache_control=IMMUTABLE if versioned else REVALIDATE)


@router.get("/console/password")
def password_page(request: Request, user: UserDep) -> Response:
    return render(request, "password.html", user=user)


@router.post("/console/password")
def change_password(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    current: Annotated[str, Form(max_length=1024)] = "",
    new: Annotated[str, Form(max_length=1024)] = "",
    again: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """Change one's own password (the current one first); every session ends, this one is
    replaced by a new one so the person stays signed in here."""
    if new != again:
        return render(
            request, "password.html", user=user, status_code=422, error="两次输入的新密码不一致。"
        )
    # Guessing the current password from a session is limited as signing in is.
    limiter, key = request.app.state.auth_limiter, _user_key(user.username)
    wait = limiter.retry_after_s(key)
    if wait:
        error = _locked_out(request, wait)
        return render(request, "password.html", user=user, status_code=429, error=error)
    try:
        result = change_own_password(
            services.store,
            user.principal,
            current,
            new,
            idle=services.settings.console_session["idle"],
        )
    except AccountError as exc:
        return render(request, "password.html", user=user, status_code=422, error=str(exc))
    if result is None:
        limiter.fail(key)
        return render(
            request, "password.html", user=user, status_code=422, error="当前密码不正确。"
        )
    response = render(
        request,
        "password.html",
        user=ConsoleUser.of(result[1]),
        notice="密码已修改。其他设备上的登录已退出。",
    )
    set_cookie(response, request, COOKIE, result[0])
    return response
