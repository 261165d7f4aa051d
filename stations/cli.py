"""The ``yizhan`` registry commands: demo, import, upload, token, export, summary.

``serve`` is added by api.cli, so that this package never imports the API.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import click

from geodata.crs import parse_crs
from geodata.districts import Districts, load_districts
from geodata.tiles import TILE_PROVIDERS
from geodata.when import TimeError, parse_time
from stations.config import Settings, get_settings
from stations.domain.auth import Principal, Role
from stations.domain.changes import StationQuery
from stations.domain.demand import DemandFileError
from stations.domain.errors import StoreError
from stations.domain.figures import CITY, figures
from stations.domain.listings import MappedState
from stations.domain.model import Owner, OwnerKind, Status
from stations.domain.uploads import ClosuresUnconfirmedError, CrsRequiredError, Upload, upload_crs
from stations.formats.io import export_stations, read_rows, stdout_text, write_csv, write_geojson
from stations.readmodel.index import StationIndex
from stations.services.demand import demand_crs, read_demand
from stations.services.demo import DEFAULT_TOTAL
from stations.services.migration import copy_registry
from stations.services.sample import RealStationsError, load_demo
from stations.services.tokens import create_token, list_tokens, revoke_token
from stations.services.uploads import closure_check, commit_upload, plan_upload, revert_upload
from stations.storage.open import open_store, redact
from stations.storage.store import Store


def cli_settings() -> Settings:
    """The settings, or a clear error (with any password hidden) for the command line."""
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        # (It quotes the value given: a database URL may hold a password.)
        raise click.ClickException(f"bad setting: {redact(str(exc))}") from None


def _store(database: str | None) -> Store:
    url = database or cli_settings().database_url
    try:
        return open_store(url, timeouts=cli_settings().timeouts.for_batch_jobs())
    except (ValueError, NotImplementedError) as exc:
        raise click.ClickException(str(exc)) from exc
    except StoreError as exc:  # an unreachable or refusing database, a foreign schema
        raise click.ClickException(str(exc)) from None


def _districts() -> Districts:
    return load_districts(cli_settings().districts_source)


database_option = click.option(
    "--database",
    "-d",
    metavar="URL",
    help="registry to use (default: $YIZHAN_DATABASE_URL or sqlite:///data/yizhan.sqlite3)",
)


class _Progress:
    """Rows processed, rate, shown on stderr at most a few times a second."""

    def __init__(self, label: str, *, every_s: float = 0.5) -> None:
        self.label = label
        self.every_s = every_s
        self.start = time.perf_counter()
        self.last = 0.0
        self.count = 0

    def __call__(self, count: int) -> None:
        self.count = count
        now = time.perf_counter()
        if now - self.last >= self.every_s:
            self.last = now
            rate = count / max(now - self.start, 1e-9)
            click.echo(f"\r{self.label}: {count:,} 行 ({rate:,.0f} 行/秒)", nl=False, err=True)

    def done(self) -> None:
        elapsed = time.perf_counter() - self.start
        click.echo(f"\r{self.label}: {self.count:,} 行，用时 {elapsed:.1f} 秒      ", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="yizhan")
def main() -> None:
    """yizhan: the open map and registry of trade-union rest stations (工会驿站)."""


@main.command()
@database_option
@click.option("--seed", type=int, default=None, help="sample seed (default: $YIZHAN_DEMO_SEED)")
@click.option(
    "--total", type=click.IntRange(1, 1_000_000), default=DEFAULT_TOTAL, show_default=True
)
@click.option("--replace", is_flag=True, help="remove an earlier sample before loading")
def demo(database: str | None, seed: int | None, total: int, replace: bool) -> None:
    """Load the sample registry (示例数据) for Chongqing."""
    store = _store(database)
    districts = _districts()
    progress = _Progress("生成示例数据")
    try:
        done = load_demo(
            store,
            districts,
            seed=seed if seed is not None else cli_settings().demo_seed,
            total=total,
            replace=replace,
            on_row=progress,
            on_rows_done=progress.done,
        )
    except RealStationsError as exc:
        raise click.ClickException(str(exc)) from None
    if done.demand is None:
        click.echo(f"the registry already holds {done.already:,} sample stations; nothing loaded")
    else:
        if done.skipped:
            click.echo(f"skipped {done.skipped} sample rows that failed validation", err=True)
        click.echo(f"loaded {done.stations:,} sample stations")
        layer = done.demand
        click.echo(f"loaded the sample demand layer {layer.name!r} ({len(layer):,} points)")
    _print_summary(store, districts)


def _cli_principal(union: str | None, actor: str) -> Principal:
    """The CLI is run by the operator; --union makes it act as (and be limited to) a union."""
    if union is None:
        return Principal("cli", actor, Role.ADMIN, None)
    try:
        owner = Owner.parse(union)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    role = Role.DISTRICT if owner.kind is OwnerKind.DISTRICT else Role.INDUSTRY
    return Principal("cli", actor, role, owner.code)


def _print_report(store: Store, upload: Upload, limit: int) -> None:
    c = upload.counts
    click.echo(
        f"upload {upload.id}: 新增 {c.get('create', 0)}，修改 {c.get('update', 0)}，"
        f"关闭 {c.get('close', 0)}，未变 {c.get('unchanged', 0)}，有误 {c.get('rejected', 0)}"
    )
    if upload.unknown_columns:
        click.echo(f"未识别的列（已忽略）：{'、'.join(upload.unknown_columns)}")
    check = closure_check(store, upload, max_share=cli_settings().full_list_max_close_share)
    if check is not None and check.needs_confirmation:
        click.echo(f"注意：{check.message()}")
    shown = 0
    for row in store.iter_upload_rows(upload.id, actions=("rejected",)):
        for p in row.problems:
            if shown < limit:
                value = f"（值：{p['value']}）" if p.get("value") not in (None, "") else ""
                click.echo(f"  第 {row.row} 行 [{p['code']}] {p['column']}: {p['message']}{value}")
            shown += 1
    if shown > limit:
        click.echo(f"  …… 另有 {shown - limit} 个问题")
    for row in store.iter_upload_rows(upload.id, actions=("create", "update")):
        for w in row.warnings:
            if shown < limit:
                click.echo(f"  第 {row.row} 行 提示 [{w['code']}]: {w['message']}")
            shown += 1


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@click.option(
    "--crs",
    default=None,
    help=(
        "coordinate system of the file's positions: gcj02 (copied from Amap/高德 or "
        "Tencent/腾讯), bd09 (Baidu/百度), wgs84 (GPS, Tianditu/天地图), cgcs2000. Required "
        "unless the file says it: GeoJSON is WGS-84, or a crs (坐标系) column names it per row"
    ),
)
@click.option(
    "--union",
    metavar="OWNER",
    help="upload as this union (district:<adcode> or industry:<code>); default: the city union",
)
@click.option(
    "--full-list",
    is_flag=True,
    help="the file is the union's full list: its stations missing from it are closed",
)
@click.option("--actor", default="cli", show_default=True, help="who is importing (audit trail)")
@click.option(
    "--dry-run/--commit",
    default=True,
    show_default=True,
    help="report only, or commit when no row is rejected",
)
@click.option("--max-problems", default=200, show_default=True, help="problems to list")
@click.option(
    "--confirm-closures",
    type=click.IntRange(0),
    default=None,
    metavar="N",
    help="with --full-list --commit: confirm that closing N stations is meant (needed when "
    "it closes more than YIZHAN_FULL_LIST_MAX_CLOSE_SHARE of them, or the file has no valid row)",
)
def import_(
    file: Path,
    database: str | None,
    crs: str | None,
    union: str | None,
    full_list: bool,
    actor: str,
    dry_run: bool,
    max_problems: int,
    confirm_closures: int | None,
) -> None:
    """Check a CSV, XLSX or GeoJSON FILE row by row; with --commit, apply all rows or none."""
    by = _cli_principal(union, actor)
    settings = cli_settings()
    try:
        given = parse_crs(crs) if crs else None
        source = read_rows(file, limits=settings.file_limits)
        crs_value = upload_crs(
            given, format=source.format, columns=source.columns, default_crs=source.default_crs
        )
    except CrsRequiredError as exc:
        raise click.UsageError(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    store = _store(database)
    progress = _Progress(f"检查 {file.name}")
    try:
        upload = plan_upload(
            source.rows,
            store=store,
            districts=_districts(),
            by=by,
            filename=file.name,
            crs=crs_value,
            full_list=full_list,
            unknown_columns=source.unknown_columns,
            columns=source.columns,
            on_row=progress,
            retention_h=settings.dry_run_retention_hours,
            border_tolerance_m=settings.border_tolerance_m,
        )
    except ValueError as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from exc
    progress.done()
    _print_report(store, upload, max_problems)
    if upload.counts.get("rejected"):
        raise click.ClickException("有误的行须先改正；登记册未作任何修改 (nothing was changed)")
    if dry_run:
        click.echo(f"dry run: nothing was changed; commit with: yizhan upload commit {upload.id}")
        return
    _commit(store, upload.id, by, confirm_closures)


def _commit(store: Store, upload_id: str, by: Principal, confirm: int | None = None) -> None:
    try:
        result = commit_upload(
            store,
            upload_id,
            by=by,
            confirm_closures=confirm,
            max_close_share=cli_settings().full_list_max_close_share,
        )
    except ClosuresUnconfirmedError as exc:
        raise click.ClickException(
            f"{exc}；登记册未作任何修改 (nothing was changed). After checking: "
            f"yizhan upload commit {upload_id} --confirm-closures {exc.check.would_close}"
        ) from exc
    except StoreError as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from exc
    click.echo(
        f"committed upload {upload_id} as batch {result.batch.id}: {result.batch.changes} changes"
    )


@main.group()
def upload() -> None:
    """Show, commit or revert an upload."""


@upload.command(name="show")
@click.argument("upload_id")
@database_option
@click.option("--max-problems", default=200, show_default=True)
def upload_show(upload_id: str, database: str | None, max_problems: int) -> None:
    """Print an upload's row-by-row report."""
    store = _store(database)
    try:
        found = store.get_upload(upload_id)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{found.filename} by {found.actor} at {found.created_at:%Y-%m-%d %H:%M}: "
        f"{found.status.value}"
    )
    _print_report(store, found, max_problems)


