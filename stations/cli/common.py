"""What every command shares: the group, settings, the registry opened, progress."""

from __future__ import annotations

import time

import click

from geodata.districts import Districts, load_districts
from stations.config import Settings, get_settings
from stations.domain.auth import Principal, Role
from stations.domain.errors import StoreError
from stations.domain.model import Owner, OwnerKind
from stations.storage.open import open_store, redact
from stations.storage.store import Store


def cli_settings() -> Settings:
    """The settings, or a clear error (with any password hidden) for the command line."""
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        # (It quotes the value given: a database URL may hold a password.)
        raise click.ClickException(f"bad setting: {redact(str(exc))}") from None


def open_registry(database: str | None) -> Store:
    """The registry --database names (default: the settings'), with the batch jobs' time
    limits; a one-line error, without a password, when it cannot be opened."""
    url = database or cli_settings().database_url
    try:
        return open_store(url, timeouts=cli_settings().timeouts.for_batch_jobs())
    except (ValueError, NotImplementedError) as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:  # an unreachable or refusing database, a foreign schema
        raise click.ClickException(str(exc)) from None


def registry_districts() -> Districts:
    """The districts of the settings' boundary layer (YIZHAN_DISTRICTS_SOURCE)."""
    return load_districts(cli_settings().districts_source)


database_option = click.option(
    "--database",
    "-d",
    metavar="URL",
    help="registry to use (default: $YIZHAN_DATABASE_URL or sqlite:///data/yizhan.sqlite3)",
)


class Progress:
    """Rows processed, rate, shown on stderr at most a few times a second."""

    def __init__(self, label: str, *, every_s: float = 0.5) -> None:
        self.label = label
        self.every_s = every_s
        self.start = time.perf_counter()
        self.last = 0.0
        self.count = 0

    def __call__(self, count: int) -> None:
        self.count = count
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            rate = count / max(now - self.start, 1e-9)
            click.echo(f"\r{self.label}: {count:,} 行 ({rate:,.0f} 行/秒)", nl=False, err=True)

    def done(self) -> None:
        elapsed = time.perf_counter() - self.start
        click.echo(f"\r{self.label}: {self.count:,} 行，用时 {elapsed:.1f} 秒      ", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="yizhan")
def main() -> None:
    """yizhan: the open map and registry of trade-union rest stations (工会驿站)."""


def cli_principal(union: str | None, actor: str) -> Principal:
    """The CLI is run by the operator; --union makes it act as (and be limited to) a union."""
    if union is None:
        return Principal("cli", actor, Role.ADMIN, None)
    try:
        owner = Owner.parse(union)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    role = Role.DISTRICT if owner.kind is OwnerKind.DISTRICT else Role.INDUSTRY
    return Principal("cli", actor, role, owner.code)
