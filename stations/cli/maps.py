"""The planners' coverage map as one HTML file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from geodata.tiles import TILE_PROVIDERS, TileProvider
from geodata.when import TimeError, parse_time
from stations.cli.common import (
    cli_settings,
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.config import Settings
from stations.domain.demand import DemandLayer
from stations.readmodel.index import StationIndex
from stations.storage.store import Store


@main.command(name="map")
@database_option
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the HTML file to write",
)
@click.option(
    "--tiles",
    type=click.Choice(list(TILE_PROVIDERS)),
    default="osm",
    show_default=True,
    help="the map tiles (amap: GCJ-02, everything shifted to it; tianditu: needs "
    "YIZHAN_TIANDITU_KEY)",
)
@click.option("--district", help="one district's adcode")
@click.option("--at", "at_text", help="only stations open at this time (ISO 8601, Asia/Shanghai)")
@click.option("--radius-m", type=click.FloatRange(1, 10_000), default=1000.0, show_default=True)
@click.option(
    "--metric",
    type=click.Choice(["coverage", "listed_all_rate", "per_100km2", "per_demand"]),
    default="coverage",
    show_default=True,
    help="the district colouring shown first",
)
@click.option("--demand", "demand_name", help="a demand layer (for per_demand)")
def map_(
    database: str | None,
    out: Path,
    tiles: str,
    district: str | None,
    at_text: str | None,
    radius_m: float,
    metric: str,
    demand_name: str | None,
) -> None:
    """Write the planners' coverage map as one HTML file that needs no public CDN."""
    # services.maps loads folium and branca: 0.76-1.85 s here after the CLI's own imports
    # (importlib timing on this 2-core machine), which `yizhan --help` (3.1-4.7 s) and every
    # other command would otherwise pay.
    # deferred: measured start-up cost (folium/branca), paid only by `yizhan map`
    from stations.services.maps import station_map

    store = open_registry(database)
    districts = registry_districts()
    at = _at(at_text)
    layer = _demand_layer(store, demand_name)
    settings = cli_settings()
    provider = _tile_provider(settings, tiles)
    click.echo("reading the registry", err=True)
    index = StationIndex.build(store, threshold_m=settings.precise_threshold_m)
    try:
        page = station_map(
            index,
            districts,
            tiles=provider,
            district=district,
            at=at,
            radius_m=radius_m,
            metric=metric,
            demand=layer,
            progress=lambda text: click.echo(f"  {text}", err=True),
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    page.save(str(out))
    click.echo(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


def _at(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except TimeError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None


def _demand_layer(store: Store, name: str | None) -> DemandLayer | None:
    if not name:
        return None
    layer = store.find_demand(name)
    if layer is None:
        raise click.ClickException(f"no demand layer {name!r}")
    return layer


def _tile_provider(settings: Settings, name: str) -> TileProvider:
    """The tiles named, with their key; a clear error when the key is not set."""
    provider = settings.tile_providers.get(name)
    if provider is None:
        key = TILE_PROVIDERS[name].key_setting
        raise click.BadParameter(f"{name} needs a key: set {key}", param_hint="--tiles")
    return provider
