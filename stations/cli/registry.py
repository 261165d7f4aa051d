"""The registry as a whole: the sample (demo), summary, export, migrate."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path

import click

from geodata.districts import NATIONAL, Districts, china_counties
from geodata.hours import TZ
from stations.cli.common import (
    Progress,
    cli_settings,
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.config import Settings
from stations.domain.changes import StationQuery
from stations.domain.checklist import load_checklist
from stations.domain.figures import CITY, figures
from stations.domain.listings import MappedState
from stations.domain.model import Status
from stations.domain.stars import load_rule
from stations.formats.io import export_stations, stdout_text
from stations.formats.registry import FORMATS
from stations.services.demo import DEFAULT_TOTAL, NATIONAL_TOTAL
from stations.services.events import load_sample_events
from stations.services.inspections import PhotoCaps
from stations.services.migration import copy_registry
from stations.services.sample import RealStationsError, load_demo, sample_accounts
from stations.services.sample_ops import OperationSettings, load_sample_operations
from stations.storage.store import Store


@main.command()
@database_option
@click.option("--seed", type=int, default=None, help="sample seed (default: $YIZHAN_DEMO_SEED)")
@click.option(
    "--total",
    type=click.IntRange(1, 1_000_000),
    default=None,
    help=f"how many stations (default: {DEFAULT_TOTAL:,}; with --national {NATIONAL_TOTAL:,})",
)
@click.option("--replace", is_flag=True, help="remove an earlier sample before loading")
@click.option(
    "--national",
    is_flag=True,
    help=(
        f"the national sample: about {NATIONAL_TOTAL:,} stations over the 2,848 counties of "
        "the 31 mainland provinces (serve it with YIZHAN_DISTRICTS_SOURCE=china)"
    ),
)
def demo(
    database: str | None, seed: int | None, total: int | None, replace: bool, national: bool
) -> None:
    """Load the sample registry (示例数据): Chongqing's, or with --national the country's."""
    store = open_registry(database)
    districts = national_districts() if national else registry_districts()
    progress = Progress("生成示例数据")
    done_seed = seed if seed is not None else cli_settings().demo_seed
    if total is None:
        total = NATIONAL_TOTAL if national else DEFAULT_TOTAL
    try:
        done = load_demo(
            store,
            districts,
            seed=done_seed,
            total=total,
            replace=replace,
            national=national,
            on_row=progress,
            on_rows_done=lambda: stored(progress),
            on_stored=lambda n: click.echo(f"\r已写入数据库：{n:,} 个示例驿站          ", err=True),
        )
    except RealStationsError as exc:
        raise click.ClickException(str(exc)) from None
    if done.demand is None:
        click.echo(
            f"the registry already holds {done.already:,} sample stations; nothing loaded "
            "(--replace loads the sample again; another --database keeps both)"
        )
    else:
        if done.skipped:
            click.echo(f"skipped {done.skipped} sample rows that failed validation", err=True)
        click.echo(f"loaded {done.stations:,} sample stations")
        layer = done.demand
        click.echo(f"loaded the sample demand layer {layer.name!r} ({len(layer):,} points)")
        ops = load_sample_operations(
            store, settings=operation_settings(store, cli_settings()), seed=done_seed
        )
        click.echo(
            f"示例运营数据：签到 {ops.check_ins:,} 次，评价 {ops.ratings} 条，"
            f"问题报告 {ops.reports} 条，抽查 {ops.inspections} 次，星级评定 {ops.stars:,} 个驿站"
        )
        events = load_sample_events(
            store, list(store.iter_all()), seed=done_seed, at=datetime.now(TZ)
        )
        click.echo(f"示例活动：{len(events)} 个")
    accounts = sample_accounts(store, districts)
    if accounts:
        click.echo(
            "示例账号，登录 /console 工会工作台"
            "（密码只显示这一次，可用 yizhan user reset-password 重设）："
        )
        for a in accounts:
            click.echo(f"  {a.name}：用户名 {a.username}  密码 {a.password}")
    print_summary(store, districts)
    if national and cli_settings().districts_source != NATIONAL:
        click.echo(
            "全国示例数据的区县是全国 2,848 个区县：启动服务时请设置 "
            f"YIZHAN_DISTRICTS_SOURCE={NATIONAL}（例如 YIZHAN_DISTRICTS_SOURCE={NATIONAL} "
            "yizhan serve），否则服务仍按重庆的 38 个区县统计。",
            err=True,
        )


def stored(progress: Progress) -> None:
    progress.done()
    click.echo("写入数据库：其余示例驿站、示例需求点和运营数据…", err=True)


def national_districts() -> Districts:
    """The counties of the whole country, read from the cache or converted (with a note)."""
    click.echo("读取全国区县边界（首次约需 15–50 秒，之后使用缓存）…", err=True)
    return china_counties()


@main.command()
@database_option
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="file to write (.csv, .xlsx, .geojson); default: CSV on standard output",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice([f.name for f in FORMATS.values() if f.export]),
    default=None,
)
@click.option("--district", help="only this district (adcode)")
def export(database: str | None, out: Path | None, fmt: str | None, district: str | None) -> None:
    """Export the registry as CSV, XLSX or GeoJSON (WGS-84)."""
    store = open_registry(database)
    stations = store.query(StationQuery(district=district)).items if district else store.iter_all()
    if out is None:
        name = fmt or "csv"
        writer = FORMATS[name].stream
        if writer is None:  # a binary format (XLSX)
            raise click.ClickException(f"{name.upper()} needs --out FILE.{name}")
        with stdout_text() as out_text:
            n = writer(stations, out_text)
    else:
        try:
            n = export_stations(stations, out, format=fmt)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"exported {n:,} stations", err=True)


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
    """Copy a whole registry between SQLite and PostGIS: stations and their codes, audit
    trail, uploads, tokens, accounts, demand layers, check-in counts, ratings, cases, spot
    checks with their photos, stars; ids and versions unchanged; checked table by table.
    (Raw check-ins, sessions and failed sign-ins are not copied: they are kept for hours.)"""
    source = open_registry(source_url)
    target = open_registry(target_url)
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


def operation_settings(store: Store, settings: Settings) -> OperationSettings:
    """The registry's own: its salt, deadlines, checklist, star rule and photo caps."""
    return OperationSettings(
        salt=store.feedback_salt(),
        deadlines=settings.case_deadline_hours,
        checklist=load_checklist(settings.checklist_file),
        stars_rule=load_rule(settings.stars_file),
        photo_caps=PhotoCaps(
            settings.photo_max_bytes, settings.photo_max_pixels, settings.photos_per_inspection
        ),
    )


def print_summary(store: Store, districts: Districts) -> None:
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
    print_summary(open_registry(database), registry_districts())
