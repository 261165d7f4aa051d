"""The planners' map's district colourings: counted as the district figures count them."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from stations.domain.figures import figures
from stations.domain.model import Status
from stations.domain.validation import build_station
from stations.readmodel.index import StationIndex
from stations.services.demo import sample_rows
from stations.services.maps import NO_COVERAGE_NOTE, _district_counts, station_map
from stations.services.planning import MapOptions, TooMuchWorkError

STATUSES = (Status.ACTIVE, Status.ACTIVE, Status.ACTIVE, Status.PLANNED, Status.CLOSED)


@pytest.fixture(scope="module")
def index(districts):
    rows = sample_rows(districts, total=1500, seed=11)
    stations = [
        dataclasses.replace(
            build_station(r, districts=districts), id=i + 1, status=STATUSES[i % len(STATUSES)]
        )
        for i, r in enumerate(rows)
    ]
    return StationIndex(stations, version=1)


def test_district_counts_equal_the_figures(index, districts):
    names = {d.adcode: d.name for d in districts}
    figs = figures(index.stations, names, threshold_m=index.threshold_m)
    active = index.status_mask(Status.ACTIVE)
    counts, listed = _district_counts(index.district, active, list(index.stations))
    assert sum(counts.values()) == int(active.sum()) > 0
    assert any(listed.values())
    for key in names:
        assert counts.get(key, 0) == figs[key].stations_active
        assert listed.get(key, 0) == figs[key].listed_all


def shades_of(html: str) -> dict[str, dict[str, str]]:
    shapes = json.loads(re.search(r"var shapes = (\{.*?\});\n", html).group(1))
    names = [f["properties"]["name"] for f in shapes["features"]]
    shades = json.loads(re.search(r"var shades = (\[.*?\]);\n", html).group(1))
    return {s["title"]: dict(zip(names, s["text"], strict=True)) for s in shades}


def test_the_map_shows_each_districts_figures(index, districts):
    html = station_map(index, districts).get_root().render()
    names = {d.adcode: d.name for d in districts}
    figs = figures(index.stations, names, threshold_m=index.threshold_m)
    shown = shades_of(html)["三家上图率"]
    for key, name in names.items():
        rate = figs[key].rate(figs[key].listed_all)
        assert shown[name] == ("无数据" if rate is None else f"{rate:.0%}")


def test_a_map_over_the_coverage_budget_is_drawn_without_coverage(index, districts, monkeypatch):
    def refuse(*args, **kwargs):
        raise TooMuchWorkError("too much")

    monkeypatch.setattr("stations.services.maps.coverage_areas", refuse)
    html = station_map(index, districts, MapOptions(metric="coverage")).get_root().render()
    assert "1000 米覆盖率" not in shades_of(html)
    assert NO_COVERAGE_NOTE in html
    shades = json.loads(re.search(r"var shades = (\[.*?\]);\n", html).group(1))
    assert [s["title"] for s in shades if s["shown"]] == ["三家上图率"]
    assert "1000 米内可达" not in html


def test_a_districts_map_says_the_coverage_its_figures_say(index, districts):
    """A district's map counted only that district's stations, so the stations of its
    neighbours covering its border were left out (40.0 % on the map, 41.1 % in the
    figures): it counts what /v1/coverage counts, for every district drawn."""
    from geodata.coverage import coverage
    from stations.services.planning import CoverageOptions, index_coverage

    figures_ = index_coverage(index, districts, CoverageOptions(radius_m=1000.0))
    names = {d.adcode: d.name for d in districts}
    differed = 0
    for adcode in ("500103", "500106", "500112"):
        options = MapOptions(district=adcode, metric="coverage")
        html = station_map(index, districts, options).get_root().render()
        shown = shades_of(html)["1000 米覆盖率"][names[adcode]]
        assert shown == f"{figures_[adcode]['share']:.1%}", adcode
        # The district's own stations alone cover less: what the map used to say.
        own = index.district == adcode
        active = index.status_mask(Status.ACTIVE)
        alone = coverage(
            districts.get(adcode).geometry,
            index.nearest.lon[own & active],
            index.nearest.lat[own & active],
            radius_m=1000.0,
        ).share
        differed += f"{alone:.1%}" != shown
    assert differed  # the border case is in the sample: the test can tell the two apart
