"""The 上图 history kept in the database equals a plain replay of the audit trail, through
creates, edits, deletes, an upload and its revert, over several days, on both stores."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pytest

from geodata.crs import from_wgs84
from geodata.hours import TZ
from stations.domain import figures
from stations.domain.auth import Principal, Role
from stations.domain.changes import AuditEntry
from stations.domain.figures import mapped_history
from stations.domain.listings import check_listing
from stations.domain.model import Provider, Status
from stations.domain.records import station_from_dict
from stations.services.uploads import commit_upload, plan_upload, revert_upload
from stations.storage import stations_repo
from tests.builders import GUANYINQIAO, JIEFANGBEI, make_station, station_row

ADMIN = Principal("t", "test", Role.ADMIN, None)


@pytest.fixture
def store(any_store):
    """Every backend: SQLite, and PostGIS (slow) when it is installed."""
    return any_store


def reference(entries: Iterable[AuditEntry], *, threshold_m: float) -> list[dict[str, Any]]:
    """The history as it was computed before it was kept: replay every audit entry."""
    current: dict[int, tuple[int, int, int]] = {}
    totals = [0, 0, 0]
    days: dict[str, dict[str, int]] = {}
    for e in entries:
        old = current.pop(e.station_id, (0, 0, 0))
        new = (0, 0, 0)
        if e.after is not None:
            s = station_from_dict(e.after)
            good = [
                c
                for c in (check_listing(s, li, threshold_m=threshold_m) for li in s.listings)
                if c.listed and c.keyword_linked
            ]
            active = int(s.status is Status.ACTIVE)
            listed_all = int(active and {c.provider for c in good} == set(Provider))
            precise = int(listed_all and all(c.precise for c in good))
            new = (active, listed_all, precise)
            current[e.station_id] = new
        for k in range(3):
            totals[k] += new[k] - old[k]
        days[e.at.date().isoformat()] = dict(
            zip(("active", "listed_all", "precise_all"), totals, strict=True)
        )
    return [{"date": d, **c} for d, c in sorted(days.items())]


def listings(point, *, offset_deg=0.0, providers=("amap", "baidu", "tencent"), keyword=True):
    out = []
    for p in providers:
        x, y = from_wgs84(point[0] + offset_deg, point[1], crs="bd09" if p == "baidu" else "gcj02")
        out.append(
            {
                "provider": p,
                "listed": True,
                "listed_lon": x,
                "listed_lat": y,
                "keyword_linked": keyword,
            }
        )
    return out


def test_kept_history_equals_the_replay_through_uploads_edits_and_reverts(
    store, districts, monkeypatch
):
    day = [datetime(2026, 3, 1, 9, 0, tzinfo=TZ)]
    monkeypatch.setattr(stations_repo, "now", lambda: day[0])

    def check(threshold_m: float = 50.0) -> list[dict[str, Any]]:
        got = mapped_history(store.mapped_history_days(threshold_m=threshold_m))
        assert got == reference(store.audit(), threshold_m=threshold_m)
        return got

    # Day 1: precise everywhere; listed only on Amap; on all three 800 m off; not linked.
    a = store.create(
        make_station(districts, external_id="A", listings=listings(JIEFANGBEI)), actor="t"
    )
    b = store.create(
        make_station(
            districts, external_id="B", listings=listings(JIEFANGBEI, providers=("amap",))
        ),
        actor="t",
    )
    c = store.create(
        make_station(districts, external_id="C", listings=listings(JIEFANGBEI, offset_deg=0.008)),
        actor="t",
    )
    store.create(
        make_station(districts, external_id="D", listings=listings(JIEFANGBEI, keyword=False)),
        actor="t",
    )
    assert check() == [
        {"date": "2026-03-01", "active": 4, "listed_all": 2, "precise_all": 1},
    ]  # built from the trail here; kept by every write from now on

    # Day 2: B gets listed everywhere, C is deleted, an upload adds two and edits A.
    day[0] += timedelta(days=1)
    store.update(b.with_changes(listings=a.listings), expected_version=1, actor="t")
    store.delete(c.id, expected_version=1, actor="t")
    rows = [
        (2, station_row(external_id="A", name="改名驿站", listings=listings(JIEFANGBEI))),
        (3, station_row(external_id="U1", lon=GUANYINQIAO[0], lat=GUANYINQIAO[1],
                        owner="district:500105", listings=listings(GUANYINQIAO))),
        (4, station_row(external_id="U2", status="planned", listings=listings(JIEFANGBEI))),
    ]  # fmt: skip
    upload = plan_upload(
        rows, store=store, districts=districts, by=ADMIN, filename="u.csv", crs="wgs84"
    )
    commit_upload(store, upload.id, by=ADMIN)
    check()

    # Day 4 (nothing on day 3): the upload is reverted, A closes for a while.
    day[0] += timedelta(days=2)
    revert_upload(store, upload.id, by=ADMIN)
    current_a = store.get(a.id)
    store.update(
        current_a.with_changes(status=Status.TEMPORARILY_CLOSED),
        expected_version=current_a.version,
        actor="t",
    )
    got = check()
    assert [d["date"] for d in got] == ["2026-03-01", "2026-03-02", "2026-03-04"]
    assert got[-1] == {"date": "2026-03-04", "active": 2, "listed_all": 1, "precise_all": 1}

    # Another threshold, asked for the first time now, is built from the trail and equal too;
    # with 2 km, C's 800 m listings were precise on day 1.
    wide = check(2000.0)
    assert wide[0]["precise_all"] == 2
    day[0] += timedelta(days=1)
    store.update(store.get(b.id).with_changes(listings=()), expected_version=2, actor="t")
    check()
    check(2000.0)


def test_a_read_replica_replays_the_trail_itself_and_goes_on_from_there(
    store, districts, monkeypatch
):
    from stations.domain.errors import ReadOnlyError

    def read_only(*args, **kw):
        raise ReadOnlyError("a read replica")

    monkeypatch.setattr(store, "_add_history", read_only)
    a = store.create(
        make_station(districts, external_id="A", listings=listings(JIEFANGBEI)), actor="t"
    )
    history = mapped_history(store.mapped_history_days(threshold_m=50.0))
    assert history == reference(store.audit(), threshold_m=50.0)
    assert history[0]["precise_all"] == 1
    replayed = []
    real = store._replay_history

    def counted(conn, threshold_m, *, after_id, **kw):
        replayed.append(after_id)
        return real(conn, threshold_m, after_id=after_id, **kw)

    monkeypatch.setattr(store, "_replay_history", counted)
    store.update(a.with_changes(status=Status.CLOSED), expected_version=1, actor="t")
    history = mapped_history(store.mapped_history_days(threshold_m=50.0))
    assert history == reference(store.audit(), threshold_m=50.0)
    assert history[-1]["active"] == 0
    # It went on from the first replay's last entry, not from the start of the trail.
    assert replayed[0] == store.audit()[0].id


def test_a_history_kept_under_older_counting_rules_is_rebuilt(store, districts, monkeypatch):
    store.create(make_station(districts, external_id="A", listings=listings(JIEFANGBEI)), actor="t")
    assert mapped_history(store.mapped_history_days(threshold_m=50.0))[0]["precise_all"] == 1
    # What counts changes (here: nothing is precise any more) and its rules version with it.
    for module in (figures, stations_repo):  # the store keeps its own reference to each
        monkeypatch.setattr(module, "MAPPED_COUNTS_RULES", figures.MAPPED_COUNTS_RULES + 1)
        monkeypatch.setattr(module, "mapped_counts", lambda s, threshold_m: [(1, 1, 0) for _ in s])
    store.create(make_station(districts, external_id="B", listings=listings(JIEFANGBEI)), actor="t")
    (day,) = mapped_history(store.mapped_history_days(threshold_m=50.0))
    assert (day["active"], day["precise_all"]) == (2, 0)
