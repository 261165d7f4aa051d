"""The storage interface every backend implements: one per aggregate, Store their union."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from stations.domain.accounts import Account, Session
from stations.domain.auth import TokenRecord
from stations.domain.cases import Case, CaseNotFoundError, CaseQuery, CaseState, NewCase
from stations.domain.changes import (
    AuditEntry,
    Batch,
    Change,
    Create,
    Delete,
    Page,
    StationQuery,
    Update,
    WriteResult,
)
from stations.domain.demand import DemandLayer
from stations.domain.errors import StationNotFoundError
from stations.domain.events import Event, EventNotFoundError, EventSpec
from stations.domain.feed import FeedMeta, FeedPage
from stations.domain.feedback import (
    Feedback,
    FeedbackNotFoundError,
    FeedbackQuery,
    NewFeedback,
    RateLimit,
)
from stations.domain.inspections import (
    Inspection,
    InspectionQuery,
    NewInspection,
    Photo,
    Rectification,
)
from stations.domain.model import Owner, Station
from stations.domain.ratings import NewRating, Rating
from stations.domain.stars import DistrictOps, StarRating, StationOps, StationYear
from stations.domain.travel import NetworkInfo, Travel
from stations.domain.uploads import PlannedCreate, Upload, UploadNotFoundError, UploadRow
from stations.domain.visits import NewVisit, UsageBucket, UsageQuery


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long the database may work on one statement before it cancels it (0 = no limit).

    ``read_s`` bounds a query made for a request, ``lock_s`` how long such a query waits
    for a lock; ``write_s`` bounds each statement of a write transaction (a writer's wait
    for its turn included) and of a schema migration, and bulk reads: the read index
    loading the registry or catching up after a big write.
    """

    read_s: float = 30.0
    lock_s: float = 10.0
    write_s: float = 600.0

    def for_batch_jobs(self) -> Timeouts:
        """The command line's: every statement may take as long as a write."""
        return Timeouts(read_s=self.write_s, lock_s=self.write_s, write_s=self.write_s)


class StationStore(ABC):
    """The stations, written in batches with an audit trail: ``get`` raises, ``find`` may
    return None."""

    def watch_writes(self, listener: Callable[[int], None]) -> None:
        """Have ``listener(batch_id)`` called after each committed change of stations, in
        the writing thread before the write returns: a worker's read index then has the
        write in it before the worker answers the request that made it."""
        self.__dict__.setdefault("_write_listeners", []).append(listener)

    def unwatch_writes(self, listener: Callable[[int], None]) -> None:
        """Stop calling ``listener`` (see :meth:`watch_writes`)."""
        listeners = self.__dict__.get("_write_listeners", [])
        if listener in listeners:
            listeners.remove(listener)

    def _written(self, batch_id: int) -> None:
        for listener in self.__dict__.get("_write_listeners", ()):
            listener(batch_id)

    @abstractmethod
    def find(self, station_id: int) -> Station | None: ...

    def get(self, station_id: int) -> Station:
        station = self.find(station_id)
        if station is None:
            raise StationNotFoundError(station_id)
        return station

    @abstractmethod
    def find_by_external_id(self, owner: Owner, external_id: str) -> Station | None: ...

    @abstractmethod
    def find_by_external_ids(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], Station]:
        """The stations of these (owner, external id) keys that exist (a chunk of an
        upload's rows at once)."""

    @abstractmethod
    def query(self, q: StationQuery, *, limit: int | None = None, offset: int = 0) -> Page: ...

    @abstractmethod
    def iter_all(self) -> Iterator[Station]:
        """Every station, ordered by id."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def data_version(self) -> int:
        """The id of the last committed batch: grows with every write (0 when none)."""

    @abstractmethod
    def changes_since(self, version: int) -> dict[int, Station | None]:
        """Each station changed by batches after ``version``: its state now, None if deleted."""

    @abstractmethod
    def apply(
        self,
        changes: Iterable[Change],
        *,
        actor: str,
        kind: str = "api",
        note: str = "",
        upload_id: str | None = None,
    ) -> WriteResult:
        """Apply ``changes`` in one transaction: all of them land, or none does.

        With ``upload_id``, a batch of kind ``upload`` is refused if that upload was
        committed already, and one of kind ``revert`` unless it was committed and not
        reverted (UploadStateError), checked inside the same transaction.
        """

    @abstractmethod
    def audit(
        self, *, station_id: int | None = None, batch_id: int | None = None
    ) -> list[AuditEntry]: ...

    @abstractmethod
    def batches(self, *, limit: int = 100) -> list[Batch]: ...

    @abstractmethod
    def mapped_history_days(self, *, threshold_m: float) -> list[tuple[str, int, int, int]]:
        """Per day with changes (Asia/Shanghai, ``YYYY-MM-DD``), in order, the net change
        that day of (active stations, those listed with the keyword on all three providers,
        those listed precisely within ``threshold_m``), as stations.domain.figures counts them.

        Kept in the database as each write lands (built once from the audit trail the
        first time a threshold is asked for): reading it costs one row per day."""

    # -- conveniences ----------------------------------------------------------------------

    def create(self, station: Station, *, actor: str) -> Station:
        return self.get(self.apply([Create(station)], actor=actor).ids[0])

    def update(self, station: Station, *, expected_version: int, actor: str) -> Station:
        return self.get(self.apply([Update(station, expected_version)], actor=actor).ids[0])

    def delete(self, station_id: int, *, expected_version: int | None, actor: str) -> None:
        self.apply([Delete(station_id, expected_version)], actor=actor)


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """The registry as one snapshot saw it: the feed's meta, the cursor of its last audit
    row (id and check), how many stations, and every station by id (read as iterated)."""

    meta: FeedMeta
    head_id: int
    head_check: str
    count: int
    stations: Iterator[Station]


class FeedStore(ABC):
    """The change feed for mirrors (stations.domain.feed): the audit trail read by id."""

    @abstractmethod
    def feed_meta(self) -> FeedMeta:
        """The feed's epoch and floor (meta rows, schema 10)."""

    @abstractmethod
    def feed_row_check(self, audit_id: int) -> str | None:
        """The check of audit row ``audit_id`` (stations.domain.feed.row_check); None when
        there is no such row; the start of the trail's for 0."""

    @abstractmethod
    def changes_page(self, since_id: int, limit: int) -> FeedPage:
        """At most ``limit`` audit rows after ``since_id``, by id, and the head seen."""

    @abstractmethod
    def head_cursor(self) -> tuple[int, str]:
        """The last audit row's id and check ((0, "0") for an empty trail)."""

    @abstractmethod
    def export_snapshot(self) -> AbstractContextManager[FeedSnapshot]:
        """Every station and the cursor of exactly that state, from one snapshot held until
        the context ends (stations read a page at a time as they are iterated)."""


