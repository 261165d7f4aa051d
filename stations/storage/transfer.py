"""Moving a registry between engines (``yizhan migrate``): every table of
:data:`~stations.storage.schema.TABLES`, row for row."""

from __future__ import annotations

from typing import Any

from stations.storage.schema import COLUMNS, KEYS, TABLES
from stations.storage.sqlbase import SQLBase


class SQLTransfer(SQLBase):
    """Export and import of whole tables."""

    def export_table(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of one of :data:`TABLES`, in :data:`COLUMNS` order, by key."""
        columns = COLUMNS[table]
        order = ", ".join(KEYS[table])
        rows = self._bulk_conn().execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}"
        )
        return [tuple(r[c] for c in columns) for r in rows]

    def is_empty(self) -> bool:
        # meta is made with the schema (the feedback salt): it does not count.
        return all(
            self._conn().execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0
            for t in TABLES
            if t != "meta"
        )

    def import_tables(self, tables: dict[str, list[tuple[Any, ...]]]) -> None:
        """Load rows exported by :meth:`export_table` into this empty registry, in one
        transaction: ids, versions, times, audit and uploads exactly as they were."""
        with self._write() as c:
            for table in TABLES:
                rows = tables.get(table, [])
                if not rows:
                    continue
                columns = COLUMNS[table]
                if table == "meta":  # the source's values replace the new registry's
                    c.executemany("DELETE FROM meta WHERE key = ?", [(r[0],) for r in rows])
                marks = ", ".join("?" * len(columns))
                c.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
                if table == "stations":
                    at = {name: i for i, name in enumerate(columns)}
                    for r in rows:
                        self._index_point(c, r[at["id"]], r[at["lon"]], r[at["lat"]])
            # The 上图 history is rebuilt from the imported audit trail when next asked.
            c.execute("DELETE FROM mapped_history")
            c.execute("DELETE FROM mapped_history_thresholds")
            self._after_import(c)

    def _after_import(self, c: Any) -> None:
        """Bring id generators past the imported ids, if the engine needs it."""


def migrate(source: SQLTransfer, target: SQLTransfer, *, log: Any = None) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``; return rows per table.

    Refuses a target that holds anything. Checks afterwards that every table came across
    row for row, field for field.
    """
    if not target.is_empty():
        msg = "the target registry is not empty; migrate only into a new, empty database"
        raise ValueError(msg)
    tables = {}
    for table in TABLES:
        tables[table] = source.export_table(table)
        if log:
            log(f"read {table}: {len(tables[table]):,} rows")
    target.import_tables(tables)
    for table in TABLES:
        if target.export_table(table) != tables[table]:
            msg = f"{table} differs after the copy; the target should be discarded"
            raise RuntimeError(msg)
    if log:
        log("checked: every table is the same, row for row")
    return {t: len(rows) for t, rows in tables.items()}
