"""Write tokens: create, list, revoke."""

from __future__ import annotations

import click

from stations.cli.common import (
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.domain.auth import Role
from stations.services.tokens import create_token, list_tokens, revoke_token


@main.group()
def token() -> None:
    """Create, list and revoke write tokens."""


@token.command(name="create")
@database_option
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--code", help="district adcode (district role) or industry code (industry role)")
@click.option("--name", required=True, help="whose token it is, e.g. 渝中区总工会")
def token_create(database: str | None, role: str, code: str | None, name: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    store = open_registry(database)
    try:
        text, record = create_token(store, registry_districts(), role=role, name=name, code=code)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(text)
    click.echo(
        f"token {record.id} for {record.name} ({record.role.value}"
        f"{':' + record.code if record.code else ''}); it is shown only now",
        err=True,
    )


@token.command(name="list")
@database_option
def token_list(database: str | None) -> None:
    """List tokens (never their secrets)."""
    for t in list_tokens(open_registry(database)):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        click.echo(f"{t.id}\t{t.role.value}\t{t.code or '-'}\t{t.name}\t{state}")


@token.command(name="revoke")
@click.argument("token_id")
@database_option
def token_revoke(token_id: str, database: str | None) -> None:
    """Revoke a token: it stops working at once."""
    if not revoke_token(open_registry(database), token_id):
        raise click.ClickException(f"no token {token_id}")
    click.echo(f"revoked {token_id}")
