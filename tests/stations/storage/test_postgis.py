"""What only a PostGIS deployment does: several workers, restarts, load, PostGIS's own KNN."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import numpy as np
import psycopg
import pytest

from geodata.hours import TZ
from stations.domain.auth import new_token
from stations.domain.changes import Create, StationQuery
from stations.domain.errors import DatabaseTimeoutError
from stations.readmodel.index import StationIndex
from stations.services.accounts import create_account
from stations.services.uploads import commit_upload, plan_upload
from stations.storage.postgis import PostGISStore
from stations.storage.store import Timeouts
from tests.builders import JIEFANGBEI, make_station
from tests.live import call, get_json, serve
from tests.stations.storage.test_reliability import TEN, rows_for, union
from tests.stores import put_network, stored_text

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(pg_cluster) -> str:
    from tests.conftest import PG_TEMPLATE

    return pg_cluster.new_database(template=PG_TEMPLATE)


def post(url: str, body: dict, token: str) -> dict:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def admin_token(url: str) -> str:
    with PostGISStore(url) as store:
        token, record = new_token("admin", name="city", code=None, now=datetime.now(TZ))
        store.save_token(record)
    return token


def station_body(external_id: str) -> dict:
    return {
        "external_id": external_id,
        "owner": "district:500103",
        "name": f"写在甲读在乙 {external_id}",
        "lon": JIEFANGBEI[0],
        "lat": JIEFANGBEI[1],
        "hours": "24小时",
    }


NEAREST_ALL = f"/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}&status=any"


def assert_seen_everywhere_within_a_second(base: str, written: float, count: int) -> None:
    """Polls until the write shows (within 1 s of it); then, from 1 s on, every read of
    every worker behind ``base`` must show it."""
    while get_json(base + NEAREST_ALL)["count"] < count:
        assert time.monotonic() - written < 1.0, "the write was not seen within 1 s"
        time.sleep(0.02)
    time.sleep(max(0.0, written + 1.0 - time.monotonic()))
    # Each request is a new connection, spread over the workers by the kernel.
    assert all(get_json(base + NEAREST_ALL)["count"] == count for _ in range(40))


def test_workers_of_two_servers_see_a_write_within_a_second(pg_url, districts):
    token = admin_token(pg_url)
    with serve(pg_url) as a, serve(pg_url, "--workers", "2") as b:
        assert get_json(b.base + NEAREST_ALL)["count"] == 0
        post(a.base + "/v1/stations", station_body("W1"), token)
        assert_seen_everywhere_within_a_second(b.base, time.monotonic(), 1)
        post(b.base + "/v1/stations", station_body("W2"), token)
        assert_seen_everywhere_within_a_second(a.base, time.monotonic(), 2)


def test_a_server_on_a_read_replica_sees_writes_and_refuses_its_own(pg_cluster, districts):
    if pg_cluster.datadir is None:
        pytest.skip("the server was given by URL: the test cannot make a replica of it")
    from tests.conftest import PG_TEMPLATE

    primary_url = pg_cluster.new_database(template=PG_TEMPLATE)
    token = admin_token(primary_url)
    with pg_cluster.replica() as standby:
        replica_url = standby.url(primary_url.rpartition("/")[2])
        with serve(primary_url) as primary, serve(replica_url) as replica:
            assert get_json(replica.base + "/healthz")["read_only"] is True
            assert "read_only" not in get_json(primary.base + "/healthz")
            post(primary.base + "/v1/stations", station_body("R1"), token)
            assert_seen_everywhere_within_a_second(replica.base, time.monotonic(), 1)
            with pytest.raises(urllib.error.HTTPError) as err:
                post(replica.base + "/v1/stations", station_body("R2"), token)
            assert err.value.code == 503
            assert json.loads(err.value.read())["type"] == "/problems/read_only"
            # A bad token there is refused as anywhere (its failure counted by the worker:
            # a replica cannot record it in the database).
            bad = {"Authorization": "Bearer yz_000000000000_wrong"}
            for _ in range(3):
                assert call(replica.base + "/v1/feedback", headers=bad).status == 401
        # The operator is told at the start which kind of server this is.
        assert "the database is a read-only replica" in replica.output
        assert "read-only replica" not in primary.output
    with PostGISStore(primary_url) as store:
        assert [s.external_id for s in store.iter_all()] == ["R1"]


def test_a_database_restart_gives_503_then_recovers(pg_url, pg_cluster, districts):
    if pg_cluster.datadir is None:
        pytest.skip("the server was given by URL: the test cannot restart it")
    with PostGISStore(pg_url) as store:
        store.create(make_station(districts), actor="t")
    # A password in the URL (the test server trusts local users, so it goes unchecked):
    # it must reach neither the output nor a client.
    secret = "s3cret-Pa55"
    url = pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    assert secret in url
    with serve(url) as server:
        q = f"{server.base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
        assert get_json(q)["count"] == 1
        pg_cluster.stop()
        try:
            stopped = time.monotonic()
            while True:
                asked = time.monotonic()
                try:
                    get_json(q)
                except urllib.error.HTTPError as exc:
                    refused = exc
                    break
                assert time.monotonic() - stopped < 3, "still answering 200 3 s after the stop"
                time.sleep(0.05)
            assert time.monotonic() - asked < 0.5  # said at once, not after a timeout
            assert refused.code == 503
            assert refused.headers["Retry-After"] == "5"
            assert refused.headers["Content-Type"] == "application/problem+json"
            body = refused.read().decode()
            assert json.loads(body)["type"] == "/problems/database_unavailable"
            assert secret not in body and "127.0.0.1" not in body
        finally:
            pg_cluster.start()
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get_json(q)["count"] == 1
                break
            except urllib.error.HTTPError as exc:
                if exc.code != 503 or time.monotonic() > deadline:
                    raise  # another error, or no recovery within 30 s
                time.sleep(0.2)
    assert "yizhan serving postgresql://postgres:***@" in server.output
    assert secret not in server.output


def test_pooled_connections_outlive_a_server_restart(pg_url, pg_cluster, districts):
    if pg_cluster.datadir is None:
        pytest.skip("the server was given by URL: the test cannot restart it")
    with PostGISStore(pg_url, min_size=4) as store:
        store.create(make_station(districts), actor="t")
        pg_cluster.stop()
        pg_cluster.start()
        # Every pooled connection was closed by the server: each is found out and
        # replaced when lent, and no one sees an error.
        for _ in range(8):
            assert store.count() == 1
        store.create(make_station(districts, external_id="B"), actor="t")


def test_in_process_nearest_matches_postgis_knn(pg_url, districts):
    rng = np.random.default_rng(7)
    lon = JIEFANGBEI[0] + rng.normal(0, 0.15, 600)
    lat = JIEFANGBEI[1] + rng.normal(0, 0.15, 600)
    inside = districts.lookup(lon, lat) != ""
    with PostGISStore(pg_url) as store:
        store.apply(
            [
                Create(
                    make_station(
                        districts,
                        owner="industry:transport",
                        external_id=f"K{i}",
                        lon=float(x),
                        lat=float(y),
                    )
                )
                for i, (x, y) in enumerate(zip(lon[inside], lat[inside], strict=True))
            ],
            actor="t",
        )
        index = StationIndex.build(store)
        now = datetime.now(TZ)
        for _ in range(60):
            x, y = JIEFANGBEI[0] + rng.normal(0, 0.2), JIEFANGBEI[1] + rng.normal(0, 0.2)
            ours = [(h.station.id, h.distance_m) for h in index.search(x, y, k=10, at=now)]
            theirs = store.knn(x, y, k=10)
            assert [d for _, d in ours] == pytest.approx([d for _, d in theirs], abs=1e-3)
            assert [i for i, _ in ours] == [i for i, _ in theirs]


def test_ten_unions_upload_while_riders_query(pg_url, districts):
    PostGISStore(pg_url).close()
    errors: list[BaseException] = []
    queries = [0]
    done = threading.Event()

    def upload(adcode: str, seed: int) -> None:
        store = PostGISStore(pg_url)  # its own pool, as a separate worker would
        try:
            by = union(adcode)
            up = plan_upload(
                rows_for(districts.get(adcode), 100, seed),
                store=store,
                districts=districts,
                by=by,
                filename=f"{adcode}.csv",
                crs="wgs84",
            )
            commit_upload(store, up.id, by=by)
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    with serve(pg_url) as server:

        def ride() -> None:
            q = f"{server.base}/v1/stations/nearest?lon={JIEFANGBEI[0]}&lat={JIEFANGBEI[1]}"
            while not done.is_set():
                try:
                    get_json(q)
                    queries[0] += 1
                except BaseException as exc:
                    errors.append(exc)
                    return

        riders = [threading.Thread(target=ride) for _ in range(3)]
        unions = [threading.Thread(target=upload, args=(a, i)) for i, a in enumerate(TEN)]
        for t in riders + unions:
            t.start()
        for t in unions:
            t.join()
        done.set()
        for t in riders:
            t.join()
    assert errors == []
    assert queries[0] > 0
    with PostGISStore(pg_url) as store:
        stations = list(store.iter_all())
        keys = {(str(s.owner), s.external_id) for s in stations}
        assert len(stations) == len(keys) == 1000
        assert len([b for b in store.batches() if b.kind == "upload"]) == 10


def _one_of_each_operation(store, station_id):
    """A row in each schema-8 table, photos' bytes included (NUL and high bytes)."""
    at = datetime.now(TZ).isoformat()
    with store._write() as c:
        c.execute(
            "INSERT INTO visit_counts (station_id, district_adcode, day, hour, n, n_delivery) "
            "VALUES (?, '500103', '2026-12-01', 12, 3, 3)",
            (station_id,),
        )
        rating = c.execute(
            "INSERT INTO ratings (station_id, owner, stars, comment, client_hash, created_at, "
            "updated_at) VALUES (?, 'district:500103', 2, '太脏', 'h', ?, ?) RETURNING id",
            (station_id, at, at),
        ).fetchone()[0]
        case = c.execute(
            "INSERT INTO cases (station_id, owner, district_adcode, source, kind, rating_id, "
            "state, opened_at, due_at, state_at, receipt_sha256) VALUES (?, 'district:500103', "
            "'500103', 'rating', 'low_rating', ?, 'open', ?, ?, ?, 'ab') RETURNING id",
            (station_id, rating, at, at, at),
        ).fetchone()[0]
        c.execute(
            "INSERT INTO case_events (case_id, at, actor, to_state) VALUES (?, ?, 'reporter', "
            "'open')",
            (case, at),
        )
        inspection = c.execute(
            "INSERT INTO inspections (station_id, owner, district_adcode, inspected_at, "
            "recorded_at, actor, announced, results, checklist_version, station_version) "
            "VALUES (?, 'district:500103', '500103', ?, ?, 't', 0, '{}', 'v', 2) RETURNING id",
            (station_id, at, at),
        ).fetchone()[0]
        c.execute(
            "INSERT INTO inspection_photos (inspection_id, seq, content_type, width, height, "
            "sha256, data, thumb) VALUES (?, 1, 'image/jpeg', 2, 1, 'x', ?, ?)",
            (inspection, bytes(range(256)), b"\x00\xff\x00"),
        )
        c.execute(
            "INSERT INTO rectifications (station_id, district_adcode, inspection_id, item_code, "
            "item_label, opened_at, due_at) VALUES (?, '500103', ?, 'hygiene', '卫生', ?, ?)",
            (station_id, inspection, at, at),
        )
        c.execute(
            "INSERT INTO star_ratings (station_id, computed_at, district_adcode, stars, score, "
            "rules_version) VALUES (?, ?, '500103', 4, 81.5, 'v1')",
            (station_id, at),
        )


