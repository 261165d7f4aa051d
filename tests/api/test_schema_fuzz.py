"""Schemathesis generates requests from /openapi.json: no request may cause a server error.

It runs with an admin token so that the writes and uploads are exercised past
authentication, on a registry with a few stations so that ids and filters hit data.
"""

from __future__ import annotations

import itertools
from datetime import datetime

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.app import create_app
from geodata.hours import TZ
from stations.config import Settings
from stations.domain.auth import new_token
from stations.storage.sqlite import SQLiteStore
from tests.builders import GUANYINQIAO, JIEFANGBEI, WANZHOU, make_station

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, districts):
    db = tmp_path_factory.mktemp("fuzz") / "r.sqlite3"
    store = SQLiteStore(db)
    for i, (lon, lat) in enumerate([JIEFANGBEI, GUANYINQIAO, WANZHOU]):
        store.create(
            make_station(
                districts,
                owner="industry:transport",
                external_id=f"S{i}",
                lon=lon,
                lat=lat,
                hours="Mo-Fr 08:00-20:00; PH off" if i else "24/7",
            ),
            actor="test",
        )
    text, record = new_token("admin", name="fuzz", code=None, now=datetime.now(TZ))
    store.save_token(record)
    app = create_app(
        # No limiter: hypothesis sends many bad tokens on purpose.
        Settings(database_url=f"sqlite:///{db}", auth_failures_per_minute=1_000_000),
        store=store,
        districts=districts,
    )
    with TestClient(app):  # runs the lifespan
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        schema.config.headers = {"Authorization": f"Bearer {text}"}
        yield schema
    store.close()


def test_no_request_causes_a_server_error(api_schema):
    # schemathesis.pytest.from_fixture does not work with pytest 9 (it reads a private
    # attribute that is gone), so each operation runs as a hypothesis test here.
    labels = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):
        labels.append(operation.label)

        # Positive: values the schema allows; negative: values it forbids (a 4xx is right).
        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=30,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters has nothing to make invalid.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:
            raise AssertionError(f"{operation.label} ({mode.value}): {exc}") from exc
    # Every public operation was exercised, reads and writes alike.
    assert "GET /v1/stations/nearest" in labels
    assert "POST /v1/uploads" in labels
    assert len(labels) >= 20
