"""Spot checks in SQL: each with its photos and the rectifications it opens or closes,
in one transaction."""

from __future__ import annotations

from stations.storage.sqlbase import SQLBase
from stations.storage.store import InspectionStore


class SQLInspections(SQLBase, InspectionStore):
    """The InspectionStore interface in SQL tables (plumbing: sqlbase.py)."""