def test_migrate_sqlite_to_postgis_and_back_loses_nothing(tmp_path, pg_url, districts):
    from click.testing import CliRunner

    from stations.cli import main
    from stations.domain.feedback import FeedbackKind, NewFeedback
    from stations.services.demand import sample_demand
    from stations.storage.sqlite import SQLiteStore
    from stations.storage.sqlstore import TABLES

    first = tmp_path / "first.sqlite3"
    with SQLiteStore(first) as store:
        by = union("500103")
        up = plan_upload(
            rows_for(districts.get("500103"), 30, 1),
            store=store,
            districts=districts,
            by=by,
            filename="a.csv",
            crs="wgs84",
        )
        commit_upload(store, up.id, by=by)
        one = next(store.iter_all())
        store.update(one.with_changes(name="改过的名字"), expected_version=1, actor="t")
        store.delete(one.id + 1, expected_version=1, actor="t")
        store.save_token(new_token("admin", name="市总", code=None, now=datetime.now(TZ))[1])
        create_account(
            store,
            districts,
            username="city",
            password="市总-password-1",
            role="admin",
            code=None,
            name="重庆市总工会",
        )
        store.save_demand(sample_demand(districts, points=200), actor="t")
        store.add_feedback(
            NewFeedback(
                one.id, "district:500103", FeedbackKind.LOCKED, "锁门", "h" * 32, datetime.now(TZ)
            )
        )
        _one_of_each_operation(store, one.id)
        walk = put_network(store)  # issue 17: networks are copied, their lists are not
        store.put_station_lists(
            walk.profile, network_version=walk.version, stations_key="k", arrays=b"L"
        )
        _an_event(store, one.id)  # schema 11: events and their audit
        before = {t: store.export_table(t) for t in TABLES}
    assert all(before[t] for t in TABLES)  # every kind of record is exercised

    back = tmp_path / "back.sqlite3"
    runner = CliRunner()
    for src, dst in ((f"sqlite:///{first}", pg_url), (pg_url, f"sqlite:///{back}")):
        result = runner.invoke(main, ["migrate", "--from", src, "--to", dst])
        assert result.exit_code == 0, result.output
    with PostGISStore(pg_url) as pg, SQLiteStore(back) as again:
        for t in TABLES:
            assert pg.export_table(t) == before[t], t
            assert again.export_table(t) == before[t], t
        # Both keep working: a new station takes a new id after the copied ones.
        new = pg.create(make_station(districts, external_id="NEW"), actor="t")
        assert new.id > max(r[0] for r in before["stations"])
        assert again.find(one.id).name == "改过的名字"
    # A non-empty target is refused, untouched.
    result = runner.invoke(main, ["migrate", "--from", f"sqlite:///{first}", "--to", pg_url])
    assert result.exit_code != 0
    assert "not empty" in result.output


