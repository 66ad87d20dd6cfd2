"""`Idempotency-Key` on the POSTs that create things: a retried call gets the first
call's answer, and nothing is created twice.

The record is written in the same transaction as what the call created, so either both
are there or neither; two calls racing with one key cannot both commit (the record's
primary key), and the loser answers with the winner's response.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.problems import ProblemError
from backend.database import Database
from backend.models import IdempotencyRecord, utc_now

HEADER = "Idempotency-Key"
KEY_MAX_CHARS = 200

Work = Callable[[AsyncSession], Awaitable[tuple[int, Any]]]


def json_response(status: int, body: Any, *, replayed: bool = False) -> web.Response:
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        content_type="application/json",
        headers=headers,
    )


async def run_idempotently(
    request: web.Request, database: Database, shop_id: str, body: bytes, work: Work
) -> web.Response:
    """Run `work` (which returns a status and a JSON-able body) once per key."""
    key = request.headers.get(HEADER)
    if key is None:
        async with database.session() as session:
            status, answer = await work(session)
        return json_response(status, answer)
    if not key or len(key) > KEY_MAX_CHARS or not (key.isascii() and key.isprintable()):
        raise ProblemError(
            400, "Bad Idempotency-Key", f"a key of 1 to {KEY_MAX_CHARS} printable characters"
        )
    fingerprint = hashlib.sha256(
        b"\0".join((request.method.encode(), request.path.encode(), body))
    ).hexdigest()
    earlier = await _replay(database, shop_id, key, fingerprint)
    if earlier is not None:
        return earlier
    try:
        async with database.session() as session:
            status, answer = await work(session)
            session.add(
                IdempotencyRecord(
                    shop_id=shop_id,
                    key=key,
                    fingerprint=fingerprint,
                    status_code=status,
                    body=json.dumps(answer),
                    created_at=utc_now(),
                )
            )
    except IntegrityError:
        # Another call with this key committed first.
        earlier = await _replay(database, shop_id, key, fingerprint)
        if earlier is None:
            raise
        return earlier
    return json_response(status, answer)


async def _replay(
    database: Database, shop_id: str, key: str, fingerprint: str
) -> web.Response | None:
    async with database.session() as session:
        record = await session.get(IdempotencyRecord, (shop_id, key))
    if record is None:
        return None
    if record.fingerprint != fingerprint:
        raise ProblemError(
            422,
            "Idempotency-Key reused",
            "this Idempotency-Key was used for another call; use a new key",
        )
    return json_response(record.status_code, json.loads(record.body), replayed=True)
