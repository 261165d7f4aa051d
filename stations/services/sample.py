"""Loading the sample registry (示例数据): stations and a demand layer, into a store of
sample data only. The rows and points themselves are made by services.demo and
services.demand (which imports demo: this module sits above both, so no cycle)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from geodata.districts import Districts
from stations.domain.changes import Change, Create, Delete
from stations.domain.demand import DemandLayer
from stations.domain.validation import ValidationError, build_station
from stations.services.accounts import create_account
from stations.services.demand import sample_demand
from stations.services.demo import DEFAULT_TOTAL, national_rows, sample_rows
from stations.storage.store import Store


class RealStationsError(ValueError):
    """The registry holds real stations: the sample is loaded only beside other samples."""

    def __init__(self, real: int) -> None:
        self.real = real
        super().__init__(
            f"the registry holds {real:,} real stations; the sample is "
            "only loaded into a registry of sample data. Use another --database."
        )


@dataclass(frozen=True)
class DemoLoad:
    """What :func:`load_demo` did: ``already`` sample stations found and kept (nothing
    loaded), or ``stations`` loaded (``skipped`` rows failing validation) and ``demand``."""

    already: int = 0
    stations: int = 0
    skipped: int = 0
    demand: DemandLayer | None = None

    @property
    def loaded(self) -> bool:
        return self.demand is not None


# Stations stored per batch: the whole Chongqing sample is one batch; the national one is
# stored as it is made, 10 batches of 20,000, so that memory stays bounded (all 186,000
# Station objects at once: 2.1 GB RSS) and the operator sees it go. A load that stops half
# way leaves the batches stored; `yizhan demo --replace` loads it again whole.
BATCH = 20_000


def load_demo(
    store: Store,
    districts: Districts,
    *,
    seed: int,
    total: int = DEFAULT_TOTAL,
    replace: bool = False,
    national: bool = False,
    on_row: Callable[[int], None] | None = None,
    on_rows_done: Callable[[], None] | None = None,
    on_stored: Callable[[int], None] | None = None,
) -> DemoLoad:
    """Load ``total`` sample stations and the sample demand layer, made from ``seed``.

    ``national``: the national sample (services.demo.national_rows) over ``districts``,
    the counties of the whole country; else Chongqing's. An earlier sample is kept
    (``DemoLoad.already``) unless ``replace``; a registry with real stations raises
    :class:`RealStationsError` and is left untouched. ``on_row`` is told each row
    generated, ``on_rows_done`` when the rows are made (before the last BATCH is stored),
    ``on_stored`` how many stations are stored after each batch.
    """
    existing = list(store.iter_all())
    samples = [s for s in existing if s.sample]
    if samples and not replace:
        return DemoLoad(already=len(samples))
    if len(existing) > len(samples):
        raise RealStationsError(len(existing) - len(samples))
    del existing
    removal: list[Change] = [Delete(s.id, s.version) for s in samples if s.id is not None]
    creates: list[Change] = []
    stored = skipped = 0

    def store_batch() -> None:
        nonlocal stored, removal
        store.apply([*removal, *creates], actor="demo", kind="demo", note="示例数据")
        stored += len(creates)
        removal = []
        creates.clear()
        if on_stored is not None:
            on_stored(stored)

    make = national_rows if national else sample_rows
    for count, row in enumerate(make(districts, total=total, seed=seed), start=1):
        if on_row is not None:
            on_row(count)
        try:
            creates.append(Create(build_station(row, districts=districts)))
        except ValidationError:  # a sample point a millimetre from a border may round across
            skipped += 1
        if len(creates) >= BATCH:
            store_batch()
    if on_rows_done is not None:
        on_rows_done()
    if creates or removal or not stored:
        store_batch()
    layer = sample_demand(districts, seed=seed)
    store.save_demand(layer, actor="demo")
    return DemoLoad(stations=stored, skipped=skipped, demand=layer)


# The sample's console accounts: the city union and one district union (渝中区, whose sample
# stations it then keeps), so that a new user can sign in to /console at once.
SAMPLE_ACCOUNTS = (
    ("city", "admin", None, "重庆市总工会（示例）"),
    ("yz500103", "district", "500103", "渝中区总工会（示例）"),
)


@dataclass(frozen=True)
class SampleAccount:
    username: str
    name: str
    password: str  # shown once to whoever loaded the sample; only its hash is stored


def sample_accounts(store: Store, districts: Districts) -> list[SampleAccount]:
    """Make the sample's console accounts with random passwords, if the registry has no
    account yet (a registry whose people have accounts gets none); return them with their
    passwords, to show once."""
    if store.list_accounts():
        return []
    made = []
    for username, role, code, name in SAMPLE_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        create_account(
            store, districts, username=username, password=password, role=role, code=code, name=name
        )
        made.append(SampleAccount(username, name, password))
    return made
