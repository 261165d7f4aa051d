"""Cases of the owning union in SQL: states with their history, replies, receipts' hashes."""

from __future__ import annotations

from stations.storage.sqlbase import SQLBase
from stations.storage.store import CaseStore


class SQLCases(SQLBase, CaseStore):
    """The CaseStore interface in SQL tables (plumbing: sqlbase.py)."""
