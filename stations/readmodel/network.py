"""The street networks a worker routes on, kept in step with the store.

THE CONTRACT (the lead's; package 2 implements the body, packages 4 and 5 call it):
``NetworkHolder.router(travel, index)`` gives the Router (geodata.routing) of that profile's
stored network for the station snapshot ``index`` (its positions), or raises NoNetworkError.
The network is loaded from the store once per network version (polled like the read index:
every ``check_interval_s``, or on every call at 0); a Router per index version (snapping the
stations is quick), its per-node station lists loaded from the store's cache when they match
the station positions, else built in a background thread (the Router answers exactly without
them meanwhile, only slower) and kept in the store for the next worker.
"""

from __future__ import annotations

import logging

from geodata.routing import Router
from stations.domain.travel import NetworkInfo, NoNetworkError, RoutingSettings, Travel
from stations.readmodel.index import StationIndex
from stations.storage.store import Store

log = logging.getLogger("yizhan.network")


class NetworkHolder:
    """Per worker: each profile's network and its Router for the current station snapshot."""

    def __init__(self, store: Store, settings: RoutingSettings) -> None:
        self.store = store
        self.settings = settings

    def loaded(self) -> dict[Travel, NetworkInfo]:
        """The networks stored now, by profile (what the rider page offers)."""
        return {info.profile: info for info in self.store.networks()}  # package 2: cache

    def router(self, travel: Travel, index: StationIndex) -> Router:
        """The Router of ``travel``'s network for ``index``'s stations; NoNetworkError when
        none is stored."""
        raise NoNetworkError(travel)  # package 2

    def close(self) -> None:
        """Stop any background thread (the store stays open)."""
