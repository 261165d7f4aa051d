"""The city union's accounts page: list, create, disable, enable, reset a password.

Who may is decided by the services (``check_account_admin``, the rule the CLI's operator
bypasses only on the server itself); a district or industry clerk gets the 403 page. A
generated password is shown once, on the page that answers the form, and nowhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import Response

from api.console.session import ConsoleUser, FormUserDep, UserDep
from api.console.templating import render
from api.deps import Services, ServicesDep
from stations.domain.accounts import Account, AccountError, random_password
from stations.domain.auth import Role
from stations.services.accounts import (
    accounts_overview,
    create_account,
    disable_account,
    enable_account,
    find_account,
    reset_password,
)

router = APIRouter(include_in_schema=False)

Text = Annotated[str, Form(max_length=256)]


def _page(
    request: Request,
    services: Services,
    user: ConsoleUser,
    *,
    status_code: int = 200,
    form: dict[str, str] | None = None,
    **context: Any,
) -> Response:
    rows: list[tuple[Account, datetime | None]] = accounts_overview(
        services.store, by=user.principal
    )
    districts = [{"adcode": d.adcode, "name": d.name} for d in services.districts]
    return render(
        request,
        "accounts.html",
        user=user,
        status_code=status_code,
        rows=rows,
        districts=districts,
        form=form or {"role": "district"},
        **{"shown": None, **context},
    )


def _shown(username: str, password: str, what: str) -> dict[str, str]:
    return {"username": username, "password": password, "what": what}


@router.get("/console/accounts")
def accounts_page(request: Request, services: ServicesDep, user: UserDep) -> Response:
    return _page(request, services, user)


@router.post("/console/accounts")
def create(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    role: Text = "district",
    district: Text = "",
    industry: Text = "",
    name: Text = "",
    username: Text = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    generate: Text = "",
) -> Response:
    form = {"role": role, "district": district, "industry": industry, "name": name}
    form["username"] = username
    if not generate and not password:
        error = "请填写初始密码，或勾选“生成随机密码”。"
        return _page(request, services, user, status_code=422, form=form, error=error)
    initial = random_password() if generate else password
    code = {Role.DISTRICT.value: district, Role.INDUSTRY.value: industry}.get(role)
    try:
        account = create_account(
            services.store,
            services.districts,
            username=username,
            password=initial,
            role=role,
            code=code,
            name=name,
            by=user.principal,
        )
    except AccountError as exc:
        return _page(request, services, user, status_code=422, form=form, error=str(exc))
    shown = _shown(account.username, initial, "初始密码") if generate else None
    notice = f"已创建账号 {account.username}（{account.name}）。"
    return _page(request, services, user, notice=notice, shown=shown)


@router.post("/console/accounts/{username}/disable")
def disable(request: Request, services: ServicesDep, user: FormUserDep, username: str) -> Response:
    try:
        account = disable_account(
            services.store, find_account(services.store, username), by=user.principal
        )
    except AccountError as exc:
        return _page(request, services, user, status_code=422, error=str(exc))
    notice = f"已停用 {account.username}（{account.name}）：其登录已全部退出，不能再登录。"
    return _page(request, services, user, notice=notice)


@router.post("/console/accounts/{username}/enable")
def enable(request: Request, services: ServicesDep, user: FormUserDep, username: str) -> Response:
    try:
        account = enable_account(
            services.store, find_account(services.store, username), by=user.principal
        )
    except AccountError as exc:
        return _page(request, services, user, status_code=422, error=str(exc))
    return _page(request, services, user, notice=f"已启用 {account.username}（{account.name}）。")


@router.post("/console/accounts/{username}/password")
def reset(
    request: Request,
    services: ServicesDep,
    user: FormUserDep,
    username: str,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    """A new password: the one typed, or (left empty) a random one shown once."""
    new = password or random_password()
    try:
        account = find_account(services.store, username)
        if account.username == user.username:
            msg = "自己的密码请在“改密码”页修改（需要当前密码）。"
            raise AccountError(msg)
        account = reset_password(services.store, account, new, by=user.principal)
    except AccountError as exc:
        return _page(request, services, user, status_code=422, error=str(exc))
    notice = f"已重置 {account.username} 的密码：其登录已全部退出。"
    shown = None if password else _shown(account.username, new, "新密码")
    return _page(request, services, user, notice=notice, shown=shown)
