"""The planners' coverage map as one HTML file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from geodata.coverage import AreaTooLargeError
from geodata.tiles import TILE_PROVIDERS
from geodata.when import TimeError, parse_time
from stations.cli.common import (
    cli_settings,
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.domain.errors import InvalidOptionError
from stations.readmodel.index import StationIndex
from stations.services.planning import MAX_RADIUS_M, METRICS, map_options


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
@click.option(
    "--radius-m", type=click.FloatRange(1, MAX_RADIUS_M), default=1000.0, show_default=True
)
@click.option(
    "--metric",
    type=click.Choice(METRICS),
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
    settings = cli_settings()
    districts = registry_districts()
    try:
        options = map_options(
            tile_providers=settings.tile_providers,
            districts=districts,
            store=store,
            tiles=tiles,
            metric=metric,
            radius_m=radius_m,
            district=district,
            at=_at(at_text),
            demand=demand_name,
        )
    except InvalidOptionError as exc:
        hint = "--" + exc.option.replace("_", "-")
        raise click.BadParameter(str(exc), param_hint=hint) from None
    click.echo("reading the registry", err=True)
    index = StationIndex.build(store, threshold_m=settings.precise_threshold_m)
    try:
        page = station_map(
            index, districts, options, progress=lambda text: click.echo(f"  {text}", err=True)
        )
    except AreaTooLargeError as exc:  # TooMuchWorkError too
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
