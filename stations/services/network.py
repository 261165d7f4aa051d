"""Street networks by travel profile: import an OpenStreetMap extract, list, remove (issue 17).

``import_network`` reads the file (stations.formats.osm), refuses a file whose ways lie
outside the registry's districts, and stores the arrays as the profile's network in one
transaction: a failed import changes nothing (the old network stays).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import shapely

from geodata.districts import Districts
from geodata.hours import TZ
from geodata.network import FORMAT
from stations.domain.travel import NetworkFileError, NetworkInfo, RoutingSettings, Travel
from stations.formats.osm import Progress, check_file, read_network
from stations.storage.store import NetworkStore


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


def check_area(bbox: tuple[float, float, float, float], districts: Districts) -> None:
    """NetworkFileError unless the nodes' bbox meets one of the districts."""
    if not shapely.box(*bbox).intersects(districts.union):
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
    progress: Progress | None = None,
    now: datetime | None = None,
) -> NetworkInfo:
    """Read ``path`` into the ``travel`` network and store it (replacing the profile's
    earlier one); the stored network's info. NetworkFileError (Chinese, one line) for a
    missing, unreadable, empty, broken, too large or foreign-area file, or one without a way
    the profile may use; nothing is stored then."""
    file = Path(path)
    check_file(file, max_bytes=max_bytes)
    network, stats = read_network(file, travel, max_bytes=max_bytes, progress=progress)
    check_area(network.bbox, districts)
    speeds: dict[str, float] = {}
    if routing is not None:
        speeds = {"speed_kmh": routing.speed(travel), "steps_factor": routing.steps_factor}
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
        stats=stats.as_dict(),
        speeds=speeds,
    )
    return store.put_network(info, network.to_npz())


def list_networks(store: NetworkStore) -> list[NetworkInfo]:
    """Every stored network (without arrays), by profile."""
    return store.networks()


def remove_network(store: NetworkStore, travel: Travel) -> NetworkInfo | None:
    """Remove the ``travel`` network; what was removed, or None when there was none."""
    return store.remove_network(travel)
