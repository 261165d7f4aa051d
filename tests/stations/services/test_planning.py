"""The planning services: coverage and gap budgets enforced whoever calls, headline figures."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from geodata.coverage import AreaTooLargeError
from geodata.tiles import TILE_PROVIDERS
from stations.domain.errors import InvalidOptionError
from stations.domain.figures import CITY, stations_per_100km2
from stations.readmodel.index import StationIndex
from stations.services import gaps as gaps_service
from stations.services import planning
from stations.services.gaps import GapOptions, find_gaps
from stations.services.planning import (
    CoverageOptions,
    TooMuchWorkError,
    coverage_areas,
    headline_figures,
    index_coverage,
)
from stations.storage.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, WANZHOU, make_station

WANZHOU_ADCODE = "500101"


@pytest.fixture
def index(tmp_path, districts):
    store = SQLiteStore(tmp_path / "registry.sqlite3")
    for i, (lon, lat) in enumerate((WANZHOU, JIEFANGBEI)):
        store.create(
            make_station(
                districts, external_id=f"S{i}", lon=lon, lat=lat, owner="industry:transport"
            ),
            actor="t",
        )
    yield StationIndex.build(store)
    store.close()


def test_the_gap_budget_is_enforced_by_the_service(index, districts):
    # The whole city at a 250 m grid and a 10 km reach: refused before any work.
    with pytest.raises(TooMuchWorkError, match="a wider spacing_m or a smaller radius_m"):
        find_gaps(index, districts, GapOptions(n=1, spacing_m=250, radius_m=10_000))
    found = find_gaps(index, districts, GapOptions(n=2, spacing_m=1000, district=WANZHOU_ADCODE))
    assert found.unit == "km²" and len(found.sites) == 2 and found.candidates > 0
    assert found.sites[0].gain >= found.sites[1].gain


def test_the_gap_budget_holds_for_one_district_too(index, districts, monkeypatch):
    monkeypatch.setattr(gaps_service, "MAX_GAP_PAIRS", 0)
    with pytest.raises(TooMuchWorkError):
        find_gaps(index, districts, GapOptions(n=1, district=WANZHOU_ADCODE))


def test_coverage_budget_is_one_for_figures_and_maps(index, districts, monkeypatch):
    monkeypatch.setattr(planning, "MAX_COVERAGE_WORK", 0)
    with pytest.raises(TooMuchWorkError, match="or a smaller min_stations"):
        index_coverage(index, districts, CoverageOptions())
    lon, lat = index.nearest.lon, index.nearest.lat
    with pytest.raises(TooMuchWorkError, match="a smaller radius_m"):
        coverage_areas(districts, lon, lat, radius_m=1000.0)
    # A TooMuchWorkError is an AreaTooLargeError: one refusal for callers to handle.
    assert issubclass(TooMuchWorkError, AreaTooLargeError)
    # The headline figures leave coverage out rather than fail.
    docs = headline_figures(index, districts, targets_file=None, today=date(2026, 1, 1))
    assert docs[CITY]["coverage"] is None and docs[CITY]["stations_active"] == 2


def test_coverage_is_kept_per_snapshot_and_matches_the_map(index, districts):
    first = index_coverage(index, districts, CoverageOptions(), only=WANZHOU_ADCODE)
    assert index_coverage(index, districts, CoverageOptions(), only=WANZHOU_ADCODE) is first
    areas = coverage_areas(
        districts, index.nearest.lon, index.nearest.lat, radius_m=1000.0, only=WANZHOU_ADCODE
    )
    assert areas.shares[WANZHOU_ADCODE] == pytest.approx(first[WANZHOU_ADCODE]["share"], abs=1e-6)


def test_headline_figures_with_density_and_targets(index, districts, tmp_path):
    targets = tmp_path / "targets.toml"
    targets.write_text(
        '[[target]]\ndistrict = "500101"\nmetric = "stations_active"\nvalue = 1\n'
        "deadline = 2026-12-31\n",
        encoding="utf-8",
    )
    docs = headline_figures(index, districts, targets_file=targets, today=date(2026, 1, 1))
    wanzhou = docs[WANZHOU_ADCODE]
    area_m2 = districts.find(WANZHOU_ADCODE).area_m2
    assert wanzhou["stations_per_100km2"] == round(stations_per_100km2(1, area_m2), 3)
    assert stations_per_100km2(3, 2e8) == pytest.approx(1.5)
    assert [t["met"] for t in wanzhou["targets"]] == [True]
    assert docs[CITY]["targets"] == []
    assert 0 < wanzhou["coverage"] < 1
    targets.write_text("[[target]]\nmetric = 'nonsense'\n", encoding="utf-8")
    with pytest.raises(planning.TargetsFileError):
        headline_figures(index, districts, targets_file=targets, today=date(2026, 1, 1))


def test_counted_stations(index):
    positions, key = planning.counted(index, None)
    assert key == planning.ALL_ACTIVE and np.array_equal(positions, np.arange(len(index)))


@pytest.mark.parametrize(
    ("asked", "option", "code"),
    [
        pytest.param({"tiles": "google"}, "tiles", "invalid_parameter", id="unknown-tiles"),
        pytest.param({"metric": "colour"}, "metric", "invalid_parameter", id="unknown-metric"),
        pytest.param({"radius_m": 0.0}, "radius_m", "out_of_range", id="zero-radius"),
        pytest.param({"district": "999999"}, "district", "unknown_district", id="district"),
        pytest.param({"metric": "per_demand"}, "demand", "invalid_parameter", id="no-layer"),
        pytest.param({"demand": "nope"}, "demand", "not_found", id="unknown-layer"),
    ],
)
def test_map_options_are_checked_once_for_the_api_and_the_cli(
    tmp_path, districts, asked, option, code
):
    # GET /maps/coverage and `yizhan map` both call map_options: one refusal, which the
    # API answers with the problem `code` and the CLI points at --<option>.
    store = SQLiteStore(tmp_path / "registry.sqlite3")
    usable = {p.name: p for p in TILE_PROVIDERS.values() if p.key_setting is None}
    with pytest.raises(InvalidOptionError) as refused:
        planning.map_options(tile_providers=usable, districts=districts, store=store, **asked)
    store.close()
    assert (refused.value.option, refused.value.code) == (option, code)
