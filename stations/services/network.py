"""Street networks by travel profile: import an OpenStreetMap extract, list, remove (issue 17).

``import_network`` reads the file (stations.formats.osm), refuses a file whose ways lie
outside the registry's districts, and stores the arrays as the profile's network in one
transaction: a failed import changes nothing (the old network stays).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely

from geodata.districts import Districts
from geodata.hours import TZ
from geodata.network import FORMAT, Network
from geodata.routing import Snapper
from geodata.travel_coverage import MAX_CELLS, grid_shape
from stations.domain.travel import NetworkFileError, NetworkInfo, RoutingSettings, Travel
from stations.formats.osm import Progress, check_file, read_network
from stations.services.planning import settings_walk_in_m
from stations.storage.store import NetworkStore


def _noop(what: str, done: float) -> None:
    """No progress shown."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def bbox_text(bbox: tuple[float, float, float, float]) -> str:
    """A bbox as people read it: 东经 106.55–106.58，北纬 29.55–29.58."""
    x0, y0, x1, y1 = bbox
    return f"东经 {x0:.3f}–{x1:.3f}，北纬 {y0:.3f}–{y1:.3f}"


# Nodes tested against the districts at most (evenly spread): a province's millions would
# cost seconds, and one node inside is all the check asks.
_AREA_SAMPLE = 200_000


def check_area(network: Network, districts: Districts) -> None:
    """NetworkFileError unless some of the network's nodes lie in the districts (its bbox
    meeting them is not enough: a Sichuan extract's bbox covers half of Chongqing)."""
    bbox = network.bbox
    if shapely.box(*bbox).intersects(districts.union):
        step = max(1, network.nodes // _AREA_SAMPLE)
        area = districts.union
        shapely.prepare(area)
        if shapely.contains_xy(area, network.lon[::step], network.lat[::step]).any():
            return
    raise NetworkFileError(
        f"这个文件的范围（{bbox_text(bbox)}）不在本系统的区县内（{districts.source}）："
        "请导入覆盖这些区县的 OpenStreetMap 文件"
    )


def import_network(
    store: NetworkStore,
    path: Path | str,
    travel: Travel,
    *,
    districts: Districts,
    actor: str,
    max_bytes: int | None,
    routing: RoutingSettings | None = None,
    stations: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    cell_m: float | None = None,
) -> NetworkInfo:
    """Read ``path`` into the ``travel`` network and store it (replacing the profile's
    earlier one); the stored network's info. NetworkFileError (Chinese, one line) for a
    missing, unreadable, empty, broken, too large or foreign-area file, or one without a way
    the profile may use; nothing is stored then.

    With ``stations`` (lon, lat arrays, WGS-84) and ``routing``, the stats count how many of
    them are farther than the profile's snap distance from every way
    (``stations_off_network`` of ``stations_checked``): routes cannot reach them. With
    ``cell_m`` too, ``grid_cells`` is the size of the coverage grid over the network's
    extent (over ``max_grid_cells``, coverage, gaps and maps by travel will refuse it)."""
    file = Path(path)
    check_file(file, max_bytes=max_bytes)
    show = progress or _noop

    def reading(what: str, done: float) -> None:
        if done < 1.0:  # the reader's share of the import: to 80 %
            show(what, 0.8 * done)

    network, stats = read_network(file, travel, max_bytes=max_bytes, progress=reading)
    check_area(network, districts)
    counted = stats.as_dict()
    speeds: dict[str, float] = {}
    if routing is not None:
        speeds = {"speed_kmh": routing.speed(travel), "steps_factor": routing.steps_factor}
        if stations is not None:
            show("检查驿站到道路的距离", 0.82)
            lon, lat = stations
            counted["stations_checked"] = int(np.size(lon))
            counted["stations_off_network"] = off_network(network, lon, lat, routing.snap(travel))
            counted["snap_m"] = routing.snap(travel)
        if cell_m is not None:
            *_, nx, ny = grid_shape(
                network, cell_m=cell_m, walk_in_m=settings_walk_in_m(routing, travel)
            )
            counted["grid_cells"] = nx * ny
            counted["max_grid_cells"] = MAX_CELLS
            counted["cell_m"] = cell_m
    show("保存路网", 0.85)
    info = NetworkInfo(
        profile=travel,
        version=0,  # the store gives the version
        source_name=file.name,
        source_sha256=_sha256(file),
        imported_at=now or datetime.now(TZ),
        imported_by=actor,
        nodes=network.nodes,
        edges=network.edges,
        ways=int(network.way_ids.size),
        bbox=network.bbox,
        format=FORMAT,
        stats=counted,
        speeds=speeds,
    )
    stored = store.put_network(info, network.to_npz())
    show("完成", 1.0)
    return stored


def off_network(network: Network, lon: npt.ArrayLike, lat: npt.ArrayLike, max_m: float) -> int:
    """How many of the points are farther than ``max_m`` from every way of ``network``."""
    if np.size(lon) == 0:
        return 0
    snaps = Snapper(network).snap(lon, lat, max_m=max_m)
    return int((~snaps.snapped).sum())


def list_networks(store: NetworkStore) -> list[NetworkInfo]:
    """Every stored network (without arrays), by profile."""
    return store.networks()


def remove_network(store: NetworkStore, travel: Travel) -> NetworkInfo | None:
    """Remove the ``travel`` network; what was removed, or None when there was none."""
    return store.remove_network(travel)


def networks_document(store: NetworkStore, routing: RoutingSettings) -> dict[str, Any]:
    """``GET /v1/networks``: the stored networks as the public sees them (no ``imported_by``),
    with the speed routing uses now (the settings')."""
    return {
        "networks": [
            {
                "profile": info.profile.value,
                "label": info.profile.label,
                "version": info.version,
                "source_name": info.source_name,
                "imported_at": info.imported_at.isoformat(),
                "nodes": info.nodes,
                "edges": info.edges,
                "ways": info.ways,
                "bbox": list(info.bbox),
                "speed_kmh": routing.speed(info.profile),
            }
            for info in store.networks()
        ]
    }
