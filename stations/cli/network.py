"""Street networks for routing by travel: import an OpenStreetMap extract, list, remove."""

from __future__ import annotations

import time
from pathlib import Path

import click

from stations.cli.common import (
    cli_settings,
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.domain.errors import StoreError
from stations.domain.model import Status
from stations.domain.travel import NetworkFileError, Travel
from stations.readmodel.index import StationIndex
from stations.services.network import bbox_text, import_network, list_networks, remove_network

_PROFILE = click.option(
    "--profile",
    type=click.Choice([t.value for t in Travel]),
    required=True,
    help="walk (步行) or ebike (电动车)",
)


class _Progress:
    """The import's phases on stderr, one line each (the reader reports at most every two
    seconds within a phase; the share is shown when it moves)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.done = -1.0

    def __call__(self, what: str, done: float) -> None:
        elapsed = time.perf_counter() - self.start
        share = f"{done:4.0%}" if done != self.done else "    "
        self.done = done
        click.echo(f"  {share}  {what}（{elapsed:.1f} 秒）", err=True)


@main.group()
def network() -> None:
    """Street networks (OpenStreetMap) for nearest and coverage by walk or e-bike."""


@network.command(name="import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@_PROFILE
@database_option
@click.option("--actor", default="cli", show_default=True)
def network_import(file: Path, profile: str, database: str | None, actor: str) -> None:
    """Import FILE (.osm.pbf or .osm, e.g. Geofabrik's china/chongqing) as the network of
    the profile, replacing the one stored; a failed import changes nothing."""
    settings = cli_settings()
    store = open_registry(database)
    travel = Travel(profile)
    start = time.perf_counter()
    try:
        index = StationIndex.build(store, threshold_m=settings.precise_threshold_m)
        active = index.status_mask(Status.ACTIVE)
        info = import_network(
            store,
            file,
            travel,
            districts=registry_districts(),
            actor=actor,
            max_bytes=settings.network_max_mb * 2**20,
            routing=settings.routing(),
            stations=(index.nearest.lon[active], index.nearest.lat[active]),
            progress=_Progress(),
            cell_m=settings.network_cell_m,
        )
    except (NetworkFileError, StoreError) as exc:  # StoreError: a lock or statement timeout
        raise click.ClickException(str(exc)) from None  # writing the blob, a read replica…
    finally:
        store.close()
    stats = info.stats
    click.echo(
        f"已导入{travel.label}路网 {info.source_name}（版本 {info.version}）："
        f"{info.nodes:,} 个节点，{info.edges:,} 条有向边，{info.ways:,} 条道路；"
        f"范围 {bbox_text(info.bbox)}；用时 {time.perf_counter() - start:.1f} 秒"
    )
    if stats.get("clipped_ways"):
        click.echo(f"在文件边缘被截断的道路 {stats['clipped_ways']:,} 条（保留了文件内的部分）")
    if stats.get("grid_cells", 0) > stats.get("max_grid_cells", float("inf")):
        click.echo(
            f"注意：路网范围按 {stats['cell_m']:g} 米网格需 {stats['grid_cells']:,} 个网格，"
            f"超过上限 {stats['max_grid_cells']:,}：按路网的覆盖率、缺口和覆盖地图将无法计算"
            "（按路线找最近驿站不受影响）。请先裁剪出需要的区县（如 osmium extract --bbox …）"
            "再导入，或加大 YIZHAN_NETWORK_CELL_M",
            err=True,
        )
    if stats.get("stations_checked"):
        click.echo(
            f"在用驿站 {stats['stations_checked']:,} 个，其中 {stats['stations_off_network']:,} 个"
            f"离{travel.label}可走的道路超过 {stats['snap_m']:.0f} 米：按路线查询时列为无法到达"
        )


@network.command(name="list")
@database_option
def network_list(database: str | None) -> None:
    """The stored networks: profile, file, imported, nodes, edges, version."""
    store = open_registry(database)
    try:
        infos = list_networks(store)
    finally:
        store.close()
    if not infos:
        click.echo("还没有导入路网：请运行 yizhan network import FILE --profile walk")
        return
    click.echo("profile\tfile\timported\tnodes\tedges\tversion")
    for info in infos:
        imported = info.imported_at.strftime("%Y-%m-%d %H:%M")
        click.echo(
            f"{info.profile.value}（{info.profile.label}）\t{info.source_name}\t{imported}\t"
            f"{info.nodes:,}\t{info.edges:,}\t{info.version}"
        )


@network.command(name="remove")
@_PROFILE
@database_option
def network_remove(profile: str, database: str | None) -> None:
    """Remove the network of the profile (nearest and coverage by it stop working)."""
    travel = Travel(profile)
    store = open_registry(database)
    try:
        removed = remove_network(store, travel)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    if removed is None:
        raise click.ClickException(f"没有{travel.label}路网可删除")
    click.echo(f"已删除{travel.label}路网 {removed.source_name}（版本 {removed.version}）")
