"""API keys of shops' backends: random, shown once, kept as a SHA-256, scoped to a shop.

A plain hash is enough here (unlike a password): a key has 256 random bits, nobody can
guess one from its hash.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import ApiKey, utc_now

KEY_PREFIX = "pha_"
# Writing last_used_at on every call would make each read a write.
USE_RECORDED_EVERY = timedelta(minutes=5)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create_api_key(
    session: AsyncSession, shop_id: str, *, label: str | None = None, now: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for `shop_id`: its record and the key itself, which is never stored."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    record = ApiKey(
        id="ak_" + secrets.token_hex(8),
        shop_id=shop_id,
        key_hash=_hash(key),
        label=label,
        created_at=now or utc_now(),
    )
    session.add(record)
    await session.flush()
    return record, key


async def authenticate(
    session: AsyncSession, presented: str, *, now: datetime | None = None
) -> ApiKey | None:
    """The live key `presented` is, or None."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        return None
    found = (
        await session.exec(select(ApiKey).where(col(ApiKey.key_hash) == _hash(presented)))
    ).first()
    if found is None or found.revoked_at is not None:
        return None
    now = now or utc_now()
    if found.last_used_at is None or found.last_used_at < now - USE_RECORDED_EVERY:
        await session.exec(
            update(ApiKey)
            .where(col(ApiKey.id) == found.id)
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
    return found


async def list_api_keys(session: AsyncSession, shop_id: str | None = None) -> list[ApiKey]:
    statement = select(ApiKey).order_by(col(ApiKey.created_at))
    if shop_id is not None:
        statement = statement.where(col(ApiKey.shop_id) == shop_id)
    return list(await session.exec(statement))


async def revoke_api_key(
    session: AsyncSession, key_id: str, *, now: datetime | None = None
) -> bool:
    result = await session.exec(
        update(ApiKey)
        .where(col(ApiKey.id) == key_id)
        .where(col(ApiKey.revoked_at).is_(None))
        .values(revoked_at=now or utc_now())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1
