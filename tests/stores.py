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


def sqlite_schema(conn, version: int) -> None:
    """Make an empty SQLite registry of schema ``version`` in ``conn`` (inside its open
    transaction), as those releases migrated: a registry of before an upgrade."""
    from stations.storage import sqlite as sqlite_module

    for step in range(version):
        sqlite_module.MIGRATIONS[step](conn)
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")


def postgis_schema(conn, version: int) -> None:
    """Make an empty PostGIS registry of schema ``version`` over the (autocommit) psycopg
    connection ``conn``, as those releases migrated."""
    from stations.storage import postgis

    for step in range(version):
        for statement in postgis.MIGRATIONS[step].split(";\n"):
            if statement.strip():
                conn.execute(statement)
    conn.execute(
        "CREATE TABLE yizhan_schema (version INTEGER NOT NULL, app TEXT NOT NULL DEFAULT 'yizhan')"
    )
    conn.execute("INSERT INTO yizhan_schema (version) VALUES (%s)", (version,))


def upload_states(store) -> dict[str, str]:
    """Every upload the store holds, committed or not: id -> status."""
    rows = store._conn().execute("SELECT id FROM uploads").fetchall()
    return {r["id"]: store.get_upload(r["id"]).status.value for r in rows}


# -- street networks (issue 17) ------------------------------------------------------------


def grid_network(profile: str = "walk", *, n: int = 4, spacing_deg: float = 0.001, seed: int = 0):
    """A small n x n grid of two-way streets around 解放碑 as a Network (geodata.network)."""
    # deferred: numpy and the network code are only needed by the network tests
    import numpy as np

    from geodata.network import Network

    rng = np.random.default_rng(seed)
    ii, jj = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    lon = 106.57 + jj.ravel() * spacing_deg + rng.normal(0, spacing_deg / 20, n * n)
    lat = 29.55 + ii.ravel() * spacing_deg + rng.normal(0, spacing_deg / 20, n * n)
    node = np.arange(n * n).reshape(n, n)
    u = np.concatenate([node[:, :-1].ravel(), node[:-1, :].ravel()])
    v = np.concatenate([node[:, 1:].ravel(), node[1:, :].ravel()])
    both = np.ones(u.size, bool)
    return Network.from_segments(profile, lon, lat, u, v, forward=both, backward=both)


def network_info(network, *, name: str = "city.osm.pbf"):
    """The NetworkInfo an import of ``network`` would store (the version is the store's)."""
    # deferred: only the network tests need these
    from datetime import UTC, datetime

    from stations.domain.travel import NetworkInfo, Travel

    return NetworkInfo(
        profile=Travel(network.profile),
        version=0,
        source_name=name,
        source_sha256="0" * 64,
        imported_at=datetime(2026, 12, 1, 12, 0, tzinfo=UTC),
        imported_by="cli:test",
        nodes=network.nodes,
        edges=network.edges,
        ways=int(network.way_ids.size),
        bbox=network.bbox,
        format=1,
        stats={"kept_ways": int(network.way_ids.size)},
        speeds={"footway": 1.25},
    )


def put_network(store, profile: str = "walk", **grid):
    """Store a small grid network for ``profile``; its stored NetworkInfo."""
    network = grid_network(profile, **grid)
    return store.put_network(network_info(network), network.to_npz())
