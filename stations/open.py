"""Open the store named by a database URL."""

from __future__ import annotations

import re
from pathlib import Path

from stations.store import Store, Timeouts

# user:password@ in a URL; password=… in a libpq conninfo string or a URL's query.
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s'\"]*:)[^@\s'\"]*@", re.IGNORECASE)
_KEY_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with every database password in it replaced by ``***``: for anything that
    may reach a log, a terminal or an HTTP client."""
    return _KEY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


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
        from stations.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from stations.postgis import PostGISStore

        return PostGISStore(url, timeouts=timeouts, start_unavailable=start_unavailable)
    msg = f"unknown database URL {redact(url)!r}"
    raise ValueError(msg)
