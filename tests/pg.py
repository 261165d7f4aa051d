"""A throwaway PostgreSQL + PostGIS cluster for the tests, or one given by URL.

``YIZHAN_TEST_POSTGRES_URL`` names an existing server (a database we may create databases
in). Otherwise the Debian binaries start a cluster in a temporary folder on a free
127.0.0.1 port, as the ``postgres`` user (initdb refuses root), torn down at the end.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg


def pg_bindir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def postgis_installed() -> bool:
    return bool(glob.glob("/usr/share/postgresql/*/extension/postgis.control"))


@dataclass
class Cluster:
    """A running server: ``admin_url`` connects to its postgres database."""

    admin_url: str
    datadir: Path | None = None
    bindir: Path | None = None
    port: int = 0

    def url(self, database: str) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{database}"

    def new_database(self, *, template: str | None = None) -> str:
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            extra = f" TEMPLATE {template}" if template else ""
            conn.execute(f"CREATE DATABASE {name}{extra}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database new_database made (its sessions ended first), so that a long run
        does not leave hundreds behind: a replica's base backup copies them all."""
        name = url.rpartition("/")[2]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _ctl(self, *args: str) -> None:
        assert self.datadir is not None
        _as_postgres(self._bin("pg_ctl"), "-D", str(self.datadir), "-w", "-t", "30", *args)

    def _bin(self, name: str) -> str:
        assert self.bindir is not None
        return str(self.bindir / name)

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def start(self) -> None:
        assert self.datadir is not None
        self._ctl(
            "start",
            "-l",
            str(self.datadir / "server.log"),
            "-o",
            f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1",
        )

    @contextmanager
    def replica(self) -> Iterator[Cluster]:
        """A hot standby of this cluster (streaming replication), as a read replica is."""
        assert self.datadir is not None
        datadir = self.datadir.parent / f"replica-{uuid.uuid4().hex[:8]}"
        _as_postgres(
            self._bin("pg_basebackup"),
            "-D",
            str(datadir),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-X",
            "stream",
            "--checkpoint=fast",  # not spread over minutes
            "-R",  # standby.signal + primary_conninfo: start as a standby of this one
        )
        port = _free_port()
        standby = Cluster(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir, self.bindir, port
        )
        standby.start()
        try:
            yield standby
        finally:
            try:
                standby.stop()
            finally:
                shutil.rmtree(datadir, ignore_errors=True)


def _as_postgres(*command: str) -> None:
    # The server's programs refuse to run as root.
    subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def cluster() -> Iterator[Cluster]:
    given = os.environ.get("YIZHAN_TEST_POSTGRES_URL")
    if given:
        yield Cluster(given)
        return
    bindir = pg_bindir()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="yizhan-pg-"))
    datadir = root / "data"
    datadir.mkdir()
    shutil.chown(root, "postgres")
    shutil.chown(datadir, "postgres")
    os.chmod(datadir, 0o700)
    _as_postgres(
        str(bindir / "initdb"),
        "-D",
        str(datadir),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
    )
    port = _free_port()
    c = Cluster(f"postgresql://postgres@127.0.0.1:{port}/postgres", datadir, bindir, port)
    # Small and fast: a test cluster needs no durability.
    with (datadir / "postgresql.conf").open("a") as conf:
        conf.write(
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "max_connections = 200\nshared_buffers = 64MB\n"
        )
    c.start()
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(c.admin_url).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield c
    finally:
        try:
            c.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
