"""``yizhan user``: the operator on the server makes and manages console accounts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from stations.cli import main
from stations.services.accounts import session_of, sign_in
from stations.storage.sqlite import SQLiteStore

PASSWORD = "渝中-驿站-2026!"


@pytest.fixture
def run(db_path: Path):
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, [*args, "--database", f"sqlite:///{db_path}"], input=input)

    return invoke


def _create(run, username="yz500103", password=PASSWORD, *extra: str):
    return run(
        "user",
        "create",
        "--role",
        "district",
        "--code",
        "500103",
        "--name",
        "渝中区总工会",
        "--username",
        username,
        "--password-stdin",
        *extra,
        input=password + "\n",
    )


def test_create_reads_the_password_from_stdin_and_stores_only_its_hash(run, db_path):
    result = _create(run)
    assert result.exit_code == 0, result.output
    assert "yz500103" in result.output and "渝中区总工会" in result.output
    assert PASSWORD not in result.output
    raw = db_path.read_bytes()
    assert PASSWORD.encode() not in raw and b"$argon2id$" in raw
    store = SQLiteStore(db_path)
    try:
        assert sign_in(store, "yz500103", PASSWORD) is not None
    finally:
        store.close()


def test_there_is_no_password_option(run):
    result = run(
        "user", "create", "--role", "admin", "--name", "重庆市总工会", "--username", "city",
        "--password", PASSWORD,
    )  # fmt: skip
    assert result.exit_code != 0 and "--password" in result.output


def test_without_stdin_the_password_is_asked_twice_hidden(run, db_path):
    args = ("user", "create", "--role", "admin", "--name", "重庆市总工会", "--username", "city")
    result = run(*args, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "密码" in result.output and PASSWORD not in result.output
    mismatch = run(
        *args[:-1], "city2", input=f"{PASSWORD}\nother-pass-2026\n{PASSWORD}\n{PASSWORD}\n"
    )
    assert mismatch.exit_code == 0 and "do not match" in mismatch.output  # asked again


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--role", "district", "--code", "999999", "--name", "x区"), "没有行政区划代码为 999999"),
        (("--role", "district", "--name", "x区"), "6 位行政区划代码"),
        (("--role", "industry", "--name", "x工会"), "产业代码"),
    ],
)
def test_a_wrong_union_is_a_chinese_error(run, args, message):
    result = run(
        "user", "create", *args, "--username", "someone", "--password-stdin", input=PASSWORD + "\n"
    )
    assert result.exit_code == 1 and message in result.output


def test_a_weak_password_or_a_taken_username_is_refused(run):
    assert "密码至少 10 个字符" in _create(run, password="short").output
    assert _create(run).exit_code == 0
    taken = _create(run)
    assert taken.exit_code == 1 and "已被使用" in taken.output
    bad = _create(run, "<b>Bad Name")
    assert bad.exit_code == 1 and "用户名须为" in bad.output


def test_list_shows_accounts_without_hashes(run, db_path):
    _create(run)
    store = SQLiteStore(db_path)
    try:
        sign_in(store, "yz500103", PASSWORD)
    finally:
        store.close()
    listed = run("user", "list")
    assert listed.exit_code == 0
    header, line = listed.output.splitlines()
    assert header.split("\t") == ["用户名", "工会", "角色", "代码", "创建时间", "状态", "最近登录"]
    fields = line.split("\t")
    assert fields[:4] == ["yz500103", "渝中区总工会", "区县工会", "500103"]
    assert fields[5] == "正常" and fields[6] != "-"
    assert "argon2" not in listed.output


def test_disable_ends_sessions_at_once_and_enable_lets_in_again(run, db_path):
    _create(run)
    store = SQLiteStore(db_path)
    try:
        secret, _ = sign_in(store, "yz500103", PASSWORD) or ("", None)
        assert session_of(store, secret) is not None
        assert run("user", "disable", "yz500103").exit_code == 0
        assert session_of(store, secret) is None
        assert sign_in(store, "yz500103", PASSWORD) is None
        assert "已停用" in run("user", "list").output
        assert run("user", "enable", "YZ500103").exit_code == 0
        assert sign_in(store, "yz500103", PASSWORD) is not None
    finally:
        store.close()
    missing = run("user", "disable", "nobody")
    assert missing.exit_code == 1 and "没有这个账号" in missing.output


def test_reset_password_ends_sessions_and_the_old_password(run, db_path):
    _create(run)
    store = SQLiteStore(db_path)
    try:
        secret, _ = sign_in(store, "yz500103", PASSWORD) or ("", None)
        new = "新的密码-2026-abc"
        result = run("user", "reset-password", "yz500103", "--password-stdin", input=new + "\n")
        assert result.exit_code == 0, result.output
        assert new not in result.output
        assert session_of(store, secret) is None
        assert sign_in(store, "yz500103", PASSWORD) is None
        assert sign_in(store, "yz500103", new) is not None
    finally:
        store.close()


def test_the_cli_logs_no_password(run, caplog):
    caplog.set_level(logging.DEBUG)
    out = [_create(run).output]
    out.append(
        run(
            "user", "reset-password", "yz500103", "--password-stdin", input="另一个密码-2026xyz\n"
        ).output
    )
    text = "\n".join(out) + "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in text and "另一个密码-2026xyz" not in text
