"""Demand layers: import, list."""

from __future__ import annotations

from pathlib import Path

import click

from stations.cli.common import (
    cli_principal,
    cli_settings,
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.domain.demand import DemandFileError
from stations.domain.uploads import CrsRequiredError
from stations.services.demand import save_demand_layer


@main.group()
def demand() -> None:
    """Demand layers: where outdoor workers are, for demand-weighted coverage."""


@demand.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@click.option("--name", "layer_name", required=True, help="the layer's name, e.g. 骑手聚集点")
@click.option(
    "--crs",
    default=None,
    help="gcj02 (copied from Amap/高德 or Tencent/腾讯), bd09 (Baidu/百度), wgs84 (GPS, "
    "Tianditu/天地图), cgcs2000; required unless the file is GeoJSON (WGS-84)",
)
@click.option("--actor", default="cli", show_default=True)
def demand_import(
    file: Path, database: str | None, layer_name: str, crs: str | None, actor: str
) -> None:
    """Store a CSV/XLSX/GeoJSON of points (lon, lat, weight); replaces a layer of that name.

    All or nothing: any bad row is listed and nothing is stored.
    """
    store = open_registry(database)
    try:
        layer = save_demand_layer(
            store,
            registry_districts(),
            cli_principal(None, actor),
            layer_name,
            file,
            crs=crs,
            limits=cli_settings().file_limits,
        )
    except CrsRequiredError as exc:
        raise click.UsageError(str(exc)) from None
    except DemandFileError as exc:
        for p in exc.problems[:50]:
            click.echo(f"row {p.row}\t{p.column}\t{p.code}\t{p.message}\t{p.value}", err=True)
        raise click.ClickException(
            f"{len(exc.problems)} problem(s) in {file.name}; nothing was stored"
        ) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"stored {layer.name!r}: {len(layer):,} points, total weight {layer.total_weight:,.1f}"
    )


@demand.command(name="list")
@database_option
def demand_list(database: str | None) -> None:
    """List demand layers."""
    for d in open_registry(database).list_demand():
        sample = " (示例)" if d["sample"] else ""
        click.echo(f"{d['name']}{sample}\t{d['points']:,} points\tweight {d['total_weight']:,}")