@upload.command(name="commit")
@click.argument("upload_id")
@database_option
@click.option("--union", metavar="OWNER", help="act as this union")
@click.option("--actor", default="cli", show_default=True)
@click.option(
    "--confirm-closures",
    type=click.IntRange(0),
    default=None,
    metavar="N",
    help="confirm that the full list's closing N stations is meant",
)
def upload_commit(
    upload_id: str,
    database: str | None,
    union: str | None,
    actor: str,
    confirm_closures: int | None,
) -> None:
    """Apply a dry run: all of its changes, or none."""
    _commit(_store(database), upload_id, _cli_principal(union, actor), confirm_closures)


@upload.command(name="revert")
@click.argument("upload_id")
@database_option
@click.option("--union", metavar="OWNER", help="act as this union")
@click.option("--actor", default="cli", show_default=True)
def upload_revert(upload_id: str, database: str | None, union: str | None, actor: str) -> None:
    """Put back exactly what a committed upload changed."""
    try:
        result = revert_upload(_store(database), upload_id, by=_cli_principal(union, actor))
    except StoreError as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from exc
    click.echo(
        f"reverted upload {upload_id} as batch {result.batch.id}: {result.batch.changes} changes"
    )


@main.group()
def token() -> None:
    """Create, list and revoke write tokens."""


