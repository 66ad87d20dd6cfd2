"""Signed calls from a shop's backend: the same steps as the REST API, for a shop that
would rather send webhooks than hold an API key. Verified the Standard Webhooks way with
the secret of one of the shop's endpoints; replays refused by timestamp and `webhook-id`.
"""

from __future__ import annotations

from aiohttp import web
from sqlmodel import col, select

from backend.api.context import context
from backend.api.idempotency import json_response
from backend.api.privacy_requests import system_outcomes, view
from backend.api.problems import ProblemError
from backend.api.schemas import InboundCall, InboundResult
from backend.models import WebhookEndpoint, utc_now
from backend.privacy_requests import complete, deny, extend, get_request, start_work
from backend.privacy_requests.errors import InvalidRequestError
from backend.privacy_requests.intake import confirm_by_shop
from backend.webhooks.inbound import (
    InboundWebhookRejectedError,
    authenticate_inbound,
    remember_call,
)
from backend.webhooks.signing import signing_secrets

BODY_MAX_BYTES = 256 * 1024


async def receive_signed_call(request: web.Request) -> web.Response:
    ctx = context(request)
    shop_id = request.match_info["shop_id"]
    raw = await request.read()
    if len(raw) > BODY_MAX_BYTES:
        raise ProblemError(413, "Body too large", f"at most {BODY_MAX_BYTES} bytes")
    now = utc_now()
    async with ctx.database.session() as session:
        endpoints = await session.exec(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.shop_id) == shop_id)
            .where(col(WebhookEndpoint.enabled))
        )
        secrets_of_shop = [
            secret for endpoint in endpoints for secret in signing_secrets(endpoint, now)
        ]
    authentic = None
    reason = "bad_signature"
    for secret in secrets_of_shop:
        try:
            authentic = authenticate_inbound(request.headers, raw, secret)
            break
        except InboundWebhookRejectedError as error:
            reason = error.reason
            if reason != "bad_signature":
                break
    if authentic is None:
        # The same answer for an unknown shop and a wrong signature.
        raise ProblemError(401, "Signature not accepted", f"the call was refused: {reason}")
    call = InboundCall.model_validate(authentic.body)
    async with ctx.database.session() as session:
        # The id is recorded with the action: if the action fails, nothing is recorded and
        # the shop's retry is taken, not refused as a replay.
        try:
            await remember_call(session, authentic, now=utc_now())
        except InboundWebhookRejectedError as error:
            raise ProblemError(
                401, "Signature not accepted", f"the call was refused: {error.reason}"
            ) from error
        found = await get_request(session, shop_id, call.request_id, for_update=True)
        if call.action == "verify":
            await confirm_by_shop(session, found, rules=ctx.rules)
        elif call.action == "start":
            await start_work(session, found)
        elif call.action == "extend":
            if call.months is None or call.reason is None:
                raise InvalidRequestError("an extension needs months and a reason")
            await extend(session, found, call.months, call.reason)
        elif call.action == "complete":
            await complete(session, found, outcomes=system_outcomes(call.outcomes))
        else:
            if call.reason_code is None or call.reason is None:
                raise InvalidRequestError("a denial needs a reason_code and a reason")
            await deny(session, found, call.reason_code, call.reason)
        answer = InboundResult(request=await view(session, found, ctx.rules.server_key))
    return json_response(200, answer.model_dump(mode="json"))
