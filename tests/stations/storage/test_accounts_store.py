"""Accounts and sessions: one contract, SQLite and PostGIS (``any_store``)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from click.testing import CliRunner

from geodata.hours import TZ
from stations.cli import main
from stations.domain.accounts import (
    AccountExistsError,
    AccountNotFoundError,
    new_account,
    new_session,
)
from stations.domain.auth import Role
from stations.services.accounts import session_of, sign_in
from stations.storage.open import open_store
from stations.storage.sqlite import SQLiteStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)
PASSWORD = "合同-Store-2026!"


def _account(username="yz500103", role="district", code="500103", name="渝中区总工会"):
    return new_account(
        username=username, password=PASSWORD, role=role, code=code, name=name, now=T0
    )


def test_add_find_get_and_list(any_store):
    stored = any_store.add_account(_account())
    assert stored.id is not None and stored.password_hash.startswith("$argon2id$")
    assert any_store.get_account(stored.id) == stored
    assert any_store.find_account("yz500103") == stored
    assert any_store.find_account("nobody") is None
    city = any_store.add_account(_account("city", "admin", None, "重庆市总工会"))
    jt = any_store.add_account(_account("jt01", "industry", "jiaotong", "交通工会"))
    assert [a.username for a in any_store.list_accounts()] == ["city", "yz500103", "jt01"]
    assert (city.role, city.code, jt.role, jt.code) == (
        Role.ADMIN, None, Role.INDUSTRY, "jiaotong",
    )  # fmt: skip
    assert stored.created_at == T0 and stored.disabled_at is None
    with pytest.raises(AccountNotFoundError):
        any_store.get_account(10_000)


def test_a_username_is_unique(any_store):
    any_store.add_account(_account())
    with pytest.raises(AccountExistsError, match="已被使用"):
        any_store.add_account(_account(name="另一个工会"))
    assert len(any_store.list_accounts()) == 1
    # The store still works after the refused insert (PostgreSQL: no aborted transaction).
    assert any_store.add_account(_account("yz500104", code="500104")).id is not None


def _session(store, account_id, at=T0, lifetime=timedelta(hours=8)):
    secret, session = new_session(account_id, now=at, lifetime=lifetime)
    store.add_session(session, purge_before=at - timedelta(days=7))
    return secret, session


def test_a_session_is_found_with_its_account_in_one_read(any_store):
    account = any_store.add_account(_account())
    _, session = _session(any_store, account.id)
    found = any_store.find_session(session.id_sha256)
    assert found == (session, account)
    assert any_store.find_session("0" * 64) is None
    later = T0 + timedelta(hours=1)
    any_store.touch_session(session.id_sha256, seen_at=later, expires_at=later + timedelta(hours=8))
    again, _ = any_store.find_session(session.id_sha256)
    assert again.last_seen_at == later and again.expires_at == later + timedelta(hours=8)
    any_store.end_session(session.id_sha256, later)
    any_store.end_session(session.id_sha256, later + timedelta(hours=1))  # the first end stays
    ended, _ = any_store.find_session(session.id_sha256)
    assert ended.ended_at == later
    # An ended session is not extended any more.
    any_store.touch_session(session.id_sha256, seen_at=T0 + timedelta(hours=2), expires_at=T0)
    assert any_store.find_session(session.id_sha256)[0].last_seen_at == later


def test_saving_state_ends_the_sessions_in_the_same_write(any_store):
    account = any_store.add_account(_account())
    other = any_store.add_account(_account("yz500104", code="500104"))
    _session(any_store, account.id)
    _session(any_store, account.id)
    _, theirs = _session(any_store, other.id)
    at = T0 + timedelta(minutes=5)
    disabled = replace(account, disabled_at=at)
    any_store.save_account_state(disabled, end_sessions_at=at)
    assert any_store.get_account(account.id).disabled_at == at
    assert [s.ended_at for s in any_store.list_sessions(account.id)] == [at, at]
    assert any_store.list_sessions(other.id) == [theirs]  # others untouched
    # Enabling changes the state only: the ended sessions stay ended.
    any_store.save_account_state(replace(disabled, disabled_at=None), end_sessions_at=None)
    assert any_store.get_account(account.id).active
    assert all(s.ended_at == at for s in any_store.list_sessions(account.id))
    with pytest.raises(AccountNotFoundError):
        any_store.save_account_state(replace(account, id=10_000), end_sessions_at=None)


def test_old_sessions_are_purged_when_a_new_one_starts(any_store):
    account = any_store.add_account(_account())
    _session(any_store, account.id, at=T0)
    _, ended = _session(any_store, account.id, at=T0 + timedelta(days=1))
    any_store.end_session(ended.id_sha256, T0 + timedelta(days=1))
    _, live = _session(any_store, account.id, at=T0 + timedelta(days=8, hours=12))
    assert any_store.list_sessions(account.id) == [live]


def test_migrate_copies_accounts_but_not_sessions(tmp_path, store_url):
    source = tmp_path / "source.sqlite3"
    with SQLiteStore(source) as store:
        account = store.add_account(_account())
        store.add_account(replace(_account("gone", code="500104"), disabled_at=T0))
        result = sign_in(store, "yz500103", PASSWORD)
        assert result is not None
        secret = result[0]
        accounts = store.list_accounts()
    answer = CliRunner().invoke(
        main, ["migrate", "--from", f"sqlite:///{source}", "--to", store_url]
    )
    assert answer.exit_code == 0, answer.output
    target = open_store(store_url)
    try:
        assert target.list_accounts() == accounts
        assert target.list_sessions(account.id) == []
        assert session_of(target, secret) is None  # people sign in again
        assert sign_in(target, "yz500103", PASSWORD) is not None
        assert sign_in(target, "gone", PASSWORD) is None
        # A new account after the copied ones takes a new id.
        new = target.add_account(_account("yz500105", code="500105"))
        assert new.id is not None and new.id > max(a.id for a in accounts if a.id is not None)
    finally:
        target.close()


def test_a_hash_made_with_weaker_parameters_is_made_again_at_sign_in(any_store):
    from pwdlib.hashers.argon2 import Argon2Hasher

    weak = Argon2Hasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    account = any_store.add_account(replace(_account(), password_hash=weak))
    assert sign_in(any_store, "yz500103", "wrong-password-x") is None
    assert any_store.get_account(account.id).password_hash == weak  # only with the right one
    assert sign_in(any_store, "yz500103", PASSWORD) is not None
    stronger = any_store.get_account(account.id).password_hash
    assert stronger != weak and stronger.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert sign_in(any_store, "yz500103", PASSWORD) is not None  # still the same password
    assert any_store.get_account(account.id).password_hash == stronger  # not made again
