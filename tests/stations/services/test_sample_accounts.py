"""The sample's console accounts: a new user can sign in at once; a real registry gets none."""

from __future__ import annotations

from click.testing import CliRunner

from api.cli import main
from stations.services.accounts import sign_in
from stations.services.sample import sample_accounts
from stations.storage.sqlite import SQLiteStore
from tests.api.console.helpers import make_account


def test_the_sample_makes_a_city_and_a_district_account_shown_once(tmp_path, districts):
    db = tmp_path / "r.sqlite3"
    shown = CliRunner().invoke(main, ["demo", "--database", f"sqlite:///{db}", "--total", "200"])
    assert shown.exit_code == 0, shown.output
    assert "示例账号" in shown.output
    lines = [line for line in shown.output.splitlines() if "用户名" in line]
    assert len(lines) == 2
    with SQLiteStore(db) as store:
        for line in lines:
            username = line.split("用户名 ")[1].split()[0]
            password = line.split("密码 ")[1].strip()
            assert sign_in(store, username, password) is not None
            # Only a hash is kept.
            account = store.find_account(username)
            assert account is not None and account.password_hash.startswith("$argon2id$")
            assert password not in account.password_hash
    again = CliRunner().invoke(main, ["demo", "--database", f"sqlite:///{db}"])
    assert "示例账号" not in again.output  # made once; the passwords are never shown again


def test_a_registry_whose_people_have_accounts_gets_no_sample_account(db_path, districts):
    with SQLiteStore(db_path) as store:
        make_account(store, districts)
        assert sample_accounts(store, districts) == []
        assert [a.username for a in store.list_accounts()] == ["yz500103"]
