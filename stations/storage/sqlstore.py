"""The SQL store: every aggregate's repository over one database (plumbing: sqlbase.py)."""

from __future__ import annotations

from stations.storage.accounts_repo import SQLAccounts
from stations.storage.cases_repo import SQLCases
from stations.storage.codes_repo import SQLCodes
from stations.storage.demand_repo import SQLDemand
from stations.storage.events_repo import SQLEvents
from stations.storage.feed_repo import SQLFeed
from stations.storage.feedback_repo import SQLFeedback
from stations.storage.inspections_repo import SQLInspections
from stations.storage.networks_repo import SQLNetworks
from stations.storage.ratings_repo import SQLRatings
from stations.storage.schema import COLUMNS, KEYS, TABLES
from stations.storage.stars_repo import SQLStars
from stations.storage.stations_repo import SQLStations
from stations.storage.store import Store
from stations.storage.tokens_repo import SQLTokens
from stations.storage.transfer import SQLTransfer, migrate
from stations.storage.uploads_repo import SQLUploads
from stations.storage.visits_repo import SQLVisits

__all__ = ["COLUMNS", "KEYS", "TABLES", "SQLStore", "migrate"]


class SQLStore(
    SQLStations,
    SQLTokens,
    SQLAccounts,
    SQLUploads,
    SQLDemand,
    SQLFeedback,
    SQLCodes,
    SQLVisits,
    SQLRatings,
    SQLCases,
    SQLInspections,
    SQLStars,
    SQLNetworks,
    SQLFeed,
    SQLTransfer,
    SQLEvents,
    Store,
):
    """A registry in SQL tables; subclasses supply connections, schema and spatial hooks."""
