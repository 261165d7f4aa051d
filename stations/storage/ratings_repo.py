"""Riders' ratings in SQL, one per station and client."""

from __future__ import annotations

from stations.storage.sqlbase import SQLBase
from stations.storage.store import RatingStore


class SQLRatings(SQLBase, RatingStore):
    """The RatingStore interface in SQL tables (plumbing: sqlbase.py)."""
