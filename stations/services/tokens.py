"""Write tokens: create (its text shown once, only its hash stored), list, revoke.

The operator's use case (the CLI today); no HTTP route manages tokens.
"""

from __future__ import annotations

from datetime import datetime

from geodata.districts import Districts
from geodata.hours import TZ
from stations.domain.auth import Role, TokenRecord, new_token
from stations.storage.store import Store


def create_token(
    store: Store,
    districts: Districts,
    *,
    role: Role | str,
    name: str,
    code: str | None,
    now: datetime | None = None,
) -> tuple[str, TokenRecord]:
    """Store a new token; return its text (to hand over once) and its record.

    ``ValueError`` for a district adcode not in ``districts`` or a token ``new_token`` refuses.
    """
    if role == Role.DISTRICT and code and code not in districts:
        msg = f"unknown district adcode {code}"
        raise ValueError(msg)
    text, record = new_token(role, name=name, code=code, now=now or datetime.now(TZ))
    store.save_token(record)
    return text, record


def list_tokens(store: Store) -> list[TokenRecord]:
    """Every token, revoked ones too (never their secrets: only hashes are stored)."""
    return store.list_tokens()


def revoke_token(store: Store, token_id: str, *, now: datetime | None = None) -> bool:
    """Revoke a token at once; False if there is no such token."""
    return store.revoke_token(token_id, now or datetime.now(TZ))
