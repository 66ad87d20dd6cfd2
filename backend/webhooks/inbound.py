"""Signed calls from shops' backends: verified the Standard Webhooks way, replays refused.

A call is refused when its timestamp is outside the tolerance, when no signature matches,
or when its `webhook-id` was accepted before (remembered for as long as its timestamp
would still pass).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks.webhooks import Webhook

from backend.database import Database
from backend.models import InboundWebhookId, utc_now

DEFAULT_TOLERANCE = timedelta(seconds=300)
WEBHOOK_ID_MAX_CHARS = 200


class InboundWebhookRejectedError(Exception):
    """The call is not accepted; `reason` is a code safe to log and to answer with."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SeenWebhookIds(Protocol):
    async def first_sighting(self, webhook_id: str, *, keep_until: datetime, now: datetime) -> bool:
        """Remember `webhook_id`; False when it was remembered already."""


class InboundWebhookIds:
    """The accepted ids in the database, shared by every copy of the app."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def first_sighting(self, webhook_id: str, *, keep_until: datetime, now: datetime) -> bool:
        async with self.database.session() as session:
            return await record_sighting(session, webhook_id, keep_until=keep_until, now=now)


async def record_sighting(
    session: AsyncSession, webhook_id: str, *, keep_until: datetime, now: datetime
) -> bool:
    """Remember `webhook_id` in the caller's transaction; False when it was remembered
    already. Called in the transaction of the action the call asks for, so that an action
    that fails leaves the id unrecorded and the sender's retry is accepted."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # One statement, so that two copies of the app given the same call cannot both win.
    statement = (
        insert(InboundWebhookId)
        .values(webhook_id=webhook_id, expires_at=keep_until)
        .on_conflict_do_nothing(index_elements=["webhook_id"])
        .returning(col(InboundWebhookId.webhook_id))
    )
    await session.exec(delete(InboundWebhookId).where(col(InboundWebhookId.expires_at) < now))
    inserted = (await session.exec(statement)).first()
    return inserted is not None


@dataclass(frozen=True)
class AuthenticCall:
    """A call whose signature and timestamp are good; whether it is a replay is decided
    where its id is recorded."""

    webhook_id: str
    keep_until: datetime
    body: Any


def authenticate_inbound(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    *,
    now: datetime | None = None,
) -> AuthenticCall:
    """The call, parsed, if it is signed with `secret` within the tolerance;
    InboundWebhookRejectedError otherwise (a body that is not UTF-8 JSON included)."""
    now = now or utc_now()
    lowered = {name.lower(): value for name, value in headers.items()}
    webhook_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (webhook_id and stamp and signatures) or len(webhook_id) > WEBHOOK_ID_MAX_CHARS:
        raise InboundWebhookRejectedError("missing_headers")
    try:
        sent_at = datetime.fromtimestamp(int(stamp), tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise InboundWebhookRejectedError("bad_timestamp") from exc
    if abs(now - sent_at) > tolerance:
        raise InboundWebhookRejectedError("timestamp_out_of_tolerance")
    try:
        text = body.decode() if isinstance(body, bytes) else body
    except UnicodeDecodeError as exc:
        raise InboundWebhookRejectedError("bad_body") from exc
    if not _signature_matches(secret, webhook_id, sent_at, text, signatures):
        raise InboundWebhookRejectedError("bad_signature")
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InboundWebhookRejectedError("bad_body") from exc
    return AuthenticCall(webhook_id, sent_at + tolerance, parsed)


async def verify_inbound(
    headers: Mapping[str, str],
    body: bytes | str,
    secret: str,
    seen_ids_store: SeenWebhookIds,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    *,
    now: datetime | None = None,
) -> Any:
    """The parsed JSON body of a genuine, first-seen call signed with `secret`;
    InboundWebhookRejectedError otherwise. The id is remembered at once, in a transaction
    of its own: for a call that starts an action, record it with the action instead
    (`authenticate_inbound`, then `record_sighting` in the action's transaction)."""
    now = now or utc_now()
    call = authenticate_inbound(headers, body, secret, tolerance, now=now)
    # Remembered only once genuine, so that forged calls cannot use up a shop's ids.
    if not await seen_ids_store.first_sighting(
        call.webhook_id, keep_until=call.keep_until, now=now
    ):
        raise InboundWebhookRejectedError("replayed")
    return call.body


def _signature_matches(
    secret: str, webhook_id: str, sent_at: datetime, body: str, signatures: str
) -> bool:
    # The package's own `verify` fixes the tolerance at 5 minutes against the real clock;
    # the expected signature comes from it all the same.
    expected = base64.b64decode(Webhook(secret).sign(webhook_id, sent_at, body).split(",")[1])
    for entry in signatures.split():
        version, _, signature = entry.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, given):
            return True
    return False
