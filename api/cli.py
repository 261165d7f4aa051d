"""The ``yizhan`` command line: the registry commands plus ``serve``."""

from __future__ import annotations

import functools
import os
import resource
import sys

import click

from stations.cli import cli_settings, database_option, main
from stations.config import Settings, get_settings
from stations.domain.checklist import ChecklistError, load_checklist
from stations.domain.stars import StarRuleError, load_rule
from stations.storage.open import redact

__all__ = ["main"]


@main.command()
@database_option
@click.option("--host", default=None, help="address to bind (default: $YIZHAN_HOST or 127.0.0.1)")
@click.option("--port", type=int, default=None, help="port (default: $YIZHAN_PORT or 8000)")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="worker processes; each keeps its own read index in step with the store",
)
@click.option(
    "--forwarded-allow-ips",
    metavar="IPS",
    default=None,
    help=(
        "reverse proxies whose X-Forwarded-For/-Proto are believed (addresses or networks, "
        "commas between; * for any; '' for none); default: $YIZHAN_FORWARDED_ALLOW_IPS, "
        "$FORWARDED_ALLOW_IPS or 127.0.0.1"
    ),
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="log every request (costs about a fifth of the throughput)",
)
def serve(
    database: str | None,
    host: str | None,
    port: int | None,
    workers: int,
    forwarded_allow_ips: str | None,
    access_log: bool,
) -> None:
    """Serve the HTTP API (docs at /docs) on the registry."""
    # uvicorn and api.server (its HTTP protocols) take 0.23-0.58 s here after the CLI's own
    # imports (importlib timing, 2 loaded cores): paid by `yizhan serve` only, not by
    # `yizhan --help` or the other commands.
    import uvicorn  # deferred: measured start-up cost, see above

    from api.logs import log_config  # deferred: imports uvicorn
    from api.server import ConnectionLimits, LimitedHttpToolsProtocol  # deferred: see above

    settings = _worker_settings(database=database, forwarded_allow_ips=forwarded_allow_ips)
    try:  # here, in one line, rather than a traceback from every worker
        load_rule(settings.stars_file)
        load_checklist(settings.checklist_file)
    except (StarRuleError, ChecklistError) as exc:
        raise click.ClickException(str(exc)) from None
    proxies = settings.forwarded_allow_ips
    bind_host = host or settings.host
    bind_port = port or settings.port
    click.echo(
        f"yizhan serving {redact(settings.database_url)} on http://{bind_host}:{bind_port}/docs",
        err=True,
    )
    believed = f"from {proxies}" if proxies else "from no one: clients' own addresses count"
    click.echo(f"X-Forwarded-For believed {believed}", err=True)
    limits = ConnectionLimits(
        head_timeout_s=settings.request_head_timeout_s,
        body_timeout_s=settings.request_body_timeout_s,
        max_connections=_descriptors_for(settings.max_connections),
        max_per_client=settings.max_connections_per_client,
        unlimited_clients=proxies,
    )
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        # A --workers process unpickles ``http`` (below) before it can answer uvicorn's
        # health check, and that imports the app's modules: 4.3-4.7 s here (`python -c
        # "import api.server"`, load 8 on 2 cores). uvicorn's default of 5 s then kills and
        # restarts it, again and again (tests/api/test_serve.py, --workers 2). The cost:
        # a worker that hangs later is also replaced only after this long.
        timeout_worker_healthcheck=_WORKER_START_S,
        access_log=access_log,
        # Besides the limits, a request its parser refuses (an over-long URL, raw UTF-8 in
        # the query) gets a problem+json 400 like every other error, not uvicorn's text one.
        http=functools.partial(LimitedHttpToolsProtocol, limits=limits),  # type: ignore[arg-type]
        timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]  # a float works
        # uvicorn's: the client address of a request from one of ``proxies`` is the last
        # X-Forwarded-For entry not itself a trusted proxy; from anyone else, the peer's.
        proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or "127.0.0.1",
        log_level="info",
        log_config=log_config(every_s=settings.log_repeat_s),
    )


def _worker_settings(*, database: str | None, forwarded_allow_ips: str | None) -> Settings:
    """The settings with ``serve``'s options applied, validated once (a bad one is a clear
    error before anything starts), in this process and in every worker.

    The one place that hands settings to the workers, and it does so through the
    environment: uvicorn starts each worker as a fresh process that imports
    ``api.app:create_app`` and calls it with no arguments (all it passes on is the import
    string), so ``create_app`` reads ``Settings()`` from ``YIZHAN_*`` variables, which
    the workers inherit. The options are written there under their setting's own name,
    so that they mean exactly what the variable means (and are checked the same way).
    """
    if database:
        os.environ["YIZHAN_DATABASE_URL"] = database
    if forwarded_allow_ips is not None:  # '' is a value: believe no proxy
        os.environ["YIZHAN_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    get_settings.cache_clear()  # read again, with them
    settings = cli_settings()
    # Idle BLAS and OpenMP threads spin and steal the CPU from the request threads.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    return settings


# How long a new worker may take to answer uvicorn's first health check (see serve).
_WORKER_START_S = 60


# Descriptors a worker needs besides its clients': the database pool, the listening
# socket, logs, the files an upload or a map reads.
_SPARE_DESCRIPTORS = 128


def _descriptors_for(max_connections: int) -> int:
    """Raise this process's open-file limit (inherited by the workers) to what
    ``max_connections`` needs, as far as the hard limit allows; the connections allowed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = max_connections + _SPARE_DESCRIPTORS
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft != resource.RLIM_INFINITY and soft < wanted:
        allowed = max(1, soft - _SPARE_DESCRIPTORS)
        click.echo(
            f"YIZHAN_MAX_CONNECTIONS={max_connections} needs {wanted} open files, but the "
            f"limit is {soft} (ulimit -n): {allowed} connections at most",
            err=True,
        )
        return allowed
    return max_connections


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
