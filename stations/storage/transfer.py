"""Moving a registry between engines (``yizhan migrate``): every table of
:data:`~stations.storage.schema.TABLES`, row for row, a batch at a time (spot-check photos
make some tables large: memory holds one batch, never a table)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stations.storage.schema import COLUMNS, KEYS, TABLES
from stations.storage.sqlbase import SQLBase

BATCH_ROWS = 500
# Tables whose rows can be large, and at most how many of them a batch holds: a street
# network is one row of ~25-50 MB (its arrays), so one at a time.
BATCH_CAP: dict[str, int] = {"networks": 1}


class SQLTransfer(SQLBase):
    """Export and import of whole tables."""

    def iter_table(self, table: str, *, batch: int = BATCH_ROWS) -> Iterator[list[tuple[Any, ...]]]:
        """The rows of one of :data:`TABLES` in :data:`COLUMNS` order, by key, ``batch``
        rows at a time (at most :data:`BATCH_CAP` of a table of large rows; keyset pages:
        each page one short query)."""
        batch = min(batch, BATCH_CAP.get(table, batch))
        columns, key = COLUMNS[table], KEYS[table]
        select = f"SELECT {', '.join(columns)} FROM {table}"
        order = f" ORDER BY {', '.join(key)} LIMIT ?"
        after = f" WHERE ({', '.join(key)}) > ({', '.join('?' * len(key))})"
        last: tuple[Any, ...] | None = None
        at = [columns.index(k) for k in key]
        while True:
            sql, params = (
                (select + order, [batch])
                if last is None
                else (
                    select + after + order,
                    [*last, batch],
                )
            )
            rows = [tuple(r[c] for c in columns) for r in self._bulk_conn().execute(sql, params)]
            if rows:
                yield rows
            if len(rows) < batch:
                return
            last = tuple(rows[-1][i] for i in at)

    def export_table(self, table: str) -> list[tuple[Any, ...]]:
        """Every row of one of :data:`TABLES`, in :data:`COLUMNS` order, by key."""
        return [row for rows in self.iter_table(table) for row in rows]

    def is_empty(self) -> bool:
        # meta is made with the schema (the feedback salt): it does not count.
        return all(
            self._conn().execute(f"SELECT count(*) FROM {t}").fetchone()[0] == 0
            for t in TABLES
            if t != "meta"
        )

    def import_tables(self, tables: dict[str, Any]) -> dict[str, int]:
        """Load rows exported by :meth:`iter_table` (per table, an iterable of batches) into
        this empty registry, in one transaction: ids, versions, times, audit and uploads
        exactly as they were. Returns the rows loaded per table."""
        counts: dict[str, int] = {}
        with self._write() as c:
            for table in TABLES:
                counts[table] = 0
                columns = COLUMNS[table]
                marks = ", ".join("?" * len(columns))
                insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
                at = {name: i for i, name in enumerate(columns)}
                for rows in tables.get(table, ()):
                    if table == "meta":  # the source's values replace the new registry's
                        c.executemany("DELETE FROM meta WHERE key = ?", [(r[0],) for r in rows])
                    c.executemany(insert, rows)
                    if table == "stations":
                        for r in rows:
                            self._index_point(c, r[at["id"]], r[at["lon"]], r[at["lat"]])
                    counts[table] += len(rows)
            # The 上图 history is rebuilt from the imported audit trail when next asked.
            c.execute("DELETE FROM mapped_history")
            c.execute("DELETE FROM mapped_history_thresholds")
            self._after_import(c)
        return counts

    def _after_import(self, c: Any) -> None:
        """Bring id generators past the imported ids, if the engine needs it."""


def _rows(source: SQLTransfer, table: str, batch: int) -> Iterator[tuple[Any, ...]]:
    for rows in source.iter_table(table, batch=batch):
        yield from rows


def migrate(
    source: SQLTransfer, target: SQLTransfer, *, log: Any = None, batch: int = BATCH_ROWS
) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``; return rows per table.

    Refuses a target that holds anything. Checks afterwards that every table came across
    row for row, field for field. Holds one batch of rows in memory at a time.
    """
    if not target.is_empty():
        msg = "the target registry is not empty; migrate only into a new, empty database"
        raise ValueError(msg)

    def logged(table: str) -> Iterator[list[tuple[Any, ...]]]:
        n = 0
        for rows in source.iter_table(table, batch=batch):
            n += len(rows)
            yield rows
        if log:
            log(f"copied {table}: {n:,} rows")

    counts = target.import_tables({t: logged(t) for t in TABLES})
    for table in TABLES:
        mine, theirs = _rows(source, table, batch), _rows(target, table, batch)
        sentinel = object()
        for a in mine:
            if next(theirs, sentinel) != a:
                msg = f"{table} differs after the copy; the target should be discarded"
                raise RuntimeError(msg)
        if next(theirs, sentinel) is not sentinel:
            msg = f"{table} differs after the copy; the target should be discarded"
            raise RuntimeError(msg)
    if log:
        log("checked: every table is the same, row for row")
    return counts
