"""The street networks in the store (schema 9), on both stores: one row per profile with its
arrays as one blob, a new version on every import, station lists only for the current
network, listings that never read the blobs, a 1 M-edge network and ``yizhan migrate``."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

from geodata.network import Network
from stations.domain.travel import Travel
from stations.storage.open import open_store
from stations.storage.schema import TABLES
from stations.storage.sqlite import SQLiteStore
from stations.storage.transfer import migrate
from tests.networks import synthetic_city
from tests.stores import grid_network, network_info, put_network

WALK, EBIKE = Travel.WALK, Travel.EBIKE


@pytest.fixture
def store(any_store):
    return any_store


def test_put_list_versions_arrays_remove(store) -> None:
    assert store.networks() == [] and store.network_versions() == {}
    assert store.network_arrays(WALK) is None and store.remove_network(WALK) is None
    network = grid_network("walk", n=5)
    info = store.put_network(network_info(network, name="重庆.osm.pbf"), network.to_npz())
    assert info.version >= 1 and info.source_name == "重庆.osm.pbf"
    assert (info.nodes, info.edges) == (25, network.edges)
    assert info.bbox == pytest.approx(network.bbox)
    assert info.stats == {"kept_ways": 40} and info.speeds == {"footway": 1.25}
    assert info.imported_at == network_info(network).imported_at
    ebike = put_network(store, "ebike")
    assert store.networks() == [ebike, info]  # by profile
    assert store.network_versions() == {WALK: info.version, EBIKE: ebike.version}
    stored = store.network_arrays(WALK)
    assert stored is not None and stored[0] == info
    assert isinstance(stored[1], bytes) and stored[1] == network.to_npz()
    back = Network.from_npz(stored[1])
    np.testing.assert_array_equal(back.indices, network.indices)
    assert store.remove_network(WALK) == info
    assert store.network_versions() == {EBIKE: ebike.version}
    assert store.network_arrays(WALK) is None and store.remove_network(WALK) is None


def test_every_put_is_a_new_version_never_reused(store) -> None:
    seen = [put_network(store).version]
    seen.append(put_network(store).version)  # the same network again
    seen.append(put_network(store, "ebike").version)
    store.remove_network(WALK)
    seen.append(put_network(store).version)  # after a removal
    store.remove_network(WALK)
    store.remove_network(EBIKE)
    seen.append(put_network(store).version)  # after removing every network
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


def test_station_lists_only_for_the_current_network(store) -> None:
    first = put_network(store)
    store.put_station_lists(WALK, network_version=first.version, stations_key="k1", arrays=b"L1")
    assert store.station_lists(WALK, network_version=first.version, stations_key="k1") == b"L1"
    assert store.station_lists(WALK, network_version=first.version, stations_key="k2") is None
    # Other positions replace them (one set per profile).
    store.put_station_lists(WALK, network_version=first.version, stations_key="k2", arrays=b"L2")
    assert store.station_lists(WALK, network_version=first.version, stations_key="k1") is None
    assert store.station_lists(WALK, network_version=first.version, stations_key="k2") == b"L2"
    second = put_network(store)  # a new import drops them
    assert store.station_lists(WALK, network_version=first.version, stations_key="k2") is None
    # A build that finishes after the new import keeps nothing.
    store.put_station_lists(WALK, network_version=first.version, stations_key="k2", arrays=b"L2")
    assert store.station_lists(WALK, network_version=first.version, stations_key="k2") is None
    store.put_station_lists(WALK, network_version=second.version, stations_key="k3", arrays=b"L3")
    store.remove_network(WALK)  # a removal drops them too
    assert store.station_lists(WALK, network_version=second.version, stations_key="k3") is None
    store.put_station_lists(WALK, network_version=second.version, stations_key="k3", arrays=b"L3")
    assert store.station_lists(WALK, network_version=second.version, stations_key="k3") is None


def test_a_failed_put_leaves_the_old_network(store) -> None:
    old = put_network(store)
    store.put_station_lists(WALK, network_version=old.version, stations_key="k", arrays=b"L")
    network = grid_network("walk", n=6)
    # Fails after the old rows are deleted, inside the transaction (speeds are not JSON).
    broken = dataclasses.replace(network_info(network), speeds={"footway": object()})
    with pytest.raises(TypeError):
        store.put_network(broken, network.to_npz())
    assert store.networks() == [old]
    assert store.network_arrays(WALK)[1] == grid_network("walk").to_npz()
    assert store.station_lists(WALK, network_version=old.version, stations_key="k") == b"L"


def test_listing_never_reads_the_blob(store) -> None:
    """A 30 MB blob: networks() and network_versions() stay as fast as with a tiny one."""
    network = grid_network("walk")
    info = network_info(network)
    store.put_network(dataclasses.replace(info, profile=EBIKE), b"x" * 1000)

    def listing_s() -> float:
        best = 1e9
        for _ in range(5):
            started = time.perf_counter()
            store.networks()
            store.network_versions()
            best = min(best, time.perf_counter() - started)
        return best

    small_s = listing_s()
    big = b"\x00\x01" * 15_000_000
    store.put_network(info, big)
    big_s = listing_s()
    started = time.perf_counter()
    read = store.network_arrays(WALK)
    read_s = time.perf_counter() - started
    print(
        f"\nlisting {small_s * 1e3:.2f} ms, with a 30 MB blob {big_s * 1e3:.2f} ms; "
        f"reading the blob {read_s:.3f} s"
    )
    assert read is not None and read[1] == big
    assert all(not hasattr(n, "arrays") for n in store.networks())
    assert big_s < max(5 * small_s, 0.005)  # reading 30 MB takes far longer than that
    assert read_s > big_s


@pytest.fixture(scope="module")
def city() -> Network:
    return synthetic_city(steps_share=0.01)


@pytest.mark.slow
def test_a_million_edge_network_round_trip(store, city) -> None:
    assert city.edges > 1_000_000
    started = time.perf_counter()
    blob = city.to_npz()
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    info = store.put_network(network_info(city), blob)
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    stored = store.network_arrays(WALK)
    read_s = time.perf_counter() - started
    assert stored is not None
    started = time.perf_counter()
    back = Network.from_npz(stored[1])
    decode_s = time.perf_counter() - started
    kind = type(store).__name__
    print(
        f"\n{kind}: {city.edges:,} edges, blob {len(blob) / 1e6:.1f} MB: encode {encode_s:.2f} s, "
        f"put {put_s:.2f} s, read {read_s:.2f} s, decode {decode_s:.2f} s"
    )
    assert stored[0] == info and info.edges == city.edges
    for name in Network._ARRAYS:
        np.testing.assert_array_equal(getattr(back, name), getattr(city, name), err_msg=name)


@pytest.mark.slow
def test_migrate_carries_the_networks_not_the_lists(tmp_path, pg_cluster, city) -> None:
    """sqlite -> postgis: the networks (a 1 M-edge one among them) come across byte for
    byte, one row per batch; the station lists (a cache) do not."""
    from tests.conftest import PG_TEMPLATE

    source = SQLiteStore(tmp_path / "a.sqlite3")
    target = open_store(pg_cluster.new_database(template=PG_TEMPLATE))
    try:
        walk = source.put_network(network_info(city), city.to_npz())
        ebike = put_network(source, "ebike")
        source.put_station_lists(WALK, network_version=walk.version, stations_key="k", arrays=b"L")
        assert "networks" in TABLES and "network_station_lists" not in TABLES
        pages = list(source.iter_table("networks", batch=500))
        assert [len(p) for p in pages] == [1, 1]  # a row can be 50 MB: one at a time
        counts = migrate(source, target)
        assert counts["networks"] == 2
        assert target.networks() == [*source.networks()]
        assert target.network_arrays(WALK) == source.network_arrays(WALK)
        assert target.network_arrays(EBIKE)[0] == ebike
        assert target.station_lists(WALK, network_version=walk.version, stations_key="k") is None
        # The target goes on from the source's versions: never one a worker has seen.
        assert put_network(target).version > max(walk.version, ebike.version)
    finally:
        source.close()
        target.close()


@pytest.mark.slow
def test_a_50_mb_row_is_no_request_query_on_postgis(pg_cluster) -> None:
    """PostGIS: a 50 MB network is written and read under the bulk limit, not the 0.05 s a
    request's query may take here."""
    from stations.domain.errors import DatabaseTimeoutError
    from stations.storage.store import Timeouts
    from tests.conftest import PG_TEMPLATE

    store = open_store(
        pg_cluster.new_database(template=PG_TEMPLATE),
        timeouts=Timeouts(read_s=0.05, lock_s=5.0, write_s=60.0),
    )
    try:
        blob = np.random.default_rng(3).random(6_250_000).tobytes()  # 50 MB, incompressible
        info = network_info(grid_network())
        started = time.perf_counter()
        stored = store.put_network(info, blob)
        put_s = time.perf_counter() - started
        started = time.perf_counter()
        read = store.network_arrays(WALK)
        read_s = time.perf_counter() - started
        print(f"\nPostGIS, 50 MB row: put {put_s:.2f} s, read {read_s:.2f} s")
        assert read is not None and read[0] == stored and read[1] == blob
        # Blob reads run under the bulk limit; a request's query is cancelled at 0.05 s.
        store._blob_conn().execute("SELECT pg_sleep(0.1)")
        with pytest.raises(DatabaseTimeoutError):
            store._conn().execute("SELECT pg_sleep(0.1)")
        store.put_station_lists(WALK, network_version=stored.version, stations_key="k", arrays=blob)
        kept = store.station_lists(WALK, network_version=stored.version, stations_key="k")
        assert kept == blob
        assert store.network_versions() == {WALK: stored.version}  # the small ones: fine
    finally:
        store.close()
