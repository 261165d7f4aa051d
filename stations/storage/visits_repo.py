"""Workers' check-ins in SQL: the raw rows and the hourly rollup, written in one transaction."""

from __future__ import annotations

from stations.storage.sqlbase import SQLBase
from stations.storage.store import VisitStore


class SQLVisits(SQLBase, VisitStore):
    """The VisitStore interface in SQL tables (plumbing: sqlbase.py)."""