class TokenStore(ABC):
    """The API tokens (their hashes, never the secrets)."""

    @abstractmethod
    def save_token(self, record: TokenRecord) -> None: ...

    @abstractmethod
    def find_token(self, token_id: str) -> TokenRecord | None: ...

    @abstractmethod
    def list_tokens(self) -> list[TokenRecord]: ...

    @abstractmethod
    def revoke_token(self, token_id: str, at: datetime) -> bool:
        """Revoke a token; False if there is no such token."""


class AccountStore(ABC):
    """The console's accounts (Argon2 hashes) and sessions (digests of their secrets)."""

    @abstractmethod
    def add_account(self, account: Account) -> Account:
        """Store a new account (AccountExistsError for a username taken); return it stored."""

    @abstractmethod
    def get_account(self, account_id: int) -> Account: ...

    @abstractmethod
    def find_account(self, username: str) -> Account | None: ...

    @abstractmethod
    def list_accounts(self) -> list[Account]: ...

    @abstractmethod
    def save_account_state(self, account: Account, *, end_sessions_at: datetime | None) -> None:
        """Store an account's password hash and disabled time (and end its sessions)."""

    @abstractmethod
    def add_session(self, session: Session, *, purge_before: datetime) -> None: ...

    @abstractmethod
    def find_session(self, id_sha256: str) -> tuple[Session, Account] | None: ...

    @abstractmethod
    def touch_session(self, id_sha256: str, *, seen_at: datetime, expires_at: datetime) -> None: ...

    @abstractmethod
    def end_session(self, id_sha256: str, at: datetime) -> None: ...

    @abstractmethod
    def list_sessions(self, account_id: int) -> list[Session]: ...


