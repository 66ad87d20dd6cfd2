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
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from standardwebhooks.webhooks import Webhook

from backend.models import InboundWebhookId, utc_now

DEFAULT_TOLERANCE = timedelta(seconds=300)
WEBHOOK_ID_MAX_CHARS = 200


class InboundWebhookRejectedError(Exception):
    """The call is not accepted; `reason` is a code safe to log and to answer with."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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


async def remember_call(session: AsyncSession, call: AuthenticCall, *, now: datetime) -> None:
    """Remember the call's `webhook-id` in the caller's transaction, the one of the action
    the call asks for: an action that fails leaves the id unrecorded, and the sender's
    retry is taken. InboundWebhookRejectedError("replayed") for an id seen before.

    Only genuine calls get here, so forged ones cannot use up a shop's ids."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    # One statement, so that two copies of the app given the same call cannot both win.
    statement = (
        insert(InboundWebhookId)
        .values(webhook_id=call.webhook_id, expires_at=call.keep_until)
        .on_conflict_do_nothing(index_elements=["webhook_id"])
        .returning(col(InboundWebhookId.webhook_id))
    )
    await session.exec(delete(InboundWebhookId).where(col(InboundWebhookId.expires_at) < now))
    if (await session.exec(statement)).first() is None:
        raise InboundWebhookRejectedError("replayed")


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
