"""The errors of the registry, each with a stable ``code`` (mapped to HTTP in api/problems.py)."""

from __future__ import annotations

from stations.domain.model import Owner


class StoreError(Exception):
    """Base of storage errors; ``code`` is stable and mapped to HTTP in one place in api/."""

    code = "store_error"


class StationNotFoundError(StoreError, LookupError):
    code = "station_not_found"

    def __init__(self, station_id: int) -> None:
        self.station_id = station_id
        super().__init__(f"no station with id {station_id}")


class StaleWriteError(StoreError):
    """A write based on an old version of a station: someone changed it since it was read."""

    code = "stale_write"

    def __init__(self, station_id: int, expected: int, actual: int | None) -> None:
        self.station_id = station_id
        self.expected = expected
        self.actual = actual
        now = "it has been deleted" if actual is None else f"it is now at version {actual}"
        super().__init__(
            f"station {station_id} was changed by someone else: you edited version {expected}, "
            f"{now}; reload it and apply your change again"
        )


class DuplicateStationError(StoreError):
    code = "duplicate_external_id"

    def __init__(self, owner: Owner, external_id: str) -> None:
        self.owner = owner
        self.external_id = external_id
        super().__init__(f"{owner} already has a station with external_id {external_id!r}")


class ForbiddenError(StoreError):
    """The authenticated union may not do this (another union's station or upload)."""

    code = "forbidden"


class SchemaError(StoreError):
    """The database cannot be used by this version of yizhan (and was left untouched)."""

    code = "schema_incompatible"


class DatabaseUnavailableError(StoreError):
    """The database cannot be reached (down, restarting, or the network): try again."""

    code = "database_unavailable"


class DatabaseTimeoutError(StoreError):
    """The database did not finish in time (a statement or lock timeout): nothing was
    changed, and trying again later may succeed."""

    code = "database_timeout"

    def __init__(self, message: str, *, lock: bool) -> None:
        self.lock = lock  # waited on a lock (lock_timeout), or ran too long (statement_timeout)
        super().__init__(message)


class ReadOnlyError(StoreError):
    """The database takes no writes (a read replica): writes go to the primary."""

    code = "read_only"


class UnknownCrsError(ValueError):
    """A request names a coordinate system yizhan does not know (``bad_crs``)."""

    code = "bad_crs"


class InvalidOptionError(ValueError):
    """A use case's option outside its range or vocabulary, or naming nothing there is.
    ``code`` is the problem code (``invalid_parameter``, ``out_of_range``,
    ``unknown_district``, ``not_found``); ``option`` the option's name (``radius_m``), for
    a caller to point at it (``--radius-m``)."""

    def __init__(self, option: str, message: str, *, code: str = "invalid_parameter") -> None:
        super().__init__(message)
        self.option = option
        self.code = code


class BusyError(Exception):
    """Too many different computations are already waiting on one cache: the request is
    refused at once (503 ``busy``, Retry-After) rather than held, so that a flood of costly
    questions (a new ``at`` or radius each) cannot hold every worker thread."""

    code = "busy"

    def __init__(self, retry_after_s: int = 5) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            "other figures are being computed just now; ask again in a few seconds "
            "(figures already computed are answered at once)"
        )


class TooManyAtOnceError(Exception):
    """One client address already has ``most`` costly requests running or waiting (429
    ``too_many_at_once``; api/heavy.py)."""

    code = "too_many_at_once"

    def __init__(self, most: int, retry_after_s: int = 2) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"this address already has {most} costly requests (coverage, gaps, district "
            "figures, maps, along-route) running or waiting; ask again when they are answered"
        )