class UploadStore(ABC):
    """Uploaded files' plans: a dry run's rows, kept until committed or purged."""

    @abstractmethod
    def create_upload(self, upload: Upload) -> None: ...

    @abstractmethod
    def add_upload_rows(self, upload_id: str, rows: Sequence[UploadRow | PlannedCreate]) -> None:
        """Store planned rows (a PlannedCreate as the UploadRow creating its record)."""

    @abstractmethod
    def add_upload_warnings(self, upload_id: str, by_row: dict[int, dict[str, Any]]) -> None:
        """Append one warning to each listed row (by the row number the clerk sees)."""

    @abstractmethod
    def finish_upload(
        self, upload_id: str, counts: dict[str, int], notes: Sequence[str] | None = None
    ) -> None:
        """Mark the plan complete: from now on it can be committed. ``notes``: how the file
        was read, replacing those the upload was created with (None: kept)."""

    @abstractmethod
    def add_upload_note(self, upload_id: str, note: str) -> None:
        """Append one line to an upload's notes (what became of it: committed without…)."""

    @abstractmethod
    def find_upload(self, upload_id: str) -> Upload | None: ...

    @abstractmethod
    def list_uploads(
        self, *, owner: str | None, every_owner: bool, limit: int, offset: int
    ) -> tuple[list[Upload], int]:
        """Uploads made as ``owner`` (None: the city union), or every union's with
        ``every_owner``, newest first; and how many there are."""

    @abstractmethod
    def delete_upload(self, upload_id: str) -> bool:
        """Remove an upload that never committed (a plan that failed) and its rows.

        False, and nothing removed, if there is no such upload or a batch refers to it."""

    @abstractmethod
    def purge_uploads(self, *, created_before: datetime) -> int:
        """Remove every upload never committed (dry runs, abandoned plans) made before
        ``created_before``, with its rows; return how many. Committed ones stay: their
        batches refer to them."""

    def get_upload(self, upload_id: str) -> Upload:
        upload = self.find_upload(upload_id)
        if upload is None:
            raise UploadNotFoundError(upload_id)
        return upload

    @abstractmethod
    def iter_upload_rows(
        self,
        upload_id: str,
        *,
        actions: Sequence[str] | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> Iterator[UploadRow]:
        """The planned rows in file order, streamed."""

    @abstractmethod
    def iter_planned_changes(
        self, upload_id: str
    ) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
        """What a commit reads of the planned rows that change the registry (create, update,
        close), in file order, streamed: the action, the expected version and the planned
        station's record (station_to_dict's form); not the rows' reports."""


class DemandStore(ABC):
    """The planners' demand layers (weighted points), each under its name."""

    @abstractmethod
    def save_demand(
        self,
        layer: DemandLayer,
        *,
        actor: str,
        may_replace: Callable[[str], bool] | None = None,
    ) -> None:
        """Store ``layer`` under its name, replacing a layer of that name, in one transaction.

        A replaced layer keeps its owner; with ``may_replace``, replacing a layer whose
        owner it refuses raises ForbiddenError (checked inside the transaction)."""

    @abstractmethod
    def find_demand(self, name: str) -> DemandLayer | None: ...

    @abstractmethod
    def list_demand(self) -> list[dict[str, Any]]:
        """Each layer's summary (name, points, total_weight, sample, updated_at), by name."""

    @abstractmethod
    def delete_demand(self, name: str, *, may_delete: Callable[[str], bool] | None = None) -> bool:
        """Remove a layer; False if there is none of that name. With ``may_delete``, a
        layer whose owner it refuses is kept and ForbiddenError raised."""


class FeedbackStore(ABC):
    """Riders' reports (schema 4), and the failed authentications a rate limit counts
    (schema 5): what the database keeps about clients, as keyed hashes only."""

    @abstractmethod
    def feedback_salt(self) -> bytes:
        """A random secret made once per registry: the key of clients' address hashes."""

    @abstractmethod
    def add_feedback(
        self,
        report: NewFeedback,
        *,
        limits: Sequence[RateLimit] = (),
        case: NewCase | None = None,
    ) -> Feedback:
        """Store a report unless a limit is reached (TooManyReportsError), atomically:
        concurrent reports from many workers cannot slip past a limit together. ``case``:
        the report's case, opened in the same transaction."""

    @abstractmethod
    def find_feedback(self, feedback_id: int) -> Feedback | None: ...

    def get_feedback(self, feedback_id: int) -> Feedback:
        found = self.find_feedback(feedback_id)
        if found is None:
            raise FeedbackNotFoundError(feedback_id)
        return found

    @abstractmethod
    def list_feedback(
        self, q: FeedbackQuery, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Feedback], int]:
        """Reports passing ``q``, newest first, and how many pass in all."""

    @abstractmethod
    def resolve_feedback(
        self, feedback_id: int, *, actor: str, note: str, at: datetime
    ) -> Feedback:
        """Mark a report resolved; FeedbackResolvedError if it was already."""

    @abstractmethod
    def unresolved_feedback_counts(
        self, station_ids: Sequence[int], *, since: datetime
    ) -> dict[int, dict[str, int]]:
        """Per station (only those with any), unresolved reports since ``since`` by kind."""

    # -- failed authentications ------------------------------------------------------------

    @abstractmethod
    def auth_failure_ages(self, client_hash: str, *, window_s: float) -> list[float]:
        """Seconds since each failed authentication of ``client_hash`` in the last
        ``window_s`` seconds, oldest first, by the database's clock (one clock for every
        machine)."""

    @abstractmethod
    def add_auth_failure(self, client_hash: str, *, keep_s: float) -> None:
        """Record a failed authentication of ``client_hash`` now (a keyed hash of its
        address: never a token, never the address); forget all older than ``keep_s``."""


