"""Helpers for tests that look inside a store, whichever backend it is."""

from __future__ import annotations

from stations.storage.sqlite import SQLiteStore


def stored_text(store) -> str:
    """Everything the store wrote, as text: the SQLite file, or every PostGIS table."""
    if isinstance(store, SQLiteStore):
        return store.path.read_bytes().decode("latin-1")
    # deferred: psycopg is an optional dependency (a SQLite-only install has none)
    import psycopg

    with psycopg.connect(store.url) as conn:
        tables = [
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        return "\n".join(str(row) for t in tables for row in conn.execute(f"SELECT * FROM {t}"))


def upload_states(store) -> dict[str, str]:
    """Every upload the store holds, committed or not: id -> status."""
    rows = store._conn().execute("SELECT id FROM uploads").fetchall()
    return {r["id"]: store.get_upload(r["id"]).status.value for r in rows}