def test_someone_elses_database_or_a_newer_registry_is_refused_untouched(pg_cluster, pg_url):
    import psycopg

    from stations.domain.errors import SchemaError

    theirs = pg_cluster.new_database()
    with psycopg.connect(theirs, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id integer)")
    with pytest.raises(SchemaError, match="not a yizhan registry"):
        PostGISStore(theirs)
    with psycopg.connect(theirs) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        assert [r[0] for r in tables] == ["invoices"]

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE yizhan_schema SET version = 99")
    with pytest.raises(SchemaError, match="newer yizhan"):
        PostGISStore(pg_url)


# -- time limits -----------------------------------------------------------------------------


@contextmanager
def locked(url: str, table: str, *, release_after_s: float | None = None) -> Iterator[None]:
    """Another session holds ``table`` in ACCESS EXCLUSIVE mode (as a migration's ALTER
    TABLE or an operator's VACUUM FULL does) until the block ends, or ``release_after_s``."""
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        timer = threading.Timer(release_after_s or 0, conn.rollback)
        if release_after_s is not None:
            timer.start()
        try:
            yield
        finally:
            timer.cancel()
            if release_after_s is not None:
                timer.join()


def test_each_connection_gets_the_configured_limits(pg_url):
    limits = Timeouts(read_s=2.5, lock_s=1.5, write_s=90)
    with PostGISStore(pg_url, timeouts=limits) as store:
        c = store._conn()
        shown = [c.execute(f"SHOW {name}").fetchone()[0] for name in TIMEOUT_SETTINGS]
        assert shown == ["2500ms", "1500ms", "90s"]
    with PostGISStore(pg_url) as store:  # the defaults
        c = store._conn()
        shown = [c.execute(f"SHOW {name}").fetchone()[0] for name in TIMEOUT_SETTINGS]
        assert shown == ["30s", "10s", "10min"]


