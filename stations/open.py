"""Open the store named by a database URL."""

from __future__ import annotations

from pathlib import Path

from stations.store import Store


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


def open_store(url: str) -> Store:
    """Open (creating or upgrading if needed) the registry at ``url``."""
    if url.startswith("sqlite://"):
        from stations.sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(url))
    if url.startswith(("postgresql://", "postgres://")):
        from stations.postgis import PostGISStore

        return PostGISStore(url)
    msg = f"unknown database URL {url!r}"
    raise ValueError(msg)
