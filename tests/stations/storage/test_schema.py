"""One schema definition: a new registry is created from it, and a registry migrated step by
step from schema 1 ends up with exactly the same tables, columns, types, constraints and
indexes, in each engine."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from stations.storage import postgis, schema
from stations.storage import sqlite as sqlite_module
from stations.storage.sqlite import SQLiteStore
from stations.storage.sqlstore import COLUMNS, KEYS, TABLES


def test_every_store_migrates_to_the_version_the_definition_is():
    assert schema.VERSION == sqlite_module.schema_version() == postgis.schema_version()


def test_what_migrate_copies_is_read_from_the_definition():
    assert TABLES == (
        "uploads",
        "batches",
        "stations",
        "audit",
        "tokens",
        "upload_rows",
        "demand_layers",
        "demand_points",
        "feedback",
        "accounts",
        "station_codes",
        "visit_counts",
        "ratings",
        "cases",
        "case_events",
        "inspections",
        "inspection_photos",
        "rectifications",
        "star_ratings",
        "networks",
        "events",
        "event_audit",
        "meta",
    )
    assert COLUMNS["batches"] == ("id", "actor", "at", "kind", "note", "changes", "upload_id")
    assert KEYS["upload_rows"] == ("upload_id", "seq") and KEYS["stations"] == ("id",)


# -- SQLite ----------------------------------------------------------------------------------


def _normal_sql(sql: str) -> str:
    # ALTER TABLE ... ADD COLUMN appends to the stored CREATE statement: compare the words.
    return re.sub(r"\s*([(),])\s*", r"\1", " ".join(sql.split()))


def _sqlite_schema(path: Path) -> dict[str, Any]:
    conn = sqlite3.connect(path)
    found: dict[str, Any] = {}
    try:
        for kind, name, table, sql in conn.execute(
            "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
        ):
            entry: dict[str, Any] = {"type": kind, "table": table, "sql": _normal_sql(sql or "")}
            if kind == "table":
                entry["columns"] = conn.execute(f"PRAGMA table_xinfo({name})").fetchall()
                entry["references"] = [
                    r[2:] for r in conn.execute(f"PRAGMA foreign_key_list({name})")
                ]
            else:
                entry["columns"] = conn.execute(f"PRAGMA index_xinfo({name})").fetchall()
            found[name] = entry
        found["user_version"] = conn.execute("PRAGMA user_version").fetchone()[0]
        found["application_id"] = conn.execute("PRAGMA application_id").fetchone()[0]
    finally:
        conn.close()
    return found


def test_a_sqlite_registry_migrated_from_schema_1_has_the_schema_a_new_one_is_made_with(
    tmp_path: Path,
):
    new = tmp_path / "new.sqlite3"
    SQLiteStore(new).close()

    old = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(old, isolation_level=None)
    conn.execute("BEGIN")
    sqlite_module.MIGRATIONS[0](conn)  # schema 1, as the first release wrote it
    conn.execute("PRAGMA user_version = 1")
    conn.execute(f"PRAGMA application_id = {sqlite_module.APPLICATION_ID}")
    conn.execute("COMMIT")
    conn.close()
    SQLiteStore(old).close()  # migrated step by step, 1 -> 2 -> ... -> now

    migrated, created = _sqlite_schema(old), _sqlite_schema(new)
    assert set(migrated) == set(created)
    for name in created:
        assert migrated[name] == created[name], name
    assert created["user_version"] == schema.VERSION
    tables = {n for n, e in created.items() if isinstance(e, dict) and e["type"] == "table"}
    assert {t.name for t in schema.SCHEMA} <= tables


def test_a_new_sqlite_registry_gets_its_own_feedback_salt(tmp_path: Path):
    salts = set()
    for name in ("a", "b"):
        with SQLiteStore(tmp_path / f"{name}.sqlite3") as store:
            salts.add(store.feedback_salt())
    assert len(salts) == 2 and all(len(s) == 32 for s in salts)


# -- PostGIS ---------------------------------------------------------------------------------

_PG_COLUMNS = """
SELECT table_name, ordinal_position, column_name, data_type, udt_name, is_nullable,
       column_default, is_generated, generation_expression
FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name <> ALL (%s)
ORDER BY table_name, ordinal_position
"""
_PG_CONSTRAINTS = """
SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relname <> ALL (%s)
ORDER BY c.relname, k.conname
"""
_PG_INDEXES = """
SELECT tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname = current_schema() AND tablename <> ALL (%s)
ORDER BY tablename, indexname
"""
_PG_SEQUENCES = """
SELECT sequence_name, data_type FROM information_schema.sequences
WHERE sequence_schema = current_schema() ORDER BY sequence_name
"""
# Not the registry's: the schema version's own table, and PostGIS's.
_PG_LEFT_OUT = ["yizhan_schema", "spatial_ref_sys", "geography_columns", "geometry_columns"]


def _pg_schema(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        return {
            "columns": conn.execute(_PG_COLUMNS, (_PG_LEFT_OUT,)).fetchall(),
            "constraints": conn.execute(_PG_CONSTRAINTS, (_PG_LEFT_OUT,)).fetchall(),
            "indexes": conn.execute(_PG_INDEXES, (_PG_LEFT_OUT,)).fetchall(),
            "sequences": conn.execute(_PG_SEQUENCES).fetchall(),
            "version": conn.execute("SELECT version FROM yizhan_schema").fetchall(),
        }


@pytest.mark.slow
def test_a_postgis_registry_migrated_from_schema_1_has_the_schema_a_new_one_is_made_with(
    pg_cluster,
):
    import psycopg

    new = pg_cluster.new_database()
    postgis.PostGISStore(new).close()

    old = pg_cluster.new_database()
    with psycopg.connect(old, autocommit=True) as conn:
        for statement in postgis.MIGRATIONS[0].split(";\n"):  # schema 1, as first released
            conn.execute(statement)
        conn.execute(
            "CREATE TABLE yizhan_schema (version INTEGER NOT NULL, "
            "app TEXT NOT NULL DEFAULT 'yizhan')"
        )
        conn.execute("INSERT INTO yizhan_schema (version) VALUES (1)")
    postgis.PostGISStore(old).close()  # migrated step by step, 1 -> 2 -> ... -> now

    migrated, created = _pg_schema(old), _pg_schema(new)
    for part in created:
        assert migrated[part] == created[part], part
    assert created["version"] == [(schema.VERSION,)]
    assert {r[0] for r in created["columns"]} == {t.name for t in schema.SCHEMA}
