"""Console tests run on a fresh SQLite registry with the real app (no sample data)."""

from __future__ import annotations

import pytest

from stations.storage.sqlite import SQLiteStore
from tests.api.clients import api_client


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


@pytest.fixture
def console(store, districts, db_path):
    """A TestClient of the app on ``store`` (cookies kept between requests)."""
    with api_client(store, districts, db_path, warm_start=False) as c:
        yield c
