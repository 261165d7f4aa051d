"""The ``yizhan`` registry commands: demo, import, export, summary (serve lives in api.cli)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import click

from geodata.crs import parse_crs
from geodata.districts import Districts, load_districts
from stations.demo import DEFAULT_TOTAL, sample_rows
from stations.importer import ImportPlan, commit_plan, plan_import
from stations.io import export_stations, read_rows, stdout_text, write_csv, write_geojson
from stations.listings import mapped_state
from stations.model import Owner, Status
from stations.open import open_store
from stations.settings import Settings, get_settings
from stations.store import Store


def _settings() -> Settings:
    try:
        return get_settings()
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise click.ClickException(f"bad setting: {exc}") from exc


def _store(database: str | None) -> Store:
    url = database or _settings().database_url
    try:
        return open_store(url)
    except (ValueError, NotImplementedError) as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        if getattr(exc, "code", "") == "schema_incompatible":
            raise click.ClickException(str(exc)) from exc
        raise


def _districts() -> Districts:
    return load_districts(_settings().districts_source)


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
    existing = list(store.iter_all())
    samples = [s for s in existing if s.sample]
    if samples and not replace:
        click.echo(f"the registry already holds {len(samples):,} sample stations; nothing loaded")
        _print_summary(store, districts)
        return
    if len(existing) > len(samples):
        raise click.ClickException(
            f"the registry holds {len(existing) - len(samples):,} real stations; the sample is "
            "only loaded into a registry of sample data. Use another --database."
        )
    from stations.store import Create, Delete
    from stations.validation import ValidationError, build_station

    progress = _Progress("生成示例数据")
    seed = seed if seed is not None else _settings().demo_seed
    creates: list[Create] = []
    skipped = 0
    for count, row in enumerate(sample_rows(districts, total=total, seed=seed), start=1):
        progress(count)
        try:
            creates.append(Create(build_station(row, districts=districts)))
        except ValidationError:  # a sample point a millimetre from a border may round across
            skipped += 1
    progress.done()
    if skipped:
        click.echo(f"skipped {skipped} sample rows that failed validation", err=True)
    removal = [Delete(s.id, s.version) for s in samples if s.id is not None]
    store.apply([*removal, *creates], actor="demo", kind="demo", note="示例数据")
    click.echo(f"loaded {len(creates):,} sample stations")
    _print_summary(store, districts)


def _print_report(plan: ImportPlan, limit: int) -> None:
    counts = plan.counts()
    click.echo(
        f"新增 {counts['create']}，修改 {counts['update']}，未变 {counts['unchanged']}，"
        f"有误 {counts['rejected']}"
    )
    if plan.unknown_columns:
        click.echo(f"未识别的列（已忽略）：{'、'.join(plan.unknown_columns)}")
    for row in plan.rejected[:limit]:
        for p in row.problems:
            value = f"（值：{p.value}）" if p.value not in (None, "") else ""
            click.echo(f"  第 {row.row} 行 [{p.code}] {p.field}: {p.message}{value}")
    if len(plan.rejected) > limit:
        click.echo(f"  …… 另有 {len(plan.rejected) - limit} 行有误")


@main.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@click.option(
    "--crs",
    default="wgs84",
    show_default=True,
    help="coordinate system of the file's positions: wgs84, gcj02, bd09, cgcs2000",
)
@click.option(
    "--owner",
    "owner_text",
    metavar="OWNER",
    help="union owning rows that name none: district:<adcode> or industry:<code>",
)
@click.option("--actor", default="cli", show_default=True, help="who is importing (audit trail)")
@click.option("--dry-run", is_flag=True, help="report what would change, change nothing")
@click.option("--max-problems", default=200, show_default=True, help="rows to list when rejected")
def import_(
    file: Path,
    database: str | None,
    crs: str,
    owner_text: str | None,
    actor: str,
    dry_run: bool,
    max_problems: int,
) -> None:
    """Import stations from a CSV, XLSX or GeoJSON FILE: all rows land, or none."""
    try:
        crs_value = parse_crs(crs)
        owner = Owner.parse(owner_text) if owner_text else None
        source = read_rows(file)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    store = _store(database)
    progress = _Progress(f"检查 {file.name}")
    plan = plan_import(
        source.rows,
        store=store,
        districts=_districts(),
        crs=crs_value,
        owner=owner,
        on_row=progress,
    )
    progress.done()
    plan.unknown_columns = source.unknown_columns
    _print_report(plan, max_problems)
    if plan.rejected:
        raise click.ClickException("有误的行须先改正；登记册未作任何修改 (nothing was changed)")
    if dry_run:
        click.echo("dry run: nothing was changed")
        return
    result = commit_plan(plan, store, actor=actor, note=file.name)
    click.echo(f"committed batch {result.batch.id}: {result.batch.changes} changes")


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
    from stations.store import StationQuery

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
    threshold = _settings().precise_threshold_m
    status = Counter(s.status.value for s in stations)
    mapped = Counter(mapped_state(s, threshold_m=threshold).value for s in stations)
    by_district = Counter(s.district_adcode for s in stations)
    click.echo(f"registry: {len(stations):,} stations in {len(by_district)} districts")
    click.echo("  status: " + ", ".join(f"{s.value} {status.get(s.value, 0):,}" for s in Status))
    click.echo(f"  24-hour self-service: {sum(s.self_service_24h for s in stations):,}")
    click.echo(
        f"  上图 (all three providers, keyword, precise ≤ {threshold:.0f} m): "
        f"full {mapped.get('full', 0):,}, partial {mapped.get('partial', 0):,}, "
        f"none {mapped.get('none', 0):,}"
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
