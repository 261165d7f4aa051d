"""One number everywhere: `yizhan summary`, /v1/districts and /v1/history/mapped agree."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from stations.cli import main
from stations.domain.figures import DEFINITIONS
from stations.storage.sqlite import SQLiteStore
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station
from tests.stations.domain.test_figures import listings


@pytest.fixture
def store(db_path):
    s = SQLiteStore(db_path)
    yield s
    s.close()


def build(store, districts) -> None:
    """Active, planned, paused and closed stations, 24-hour ones and full listings among
    each: the figures must not count what does not serve riders."""
    night = {"hours": "24小时", "self_service_24h": "是", "entry_methods": "扫码"}
    rows = [
        ("a1", "active", listings(JIEFANGBEI), night),
        ("a2", "active", listings(JIEFANGBEI, precise=False), {}),
        ("a3", "active", listings(JIEFANGBEI, providers=("amap",)), night),
        ("a4", "active", [], {}),
        ("p1", "planned", listings(JIEFANGBEI), night),
        ("t1", "temporarily_closed", listings(JIEFANGBEI), night),
        ("c1", "closed", listings(JIEFANGBEI), {}),
    ]
    for ext, status, listed, extra in rows:
        store.create(
            make_station(
                districts,
                owner="industry:transport",
                external_id=ext,
                status=status,
                listings=listed,
                **extra,
            ),
            actor="t",
        )
    store.create(
        make_station(
            districts,
            owner="industry:transport",
            external_id="b1",
            lon=GUANYINQIAO[0],
            lat=GUANYINQIAO[1],
            listings=listings(GUANYINQIAO),
        ),
        actor="t",
    )


def summary_numbers(db_path) -> dict[str, int]:
    result = CliRunner().invoke(main, ["summary", "--database", f"sqlite:///{db_path}"])
    assert result.exit_code == 0, result.output
    out = result.output
    number = r"([\d,]+)"

    def find(pattern: str) -> int:
        found = re.search(pattern, out)
        assert found, (pattern, out)
        return int(found.group(1).replace(",", ""))

    return {
        "stations_active": find(rf"of the {number} active stations"),
        "self_service_24h": find(rf"\(self_service_24h\): {number}"),
        "listed_all": find(rf"\(listed_all\) {number}"),
        "precise_all": find(rf"\(precise_all, 上图 full\) {number}"),
        "full": find(rf"\(mapped_state\): full {number}"),
    }


def test_summary_districts_and_history_give_the_same_numbers(client, store, districts, db_path):
    build(store, districts)
    cli = summary_numbers(db_path)
    city = client.get("/v1/districts").json()["city"]
    last = client.get("/v1/history/mapped").json()[-1]
    expected = {
        "stations_active": 5,
        "self_service_24h": 2,  # not the planned or the paused 24-hour site
        "listed_all": 3,  # a1, a2 (imprecise), b1
        "precise_all": 2,  # a1, b1: not the closed or planned ones listed just as well
        "full": 2,
    }
    assert cli == expected
    api = {k: city[k] for k in ("stations_active", "self_service_24h", "listed_all")}
    api |= {"precise_all": city["precise_all"], "full": city["mapped_state"]["full"]}
    assert api == expected
    assert city["precise_rate"] == pytest.approx(city["precise_all"] / city["stations_active"])
    assert city["listed_all_rate"] == pytest.approx(city["listed_all"] / city["stations_active"])
    history = {"stations_active": last["active"], "listed_all": last["listed_all"]}
    history["precise_all"] = last["precise_all"]
    assert history == {k: expected[k] for k in history}


def test_the_api_documentation_defines_each_headline_figure(client):
    spec = client.get("/openapi.json").json()
    described = spec["paths"]["/v1/districts"]["get"]["description"]
    for name, definition in DEFINITIONS.items():
        assert f"`{name}`: {definition}" in described
    history = spec["paths"]["/v1/history/mapped"]["get"]["description"]
    assert DEFINITIONS["precise_all"] in history
