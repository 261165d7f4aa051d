"""Coverage figures per district and for the city: area (双15) and demand-weighted.

Built on :mod:`geodata.coverage` (exact geometry in each district's local projection).
The stations counted are the ones a caller selects (e.g. active, or open at a time); the
city figures sum the districts, which partition it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from geodata.coverage import coverage, coverage_work_estimate, demand_coverage
from geodata.districts import Districts
from stations.domain.demand import DemandLayer
from stations.domain.figures import CITY


@dataclass(frozen=True, slots=True)
class CoverageOptions:
    radius_m: float = 1000.0
    min_stations: int = 2  # cross coverage: "more than one station where possible"


def _share(part: float, whole: float) -> float | None:
    return round(part / whole, 6) if whole > 0 else None


def coverage_figures_work(
    districts: Districts,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    *,
    options: CoverageOptions = CoverageOptions(),
    only: str | None = None,
) -> float:
    """About how much work :func:`coverage_figures` takes (see
    :func:`geodata.coverage.coverage_work_estimate`): its area coverage and cross coverage
    of each district. Demand coverage is cheap beside them."""
    return sum(
        coverage_work_estimate(d.geometry, lon, lat, radius_m=options.radius_m, min_stations=k)
        for d in districts
        if only is None or d.adcode == only
        for k in (1, options.min_stations)
    )


def coverage_figures(
    districts: Districts,
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    *,
    options: CoverageOptions = CoverageOptions(),
    demand: DemandLayer | None = None,
    only: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Coverage of each district (or of ``only``) and the city, keyed by adcode and CITY.

    ``share`` is the share of the area within ``radius_m`` of a station; ``cross_share``
    of ``min_stations`` stations. With ``demand``, ``demand_share``/``demand_cross_share``
    weigh demand points instead of area (each district's own points).
    """
    out: dict[str, dict[str, Any]] = {}
    lon = np.asarray(lon, np.float64)
    lat = np.asarray(lat, np.float64)
    demand_district = (
        districts.lookup(demand.lon, demand.lat)
        if demand is not None and len(demand)
        else np.empty(0, dtype="<U6")
    )
    chosen = [d for d in districts if only is None or d.adcode == only]
    totals = {"area": 0.0, "covered": 0.0, "cross": 0.0}
    for d in chosen:
        single = coverage(d.geometry, lon, lat, radius_m=options.radius_m, min_stations=1)
        cross = coverage(
            d.geometry, lon, lat, radius_m=options.radius_m, min_stations=options.min_stations
        )
        doc: dict[str, Any] = {
            "key": d.adcode,
            "name": d.name,
            "area_km2": round(single.area_m2 / 1e6, 3),
            "covered_km2": round(single.covered_area_m2 / 1e6, 3),
            "share": round(single.share, 6),
            "cross_covered_km2": round(cross.covered_area_m2 / 1e6, 3),
            "cross_share": round(cross.share, 6),
            "stations_reaching": single.n_stations,
        }
        if demand is not None:
            doc.update(_demand_doc(demand, demand_district == d.adcode, lon, lat, options))
        out[d.adcode] = doc
        totals["area"] += single.area_m2
        totals["covered"] += single.covered_area_m2
        totals["cross"] += cross.covered_area_m2
    if only is None:
        city: dict[str, Any] = {
            "key": CITY,
            "name": "全市",
            "area_km2": round(totals["area"] / 1e6, 3),
            "covered_km2": round(totals["covered"] / 1e6, 3),
            "share": _share(totals["covered"], totals["area"]),
            "cross_covered_km2": round(totals["cross"] / 1e6, 3),
            "cross_share": _share(totals["cross"], totals["area"]),
            "stations_reaching": len(lon),
        }
        if demand is not None:
            everywhere = np.ones(len(demand), bool)
            city.update(_demand_doc(demand, everywhere, lon, lat, options))
        out[CITY] = city
    return out


def _demand_doc(
    demand: DemandLayer,
    mask: npt.NDArray[np.bool_],
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    options: CoverageOptions,
) -> dict[str, Any]:
    dx, dy, w = demand.lon[mask], demand.lat[mask], demand.weight[mask]
    total = float(w.sum())
    if total == 0:
        return {"demand_weight": 0.0, "demand_share": None, "demand_cross_share": None}
    single = demand_coverage(dx, dy, w, lon, lat, radius_m=options.radius_m, min_stations=1)
    cross = demand_coverage(
        dx, dy, w, lon, lat, radius_m=options.radius_m, min_stations=options.min_stations
    )
    return {
        "demand_weight": round(total, 3),
        "demand_share": round(single, 6),
        "demand_cross_share": round(cross, 6),
    }
