"""The registry's schema, defined once: the tables both stores hold, in portable types.

A new database is created from this definition, in each engine's dialect (:func:`create_sql`);
the tables ``yizhan migrate`` copies between engines (:data:`TABLES`, :data:`COLUMNS`,
:data:`KEYS`) are read from it. The step-by-step migrations that bring an older database up
to :data:`VERSION` stay in sqlite.py and postgis.py (they are history); a test checks that
a database migrated from schema 1 has exactly the schema this definition creates.

Times and JSON are TEXT in both engines (ISO 8601, sorted keys), so both hold the same values.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from stations.domain.visits import OCCUPATION_COLUMNS, OCCUPATIONS

# The schema version this definition is: the number of historical migrations of each store.
VERSION = 12

Dialect = Literal["sqlite", "postgis"]

# Portable types -> each engine's. "id": a table's own key, assigned by the database;
# "ref": a reference to such an id (or a registry version): 64-bit where it matters.
_TYPES: dict[str, dict[Dialect, str]] = {
    "id": {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgis": "BIGSERIAL PRIMARY KEY"},
    "ref": {"sqlite": "INTEGER", "postgis": "BIGINT"},
    "int": {"sqlite": "INTEGER", "postgis": "INTEGER"},
    "real": {"sqlite": "REAL", "postgis": "DOUBLE PRECISION"},
    "text": {"sqlite": "TEXT", "postgis": "TEXT"},
    "blob": {"sqlite": "BLOB", "postgis": "BYTEA"},
}


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # a key of _TYPES
    null: bool = False
    default: str | None = None  # an SQL literal
    check: str | None = None
    references: str | None = None  # "table (column)", with any ON DELETE
    key: bool = False  # the table's one-column primary key

    def sql(self, dialect: Dialect) -> str:
        parts = [self.name, _TYPES[self.type][dialect]]
        if self.key and self.type != "id":
            parts.append("PRIMARY KEY")
        if not self.null and not self.key:
            parts.append("NOT NULL")
        if self.default is not None:
            parts.append(f"DEFAULT {self.default}")
        if self.check is not None:
            parts.append(f"CHECK ({self.check})")
        if self.references is not None:
            parts.append(f"REFERENCES {self.references}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None  # a partial index: both engines take CREATE INDEX … WHERE

    def sql(self, table: str) -> str:
        kind = "UNIQUE INDEX" if self.unique else "INDEX"
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE {kind} {self.name} ON {table} ({', '.join(self.columns)}){where}"


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()  # a key of several columns (one column: Column.key)
    unique: tuple[tuple[str, ...], ...] = ()
    indexes: tuple[Index, ...] = ()
    # Part of the registry, copied between engines by ``yizhan migrate``.
    copied: bool = True
    # Whose (lon, lat) the engine's spatial index covers (see _spatial_* below).
    spatial: bool = False
    column_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "column_names", tuple(c.name for c in self.columns))

    @property
    def key(self) -> tuple[str, ...]:
        return self.primary_key or tuple(c.name for c in self.columns if c.key or c.type == "id")


def _id() -> Column:
    return Column("id", "id", key=True)


_text = partial(Column, type="text")
_int = partial(Column, type="int")
_ref = partial(Column, type="ref")
_real = partial(Column, type="real")
_blob = partial(Column, type="blob")
_OCCUPATION_LIST = ", ".join(f"'{o}'" for o in OCCUPATIONS)


# In an order that satisfies the references (creation, and import between engines); the
# columns of each in the order the migrations leave them (added columns last).
SCHEMA: tuple[Table, ...] = (
    Table(
        "uploads",
        (
            _text("id", key=True),
            _text("actor"),
            _text("owner", null=True),
            _text("filename"),
            _text("crs"),
            _int("full_list"),
            _text("created_at"),
            _ref("base_version"),
            _int("planned", default="0"),
            _text("counts", default="'{}'"),
            _text("unknown_columns", default="'[]'"),
            _text("columns", default="'{}'"),
            # How the file was read, for the report (header row found below a title, total
            # rows left out, a one-column position read as lon,lat…): Chinese lines (schema 7).
            _text("notes", default="'[]'"),
        ),
    ),
    Table(
        "batches",
        (
            _id(),
            _text("actor"),
            _text("at"),
            _text("kind"),
            _text("note", default="''"),
            _int("changes"),
            _text("upload_id", null=True, references="uploads (id)"),
        ),
        indexes=(Index("batches_upload", ("upload_id", "kind")),),
    ),
    Table(
        "stations",
        (
            _id(),
            _text("owner"),
            _text("external_id"),
            _text("district_adcode"),
            _text("status"),
            _int("self_service_24h"),
            _real("lon"),
            _real("lat"),
            _int("version"),
            _text("updated_at"),
            _text("doc"),
            # The public code (stations.domain.codes), from station_codes (schema 8).
            _text("code", null=True),
        ),
        unique=(("owner", "external_id"),),
        indexes=(
            Index("stations_district", ("district_adcode",)),
            # GET /v1/stations?updated_since= (schema 10).
            Index("stations_updated", ("updated_at",)),
        ),
        spatial=True,
    ),
    Table(
        "audit",
        (
            _id(),
            _ref("station_id"),
            _ref("batch_id", references="batches (id)"),
            _text("actor"),
            _text("at"),
            _text("action", check="action IN ('create', 'update', 'delete')"),
            _text("before", null=True),
            _text("after", null=True),
        ),
        indexes=(Index("audit_station", ("station_id",)), Index("audit_batch", ("batch_id",))),
    ),
    Table(
        "tokens",
        (
            _text("id", key=True),
            _text("name"),
            _text("role", check="role IN ('admin', 'district', 'industry')"),
            _text("code", null=True),
            _text("secret_sha256"),
            _text("created_at"),
            _text("revoked_at", null=True),
        ),
    ),
    # A plan's rows, a chunk of them (CHUNK_ROWS, as planned) per row (schema 12; one row per
    # upload row before): `seq` is its first row's, `first_row`/`last_row` the range of the
    # file's row numbers it holds, `n_<action>` how many rows of each action, `packed` the
    # rows themselves (orjson: stations.storage.uploads_repo), `added_warnings` the warnings
    # found once every row was planned (row number -> its warnings), kept apart so that
    # adding them rewrites no chunk. A report's page reads one or two chunks; a 100,000-row
    # plan is stored in a hundred writes, not 100,000.
    Table(
        "upload_rows",
        (
            _text("upload_id", references="uploads (id)"),
            _int("seq"),
            _int("first_row", null=True),
            _int("last_row", null=True),
            _int("n_create", default="0"),
            _int("n_update", default="0"),
            _int("n_close", default="0"),
            _int("n_unchanged", default="0"),
            _int("n_rejected", default="0"),
            _blob("packed"),
            _text("added_warnings", default="'{}'"),
        ),
        primary_key=("upload_id", "seq"),
    ),
    Table(
        "demand_layers",
        (
            _text("name", key=True),
            _int("sample", default="0"),
            _text("updated_at"),
            _text("actor"),
            _text("source", default="'{}'"),
            # The city union's for layers made before layers had owners (schema 6).
            _text("owner", default="'city'"),
        ),
    ),
    Table(
        "demand_points",
        (
            _text("layer", references="demand_layers (name) ON DELETE CASCADE"),
            _int("seq"),
            _real("lon"),
            _real("lat"),
            _real("weight", check="weight >= 0"),
            _text("label", default="''"),
        ),
        primary_key=("layer", "seq"),
    ),
    # Riders' reports. `owner` is the station's owner when reported, used only once the
    # station is gone; `client_hash` a keyed hash of the reporter's address (never the
    # address), for the rate limits.
    Table(
        "feedback",
        (
            _id(),
            _ref("station_id"),
            _text("owner"),
            _text(
                "kind",
                check="kind IN ('closed_during_hours', 'locked', 'facility_broken', 'other')",
            ),
            _text("note", default="''"),
            _text("created_at"),
            _text("client_hash"),
            _text("resolved_at", null=True),
            _text("resolved_by", null=True),
            _text("resolution_note", default="''"),
        ),
        indexes=(
            Index("feedback_station", ("station_id", "created_at")),
            Index("feedback_client", ("client_hash", "created_at")),
            Index("feedback_owner", ("owner", "created_at")),
        ),
    ),
    # People who sign in to the console (schema 7): each belongs to one union, like a token
    # (role, code). Only an Argon2 hash of the password is kept, never the password.
    Table(
        "accounts",
        (
            _id(),
            _text("username"),
            _text("name"),
            _text("role", check="role IN ('admin', 'district', 'industry')"),
            _text("code", null=True),
            _text("password_hash"),
            _text("created_at"),
            _text("password_changed_at"),
            _text("disabled_at", null=True),
        ),
        unique=(("username",),),
    ),
    # Console sessions, so that any worker on any machine serves them: the SHA-256 of the
    # cookie's secret (never the secret), its CSRF token, when it ends. Not copied by
    # `yizhan migrate`: people sign in again.
    Table(
        "sessions",
        (
            _text("id_sha256", key=True),
            _ref("account_id", references="accounts (id)"),
            _text("csrf"),
            _text("created_at"),
            _text("expires_at"),
            _text("last_seen_at"),
            _text("ended_at", null=True),
        ),
        indexes=(Index("sessions_account", ("account_id",)),),
        copied=False,
    ),
    # -- Station operations (schema 8): codes, check-ins, ratings, cases, spot checks, stars
    #
    # Every code ever given, kept when its station is deleted so that it is never reused
    # (and /s/{code} of a deleted station can say so).
    Table(
        "station_codes",
        (_text("code", key=True), _ref("station_id"), _text("created_at")),
        unique=(("station_id",),),
    ),
    # Raw check-ins, kept for `visit_keep_hours` only (de-duplication and rate limits); the
    # figures read visit_counts. `client_hash` a keyed hash of the address, never the address.
    Table(
        "visits",
        (
            _id(),
            _ref("station_id"),
            _text("client_hash"),
            _text("occupation", check=f"occupation IN ({_OCCUPATION_LIST})"),
            _text("at"),
            _int("via_poster", default="0"),
        ),
        indexes=(
            Index("visits_station_client", ("station_id", "client_hash", "at")),
            Index("visits_client", ("client_hash", "at")),
            Index("visits_station", ("station_id", "at")),
            Index("visits_at", ("at",)),
        ),
        copied=False,
    ),
    # Check-ins per station and Shanghai hour, with the district the station was in then.
    Table(
        "visit_counts",
        (
            _ref("station_id"),
            _text("district_adcode"),
            _text("day"),  # YYYY-MM-DD, Asia/Shanghai
            _int("hour", check="hour BETWEEN 0 AND 23"),
            _int("n", default="0"),
            *(_int(column, default="0") for column in OCCUPATION_COLUMNS.values()),
        ),
        primary_key=("station_id", "day", "hour"),
        indexes=(
            Index("visit_counts_district", ("district_adcode", "day")),
            Index("visit_counts_day", ("day",)),
        ),
    ),
    # Riders' ratings: one per station and client (a second replaces the first); the
    # client's hash is cleared once the de-duplication window has passed.
    Table(
        "ratings",
        (
            _id(),
            _ref("station_id"),
            _text("owner"),
            _int("stars", check="stars BETWEEN 1 AND 5"),
            _text("comment", default="''"),
            _text("client_hash", null=True),
            _text("created_at"),
            _text("updated_at"),
            _ref("case_id", null=True),
        ),
        unique=(("station_id", "client_hash"),),  # NULLs are distinct in both engines
        indexes=(
            Index("ratings_station", ("station_id", "created_at")),
            Index("ratings_client", ("client_hash", "created_at")),
        ),
    ),
    # Cases of the owning union: a rider's report, or a low rating with a comment; the
    # reporter follows one by its receipt (only the receipt's SHA-256 is kept).
    Table(
        "cases",
        (
            _id(),
            _ref("station_id"),
            _text("owner"),
            _text("district_adcode"),
            _text("source", check="source IN ('report', 'rating')"),
            _text("kind"),
            _ref("feedback_id", null=True, references="feedback (id)"),
            _ref("rating_id", null=True, references="ratings (id)"),
            _text("state", check="state IN ('open', 'in_progress', 'resolved', 'confirmed')"),
            _text("opened_at"),
            _text("due_at"),
            _text("state_at"),
            _text("resolved_at", null=True),
            _text("confirmed_at", null=True),
            _text("reply", default="''"),
            _text("replied_at", null=True),
            _text("replied_by", null=True),
            _int("reopened", default="0"),
            _text("receipt_sha256", null=True),
            _int("version", default="1"),
        ),
        unique=(("feedback_id",), ("rating_id",), ("receipt_sha256",)),
        indexes=(
            Index("cases_owner", ("owner", "state", "due_at")),
            Index("cases_district", ("district_adcode", "state", "due_at")),
            Index("cases_station", ("station_id", "opened_at")),
        ),
    ),
    Table(
        "case_events",
        (
            _id(),
            _ref("case_id", references="cases (id)"),
            _text("at"),
            _text("actor"),  # "reporter", "system" or the union's actor
            _text("from_state", null=True),
            _text("to_state"),
            _text("note", default="''"),
        ),
        indexes=(Index("case_events_case", ("case_id", "at")),),
    ),
    # Spot checks (抽查暗访): the checklist's results as JSON (item code -> passed).
    Table(
        "inspections",
        (
            _id(),
            _ref("station_id"),
            _text("owner"),
            _text("district_adcode"),
            _text("inspected_at"),
            _text("recorded_at"),
            _text("actor"),
            _int("announced"),
            _text("results"),
            _text("checklist_version"),
            _int("station_version"),
            _text("note", default="''"),
        ),
        indexes=(
            Index("inspections_station", ("station_id", "inspected_at")),
            Index("inspections_district", ("district_adcode", "inspected_at")),
        ),
    ),
    # Its photos, re-encoded without metadata, in the database so that every worker serves
    # them; a thumbnail each for lists.
    Table(
        "inspection_photos",
        (
            _ref("inspection_id", references="inspections (id)"),
            _int("seq"),
            _text("content_type"),
            _int("width"),
            _int("height"),
            _text("sha256"),
            _blob("data"),
            _blob("thumb"),
        ),
        primary_key=("inspection_id", "seq"),
    ),
    # Each failed item of a check, open until a later check passes it; at most one open per
    # station and item.
    Table(
        "rectifications",
        (
            _id(),
            _ref("station_id"),
            _text("district_adcode"),
            _ref("inspection_id", references="inspections (id)"),
            _text("item_code"),
            _text("item_label"),
            _text("opened_at"),
            _text("due_at"),
            _text("closed_at", null=True),
            _ref("closed_by", null=True, references="inspections (id)"),
            _int("failed_again", default="0"),
        ),
        indexes=(
            Index(
                "rectifications_open",
                ("station_id", "item_code"),
                unique=True,
                where="closed_at IS NULL",
            ),
            Index("rectifications_station", ("station_id", "opened_at")),
            Index("rectifications_due", ("district_adcode", "closed_at", "due_at")),
        ),
    ),
    # Star ratings as computed (stations.domain.stars): each computation's stars, score and
    # Chinese reasons (JSON), kept so that a union sees how its stars changed.
    Table(
        "star_ratings",
        (
            _ref("station_id"),
            _text("computed_at"),
            _text("district_adcode"),
            _int("stars", check="stars BETWEEN 1 AND 5"),
            _real("score"),
            _text("reasons", default="'[]'"),
            _text("rules_version"),
        ),
        primary_key=("station_id", "computed_at"),
        indexes=(Index("star_ratings_at", ("computed_at",)),),
    ),
    # Street networks for routing by travel (issue 17, schema 9): one row per profile (walk,
    # ebike), imported from an OpenStreetMap extract (stations.services.network); `arrays` is
    # the network as one uncompressed npz (geodata.network.Network.to_npz), read whole by every
    # worker; `version` changes on every import so that workers reload. Listings never select
    # `arrays`.
    Table(
        "networks",
        (
            _text("profile", key=True, check="profile IN ('walk', 'ebike')"),
            _ref("version"),
            _text("source_name"),
            _text("source_sha256"),
            _text("imported_at"),
            _text("imported_by"),
            _int("nodes"),
            _int("edges"),
            _int("ways"),
            _real("min_lon"),
            _real("min_lat"),
            _real("max_lon"),
            _real("max_lat"),
            _text("speeds", default="'{}'"),
            _text("stats", default="'{}'"),
            _int("format"),
            _blob("arrays"),
        ),
    ),
    # Events at the stations (issue 19, schema 11; stations.domain.events): one row per event
    # of a union, its stations as a JSON list of ids and its recurrence as JSON; `last_day` the
    # date its last occurrence starts, so that a listing skips the events that are over.
    Table(
        "events",
        (
            _id(),
            _text("owner"),
            _text("title"),
            _text("kind"),
            _text("station_ids", default="'[]'"),
            _text("starts_at"),
            _text("ends_at"),
            _text("last_day"),
            _text("recurrence", default="'{}'"),
            _text("offer", default="''"),
            _text("audience", default="''"),
            _int("while_supplies_last", default="0"),
            _int("version", default="1"),
            _text("created_at"),
            _text("created_by"),
            _text("updated_at"),
            _text("updated_by"),
        ),
        indexes=(
            Index("events_owner", ("owner", "starts_at")),
            Index("events_last_day", ("last_day",)),
        ),
    ),
    # Every change of an event: who, when, what it was before and after (JSON; null for a
    # create's before and a delete's after). Its largest id is the events' version, which
    # every worker compares to know when its in-memory calendar is stale.
    Table(
        "event_audit",
        (
            _id(),
            _ref("event_id"),
            _text("action", check="action IN ('create', 'update', 'delete')"),
            _text("actor"),
            _text("at"),
            _text("before", null=True),
            _text("after", null=True),
        ),
        indexes=(Index("event_audit_event", ("event_id", "id")),),
    ),
    # The registry's settings: its feedback salt, and the change feed's epoch and floor
    # (see initial_rows).
    Table("meta", (_text("key", key=True), _text("value"))),
    # Failed authentications, for a rate limit every process of every machine shares: a
    # keyed hash of the client's address and the database's time in seconds since 1970,
    # kept for one window. (PostgreSQL: not UNLOGGED, a read replica's workers read it.)
    Table(
        "auth_failures",
        (_text("client_hash"), _real("at")),
        indexes=(
            Index("auth_failures_client", ("client_hash", "at")),
            Index("auth_failures_at", ("at",)),
        ),
        copied=False,
    ),
    # The per-node nearest-station lists of a network (geodata.routing), a cache built for one
    # network version and one set of station positions (`stations_key`, a hash of them): a
    # worker starting loads them instead of building them; rebuilt, not copied.
    Table(
        "network_station_lists",
        (
            _text("profile", key=True),
            _ref("network_version"),
            _text("stations_key"),
            _text("built_at"),
            _blob("arrays"),
        ),
        copied=False,
    ),
    # The 上图 history: one row per day with changes and precise-listing threshold (its net
    # change that day), kept by every write once a threshold has been asked for; `rules` is
    # the version of what counts (stations.domain.figures.MAPPED_COUNTS_RULES) it was built
    # with. Rebuilt from the audit trail, so not copied.
    Table(
        "mapped_history_thresholds",
        (_real("threshold_m", key=True), _int("rules")),
        copied=False,
    ),
    Table(
        "mapped_history",
        (
            _real("threshold_m"),
            _text("day"),
            _int("active"),
            _int("listed_all"),
            _int("precise_all"),
        ),
        primary_key=("threshold_m", "day"),
        copied=False,
    ),
)
BY_NAME: dict[str, Table] = {t.name: t for t in SCHEMA}

# What `yizhan migrate` copies (not auth_failures: a minute's notes for a rate limit; not
# the 上图 history: rebuilt from the audit trail), in an order that satisfies references.
TABLES: tuple[str, ...] = tuple(t.name for t in SCHEMA if t.copied)
COLUMNS: dict[str, tuple[str, ...]] = {t.name: t.column_names for t in SCHEMA if t.copied}
KEYS: dict[str, tuple[str, ...]] = {t.name: t.key for t in SCHEMA if t.copied}


# -- the spatial index, each engine's own -------------------------------------------------


def _spatial_columns(dialect: Dialect) -> list[str]:
    """Columns kept after ``lat`` for the spatial index."""
    if dialect == "postgis":  # for bounding boxes and PostGIS's own KNN (geog <-> point)
        return [
            "geog geography(Point, 4326)\n"
            "        GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)::geography)"
            " STORED"
        ]
    return []


def _spatial_statements(table: Table, dialect: Dialect) -> list[str]:
    """The spatial index itself, made after the table."""
    if dialect == "postgis":
        return [f"CREATE INDEX {table.name}_geog ON {table.name} USING gist (geog)"]
    # An R*Tree kept beside the table (stations ids), by the store's _index_point hooks.
    return [
        "CREATE VIRTUAL TABLE station_rtree USING rtree (id, min_lon, max_lon, min_lat, max_lat)"
    ]


_PREAMBLE: dict[Dialect, list[str]] = {
    "sqlite": [],
    "postgis": ["CREATE EXTENSION IF NOT EXISTS postgis"],
}


def table_sql(table: Table, dialect: Dialect) -> str:
    """``CREATE TABLE`` for ``table`` in ``dialect``."""
    lines: list[str] = []
    for column in table.columns:
        lines.append(column.sql(dialect))
        if table.spatial and column.name == "lat":
            lines.extend(_spatial_columns(dialect))
    if table.primary_key:
        lines.append(f"PRIMARY KEY ({', '.join(table.primary_key)})")
    lines.extend(f"UNIQUE ({', '.join(u)})" for u in table.unique)
    body = ",\n    ".join(lines)
    return f"CREATE TABLE {table.name} (\n    {body}\n)"


def create_sql(dialect: Dialect) -> list[str]:
    """The statements that create the schema of :data:`VERSION` in an empty database."""
    statements = list(_PREAMBLE[dialect])
    for table in SCHEMA:
        statements.append(table_sql(table, dialect))
        statements.extend(i.sql(table.name) for i in table.indexes)
        if table.spatial:
            statements.extend(_spatial_statements(table, dialect))
    return statements


def feed_rows() -> list[tuple[str, tuple[str, ...]]]:
    """The change feed's meta rows (schema 10), as (statement, parameters): ``feed_epoch``, a
    random name of this registry's audit ids (every cursor carries it; copied by ``yizhan
    migrate`` with the ids), and ``feed_floor``, the lowest audit id a cursor may be at (0:
    the whole trail is kept). Rows already there are kept.

    A migration that changes what a station's record looks like must write audit rows for it
    or give the registry a new ``feed_epoch`` (mirrors then re-sync from the export)."""
    insert = "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
    return [(insert, ("feed_epoch", secrets.token_hex(8))), (insert, ("feed_floor", "0"))]


def initial_rows() -> list[tuple[str, tuple[str, ...]]]:
    """The rows a new registry starts with, as (statement, parameters): its feedback salt,
    a random secret made once per registry, the key of clients' address hashes; and the
    change feed's meta rows (:func:`feed_rows`)."""
    return [
        ("INSERT INTO meta (key, value) VALUES (?, ?)", ("feedback_salt", secrets.token_hex(32))),
        *feed_rows(),
    ]


def create(execute: Callable[..., object], dialect: Dialect) -> None:
    """Create the schema and its initial rows with ``execute(sql[, params])`` (? placeholders),
    inside the caller's transaction."""
    for statement in create_sql(dialect):
        execute(statement)
    for statement, params in initial_rows():
        execute(statement, params)
