"""The failed-authentication limit: bounded, keyed by /64 for IPv6, and by token as well as
address, so that a valid token is not locked out by others' failures from one address."""

from __future__ import annotations

import re
import time
import tracemalloc
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api import auth
from api.auth import FailureLimiter
from tests.api.clients import make_app, new_bearer
from tests.builders import JIEFANGBEI

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def _body(ext: str) -> dict:
    return {
        "external_id": ext,
        "name": "民族路工会驿站",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "每天 8:00-20:00",
    }


def _post(app, address: str, headers: dict, ext: str = "X") -> int:
    client = TestClient(app, client=(address, 50000))
    return client.post("/v1/stations", json=_body(ext), headers=headers).status_code


# -- the in-process limiter ------------------------------------------------------------------


def test_limiter_memory_and_cost_stay_flat_over_200000_addresses():
    limiter = FailureLimiter(limit=10, window_s=60.0, max_clients=20_000)
    addresses = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(200_000)]
    tracemalloc.start()
    try:
        spent_s = []
        for start in range(0, 200_000, 20_000):
            t0 = time.perf_counter()
            for a in addresses[start : start + 20_000]:
                limiter.fail(a)
            spent_s.append(time.perf_counter() - t0)
            if start == 20_000:
                full_bytes = tracemalloc.get_traced_memory()[0]
        end_bytes = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(limiter) == 20_000
    # Once full, memory stays where it was (evicting as much as it adds).
    assert end_bytes < full_bytes * 1.1 + 200_000
    # The last 20,000 failures cost about what the second 20,000 did (not a rebuild each).
    assert min(spent_s[-3:]) < 3 * max(spent_s[1:3]) + 0.05
    # The newest are remembered, the oldest evicted.
    limiter_recent = addresses[-1]
    for _ in range(9):
        limiter.fail(limiter_recent)
    assert limiter.retry_after_s(limiter_recent) > 0
    assert addresses[0] not in limiter._failures


def test_limiter_forgets_a_client_a_window_after_its_last_failure(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    limiter = FailureLimiter(limit=2, window_s=60.0)
    limiter.fail("a")
    limiter.fail("a")
    assert limiter.retry_after_s("a") == 61  # whole seconds, rounded up
    now[0] += 30
    limiter.fail("b")
    assert len(limiter) == 2
    now[0] += 31  # a's last failure is 61 s old, b's 31 s
    assert limiter.retry_after_s("a") == 0
    assert len(limiter) == 1
    now[0] += 30
    assert limiter.retry_after_s("b") == 0
    assert len(limiter) == 0


# -- through the API, on both stores -----------------------------------------------------------


def test_a_new_ipv6_address_per_try_within_one_64_still_gets_429(store, districts, db_path):
    app = make_app(store, districts, db_path, auth_failures_per_minute=3)
    bad = {"Authorization": "Bearer yz_000000000000_wrong"}
    answers = [_post(app, f"2001:db8:1:2::{i:x}", bad) for i in range(1, 6)]
    assert answers == [401, 401, 401, 429, 429]
    # Another /64 is someone else.
    assert _post(app, "2001:db8:1:3::1", bad) == 401


def test_a_valid_token_is_not_locked_out_by_a_colleagues_typos(store, districts, db_path):
    app = make_app(store, districts, db_path, auth_failures_per_minute=3)
    mine, _ = new_bearer(store, "district", "500103", "渝中区总工会 王")
    colleague, _ = new_bearer(store, "district", "500103", "渝中区总工会")
    office = "203.0.113.7"
    typo = {"Authorization": colleague["Authorization"][:-2] + "xx"}
    assert [_post(app, office, typo) for _ in range(3)] == [401, 401, 401]
    # The office address is locked for tokens that are not valid ...
    assert _post(app, office, {"Authorization": "Bearer yz_000000000000_x"}) == 429
    assert _post(app, office, typo) == 429
    # ... but my valid token from the same address works,
    assert _post(app, office, mine, "M1") == 201
    # and the colleague's own token, mistyped there this often, waits like the address.
    assert _post(app, office, colleague, "C1") == 429
    # From elsewhere, the colleague's token works: nobody can lock it out remotely.
    assert _post(app, "198.51.100.9", colleague, "C2") == 201


def test_guessing_a_known_tokens_secret_from_a_locked_address_stays_limited(
    store, districts, db_path
):
    app = make_app(store, districts, db_path, auth_failures_per_minute=3)
    good, _ = new_bearer(store, "district", "500103", "渝中区总工会")
    attacker = "192.0.2.66"
    junk = {"Authorization": "Bearer yz_000000000000_x"}
    assert [_post(app, attacker, junk) for _ in range(4)] == [401, 401, 401, 429]
    guess = {"Authorization": good["Authorization"][:-4] + "abcd"}
    # Every wrong guess at the real token id is refused alike, and counts against it ...
    assert [_post(app, attacker, guess) for _ in range(3)] == [429, 429, 429]
    # ... so after three, even the right secret is held back from that address.
    assert _post(app, attacker, good, "G1") == 429
    assert _post(app, "192.0.2.67", good, "G2") == 201


# -- the README's nginx recipe ---------------------------------------------------------------


def _nginx_upstream(method: str, authorization: str) -> str:
    """Which upstream the README's nginx ``map`` sends a request to (exact-string keys)."""
    text = README.read_text(encoding="utf-8")
    block = re.search(
        r'map "\$request_method:\$http_authorization" \$yizhan_upstream \{(.*?)\}', text, re.S
    )
    assert block, "the README's nginx map keys on the method and the Authorization header"
    entries = dict(re.findall(r'^\s*("[^"]*"|\S+)\s+(\S+);', block.group(1), re.M))
    key = f'"{method}:{authorization}"'
    return entries.get(key, entries["default"])


def test_readme_nginx_sends_every_request_with_a_token_to_the_primary():
    assert _nginx_upstream("GET", "") == "yizhan_replica"
    assert _nginx_upstream("HEAD", "") == "yizhan_replica"
    assert _nginx_upstream("GET", "Bearer yz_abc_def") == "yizhan"
    assert _nginx_upstream("POST", "") == "yizhan"
    assert _nginx_upstream("POST", "Bearer yz_abc_def") == "yizhan"