TIMEOUT_SETTINGS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")


def test_a_slow_query_is_cancelled_and_the_connection_stays_usable(pg_url):
    with PostGISStore(pg_url, timeouts=Timeouts(read_s=0.3), max_size=1) as store:
        started = time.monotonic()
        with pytest.raises(DatabaseTimeoutError, match="statement timeout") as err:
            store._conn().execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2
        assert not err.value.lock
        assert store.count() == 0  # the one pooled connection still works


def test_reads_wait_for_a_lock_only_so_long_while_writes_and_bulk_reads_wait_longer(
    pg_url, districts
):
    limits = Timeouts(read_s=5, lock_s=0.3, write_s=20)
    with PostGISStore(pg_url, timeouts=limits) as store:
        store.create(make_station(districts, external_id="A"), actor="t")
        with locked(pg_url, "stations"):
            started = time.monotonic()
            with pytest.raises(DatabaseTimeoutError, match="lock timeout") as err:
                store.query(StationQuery())
            assert err.value.lock
            assert time.monotonic() - started < 2
        # A write queues behind the lock (as behind a long commit) with the write limit.
        with locked(pg_url, "stations", release_after_s=1.5):
            started = time.monotonic()
            store.create(make_station(districts, external_id="B"), actor="t")
            assert time.monotonic() - started > 1.2
        # So does a bulk read: the read index loading the registry.
        with locked(pg_url, "stations", release_after_s=1.5):
            assert [s.external_id for s in store.iter_all()] == ["A", "B"]


