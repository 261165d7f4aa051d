"""Star ratings (星级评定): compute every station's stars again; the rule file checked."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import click

from geodata.hours import TZ
from stations.cli.common import cli_settings, database_option, main, open_registry
from stations.domain.stars import StarRuleError, load_rule
from stations.readmodel.index import StationIndex
from stations.services.stars import compute_stars


@main.group()
def stars() -> None:
    """Star ratings (星级评定) from the last year's checks, ratings, check-ins and cases."""


@stars.command(name="compute")
@database_option
def stars_compute(database: str | None) -> None:
    """Rate every station now under the rule (stars.toml, or YIZHAN_STARS_FILE) and save
    the ratings with their reasons; prints how many stations got each number of stars."""
    settings = cli_settings()
    try:
        rule = load_rule(settings.stars_file)
    except StarRuleError as exc:
        raise click.ClickException(str(exc)) from None
    store = open_registry(database)
    try:
        index = StationIndex.build(store, threshold_m=settings.precise_threshold_m)
        rows = compute_stars(store, index, rule, datetime.now(TZ))
    finally:
        store.close()
    counts = Counter(r.stars for r in rows)
    click.echo(f"rated {len(rows)} stations (rule {rule.version})")
    for n in range(5, 0, -1):
        click.echo(f"{'★' * n:<5}\t{counts.get(n, 0)}")
