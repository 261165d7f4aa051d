"""People who sign in to the console: accounts of a union, Argon2 passwords, sessions.

An account belongs to one union, exactly as a token does (role and code), and acts with the
same :class:`~stations.domain.auth.Principal`: the console and the API share one
authorization rule. Passwords are hashed with Argon2id (pwdlib, on argon2-cffi), never kept
or logged in the clear; a session is known to the database only by the SHA-256 of its
cookie's secret, so a copy of the database opens no session.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from stations.domain.auth import Principal, Role
from stations.domain.errors import StoreError

# Argon2id with argon2-cffi's defaults (RFC 9106's second recommended option: t=3, 64 MiB,
# p=4): 0.2 s a sign-in on this 2-core machine under load, what each guess costs too.
_HASHER = PasswordHash((Argon2Hasher(),))


@functools.cache
def _dummy_hash() -> str:
    """What a sign-in for an unknown username verifies against, so that it costs the same as
    a wrong password for a real one (no timing answer to "does this username exist"). Made
    at first use, not at import: hashing costs 0.2-0.6 s that every command would pay."""
    return _HASHER.hash(secrets.token_urlsafe(16))


USERNAME = re.compile(r"[a-z0-9][a-z0-9_.-]{2,31}")
PASSWORD_MIN_CHARS = 10
PASSWORD_MAX_CHARS = 256  # Argon2 takes any length; a bound keeps a request's cost bounded
NAME_MAX_CHARS = 64
SESSION_SECRET_BYTES = 32
# What each role is called, wherever a person reads it (console, CLI).
ROLE_LABELS = {Role.ADMIN: "市总工会", Role.DISTRICT: "区县工会", Role.INDUSTRY: "产业工会"}


class AccountError(StoreError, ValueError):
    """An account that cannot be made or changed as asked (a Chinese message)."""

    code = "account_invalid"


class AccountExistsError(AccountError):
    code = "account_exists"

    def __init__(self, username: str) -> None:
        super().__init__(f"用户名 {username} 已被使用，请换一个")
        self.username = username


class AccountNotFoundError(AccountError, LookupError):
    code = "account_not_found"

    def __init__(self, key: object) -> None:
        super().__init__(f"没有这个账号：{key}")


@dataclass(frozen=True, slots=True)
class Account:
    """A person's account (the password only as its Argon2 hash)."""

    id: int | None
    username: str
    name: str  # the union's name, as the audit trail shows it (渝中区总工会)
    role: Role
    code: str | None
    password_hash: str = field(repr=False)  # never in a log line or a traceback
    created_at: datetime
    password_changed_at: datetime
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None

    def principal(self) -> Principal:
        """Who this account acts as: its union, as a token of that union would, and the
        person (in the audit trail)."""
        return Principal(f"u{self.id}", self.name, self.role, self.code, username=self.username)


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in session, as stored (the secret only as its SHA-256)."""

    id_sha256: str
    account_id: int
    csrf: str = field(repr=False)
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    ended_at: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at


def normal_username(text: str) -> str:
    """A username as stored and compared: NFKC, trimmed, lower case."""
    return unicodedata.normalize("NFKC", text).strip().lower()


def check_username(text: str) -> str:
    name = normal_username(text)
    if not USERNAME.fullmatch(name):
        msg = "用户名须为 3–32 个字符：小写字母、数字、点、下划线或连字符，以字母或数字开头"
        raise AccountError(msg)
    return name


def check_password(password: str, *, username: str) -> str:
    """Refuse a password too short, too long or the username itself (Chinese message)."""
    if len(password) < PASSWORD_MIN_CHARS:
        msg = f"密码至少 {PASSWORD_MIN_CHARS} 个字符"
        raise AccountError(msg)
    if len(password) > PASSWORD_MAX_CHARS:
        msg = f"密码最多 {PASSWORD_MAX_CHARS} 个字符"
        raise AccountError(msg)
    if normal_username(password) == username or len(set(password)) < 4:
        msg = "密码太简单：不要用用户名或重复的字符"
        raise AccountError(msg)
    return password


def check_union(role: Role | str, code: str | None, name: str) -> tuple[Role, str | None, str]:
    """The union an account belongs to, as a token's (role, code) and its name."""
    try:
        role = Role(role)
    except ValueError:
        msg = "角色须为 admin（市总工会）、district（区县工会）或 industry（产业工会）"
        raise AccountError(msg) from None
    code = (code or "").strip() or None
    if role is Role.DISTRICT and not (code and code.isdigit() and len(code) == 6):
        msg = "区县工会的账号须填写 6 位行政区划代码（如 500103）"
        raise AccountError(msg)
    if role is Role.INDUSTRY and not code:
        msg = "产业工会的账号须填写产业代码"
        raise AccountError(msg)
    if role is Role.ADMIN:
        code = None
    name = unicodedata.normalize("NFC", name).strip()
    if (
        not name
        or len(name) > NAME_MAX_CHARS
        or any(unicodedata.category(c)[0] == "C" for c in name)
    ):
        msg = f"请填写工会名称（1–{NAME_MAX_CHARS} 个字，不含控制字符）"
        raise AccountError(msg)
    return role, code, name


# Letters and digits a person reads out or copies without mistaking one for another.
_UNAMBIGUOUS = "abcdefghjkmnpqrstuvwxyz23456789"


def random_password() -> str:
    """A new random password to hand out once (four groups of four: about 79 bits)."""
    groups = ("".join(secrets.choice(_UNAMBIGUOUS) for _ in range(4)) for _ in range(4))
    return "-".join(groups)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(account: Account | None, password: str) -> bool:
    """Whether ``password`` is ``account``'s; as slow for no account as for a wrong password."""
    if account is None or len(password) > PASSWORD_MAX_CHARS:
        _HASHER.verify(password[:PASSWORD_MAX_CHARS], _dummy_hash())
        return False
    return _HASHER.verify(password, account.password_hash)


def rehashed(account: Account, password: str) -> Account | None:
    """``account`` with its hash made again with today's Argon2 parameters, when it was made
    with others (older, weaker); None when it needs nothing. Only after a right password."""
    if not _HASHER.current_hasher.check_needs_rehash(account.password_hash):
        return None
    return replace(account, password_hash=hash_password(password))


def new_account(
    *, username: str, password: str, role: Role | str, code: str | None, name: str, now: datetime
) -> Account:
    """A new account (not yet stored), every part checked."""
    username = check_username(username)
    role, code, name = check_union(role, code, name)
    check_password(password, username=username)
    return Account(None, username, name, role, code, hash_password(password), now, now)


def with_password(account: Account, password: str, *, now: datetime) -> Account:
    check_password(password, username=account.username)
    return replace(account, password_hash=hash_password(password), password_changed_at=now)


def session_digest(secret: str) -> str:
    # The secret carries 256 random bits: a fast hash is safe (nothing to brute-force).
    return hashlib.sha256(secret.encode()).hexdigest()


def new_session(account_id: int, *, now: datetime, lifetime: timedelta) -> tuple[str, Session]:
    """A new session: the cookie's secret (to send once) and the record to store."""
    secret = secrets.token_urlsafe(SESSION_SECRET_BYTES)
    record = Session(
        session_digest(secret),
        account_id,
        secrets.token_urlsafe(SESSION_SECRET_BYTES),
        now,
        now + lifetime,
        now,
    )
    return secret, record
