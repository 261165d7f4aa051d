"""Shared fixtures; in CI (YIZHAN_REQUIRE_ALL=1) a skipped test counts as a failure."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from geodata.districts import Districts, chongqing_districts

# Property tests check answers, not speed (benchmarks are in bench/): no per-example
# deadline, so a loaded machine or a lazily loaded table (the GCJ-02 border: ~1 s on first
# use) cannot fail one.
hypothesis_settings.register_profile("yizhan", deadline=None)
hypothesis_settings.load_profile("yizhan")

REQUIRE_ALL = os.environ.get("YIZHAN_REQUIRE_ALL") == "1"
# No start-up warm-up thread in the apps and servers tests make (each would compute the
# coverage of its own little registry): tests/api/test_warm_start.py asks for it.
os.environ.setdefault("YIZHAN_WARM_START", "false")


def require_binary(name: str) -> str:
    """Return the path of program ``name``; skip (or fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        msg = f"needs the program {name!r}, which is not installed here"
        if REQUIRE_ALL:
            pytest.fail(msg + " (CI must install it)")
        pytest.skip(msg)
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--serial",
        choices=("all", "skip", "only"),
        default="all",
        help="tests marked serial (timed against a goal): run them too (all), leave them out "
        "(skip: the parallel pass of scripts/test.sh), or run only them (only: its second pass)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    choice = config.getoption("--serial")
    if choice == "all":
        return
    keep, drop = [], []
    for item in items:
        timed = item.get_closest_marker("serial") is not None
        (keep if timed == (choice == "only") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs_binary"):
        for name in marker.args:
            require_binary(name)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator:
    report = yield
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
    return report


@pytest.fixture(scope="session")
def districts() -> Districts:
    """Chongqing's 38 real district boundaries."""
    return chongqing_districts()


@pytest.fixture(scope="session")
def chromium_devtools() -> Iterator[str]:
    """Debian's Chromium, started once for the whole run: its DevTools URL."""
    from tests.browser import chromium_process

    pytest.importorskip("playwright.sync_api")
    with chromium_process(require_binary("chromium")) as url:
        yield url


@pytest.fixture(scope="module")
def browser(chromium_devtools: str) -> Iterator[object]:
    """Playwright attached to the session's Chromium.

    Per module, not per session: between calls, Playwright's sync API leaves its event
    loop marked as running in the main thread, which would break any later test that
    runs asyncio; the browser itself is started only once.
    """
    from tests.browser import connected

    with connected(chromium_devtools) as b:
        yield b


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "registry.sqlite3"


# -- one store contract, two backends ----------------------------------------------------

BACKENDS = ["sqlite", pytest.param("postgis", marks=pytest.mark.slow)]
PG_TEMPLATE = "yizhan_template"


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL + PostGIS server with a template database already at our schema."""
    import os

    import psycopg

    from stations.storage.postgis import PostGISStore
    from tests.pg import cluster, pg_bindir, postgis_installed

    if not os.environ.get("YIZHAN_TEST_POSTGRES_URL"):
        if pg_bindir() is None:
            require_binary("initdb")  # skips, or fails in CI
        if not postgis_installed():
            msg = "needs PostGIS (Debian package postgresql-15-postgis-3)"
            if REQUIRE_ALL:
                pytest.fail(msg + " (CI must install it)")
            pytest.skip(msg)
    with cluster() as c:
        with psycopg.connect(c.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {PG_TEMPLATE}")
            conn.execute(f"CREATE DATABASE {PG_TEMPLATE}")
        PostGISStore(c.url(PG_TEMPLATE)).close()
        yield c


@pytest.fixture(params=BACKENDS)
def store_url(request, tmp_path: Path) -> Iterator[str]:
    """A new, empty registry in each backend (a PostGIS one dropped after the test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    url = cluster.new_database(template=PG_TEMPLATE)
    yield url
    cluster.drop_database(url)


@pytest.fixture
def any_store(store_url: str):
    from stations.storage.open import open_store

    s = open_store(store_url)
    yield s
    s.close()
