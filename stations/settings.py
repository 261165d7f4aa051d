"""Settings from ``YIZHAN_*`` environment variables, defaulting to an embedded SQLite file."""

from __future__ import annotations

import ipaddress
from functools import cache
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stations.open import redact
from stations.store import Timeouts

DEFAULT_DATABASE_URL = "sqlite:///data/yizhan.sqlite3"
_DEFAULT_TIMEOUTS = Timeouts()


class Settings(BaseSettings):
    """Everything configurable; nothing needs setting to start on the embedded store."""

    model_config = SettingsConfigDict(env_prefix="YIZHAN_", extra="ignore")

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///relative/path, sqlite:////absolute/path, or postgresql://…",
    )
    host: str = Field(default="127.0.0.1", description="address the HTTP server binds to")
    port: int = Field(default=8000, ge=1, le=65535)
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        # uvicorn's own name too, which deployments set before yizhan had this setting.
        validation_alias=AliasChoices(
            "YIZHAN_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS", "forwarded_allow_ips"
        ),
        description=(
            "the reverse proxies (addresses or networks, comma separated; * for any) whose "
            "X-Forwarded-For and X-Forwarded-Proto are believed: a request through one counts "
            "as the client's address it names (rate limits, logs). Any other client's headers "
            "are ignored, so it cannot pose as another address. Empty: believe none"
        ),
    )
    districts_source: Path | None = Field(
        default=None, description="a boundary file to use instead of Chongqing's 38 districts"
    )
    precise_threshold_m: float = Field(
        default=50.0,
        gt=0,
        le=5000,
        description="a listing within this many metres is precise (精准上图)",
    )
    demo_seed: int = 20241
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="larger uploads are refused unread"
    )
    auth_failures_per_minute: int = Field(default=10, ge=1)
    auth_failure_clients_max: int = Field(
        default=20_000,
        ge=100,
        description=(
            "clients whose failed authentications one worker remembers at most (0.25-1 kB "
            "each); beyond it the longest quiet is forgotten first"
        ),
    )
    feedback_per_client_per_hour: int = Field(
        default=10, ge=1, description="riders' reports taken from one address per hour"
    )
    feedback_per_station_per_hour: int = Field(
        default=30, ge=1, description="riders' reports taken about one station per hour"
    )
    feedback_warning_days: int = Field(
        default=7, ge=1, le=365, description="unresolved reports this recent warn riders"
    )
    tile_url: str = Field(
        default="https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="the rider page's map tiles (WGS-84 / Web Mercator, like OpenStreetMap)",
    )
    tile_attribution: str = Field(
        default="地图数据 © OpenStreetMap 贡献者", description="credit shown under the map"
    )
    targets_file: Path | None = Field(
        default=None, description="TOML file of per-district 上图 and coverage targets"
    )

    nearest_memo_stations: int = Field(
        default=250_000,
        ge=0,
        description=(
            "per worker, how many stations keep their serialised nearest result (about 1.6 KB "
            "each: 320 MB for 200,000 stations); at least the registry's size is fastest"
        ),
    )
    index_check_s: float | None = Field(
        default=None,
        ge=0,
        le=5,
        description=(
            "how often a worker asks the database whether the registry changed: 0 = on every "
            "request (the default for SQLite, a local read); 0.25 s by default for PostgreSQL, "
            "asked by a thread beside the requests. A write is seen by every worker within "
            "this plus the index update (~0.1 s at 200,000 stations); when the database has "
            "not answered for 4 times this (at least 1 s), requests get 503"
        ),
    )

    statement_timeout_s: float = Field(
        default=_DEFAULT_TIMEOUTS.read_s,
        ge=0,
        le=3600,
        description=(
            "PostgreSQL: the longest one query made for a request may run before the database "
            "cancels it and the client gets 504 /problems/database_timeout (0 = no limit). "
            "Below the reverse proxy's own timeout (nginx: 60 s), so the client hears why"
        ),
    )
    lock_timeout_s: float = Field(
        default=_DEFAULT_TIMEOUTS.lock_s,
        ge=0,
        le=3600,
        description=(
            "PostgreSQL: the longest a request's query waits for a lock (a migration, an "
            "operator's LOCK TABLE or VACUUM FULL) before it is cancelled (0 = no limit)"
        ),
    )
    write_timeout_s: float = Field(
        default=_DEFAULT_TIMEOUTS.write_s,
        ge=0,
        le=86400,
        description=(
            "PostgreSQL: the longest one statement of a write or a schema migration may run, "
            "and a writer may wait for its turn behind others (a 100,000-row upload's commit "
            "holds the turn for about 45 s here); also the limit of bulk reads (the read "
            "index loading or catching up) and of every command-line query (0 = no limit)"
        ),
    )

    @property
    def timeouts(self) -> Timeouts:
        """The database's time limits for the server; ``.for_batch_jobs()`` for the CLI."""
        return Timeouts(
            read_s=self.statement_timeout_s,
            lock_s=self.lock_timeout_s,
            write_s=self.write_timeout_s,
        )

    @property
    def index_check_interval_s(self) -> float:
        if self.index_check_s is not None:
            return self.index_check_s
        return 0.0 if self.database_url.startswith("sqlite") else 0.25

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgres://")):
            msg = (
                f"YIZHAN_DATABASE_URL {redact(value)!r} is not understood: use "
                "sqlite:///path/to/file or postgresql://user@host/db"
            )
            raise ValueError(msg)
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: str) -> str:
        # Normalised as uvicorn needs them: it takes "*" only alone, and a network only
        # without host bits (anything it cannot read it compares as text, never matching).
        items = [item.strip() for item in value.split(",") if item.strip()]
        if "*" in items:
            return "*"
        out = []
        for item in items:
            try:
                if "/" in item:
                    out.append(str(ipaddress.ip_network(item, strict=False)))
                else:
                    out.append(str(ipaddress.ip_address(item)))
            except ValueError:
                msg = (
                    f"YIZHAN_FORWARDED_ALLOW_IPS: {item!r} is not an address or a network; write "
                    "e.g. 10.0.0.5 or 10.0.0.5,10.0.1.0/24 (commas between), * for any, or "
                    "nothing to believe no proxy"
                )
                raise ValueError(msg) from None
        return ",".join(out)

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, value: str) -> str:
        if not value.startswith(("https://", "http://", "/")) or "{z}" not in value:
            msg = (
                f"YIZHAN_TILE_URL {value!r} is not a tile URL template: write e.g. "
                "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
            )
            raise ValueError(msg)
        return value

    @field_validator("districts_source", "targets_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            msg = f"YIZHAN_DISTRICTS_SOURCE {value} does not exist"
            raise ValueError(msg)
        return value


@cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
