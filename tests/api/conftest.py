"""The API tests' client: each test module defines the ``store`` it runs on."""

from __future__ import annotations

import pytest

from tests.api.clients import api_client


@pytest.fixture
def client(store, districts, db_path):
    with api_client(store, districts, db_path) as c:
        yield c