class CodeStore(ABC):
    """Stations' public codes: every code ever given, a deleted station's too."""

    @abstractmethod
    def station_for_code(self, code: str) -> int | None:
        """The id of the station ``code`` (canonical) was given to, deleted or not; None if
        no station ever had it."""


# -- Station operations (schema 8). Each aggregate's interface, implemented by its
# repository (visits_repo, ratings_repo, cases_repo, inspections_repo, stars_repo).


class VisitStore(ABC):
    """Workers' check-ins: the raw rows kept briefly, the hourly rollup every figure reads."""

    @abstractmethod
    def add_visit(
        self, visit: NewVisit, *, dedupe_s: float, limits: Sequence[RateLimit], keep_s: float
    ) -> bool:
        """Count ``visit`` in one transaction and say whether it was: not if the same client
        checked in at the same station in the last ``dedupe_s`` seconds (nothing written, no
        error); TooManyCheckInsError if one of ``limits`` is reached; else the raw row and
        its hour's rollup, and raw rows older than ``keep_s`` purged (a bounded number)."""

    @abstractmethod
    def usage(self, q: UsageQuery) -> list[UsageBucket]:
        """Check-ins passing ``q`` summed by ``q.by``: every bucket in order, zeros too."""

    @abstractmethod
    def visit_days(
        self, station_ids: Sequence[int], *, since: date
    ) -> dict[int, list[tuple[str, int]]]:
        """Per station (only those with any), its check-ins per Shanghai day from ``since``
        on: (day, n), oldest first."""


class RatingStore(ABC):
    """Riders' ratings: one per station and client, the comments for the owning union."""

    @abstractmethod
    def add_rating(
        self, rating: NewRating, *, dedupe_s: float, limits: Sequence[RateLimit] = ()
    ) -> tuple[Rating, bool]:
        """Keep a rating, in one transaction: the same client's rating of the station within
        ``dedupe_s`` is replaced (True: it was); ``limits`` checked (TooManyRatingsError);
        a low rating with a comment opens (or keeps) its case with ``rating.receipt_sha256``.
        Client hashes older than ``dedupe_s`` are cleared (a bounded batch)."""

    @abstractmethod
    def rating_summary(
        self, station_ids: Sequence[int] | None = None
    ) -> dict[int, tuple[float, int]]:
        """Per station with any ratings: (average stars, number of ratings)."""

    @abstractmethod
    def list_ratings(
        self,
        *,
        owner: str | None,
        station_id: int | None = None,
        with_comments: bool = True,
        limit: int = 100,
        offset: int = 0,
    ) -> tuple[list[Rating], int]:
        """Ratings of ``owner``'s stations (None: all), newest first; ``with_comments``:
        only those with a comment."""


