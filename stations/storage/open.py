"""Open the store named by a database URL."""

from __future__ import annotations

from pathlib import Path

from stations.storage.redaction import redact, remember_password
from stations.storage.sqlite import SQLiteStore
from stations.storage.store import Store, Timeouts

__all__ = ["open_store", "redact", "remember_password", "sqlite_path"]


def sqlite_path(url: str) -> Path:
    """``sqlite:///rel/path`` -> rel/path; ``sqlite:////abs/path`` -> /abs/path."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        msg = f"not a sqlite URL: {url!r} (write sqlite:///path/to/file.sqlite3)"
        raise ValueError(msg)
    rest = url[len(prefix) :]
    if not rest:
        msg = "the sqlite URL names no file"
        raise ValueError(msg)
    return Path(rest)


def open_store(
    url: str, *, timeouts: Timeouts | None = None, start_unavailable: bool = False
) -> Store:
    """Open (creating or upgrading if needed) the registry at ``url``; ``timeouts`` bound
    the database's work (PostgreSQL; SQLite needs none: its readers never wait). With
    ``start_unavailable`` (a server), a database server that cannot be reached yet is
    opened anyway: each use raises DatabaseUnavailableError until it answers."""
    if url.startswith("sqlite://"):
        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        # deferred: psycopg and its pool add 0.4-0.6 s to every start-up (python -X
        # importtime -c "import stations.storage.sqlite, stations.storage.postgis"), which
        # a registry in SQLite never uses.
        from stations.storage.postgis import PostGISStore

        return PostGISStore(url, timeouts=timeouts, start_unavailable=start_unavailable)
    msg = f"unknown database URL {redact(url)!r}"
    raise ValueError(msg)