def test_a_writer_waits_its_turn_behind_a_long_write_but_not_for_ever(pg_url, districts):
    import psycopg

    from stations.storage.postgis import _WRITE_LOCK

    def hold_the_write_lock(seconds: float) -> threading.Thread:
        """Another worker's write transaction, as long as a big upload's commit."""
        held = threading.Event()

        def run() -> None:
            with psycopg.connect(pg_url) as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_WRITE_LOCK,))
                held.set()
                time.sleep(seconds)

        t = threading.Thread(target=run)
        t.start()
        held.wait(10)
        return t

    patient = Timeouts(read_s=0.3, lock_s=0.3, write_s=10)
    with PostGISStore(pg_url, timeouts=patient) as store:
        other = hold_the_write_lock(1.5)
        store.create(make_station(districts, external_id="A"), actor="t")
        other.join()
    impatient = Timeouts(read_s=0.3, lock_s=0.3, write_s=0.5)
    with PostGISStore(pg_url, timeouts=impatient) as store:
        other = hold_the_write_lock(3)
        with pytest.raises(DatabaseTimeoutError):
            store.create(make_station(districts, external_id="B"), actor="t")
        other.join()
        assert [s.external_id for s in store.iter_all()] == ["A"]  # B was not half-written


def test_a_request_stuck_on_a_lock_gets_504_problem_and_the_log_says_why(pg_url, districts):
    secret = "s3cret-Pa55"
    url = pg_url.replace("postgresql://postgres@", f"postgresql://postgres:{secret}@")
    limits = {"YIZHAN_STATEMENT_TIMEOUT_S": "3", "YIZHAN_LOCK_TIMEOUT_S": "0.5"}
    with serve(url, env=limits) as server:
        assert get_json(server.base + "/v1/demand") == {"layers": []}
        with locked(pg_url, "demand_layers"):
            started = time.monotonic()
            with pytest.raises(urllib.error.HTTPError) as err:
                get_json(server.base + "/v1/demand")
            assert time.monotonic() - started < 3
        assert err.value.code == 504
        assert err.value.headers["Content-Type"] == "application/problem+json"
        assert err.value.headers["Retry-After"] == "5"
        body = err.value.read().decode()
        assert json.loads(body)["type"] == "/problems/database_timeout"
        assert secret not in body and "127.0.0.1" not in body and "lock" not in body
        assert get_json(server.base + "/v1/demand") == {"layers": []}  # the lock is gone
    assert "database timeout on GET /v1/demand" in server.output
    assert "lock timeout" in server.output
    assert secret not in server.output


# -- the failed-authentication limit across workers -------------------------------------------


def test_two_servers_together_allow_only_the_limit_of_failures_from_one_address(pg_url):
    good = {"Authorization": f"Bearer {admin_token(pg_url)}"}
    bad = {"Authorization": "Bearer yz_000000000000_not-the-secret"}
    limit = {"YIZHAN_AUTH_FAILURES_PER_MINUTE": "4"}
    with serve(pg_url, env=limit) as a, serve(pg_url, "--workers", "2", env=limit) as b:
        servers = [a.base, b.base, b.base, a.base, b.base, a.base]

        def create(base: str, headers: dict, ext: str, source: str) -> int:
            answer = call(
                base + "/v1/stations",
                method="POST",
                body=station_body(ext),
                headers=headers,
                source=source,
            )
            return answer.status

        # Spread over two servers and three worker processes, 127.0.0.2 gets 4 tries.
        tries = [create(base, bad, "X", "127.0.0.2") for base in servers]
        assert tries == [401, 401, 401, 401, 429, 429]
        refused = call(a.base + "/v1/stations", method="POST", headers=bad, source="127.0.0.2")
        assert refused.body["type"] == "/problems/too_many_requests"
        assert 50 <= int(refused.headers["retry-after"]) <= 60
        # A valid token is not held back by others' failures from the address (it has
        # none of its own); everyone else's works, on every worker.
        assert create(b.base, good, "G0", "127.0.0.2") == 201
        for i, base in enumerate(servers):
            assert create(base, good, f"G{i + 1}", "127.0.0.3") == 201
        assert create(a.base, bad, "X", "127.0.0.3") == 401
    with psycopg.connect(pg_url) as conn:
        kept = conn.execute("SELECT * FROM auth_failures").fetchall()
    assert len(kept) == 5  # four from .2, one from .3: a hash and a time each, no token
    assert all(len(row) == 2 and "127.0.0" not in row[0] for row in kept)
    with PostGISStore(pg_url) as store:
        assert "not-the-secret" not in stored_text(store)


def _an_event(store, station_id: int) -> None:
    from stations.domain.events import check_event

    spec = check_event(
        {
            "title": "送温暖",
            "kind": "送温暖",
            "station_ids": [station_id],
            "start": "2026-12-20 10:00",
            "end": "2026-12-20 12:00",
        }
    )
    made = store.add_event(spec, owner="district:500103", actor="t", at=datetime.now(TZ))
    assert made.id is not None