class CaseStore(ABC):
    """Cases of the owning union (reports, low ratings): states, replies, receipts."""

    @abstractmethod
    def find_case(self, case_id: int) -> Case | None:
        """The case with its history (oldest event first)."""

    def get_case(self, case_id: int) -> Case:
        found = self.find_case(case_id)
        if found is None:
            raise CaseNotFoundError(case_id)
        return found

    @abstractmethod
    def find_case_by_receipt(self, receipt_sha256: str) -> Case | None: ...

    @abstractmethod
    def list_cases(
        self, q: CaseQuery, *, limit: int | None = None, offset: int = 0
    ) -> tuple[list[Case], int]:
        """A page of the cases ``q`` selects, soonest due first, and how many there are."""

    @abstractmethod
    def transition_case(
        self,
        case_id: int,
        to: CaseState,
        *,
        role: str,
        actor: str,
        reply: str = "",
        expected_version: int | None = None,
        at: datetime,
        due_at: datetime | None = None,
    ) -> Case:
        """One step of the state machine by ``role`` (stations.domain.cases.TRANSITIONS),
        recorded as ``actor``; compare-and-set on the version (StaleCaseError); refused
        steps raise CaseTransitionRefusedError. A resolve keeps ``reply``; a reopen may set
        a new ``due_at``. The report's resolved flag follows the case."""

    @abstractmethod
    def auto_confirm(self, now: datetime, *, confirm_after: timedelta, batch: int = 200) -> int:
        """Confirm (as the system) cases resolved before ``now - confirm_after``; how many."""

    @abstractmethod
    def overdue_counts(self, now: datetime) -> dict[str, int]:
        """Per district adcode: cases open or in progress past their deadline at ``now``."""


class InspectionStore(ABC):
    """Spot checks with their photos, and the rectifications their failed items open."""

    @abstractmethod
    def add_inspection(
        self,
        inspection: NewInspection,
        photos: Sequence[Photo],
        *,
        rectification_due: dict[str, datetime],
    ) -> Inspection:
        """Keep a check, its photos (seq 1, 2, ...) and its rectifications in one
        transaction: each failed item opens one with its due time from
        ``rectification_due`` (or, open already, counts ``failed_again``); each passed item
        closes the open one, and so does an item the results (the station's whole
        checklist) no longer have. Any failure keeps nothing."""

    @abstractmethod
    def find_inspection(self, inspection_id: int) -> Inspection | None: ...

    @abstractmethod
    def list_inspections(self, q: InspectionQuery) -> tuple[list[Inspection], int]:
        """Newest first (by ``inspected_at``), with their photo counts; and how many match."""

    @abstractmethod
    def get_photo(self, inspection_id: int, seq: int, *, thumb: bool) -> tuple[bytes, str] | None:
        """A photo's (or its thumbnail's) JPEG bytes and content type."""

    @abstractmethod
    def list_rectifications(
        self,
        *,
        station_id: int | None = None,
        district: str | None = None,
        owner: str | None = None,
        overdue_at: datetime | None = None,
        open_only: bool = True,
        limit: int = 1000,
    ) -> list[Rectification]:
        """Rectifications, soonest due first; ``overdue_at``: only those open and due
        before it."""

    @abstractmethod
    def last_inspection_at(self, station_ids: Sequence[int]) -> dict[int, datetime]:
        """Each station's latest check, for those that had one."""

    @abstractmethod
    def inspection_figures(self, *, since: datetime, now: datetime) -> dict[str, dict[str, int]]:
        """Per district (adcode): ``checks`` since ``since``, ``stations_checked`` (distinct),
        ``rectifications_open`` and ``rectifications_overdue`` (open, due before ``now``);
        districts with none of these are left out (for the planners' figures)."""


class StarStore(ABC):
    """Star ratings as computed, with their reasons; and the aggregate figures (of the
    other operations' tables) they, the public record and the dashboard read."""

    @abstractmethod
    def ops_inputs(
        self, since: datetime, now: datetime, *, hours_item: str
    ) -> dict[int, StationYear]:
        """Each station's figures between ``since`` and ``now`` (spot checks, ``hours_item``
        of their checklists, ratings, check-ins, cases), in a few aggregate queries;
        amenities and 上图 are the index's (left at their defaults). Stations without any
        figure are left out."""

    @abstractmethod
    def save_star_ratings(self, rows: Sequence[StarRating], *, computed_at: datetime) -> None:
        """Keep one computation's ratings (one row per station it rated); the stars shown
        are the latest computation's, so a station it left unrated has none."""

    @abstractmethod
    def latest_star_ratings(self) -> dict[int, StarRating]:
        """Each station's latest saved rating."""

    @abstractmethod
    def ops_summary(
        self, *, check_in_day_min: int, check_ins_since: date | None = None
    ) -> dict[int, StationOps]:
        """What the public record shows of each station's operations: its rating (all its
        ratings), latest stars, last check, last edit by a union, last day with at least
        ``check_in_day_min`` check-ins (only days from ``check_ins_since`` on, when given).
        Stations with none of them are left out."""

    @abstractmethod
    def unannounced_passed_counts(self, since: datetime, now: datetime) -> dict[int, int]:
        """Each station's unannounced spot checks between ``since`` and ``now`` that passed
        every item (stations without one left out)."""

    @abstractmethod
    def open_rectification_counts(self) -> dict[int, int]:
        """Each station's rectifications still open (stations without one left out)."""

    @abstractmethod
    def ops_figures_by_district(
        self, since: datetime, now: datetime, *, visits_since: datetime | None = None
    ) -> dict[str, DistrictOps]:
        """Per district: spot checks since ``since``, rectifications and cases overdue at
        ``now``, the average rating, check-ins since ``visits_since`` (default ``since``)."""


