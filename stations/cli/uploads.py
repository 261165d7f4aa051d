"""Station files: import (check, then commit all rows or none), upload show/commit/revert."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from geodata.crs import parse_crs
from stations.cli.common import (
    Progress,
    cli_principal,
    cli_settings,
    database_option,
    main,
    open_registry,
    registry_districts,
)
from stations.domain.auth import Principal
from stations.domain.changes import WriteResult
from stations.domain.errors import StoreError
from stations.domain.uploads import ClosuresUnconfirmedError, CrsRequiredError, Upload
from stations.formats.io import SheetChoiceError
from stations.services.uploads import (
    closure_check,
    commit_upload,
    plan_upload_file,
    rejected_rows_xlsx,
    revert_upload,
)
from stations.storage.store import Store


def _print_report(store: Store, upload: Upload, limit: int) -> None:
    c = upload.counts
    click.echo(
        f"upload {upload.id}: 新增 {c.get('create', 0)}，修改 {c.get('update', 0)}，"
        f"关闭 {c.get('close', 0)}，未变 {c.get('unchanged', 0)}，有误 {c.get('rejected', 0)}"
    )
    for note in upload.notes:
        click.echo(note)
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
    "--sheet", default=None, help="the workbook's sheet to read (when several hold stations)"
)
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
    sheet: str | None,
    confirm_closures: int | None,
) -> None:
    """Check a CSV, XLSX or GeoJSON FILE row by row; with --commit, apply all rows or none."""
    by = cli_principal(union, actor)
    settings = cli_settings()
    try:
        given = parse_crs(crs) if crs else None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    store = open_registry(database)
    progress = Progress(f"检查 {file.name}")
    try:
        upload = plan_upload_file(
            file,
            filename=file.name,
            crs=given,
            store=store,
            districts=registry_districts(),
            by=by,
            full_list=full_list,
            limits=settings.file_limits,
            retention_h=settings.dry_run_retention_hours,
            border_tolerance_m=settings.border_tolerance_m,
            on_row=progress,
            sheet=sheet,
        )
    except CrsRequiredError as exc:
        raise click.UsageError(str(exc)) from None
    except SheetChoiceError as exc:
        raise click.UsageError(f"{exc}（命令行：--sheet 工作表名）") from None
    except ValueError as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from exc
    progress.done()
    _print_report(store, upload, max_problems)
    if upload.counts.get("rejected"):
        raise click.ClickException(
            "有误的行须先改正；登记册未作任何修改 (nothing was changed). To commit the "
            f"accepted rows only: yizhan upload commit {upload.id} --accepted-only; the "
            f"rejected rows to fix: yizhan upload rejected {upload.id} -o rejected.xlsx"
        )
    if dry_run:
        click.echo(f"dry run: nothing was changed; commit with: yizhan upload commit {upload.id}")
        return
    _commit(store, upload.id, by, confirm_closures)


@contextmanager
def _unchanged_when_refused() -> Iterator[None]:
    """The store's refusal of a commit or revert as the CLI's error: nothing was changed."""
    try:
        yield
    except StoreError as exc:
        raise click.ClickException(f"{exc} (nothing was changed)") from exc


def _echo_batch(done: str, upload_id: str, result: WriteResult) -> None:
    click.echo(
        f"{done} upload {upload_id} as batch {result.batch.id}: {result.batch.changes} changes"
    )


def _commit(
    store: Store,
    upload_id: str,
    by: Principal,
    confirm: int | None = None,
    *,
    accepted_only: bool = False,
) -> None:
    with _unchanged_when_refused():
        try:
            result = commit_upload(
                store,
                upload_id,
                by=by,
                confirm_closures=confirm,
                max_close_share=cli_settings().full_list_max_close_share,
                accepted_only=accepted_only,
            )
        except ClosuresUnconfirmedError as exc:
            raise click.ClickException(
                f"{exc}；登记册未作任何修改 (nothing was changed). After checking: "
                f"yizhan upload commit {upload_id} --confirm-closures {exc.check.would_close}"
            ) from exc
    _echo_batch("committed", upload_id, result)


@main.group()
def upload() -> None:
    """Show, commit or revert an upload."""


@upload.command(name="show")
@click.argument("upload_id")
@database_option
@click.option("--max-problems", default=200, show_default=True)
def upload_show(upload_id: str, database: str | None, max_problems: int) -> None:
    """Print an upload's row-by-row report."""
    store = open_registry(database)
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
@click.option(
    "--accepted-only",
    is_flag=True,
    help="commit the accepted rows of an upload with rejected rows (all of them or none)",
)
def upload_commit(
    upload_id: str,
    database: str | None,
    union: str | None,
    actor: str,
    confirm_closures: int | None,
    accepted_only: bool,
) -> None:
    """Apply a dry run: all of its changes, or none."""
    _commit(
        open_registry(database),
        upload_id,
        cli_principal(union, actor),
        confirm_closures,
        accepted_only=accepted_only,
    )


@upload.command(name="rejected")
@click.argument("upload_id")
@database_option
@click.option("--union", metavar="OWNER", help="act as this union")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the .xlsx file to write",
)
def upload_rejected(upload_id: str, database: str | None, union: str | None, output: Path) -> None:
    """Write an upload's rejected rows, with a 问题 column, to fix and upload again."""
    with _unchanged_when_refused():
        data = rejected_rows_xlsx(
            open_registry(database), upload_id, by=cli_principal(union, "cli")
        )
    output.write_bytes(data)
    click.echo(f"wrote the rejected rows of upload {upload_id} to {output}")


@upload.command(name="revert")
@click.argument("upload_id")
@database_option
@click.option("--union", metavar="OWNER", help="act as this union")
@click.option("--actor", default="cli", show_default=True)
def upload_revert(upload_id: str, database: str | None, union: str | None, actor: str) -> None:
    """Put back exactly what a committed upload changed."""
    with _unchanged_when_refused():
        result = revert_upload(open_registry(database), upload_id, by=cli_principal(union, actor))
    _echo_batch("reverted", upload_id, result)
