"""What the API tests share: an app and a client on a test's store, and bearer tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from geodata.districts import Districts
from geodata.hours import TZ
from stations.config import Settings
from stations.domain.auth import TokenRecord, new_token
from stations.storage.store import Store


def make_app(store: Store, districts: Districts, db_path: Any, **settings: Any) -> FastAPI:
    """The API on ``store``, with ``settings`` over the defaults."""
    cfg = Settings(database_url=f"sqlite:///{db_path}", **settings)
    return create_app(cfg, store=store, districts=districts)


def api_client(
    store: Store,
    districts: Districts,
    db_path: Any,
    *,
    client: tuple[str, int] = ("testclient", 50000),
    **settings: Any,
) -> TestClient:
    """A TestClient of :func:`make_app` (use it in ``with``: that runs the lifespan),
    calling from ``client``'s address."""
    return TestClient(make_app(store, districts, db_path, **settings), client=client)


def new_bearer(
    store: Store, role: str, code: str | None = None, name: str | None = None
) -> tuple[dict[str, str], TokenRecord]:
    """A new token of ``role`` saved in ``store``: its Authorization header and record."""
    text, record = new_token(role, name=name or f"{role} {code}", code=code, now=datetime.now(TZ))
    store.save_token(record)
    return {"Authorization": f"Bearer {text}"}, record


def bearer(store: Store, role: str, code: str | None = None) -> dict[str, str]:
    """The Authorization header of a new token of ``role`` saved in ``store``."""
    return new_bearer(store, role, code)[0]
