"""Copying a whole registry between SQLite and PostGIS (the operator's ``yizhan migrate``)."""

from __future__ import annotations

from collections.abc import Callable

from stations.storage.sqlstore import SQLStore
from stations.storage.sqlstore import migrate as copy_tables
from stations.storage.store import Store


def copy_registry(
    source: Store, target: Store, *, log: Callable[[str], None] | None = None
) -> dict[str, int]:
    """Copy every table of ``source`` into the empty ``target``, checked table by table;
    return the rows copied per table. ``ValueError`` for a store that is not SQL or a target
    that is not empty, ``RuntimeError`` for a copy that differs (discard the target)."""
    if not isinstance(source, SQLStore) or not isinstance(target, SQLStore):
        msg = "both registries must be SQLite or PostGIS"
        raise ValueError(msg)
    return copy_tables(source, target, log=log)
