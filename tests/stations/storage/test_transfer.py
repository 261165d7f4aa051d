"""``yizhan migrate``'s copy, a batch at a time: every table row for row, photos' bytes
equal, whatever the batch size."""

from __future__ import annotations

import pytest

from stations.domain.travel import Travel
from stations.storage.schema import TABLES
from stations.storage.sqlite import SQLiteStore
from stations.storage.transfer import migrate
from tests.builders import make_station
from tests.osm_city import import_city
from tests.stations.storage.test_postgis import _one_of_each_operation


@pytest.mark.parametrize("batch", [1, 2, 500])
def test_a_registry_is_copied_row_for_row_in_batches(tmp_path, districts, batch):
    with SQLiteStore(tmp_path / "a.sqlite3") as source:
        made = [
            source.create(make_station(districts, external_id=f"S{i}"), actor="t") for i in range(5)
        ]
        source.delete(made[1].id, expected_version=1, actor="t")
        _one_of_each_operation(source, made[0].id)
        before = {t: source.export_table(t) for t in TABLES}
        pages = list(source.iter_table("stations", batch=batch))
        assert all(len(p) <= batch for p in pages)
        assert [r for p in pages for r in p] == before["stations"]
        with SQLiteStore(tmp_path / "b.sqlite3") as target:
            counts = migrate(source, target, batch=batch)
            assert counts["stations"] == 4 and counts["inspection_photos"] == 1
            for t in TABLES:
                assert target.export_table(t) == before[t], t
            photo = target.export_table("inspection_photos")[0]
            assert bytes(range(256)) in photo
            # Codes came along: the deleted station's too (never reused).
            assert target.station_for_code(made[1].code) == made[1].id
            assert target.get(made[0].id).code == made[0].code


def test_a_copy_that_differs_is_reported(tmp_path, districts, monkeypatch):
    with (
        SQLiteStore(tmp_path / "a.sqlite3") as source,
        SQLiteStore(tmp_path / "b.sqlite3") as target,
    ):
        source.create(make_station(districts, external_id="S"), actor="t")
        real = SQLiteStore.iter_table

        def lossy(self, table, *, batch=500):
            for rows in real(self, table, batch=batch):
                yield rows[:-1] if self is target and table == "stations" else rows

        monkeypatch.setattr(SQLiteStore, "iter_table", lossy)
        with pytest.raises(RuntimeError, match="stations differs"):
            migrate(source, target)


def test_the_street_networks_come_across_and_versions_keep_rising(tmp_path):
    """``yizhan migrate`` carries each profile's network (its arrays byte for byte) and the
    version sequence: the next import in the new registry gets a version no worker of the
    old one has loaded (the station lists are a cache: not copied, rebuilt)."""
    with SQLiteStore(tmp_path / "a.sqlite3") as source:
        walk = import_city(source, tmp_path, "walk")
        ebike = import_city(source, tmp_path, "ebike")
        source.put_station_lists(
            Travel.WALK, network_version=walk.version, stations_key="k", arrays=b"lists"
        )
        arrays = {t: source.network_arrays(t) for t in (Travel.WALK, Travel.EBIKE)}
        with SQLiteStore(tmp_path / "b.sqlite3") as target:
            migrate(source, target)
            assert target.network_versions() == {
                Travel.WALK: walk.version,
                Travel.EBIKE: ebike.version,
            }
            for t, got in arrays.items():
                assert target.network_arrays(t) == got
            assert (
                target.station_lists(Travel.WALK, network_version=walk.version, stations_key="k")
                is None
            )
            again = import_city(target, tmp_path, "walk")
            assert again.version > max(walk.version, ebike.version)