class NetworkStore(ABC):
    """Street networks for routing by travel (schema 9): one per profile, its arrays as one
    blob (geodata.network.Network.to_npz), and the cache of its per-node station lists."""

    @abstractmethod
    def put_network(
        self,
        info: NetworkInfo,
        arrays: bytes,
    ) -> NetworkInfo:
        """Store ``arrays`` as the network of ``info.profile`` in one transaction, replacing
        any earlier one (and dropping its station lists); ``info.version`` is ignored: the
        stored row gets a new version, higher than any this registry has given, and is
        returned."""

    @abstractmethod
    def networks(self) -> list[NetworkInfo]:
        """Every stored network, without its arrays, by profile."""

    @abstractmethod
    def network_versions(self) -> dict[Travel, int]:
        """Each stored network's version: what workers poll (one small query)."""

    @abstractmethod
    def network_arrays(self, profile: Travel) -> tuple[NetworkInfo, bytes] | None:
        """The stored network of ``profile`` with its arrays, or None."""

    @abstractmethod
    def remove_network(self, profile: Travel) -> NetworkInfo | None:
        """Remove the network of ``profile`` (and its station lists); what was removed, or
        None when there was none."""

    @abstractmethod
    def put_station_lists(
        self, profile: Travel, *, network_version: int, stations_key: str, arrays: bytes
    ) -> None:
        """Keep the station lists built for that network version and station positions
        (replacing the profile's earlier lists); nothing when the network has changed since
        (its version is no longer ``network_version``)."""

    @abstractmethod
    def station_lists(
        self, profile: Travel, *, network_version: int, stations_key: str
    ) -> bytes | None:
        """The kept station lists for exactly that network version and station positions."""


class EventStore(ABC):
    """Events at the stations (stations.domain.events), every change audited."""

    @abstractmethod
    def add_event(self, spec: EventSpec, *, owner: str, actor: str, at: datetime) -> Event:
        """Keep a new event of ``owner`` (one transaction, with its audit row)."""

    @abstractmethod
    def update_event(
        self,
        event_id: int,
        spec: EventSpec,
        *,
        actor: str,
        at: datetime,
        expected_version: int | None = None,
    ) -> Event:
        """Replace an event's spec; EventNotFoundError, or StaleEventError when
        ``expected_version`` is given and the event is no longer at it."""

    @abstractmethod
    def delete_event(self, event_id: int, *, actor: str, at: datetime) -> Event:
        """Delete an event (its audit row keeps what it was); EventNotFoundError."""

    @abstractmethod
    def find_event(self, event_id: int) -> Event | None: ...

    def get_event(self, event_id: int) -> Event:
        """The event, or EventNotFoundError."""
        found = self.find_event(event_id)
        if found is None:
            raise EventNotFoundError(event_id)
        return found

    @abstractmethod
    def list_events(self, *, owner: str | None = None, from_day: date | None = None) -> list[Event]:
        """Events of ``owner`` (None: all) whose last occurrence starts on ``from_day`` or
        later (None: all), by first start."""

    @abstractmethod
    def events_version(self) -> int:
        """A number every write of events changes (0: none ever written)."""

    @abstractmethod
    def event_history(self, event_id: int) -> list[dict[str, Any]]:
        """The event's audit trail, oldest first: action, actor, at, before, after."""


class Store(
    StationStore,
    TokenStore,
    AccountStore,
    UploadStore,
    DemandStore,
    FeedbackStore,
    CodeStore,
    VisitStore,
    RatingStore,
    CaseStore,
    InspectionStore,
    StarStore,
    NetworkStore,
    FeedStore,
    EventStore,
):
    """A station registry: every aggregate's store in one (one database, one transaction
    per write)."""

    # A database server that the workers of several machines share: whatever a worker
    # keeps in memory (a rate limit's counts) is then only its own part of the picture.
    networked = False
    # A read replica's: it answers reads and refuses writes (ReadOnlyError).
    read_only = False

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