@token.command(name="create")
@database_option
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--code", help="district adcode (district role) or industry code (industry role)")
@click.option("--name", required=True, help="whose token it is, e.g. 渝中区总工会")
def token_create(database: str | None, role: str, code: str | None, name: str) -> None:
    """Create a token and print it once (only its hash is stored)."""
    store = _store(database)
    try:
        text, record = create_token(store, _districts(), role=role, name=name, code=code)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(text)
    click.echo(
        f"token {record.id} for {record.name} ({record.role.value}"
        f"{':' + record.code if record.code else ''}); it is shown only now",
        err=True,
    )


@token.command(name="list")
@database_option
def token_list(database: str | None) -> None:
    """List tokens (never their secrets)."""
    for t in list_tokens(_store(database)):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
        click.echo(f"{t.id}\t{t.role.value}\t{t.code or '-'}\t{t.name}\t{state}")


@token.command(name="revoke")
@click.argument("token_id")
@database_option
def token_revoke(token_id: str, database: str | None) -> None:
    """Revoke a token: it stops working at once."""
    if not revoke_token(_store(database), token_id):
        raise click.ClickException(f"no token {token_id}")
    click.echo(f"revoked {token_id}")


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

    store = _store(database)
    districts = _districts()
    at = None
    if at_text:
        try:
            at = parse_time(at_text)
        except TimeError as exc:
            raise click.BadParameter(str(exc), param_hint="--at") from None
    layer = None
    if demand_name:
        layer = store.find_demand(demand_name)
        if layer is None:
            raise click.ClickException(f"no demand layer {demand_name!r}")
    settings = cli_settings()
    provider = settings.tile_providers.get(tiles)
    if provider is None:
        key = TILE_PROVIDERS[tiles].key_setting
        raise click.BadParameter(f"{tiles} needs a key: set {key}", param_hint="--tiles")
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


