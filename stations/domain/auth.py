"""Bearer tokens and who may change what: the city union, district unions, industry unions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

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

    token_id: str
    name: str
    role: Role
    code: str | None

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
        return f"{scope} {self.name} (token {self.token_id})"

    def may_write(self, owner: Owner) -> bool:
        """Whether this principal may create, change or delete a station owned by ``owner``."""
        return self.role is Role.ADMIN or self.owner == owner

    @property
    def demand_owner(self) -> str:
        """The owner of the demand layers this principal makes: ``city`` or its owner text."""
        return CITY_UNION if self.owner is None else str(self.owner)

    @property
    def may_create_demand(self) -> bool:
        """Whether this principal may make demand layers (the city and district unions;
        a district union's only inside its district)."""
        return self.role in (Role.ADMIN, Role.DISTRICT)

    def may_change_demand(self, layer_owner: str) -> bool:
        """Whether this principal may replace or delete a demand layer owned by
        ``layer_owner``: its owner, or the city union."""
        return self.role is Role.ADMIN or (
            self.may_create_demand and layer_owner == self.demand_owner
        )


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
