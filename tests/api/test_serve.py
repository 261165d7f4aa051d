"""`yizhan serve` as an operator starts it: a real process answering on a real port."""

from __future__ import annotations

from pathlib import Path

import pytest

from stations.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station
from tests.live import get_json, serve


@pytest.mark.slow
def test_serve_answers_and_sees_writes_from_another_process(tmp_path: Path, districts):
    db = tmp_path / "r.sqlite3"
    with SQLiteStore(db) as store:
        store.create(make_station(districts, external_id="S1", name="第一站"), actor="t")
    with serve(f"sqlite:///{db}") as server:
        assert get_json(f"{server.base}/healthz")["stations"] == 1
        q = f"{server.base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
        assert [r["name"] for r in get_json(q)["results"]] == ["第一站"]
        # A write by another process (the CLI, another worker) shows at the next query.
        with SQLiteStore(db) as store:
            store.create(make_station(districts, external_id="S2", name="第二站"), actor="t")
        assert {r["name"] for r in get_json(q)["results"]} == {"第一站", "第二站"}
    assert "GET /v1/stations/nearest" not in server.output  # access log is off by default