@main.command()
@click.option(
    "--from",
    "source_url",
    required=True,
    help="the registry to copy, e.g. sqlite:///yizhan.sqlite3",
)
@click.option(
    "--to", "target_url", required=True, help="a new, empty registry, e.g. postgresql://…"
)
def migrate(source_url: str, target_url: str) -> None:
    """Copy a whole registry between SQLite and PostGIS: stations, audit trail, uploads,
    tokens and demand layers, ids and versions unchanged; checked table by table."""
    source = _store(source_url)
    target = _store(target_url)
    try:
        try:
            counts = copy_registry(
                source, target, log=lambda text: click.echo(f"  {text}", err=True)
            )
        except (ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
    finally:
        source.close()
        target.close()
    click.echo("copied " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))


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
    try:
        system = demand_crs(crs, file)
    except CrsRequiredError as exc:
        raise click.UsageError(str(exc)) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store = _store(database)
    try:
        layer = read_demand(
            file,
            name=layer_name,
            crs=system,
            districts=_districts(),
            limits=cli_settings().file_limits,
        )
    except DemandFileError as exc:
        for p in exc.problems[:50]:
            click.echo(f"row {p.row}\t{p.column}\t{p.code}\t{p.message}\t{p.value}", err=True)
        raise click.ClickException(
            f"{len(exc.problems)} problem(s) in {file.name}; nothing was stored"
        ) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store.save_demand(layer, actor=actor)
    click.echo(
        f"stored {layer.name!r}: {len(layer):,} points, total weight {layer.total_weight:,.1f}"
    )


@demand.command(name="list")
@database_option
def demand_list(database: str | None) -> None:
    """List demand layers."""
    for d in _store(database).list_demand():
        sample = " (示例)" if d["sample"] else ""
        click.echo(f"{d['name']}{sample}\t{d['points']:,} points\tweight {d['total_weight']:,}")


@main.command()
@database_option
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="file to write (.csv, .xlsx, .geojson); default: CSV on standard output",
)
@click.option("--format", "fmt", type=click.Choice(["csv", "xlsx", "geojson"]), default=None)
@click.option("--district", help="only this district (adcode)")
def export(database: str | None, out: Path | None, fmt: str | None, district: str | None) -> None:
    """Export the registry as CSV, XLSX or GeoJSON (WGS-84)."""
    store = _store(database)
    stations = store.query(StationQuery(district=district)).items if district else store.iter_all()
    if out is None:
        if fmt == "xlsx":
            raise click.ClickException("XLSX needs --out FILE.xlsx")
        writer: Callable = write_geojson if fmt == "geojson" else write_csv
        with stdout_text() as out_text:
            n = writer(stations, out_text)
    else:
        try:
            n = export_stations(stations, out, format=fmt)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {n:,} stations", err=True)


def _print_summary(store: Store, districts: Districts) -> None:
    stations = list(store.iter_all())
    threshold = cli_settings().precise_threshold_m
    city = figures(stations, {d.adcode: d.name for d in districts}, threshold_m=threshold)[CITY]
    by_district = Counter(s.district_adcode for s in stations)
    click.echo(f"registry: {len(stations):,} stations in {len(by_district)} districts")
    click.echo(
        "  status: " + ", ".join(f"{s.value} {city.by_status.get(s.value, 0):,}" for s in Status)
    )
    # The figures of /v1/districts and /v1/history/mapped (stations.domain.figures.DEFINITIONS).
    click.echo(f"  of the {city.stations_active:,} active stations:")
    click.echo(f"    24-hour self-service sites (self_service_24h): {city.self_service_24h:,}")
    click.echo(
        f"    上图: keyword on all three providers (listed_all) {city.listed_all:,}, "
        f"of them each within {threshold:.0f} m (precise_all, 上图 full) {city.precise_all:,}"
    )
    click.echo(
        "    上图 state (mapped_state): "
        + ", ".join(f"{m.value} {city.mapped.get(m.value, 0):,}" for m in MappedState)
    )
    for adcode, n in by_district.most_common(5):
        d = districts.find(adcode)
        click.echo(f"  {adcode} {d.name if d else '?'}: {n:,}")


@main.command()
@database_option
def summary(database: str | None) -> None:
    """Print the registry summary."""
    _print_summary(_store(database), _districts())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
