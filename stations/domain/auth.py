"""Bearer tokens and who may change what: the city union, district unions, industry unions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from stations.domain.errors import ForbiddenError
from stations.domain.model import Owner, OwnerKind

TOKEN_PREFIX = "yz"  # noqa: S105 - a fixed marker, not a secret
CITY_UNION = "city"  # the owner of what the city union keeps (demand layers)


class Role(StrEnum):
    """What a token may do."""

    ADMIN = "admin"  # the city union: every station
    DISTRICT = "district"  # a district union: its own stations, inside its district
    INDUSTRY = "industry"  # an industry union: its own stations, anywhere in the city


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A stored token: never the secret itself, only its SHA-256."""

    id: str
    name: str
    role: Role
    code: str | None
    secret_sha256: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated union behind a request."""

    token_id: str  # the token's id, or ``u<account id>`` for a person signed in
    name: str
    role: Role
    code: str | None
    username: str | None = None  # a person signed in to the console (None: a token)

    @property
    def owner(self) -> Owner | None:
        """The union this principal writes as; None for the city union (any owner)."""
        if self.role is Role.DISTRICT:
            return Owner(OwnerKind.DISTRICT, self.code or "")
        if self.role is Role.INDUSTRY:
            return Owner(OwnerKind.INDUSTRY, self.code or "")
        return None

    @property
    def actor(self) -> str:
        """How this principal appears in the audit trail (no secret in it)."""
        scope = f"{self.role.value}:{self.code}" if self.code else self.role.value
        if self.username is not None:
            return f"{scope} {self.name} (user {self.username})"
        return f"{scope} {self.name} (token {self.token_id})"

    @property
    def is_city(self) -> bool:
        """The city union (its every station, every union's accounts)."""
        return self.role is Role.ADMIN

    # -- stations -----------------------------------------------------------------------

    def may_write(self, owner: Owner) -> bool:
        """Whether this principal may create, change or delete a station owned by ``owner``:
        the city union any, a district or industry union only its own."""
        return self.role is Role.ADMIN or self.owner == owner

    # -- uploads ------------------------------------------------------------------------

    def may_use_upload(self, upload_owner: str | None) -> bool:
        """Whether this principal may see, commit or revert an upload made as
        ``upload_owner`` (None: made by the city union): the city union any, a union its own."""
        return self.owner is None or upload_owner == str(self.owner)

    # -- feedback -----------------------------------------------------------------------

    @property
    def feedback_owner(self) -> str | None:
        """Whose stations' reports this principal reads: its own (None: every station's)."""
        return None if self.owner is None else str(self.owner)

    def may_resolve_feedback(self, station_owner: str) -> bool:
        """Whether this principal may resolve a report on a station of ``station_owner``:
        the station's union, or the city union."""
        return self.may_write(Owner.parse(station_owner))

    # -- spot checks (抽查暗访) -------------------------------------------------------------

    def may_inspect(self, district_adcode: str) -> bool:
        """Whether this principal may record a spot check of a station in district
        ``district_adcode``: the city union any, a district union those in its district
        (an industry union's station there too); an industry union none."""
        return self.role is Role.ADMIN or (
            self.role is Role.DISTRICT and district_adcode == self.code
        )

    @property
    def inspects(self) -> bool:
        """Whether this principal records spot checks at all (not an industry union)."""
        return self.role is not Role.INDUSTRY

    def may_read_inspection(self, station_owner: str, district_adcode: str) -> bool:
        """Whether this principal may read the checks (and photos, rectifications) of a
        station of ``station_owner`` in ``district_adcode``: those who may check it, and
        the union owning it (an industry union reads its own stations' checks)."""
        return self.may_inspect(district_adcode) or (
            self.owner is not None and str(self.owner) == station_owner
        )

    @property
    def inspection_scope(self) -> tuple[str | None, str | None]:
        """(district, owner) of the checks this principal reads in lists: the city union
        every check, a district union its district's, an industry union its own stations'."""
        if self.role is Role.DISTRICT:
            return self.code, None
        if self.role is Role.INDUSTRY:
            return None, str(self.owner)
        return None, None

    def may_handle_case(self, case_owner: str) -> bool:
        """Whether this principal may read and act on a case (a report or a low rating) on a
        station of ``case_owner``, and read its ratings' comments: the same rule as
        resolving a report (the station's union, or the city union)."""
        return self.may_resolve_feedback(case_owner)

    # -- planning figures ---------------------------------------------------------------

    def may_see_planning(self, adcode: str | None) -> bool:
        """Whether this principal may see the planning figures (dashboard, 报表) of district
        ``adcode`` (None: the whole city): the city and industry unions any, a district
        union only its own district's."""
        return self.role is not Role.DISTRICT or adcode == self.code

    @property
    def planning_scope(self) -> str | None:
        """The figures this principal sees unless it asks: a district union's district's,
        the city's (None) for the others."""
        return self.code if self.role is Role.DISTRICT else None

    # -- star ratings -------------------------------------------------------------------

    def may_see_star_reasons(self, station_owner: str) -> bool:
        """Whether this principal may read a station's score and reasons (the public sees
        the stars only): the station's union, or the city union."""
        return self.may_write(Owner.parse(station_owner))

    @property
    def may_compute_stars(self) -> bool:
        """Only the city union has every station's stars computed again (重新评定)."""
        return self.role is Role.ADMIN

    # -- tokens -------------------------------------------------------------------------

    @property
    def may_manage_tokens(self) -> bool:
        """Only the city union makes, lists and revokes tokens (the operator's CLI)."""
        return self.role is Role.ADMIN

    # -- accounts -----------------------------------------------------------------------

    @property
    def may_manage_accounts(self) -> bool:
        """Only the city union creates, disables and resets the console's accounts."""
        return self.role is Role.ADMIN

    # -- demand layers ------------------------------------------------------------------

    @property
    def demand_owner(self) -> str:
        """The owner of the demand layers this principal makes: ``city`` or its owner text."""
        return CITY_UNION if self.owner is None else str(self.owner)

    @property
    def may_create_demand(self) -> bool:
        """Whether this principal may make demand layers (the city and district unions;
        a district union's only inside its district: see :meth:`may_place_demand_in`)."""
        return self.role in (Role.ADMIN, Role.DISTRICT)

    @property
    def places_demand_anywhere(self) -> bool:
        """Whether this principal's demand points may lie in any district (all but a
        district union's, which stay in its district)."""
        return self.role is not Role.DISTRICT

    def may_place_demand_in(self, adcode: str | None) -> bool:
        """Whether a demand point of this principal's may lie in district ``adcode``."""
        return self.places_demand_anywhere or adcode == self.code

    def may_change_demand(self, layer_owner: str) -> bool:
        """Whether this principal may replace or delete a demand layer owned by
        ``layer_owner``: its owner, or the city union."""
        return self.role is Role.ADMIN or (
            self.may_create_demand and layer_owner == self.demand_owner
        )


# The checks that refuse: each raises ForbiddenError (403 ``forbidden``, mapped once in
# api/problems.py), for routes, services and the CLI alike.


def owner_to_create(by: Principal, asked: object) -> str | None:
    """The owner a new station of ``by``'s must have: a district or industry union's own
    (naming another is refused); None for the city union, which may name any."""
    if by.owner is None:
        return None
    if asked not in (None, "", str(by.owner)):
        msg = (
            f"只能创建本工会（{by.owner}）的驿站"
            f"（{by.name} may only create stations of {by.owner}）"
        )
        raise ForbiddenError(msg)
    return str(by.owner)


def check_station_write(by: Principal, owner: Owner) -> None:
    """Refuse unless ``by`` may create, change or delete a station owned by ``owner``."""
    if not by.may_write(owner):
        msg = (
            f"你的工会无权修改这个驿站：它属于 {owner}"
            f"（{by.name} may not change stations of {owner}）"
        )
        raise ForbiddenError(msg)


def check_event_write(by: Principal, event_owner: str) -> None:
    """Refuse unless ``by`` may change or delete an event of ``event_owner`` (the union of
    its stations): the city union any, a union only its own."""
    if not by.is_city and str(by.owner) != event_owner:
        msg = (
            f"只有举办活动的工会可以修改或删除它"
            f"（{by.name} may not change events of {event_owner}）"
        )
        raise ForbiddenError(msg)


def check_upload_access(by: Principal, upload_owner: str | None) -> None:
    """Refuse unless ``by`` may see, commit or revert an upload made as ``upload_owner``."""
    if not by.may_use_upload(upload_owner):
        msg = "这次上传属于别的工会（this upload belongs to another union）"
        raise ForbiddenError(msg)


def check_feedback_resolve(by: Principal, station_owner: str) -> None:
    """Refuse unless ``by`` may resolve a report on a station of ``station_owner``."""
    if not by.may_resolve_feedback(station_owner):
        msg = (
            "只有驿站所属工会和市总工会可以处理这条反馈"
            f"（{by.name} may not resolve reports on stations of {station_owner}）"
        )
        raise ForbiddenError(msg)


def check_inspect(by: Principal, district_adcode: str) -> None:
    """Refuse unless ``by`` may record a spot check of a station in ``district_adcode``."""
    if not by.may_inspect(district_adcode):
        msg = "只有市总工会和驿站所在区县的工会可以抽查这个驿站"
        raise ForbiddenError(msg)


def check_inspection_read(by: Principal, station_owner: str, district_adcode: str) -> None:
    """Refuse unless ``by`` may read the checks of a station of ``station_owner`` in
    ``district_adcode``."""
    if not by.may_read_inspection(station_owner, district_adcode):
        msg = "你的工会无权查看这个驿站的抽查记录"
        raise ForbiddenError(msg)


def check_case_handle(by: Principal, case_owner: str) -> None:
    """Refuse unless ``by`` may act on a case (or read the comments) of ``case_owner``."""
    if not by.may_handle_case(case_owner):
        msg = (
            "只有驿站所属工会和市总工会可以处理这个工单"
            f"（{by.name} may not handle cases on stations of {case_owner}）"
        )
        raise ForbiddenError(msg)


def check_planning_view(by: Principal, adcode: str | None) -> None:
    """Refuse unless ``by`` may see the planning figures of ``adcode`` (None: the city)."""
    if not by.may_see_planning(adcode):
        msg = (
            f"你的工会只能查看本区县（{by.code}）的规划数据"
            f"（{by.name} may see the planning figures of district {by.code} only）"
        )
        raise ForbiddenError(msg)


def check_star_reasons(by: Principal, station_owner: str) -> None:
    """Refuse unless ``by`` may read the reasons of a station of ``station_owner``."""
    if not by.may_see_star_reasons(station_owner):
        msg = "只有驿站所属工会和市总工会可以查看评分明细"
        raise ForbiddenError(msg)


def check_stars_compute(by: Principal) -> None:
    """Refuse unless ``by`` may have the stars computed again."""
    if not by.may_compute_stars:
        msg = "只有市总工会可以重新评定星级"
        raise ForbiddenError(msg)


def check_token_admin(by: Principal) -> None:
    """Refuse unless ``by`` may make, list and revoke tokens."""
    if not by.may_manage_tokens:
        msg = (
            f"只有市总工会可以管理令牌（{by.name} may not manage tokens: only the city union does）"
        )
        raise ForbiddenError(msg)


def check_account_admin(by: Principal) -> None:
    """Refuse unless ``by`` may create, disable and reset accounts."""
    if not by.may_manage_accounts:
        msg = "只有市总工会可以管理账号"
        raise ForbiddenError(msg)


def check_demand_create(by: Principal) -> None:
    """Refuse unless ``by`` may make demand layers."""
    if not by.may_create_demand:
        msg = (
            "需求图层由市总工会和区县工会维护"
            "（demand layers are kept by the city and district unions）"
        )
        raise ForbiddenError(msg)


def check_demand_places(by: Principal, adcodes: Callable[[], Iterable[str | None]]) -> None:
    """Refuse unless every demand point may lie where it does: ``adcodes()`` gives each
    point's district (None: in none), each checked by :meth:`Principal.may_place_demand_in`;
    it is not called for a principal who places demand anywhere (a lookup of every point)."""
    if by.places_demand_anywhere:
        return
    counts = Counter(adcodes())
    outside = sum(n for code, n in counts.items() if not by.may_place_demand_in(code))
    if outside:
        msg = (
            f"有 {outside} 个需求点不在本区县（{by.code}）内"
            f"（{outside} point(s) lie outside your district {by.code}）"
        )
        raise ForbiddenError(msg)


def _digest(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe here: there is nothing to
    # brute-force, unlike a password (which would need a slow KDF).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(
    role: Role | str, *, name: str, code: str | None, now: datetime
) -> tuple[str, TokenRecord]:
    """Make a token; return the text to hand over once, and the record to store."""
    role = Role(role)
    if role is Role.DISTRICT and not (code and code.isdigit() and len(code) == 6):
        msg = "a district union's token needs its 6-digit adcode"
        raise ValueError(msg)
    if role is Role.INDUSTRY and not code:
        msg = "an industry union's token needs its industry code"
        raise ValueError(msg)
    if role is Role.ADMIN:
        code = None
    if not name.strip():
        msg = "a token needs a name saying whose it is"
        raise ValueError(msg)
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    record = TokenRecord(token_id, name.strip(), role, code, _digest(secret), now)
    return f"{TOKEN_PREFIX}_{token_id}_{secret}", record


def split_token(text: str) -> tuple[str, str] | None:
    """``yz_<id>_<secret>`` -> (id, secret); None if it is not shaped like our tokens."""
    prefix, sep, rest = text.strip().partition("_")
    token_id, sep2, secret = rest.partition("_")
    if prefix != TOKEN_PREFIX or not sep or not sep2 or not token_id or not secret:
        return None
    return token_id, secret


def verify(record: TokenRecord, secret: str) -> bool:
    """Constant-time check of a presented secret against a stored record."""
    return record.revoked_at is None and hmac.compare_digest(record.secret_sha256, _digest(secret))


def principal(record: TokenRecord) -> Principal:
    return Principal(record.id, record.name, record.role, record.code)
