"""The national sample (yizhan demo --national): deterministic, over 31 provinces, dense in
cities, every station 示例, loaded with the country's counties on both stores."""

from __future__ import annotations

from collections import Counter

import pytest
from click.testing import CliRunner

import stations.services.sample as sample_module
from geodata.districts import Districts, china_counties, provinces
from stations.cli import main
from stations.domain.validation import build_station
from stations.services.demo import NATIONAL_TOTAL, national_counts, national_rows
from stations.services.sample import load_demo
from stations.storage.sqlite import SQLiteStore

TOTAL = 4000  # 1/46 of the national sample; the full 186,000 in the slow test


@pytest.fixture(scope="module")
def counties() -> Districts:
    return china_counties()


@pytest.fixture(scope="module")
def rows(counties: Districts) -> list[dict]:
    return list(national_rows(counties, total=TOTAL, seed=18))


@pytest.fixture(scope="module")
def stations(rows: list[dict], counties: Districts) -> list:
    return [build_station(r, districts=counties) for r in rows]


def test_same_seed_same_stations_another_seed_others(rows, counties):
    assert list(national_rows(counties, total=TOTAL, seed=18)) == rows
    other = list(national_rows(counties, total=TOTAL, seed=19))
    assert len(other) == TOTAL
    assert [(r["lon"], r["lat"]) for r in other] != [(r["lon"], r["lat"]) for r in rows]


def test_a_countys_stations_do_not_depend_on_the_others(counties):
    # Each county draws from its own generator: with a total twice as big, a county's
    # first stations stay where they were.
    small = [r for r in national_rows(counties, total=TOTAL, seed=18) if "500103" in r["owner"]]
    big = [r for r in national_rows(counties, total=TOTAL + 500, seed=18) if "500103" in r["owner"]]
    assert len(big) > len(small) > 0
    assert [r["name"] for r in big[: len(small)]][:3] == [r["name"] for r in small][:3]


def test_every_row_is_valid_in_its_county_and_marked_sample(stations, rows, counties):
    assert len(stations) == TOTAL
    assert all(s.sample and "示例" in s.name and "示例" in s.address for s in stations)
    for s, r in zip(stations, rows, strict=True):
        if r["owner"].startswith("district:"):
            assert s.district_adcode == r["owner"].removeprefix("district:")
    # The address names the province and the county the station lies in.
    for s in stations[:200]:
        county = counties.get(s.district_adcode)
        assert county.name in s.address
        assert county.province in s.address


def test_all_31_provinces_plausible_shares(stations, counties):
    names = {code: p.name for code, p in provinces(counties).items()}
    per = Counter(names[s.district_adcode[:2]] for s in stations)
    assert len(per) == 31
    shares = {k: n / TOTAL for k, n in per.items()}
    # No province has less than 0.5 % or more than 8 % (Sichuan, 183 counties, is the most).
    assert min(shares.values()) > 0.005 and max(shares.values()) < 0.08
    assert shares["四川省"] > shares["宁夏回族自治区"] * 3


def test_the_full_sample_is_dense_in_cities(counties):
    counts = national_counts(counties)
    assert sum(counts.values()) == NATIONAL_TOTAL and min(counts.values()) >= 5
    # Most stations lie in urban districts (区), though they are a third of the counties.
    in_qu = sum(n for code, n in counts.items() if counties.get(code).name.endswith("区"))
    qu = sum(d.name.endswith("区") for d in counties)
    assert qu / len(counties) < 0.4 and 0.65 < in_qu / NATIONAL_TOTAL < 0.8
    # A capital's core holds more than a rural county of its province, many times denser;
    # Chongqing gets about what it reported (5,523 in September 2024).
    assert counts["510104"] > 3 * counts["513433"]  # 成都锦江区 vs 凉山冕宁县
    assert 5000 < sum(n for code, n in counts.items() if code.startswith("50")) < 6500
    per_province = Counter()
    for code, n in counts.items():
        per_province[code[:2]] += n
    assert per_province["44"] > per_province["64"] * 3  # 广东 vs 宁夏


def test_shares_of_hours_amenities_entry_and_listings_look_real(stations):
    share_24h = sum(s.self_service_24h for s in stations) / TOTAL
    assert 0.05 < share_24h < 0.09
    assert Counter(s.status.value for s in stations)["active"] / TOTAL > 0.9
    assert {m for s in stations for m in s.entry_methods} >= {"staffed", "qr", "face"}
    listed = [li for s in stations for li in s.listings if li.listed]
    assert 0.5 < len(listed) / (3 * TOTAL) < 0.8
    assert {li.crs.value for li in listed} == {"gcj02", "bd09"}


def test_local_phone_codes_and_brand(rows):
    beijing = [r for r in rows if r["owner"] == "district:110101"]
    assert beijing and all(r["contact_phone"].startswith("010-") for r in beijing)
    # Chongqing's own brand only in Chongqing.
    assert {r["brand"] for r in rows if r["address"].startswith("重庆市")} == {"", "渝工港湾"}
    assert {r["brand"] for r in rows if not r["address"].startswith("重庆市")} == {""}


def test_the_national_total_is_the_acftus_count():
    assert NATIONAL_TOTAL == 186_000


def test_loading_on_either_store_keeps_every_county(any_store, counties):
    done = load_demo(any_store, counties, seed=18, total=3000, national=True)
    assert done.loaded and done.stations + done.skipped == 3000 and done.skipped <= 3
    stored = list(any_store.iter_all())
    assert len(stored) == done.stations
    assert all(s.sample for s in stored)
    assert len({s.district_adcode[:2] for s in stored}) == 31
    assert all(s.district_adcode in counties for s in stored)


def test_the_command_loads_the_national_sample_and_says_how_to_serve_it(tmp_path, counties):
    path = tmp_path / "n.sqlite3"
    result = CliRunner().invoke(
        main, ["demo", "--national", "--total", "3000", "--database", f"sqlite:///{path}"]
    )
    assert result.exit_code == 0, result.output
    assert "loaded 3,000 sample stations" in result.output or "loaded 2,9" in result.output
    assert "YIZHAN_DISTRICTS_SOURCE=china" in result.output  # stderr is mixed in
    assert "全国区县" in result.output
    with SQLiteStore(path) as store:
        assert len({s.district_adcode[:2] for s in store.iter_all()}) == 31


@pytest.mark.slow
def test_the_full_national_sample_has_186000_in_every_county(counties):
    total = 0
    owners: Counter[str] = Counter()
    for row in national_rows(counties, seed=20241):
        total += 1
        owners[row["owner"]] += 1
    assert total == NATIONAL_TOTAL
    county_owners = {o.removeprefix("district:") for o in owners if o.startswith("district:")}
    assert county_owners == set(counties.adcodes)  # at least 5 a county, most its own


def test_a_big_sample_is_stored_in_batches_replacing_the_earlier_one(
    tmp_path, districts, monkeypatch
):
    monkeypatch.setattr(sample_module, "BATCH", 100)
    with SQLiteStore(tmp_path / "b.sqlite3") as store:
        load_demo(store, districts, seed=1, total=120)
        before = {s.id for s in store.iter_all()}
        seen: list[int] = []
        done = load_demo(store, districts, seed=2, total=250, replace=True, on_stored=seen.append)
        assert done.stations + done.skipped == 250
        assert seen == [100, 200, done.stations]
        stations = list(store.iter_all())
        assert len(stations) == done.stations  # the earlier 120 are gone, in the first batch
        assert not before & {s.id for s in stations}
        assert [b.kind for b in store.batches(limit=10)][:3] == ["demo"] * 3
