"""Star ratings in SQL, and the year's figures they are computed from."""

from __future__ import annotations

from stations.storage.sqlbase import SQLBase
from stations.storage.store import StarStore


class SQLStars(SQLBase, StarStore):
    """The StarStore interface in SQL tables (plumbing: sqlbase.py)."""
