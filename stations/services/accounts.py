"""The console's accounts and sessions: create, list, disable, reset; sign in and out.

The city union manages accounts (console and ``yizhan user``); a session lives in the
database, so any worker on any machine serves it, and ends at logout, at expiry, when its
account is disabled or its password reset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from geodata.districts import Districts
from geodata.hours import TZ
from stations.domain.accounts import (
    Account,
    AccountError,
    AccountNotFoundError,
    Session,
    new_account,
    new_session,
    normal_username,
    rehashed,
    session_digest,
    verify_password,
    with_password,
)
from stations.domain.auth import Principal, Role, check_account_admin
from stations.storage.store import Store

# A session is extended while used; one unused this long ends (a clerk's working day), and
# none lasts longer than MAX (a week: sign in again on Monday).
DEFAULT_IDLE = timedelta(hours=8)
DEFAULT_MAX = timedelta(days=7)
# Seen-at is written at most this often (a page's assets and its requests share one write).
TOUCH_EVERY = timedelta(minutes=1)


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(TZ)


def create_account(
    store: Store,
    districts: Districts,
    *,
    username: str,
    password: str,
    role: Role | str,
    code: str | None,
    name: str,
    by: Principal | None = None,
    now: datetime | None = None,
) -> Account:
    """Store a new account (AccountError with a Chinese message if any part is wrong).

    ``by`` None: the operator on the server (the CLI), who may; else the city union only.
    """
    if by is not None:
        check_account_admin(by)
    account = new_account(
        username=username, password=password, role=role, code=code, name=name, now=_now(now)
    )
    if account.role is Role.DISTRICT and account.code not in districts:
        msg = f"没有行政区划代码为 {account.code} 的区县"
        raise AccountError(msg)
    return store.add_account(account)


def list_accounts(store: Store, *, by: Principal | None = None) -> list[Account]:
    if by is not None:
        check_account_admin(by)
    return store.list_accounts()


def last_sign_in(store: Store, account: Account) -> datetime | None:
    """When the account last signed in, as far as the kept sessions tell (ended or expired
    ones are purged a week after; None: not since then)."""
    assert account.id is not None
    return max((s.created_at for s in store.list_sessions(account.id)), default=None)


def accounts_overview(
    store: Store, *, by: Principal | None = None
) -> list[tuple[Account, datetime | None]]:
    """Every account with its last sign-in (the city union's accounts page)."""
    return [(a, last_sign_in(store, a)) for a in list_accounts(store, by=by)]


def find_account(store: Store, username: str) -> Account:
    account = store.find_account(normal_username(username))
    if account is None:
        raise AccountNotFoundError(username)
    return account


def disable_account(
    store: Store, account: Account, *, by: Principal | None = None, now: datetime | None = None
) -> Account:
    """Disable an account and end its sessions at once (in one transaction)."""
    if by is not None:
        check_account_admin(by)
        if by.username == account.username:
            msg = "不能停用自己正在使用的账号"
            raise AccountError(msg)
    at = _now(now)
    disabled = replace(account, disabled_at=account.disabled_at or at)
    store.save_account_state(disabled, end_sessions_at=at)
    return disabled


def enable_account(store: Store, account: Account, *, by: Principal | None = None) -> Account:
    if by is not None:
        check_account_admin(by)
    enabled = replace(account, disabled_at=None)
    store.save_account_state(enabled, end_sessions_at=None)
    return enabled


def reset_password(
    store: Store,
    account: Account,
    password: str,
    *,
    by: Principal | None = None,
    now: datetime | None = None,
) -> Account:
    """Set a new password (the city union, or the operator: ``by`` None); every session of
    the account ends (the old holder is out). A person changing their own password gives
    the current one: :func:`change_own_password`."""
    if by is not None:
        check_account_admin(by)
    return _set_password(store, account, password, now=now)


def _set_password(
    store: Store, account: Account, password: str, *, now: datetime | None
) -> Account:
    at = _now(now)
    changed = with_password(account, password, now=at)
    store.save_account_state(changed, end_sessions_at=at)
    return changed


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A live session and its account, as a request sees them."""

    account: Account
    session: Session

    @property
    def principal(self) -> Principal:
        return self.account.principal()


def sign_in(
    store: Store,
    username: str,
    password: str,
    *,
    idle: timedelta = DEFAULT_IDLE,
    now: datetime | None = None,
) -> tuple[str, SignedIn] | None:
    """A new session for the right password of an active account: its cookie secret and
    the session; None otherwise (one answer for an unknown user, a wrong password and a
    disabled account, each as slow as the others)."""
    account = store.find_account(normal_username(username))
    ok = verify_password(account, password)
    if account is None or not ok or not account.active:
        return None
    updated = rehashed(account, password)
    if updated is not None:  # Argon2's parameters were raised since: this hash follows
        store.save_account_state(updated, end_sessions_at=None)
        account = updated
    assert account.id is not None
    at = _now(now)
    secret, session = new_session(account.id, now=at, lifetime=idle)
    store.add_session(session, purge_before=at - DEFAULT_MAX)
    return secret, SignedIn(account, session)


def session_of(
    store: Store,
    secret: str,
    *,
    idle: timedelta = DEFAULT_IDLE,
    max_age: timedelta = DEFAULT_MAX,
    now: datetime | None = None,
) -> SignedIn | None:
    """The live session whose cookie secret is ``secret``, extended by ``idle``; None if
    there is none, it ended or expired, or its account is disabled."""
    if not secret or len(secret) > 128:
        return None
    found = store.find_session(session_digest(secret))
    if found is None:
        return None
    session, account = found
    at = _now(now)
    if not session.live(at) or not account.active or at - session.created_at > max_age:
        return None
    if at - session.last_seen_at >= TOUCH_EVERY:
        expires = min(at + idle, session.created_at + max_age)
        store.touch_session(session.id_sha256, seen_at=at, expires_at=expires)
        session = replace(session, last_seen_at=at, expires_at=expires)
    return SignedIn(account, session)


def sign_out(store: Store, secret: str, *, now: datetime | None = None) -> None:
    """End the session whose cookie secret is ``secret`` (nothing if there is none)."""
    if secret and len(secret) <= 128:
        store.end_session(session_digest(secret), _now(now))


def change_own_password(
    store: Store,
    by: Principal,
    current: str,
    new: str,
    *,
    idle: timedelta = DEFAULT_IDLE,
    now: datetime | None = None,
) -> tuple[str, SignedIn] | None:
    """A person changes their own password, giving the current one: every session of theirs
    ends and a new one starts (its secret and session returned); None if ``current`` is wrong."""
    if by.username is None:
        msg = "只有登录工作台的账号可以修改密码"
        raise AccountError(msg)
    account = find_account(store, by.username)
    if not verify_password(account, current):
        return None
    _set_password(store, account, new, now=now)
    return sign_in(store, account.username, new, idle=idle, now=now)
