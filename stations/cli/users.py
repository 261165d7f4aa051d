"""Console accounts (工会工作台): create, list, disable, enable, reset a password.

The operator on the server makes the city union's first account here; the city union then
hands out the others in the console. A password is read from standard input
(``--password-stdin``, one line) or typed twice at a hidden prompt: never an option, so it
is in no shell history and no process list.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from stations.cli.common import database_option, main, open_registry, registry_districts
from stations.domain.accounts import ROLE_LABELS, Account, AccountError
from stations.domain.auth import Role
from stations.services.accounts import (
    create_account,
    disable_account,
    enable_account,
    find_account,
    last_sign_in,
    list_accounts,
    reset_password,
)
from stations.storage.store import Store

password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="read the password from standard input (one line); without it, prompt twice",
)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        password = line.removesuffix("\n").removesuffix("\r")
        if not password:
            msg = "标准输入中没有密码（--password-stdin 读取一行）"
            raise click.ClickException(msg)
        return password
    text: str = click.prompt(
        "密码", hide_input=True, confirmation_prompt="再输一次", err=True, type=str
    )
    return text


@main.group()
def user() -> None:
    """Console accounts: create, list, disable, enable, reset-password."""


@user.command(name="create")
@database_option
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--code", help="district adcode (district role) or industry code (industry role)")
@click.option("--name", required=True, help="the union's name, e.g. 渝中区总工会")
@click.option("--username", required=True, help="what the person types to sign in, e.g. yz500103")
@password_stdin_option
def user_create(
    database: str | None,
    role: str,
    code: str | None,
    name: str,
    username: str,
    password_stdin: bool,
) -> None:
    """Create a console account of a union (only the password's Argon2 hash is stored)."""
    password = _password(password_stdin)
    store = open_registry(database)
    try:
        account = create_account(
            store,
            registry_districts(),
            username=username,
            password=password,
            role=role,
            code=code,
            name=name,
        )
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    code_part = f" {account.code}" if account.code else ""
    click.echo(
        f"已创建账号 {account.username}：{account.name}（{ROLE_LABELS[account.role]}{code_part}）"
    )


@user.command(name="list")
@database_option
def user_list(database: str | None) -> None:
    """List accounts: username, union, role, code, created, state, last sign-in (of the
    sessions kept: they are deleted a week after they end; - for none)."""
    store = open_registry(database)
    try:
        click.echo("用户名\t工会\t角色\t代码\t创建时间\t状态\t最近登录")
        for a in list_accounts(store):
            seen = last_sign_in(store, a)
            state = f"已停用 {a.disabled_at:%Y-%m-%d %H:%M}" if a.disabled_at else "正常"
            click.echo(
                f"{a.username}\t{a.name}\t{ROLE_LABELS[a.role]}\t{a.code or '-'}"
                f"\t{a.created_at:%Y-%m-%d %H:%M}\t{state}"
                f"\t{f'{seen:%Y-%m-%d %H:%M}' if seen else '-'}"
            )
    finally:
        store.close()


def _change_account(
    database: str | None, username: str, change: Callable[[Store, Account], Account]
) -> Account:
    """Apply ``change`` to the account ``username`` (its errors as Chinese CLI errors)."""
    store = open_registry(database)
    try:
        return change(store, find_account(store, username))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@user.command(name="disable")
@click.argument("username")
@database_option
def user_disable(username: str, database: str | None) -> None:
    """Disable an account: its sessions end at once and it cannot sign in."""
    account = _change_account(database, username, disable_account)
    click.echo(f"已停用 {account.username}，其登录已全部退出")


@user.command(name="enable")
@click.argument("username")
@database_option
def user_enable(username: str, database: str | None) -> None:
    """Enable a disabled account again (with its password as it was)."""
    account = _change_account(database, username, enable_account)
    click.echo(f"已启用 {account.username}")


@user.command(name="reset-password")
@click.argument("username")
@database_option
@password_stdin_option
def user_reset_password(username: str, database: str | None, password_stdin: bool) -> None:
    """Set a new password for an account; its sessions end."""
    store = open_registry(database)
    try:
        account = find_account(store, username)
        account = reset_password(store, account, _password(password_stdin))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"已重设 {account.username} 的密码，其登录已全部退出")
