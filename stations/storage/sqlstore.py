"""The SQL store: every aggregate's repository over one database (plumbing: sqlbase.py)."""

from __future__ import annotations

from stations.storage.accounts_repo import SQLAccounts
from stations.storage.demand_repo import SQLDemand
from stations.storage.feedback_repo import SQLFeedback
from stations.storage.schema import COLUMNS, KEYS, TABLES
from stations.storage.stations_repo import SQLStations
from stations.storage.store import Store
from stations.storage.tokens_repo import SQLTokens
from stations.storage.transfer import SQLTransfer, migrate
from stations.storage.uploads_repo import SQLUploads

__all__ = ["COLUMNS", "KEYS", "TABLES", "SQLStore", "migrate"]


class SQLStore(
    SQLStations, SQLTokens, SQLAccounts, SQLUploads, SQLDemand, SQLFeedback, SQLTransfer, Store
):
    """A registry in SQL tables; subclasses supply connections, schema and spatial hooks."""
