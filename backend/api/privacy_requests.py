"""The privacy-request calls of the REST API: list, read, create on a customer's behalf,
and every step the shop takes (verify, start, pause, resume, extend, report outcomes,
upload the export, complete, deny); plus the suppression check and the audit trail.

Each handler looks the request up for the caller's shop, so a key never reaches another
shop's request: it gets the same 404 as for one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, get_args

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.api.context import (
    body_of,
    context,
    decode_cursor,
    encode_cursor,
    limit_of,
    shop_of,
)
from backend.api.idempotency import json_response, run_idempotently
from backend.api.problems import ProblemError
from backend.api.schemas import (
    Complete,
    CreateRequest,
    Deny,
    ExportView,
    Extend,
    Outcome,
    Outcomes,
    RequestPage,
    RequestView,
    SuppressionCheck,
    SuppressionResult,
    Verify,
)
from backend.models import AccessExport, PrivacyRequest, SuppressionEntry
from backend.privacy_requests import (
    complete,
    deny,
    extend,
    get_request,
    pause,
    resume,
    start_work,
)
from backend.privacy_requests.audit_export import audit_trail_page, csv_header
from backend.privacy_requests.exports import EXPORT_TYPES, attach_export, export_of, exports_of
from backend.privacy_requests.fulfilment import SystemOutcome, report_outcomes
from backend.privacy_requests.hashing import email_hash
from backend.privacy_requests.intake import confirm_by_shop, create_on_behalf
from backend.privacy_requests.lifecycle import RequestKind, RequestStatus
from backend.privacy_requests.sealing import SealBrokenError, unseal

Step = Callable[[AsyncSession, PrivacyRequest], Awaitable[Any]]


async def view(session: AsyncSession, request: PrivacyRequest, server_key: bytes) -> RequestView:
    export = await export_of(session, request.id) if request.kind == "access" else None
    return _view_with(request, server_key, export)


def _view_with(
    request: PrivacyRequest, server_key: bytes, export: AccessExport | None
) -> RequestView:
    email = None
    if request.email_sealed:
        try:
            email = unseal(server_key, request.id, request.email_sealed)
        except SealBrokenError:
            email = None  # sealed under another key: the address is simply not available
    return RequestView.of(request, email, export)


def _dump(model: RequestView | ExportView | RequestPage | SuppressionResult) -> Any:
    return model.model_dump(mode="json")


async def list_requests(request: web.Request) -> web.Response:
    ctx = context(request)
    shop_id = shop_of(request)
    statement = select(PrivacyRequest).where(col(PrivacyRequest.shop_id) == shop_id)
    status = request.query.get("status")
    if status is not None:
        if status not in get_args(RequestStatus):
            raise ProblemError(400, "Bad status", f"status is one of {get_args(RequestStatus)}")
        statement = statement.where(col(PrivacyRequest.status) == status)
    kind = request.query.get("kind")
    if kind is not None:
        if kind not in get_args(RequestKind):
            raise ProblemError(400, "Bad kind", f"kind is one of {get_args(RequestKind)}")
        statement = statement.where(col(PrivacyRequest.kind) == kind)
    due_before = request.query.get("due_before")
    if due_before is not None:
        moment = _moment(due_before, "due_before")
        statement = statement.where(PrivacyRequest.deadline_column() < moment)
    offset = decode_cursor(request.query.get("cursor"))
    limit = limit_of(request)
    async with ctx.database.session() as session:
        rows = list(
            await session.exec(
                statement.order_by(col(PrivacyRequest.created_at).desc(), col(PrivacyRequest.id))
                .offset(offset)
                .limit(limit + 1)
            )
        )
        page = rows[:limit]
        # The page's exports in one query, not one per access request.
        exports = await exports_of(session, [row.id for row in page if row.kind == "access"])
        items = [_view_with(row, ctx.rules.server_key, exports.get(row.id)) for row in page]
    next_cursor = encode_cursor(offset + limit) if len(rows) > limit else None
    return json_response(200, _dump(RequestPage(items=items, next_cursor=next_cursor)))


def _moment(text: str, name: str) -> datetime:
    """An ISO 8601 moment in UTC; one that falls outside the years 1 to 9999 once in UTC
    (0001-01-01T00:00+01:00) is refused like any malformed one."""
    try:
        moment = datetime.fromisoformat(text)
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ProblemError(400, f"Bad {name}", f"{name} is an ISO 8601 date or time") from exc


async def read_request(request: web.Request) -> web.Response:
    ctx = context(request)
    async with ctx.database.session() as session:
        found = await get_request(session, shop_of(request), request.match_info["request_id"])
        return json_response(200, _dump(await view(session, found, ctx.rules.server_key)))


async def create_request(request: web.Request) -> web.Response:
    ctx = context(request)
    shop_id = shop_of(request)
    body, raw = await body_of(request, CreateRequest)

    async def work(session: AsyncSession) -> tuple[int, Any]:
        created = await create_on_behalf(
            session,
            shop_id,
            body.kind,
            body.email,
            rules=ctx.rules,
            deadline_months=body.deadline_months,
        )
        return 201, _dump(await view(session, created, ctx.rules.server_key))

    return await run_idempotently(request, ctx.database, shop_id, raw, work)


async def _step(request: web.Request, step: Step) -> web.Response:
    ctx = context(request)
    async with ctx.database.session() as session:
        found = await get_request(
            session, shop_of(request), request.match_info["request_id"], for_update=True
        )
        await step(session, found)
        return json_response(200, _dump(await view(session, found, ctx.rules.server_key)))


async def verify_request(request: web.Request) -> web.Response:
    body, _ = await body_of(request, Verify)
    rules = context(request).rules
    return await _step(
        request,
        lambda session, found: confirm_by_shop(
            session, found, rules=rules, deadline_months=body.deadline_months
        ),
    )


async def start_request(request: web.Request) -> web.Response:
    return await _step(request, lambda session, found: start_work(session, found))


async def pause_request(request: web.Request) -> web.Response:
    return await _step(request, lambda session, found: pause(session, found))


async def resume_request(request: web.Request) -> web.Response:
    return await _step(request, lambda session, found: resume(session, found))


async def extend_request(request: web.Request) -> web.Response:
    body, _ = await body_of(request, Extend)
    return await _step(
        request, lambda session, found: extend(session, found, body.months, body.reason)
    )


def system_outcomes(outcomes: list[Outcome]) -> list[SystemOutcome]:
    return [
        SystemOutcome(item.system, item.outcome, item.legal_basis, item.retained_until)
        for item in outcomes
    ]


async def report_request_outcomes(request: web.Request) -> web.Response:
    body, _ = await body_of(request, Outcomes)
    outcomes = system_outcomes(body.outcomes)
    return await _step(request, lambda session, found: report_outcomes(session, found, outcomes))


async def complete_request(request: web.Request) -> web.Response:
    body, _ = await body_of(request, Complete)
    outcomes = system_outcomes(body.outcomes)
    return await _step(request, lambda session, found: complete(session, found, outcomes=outcomes))


async def deny_request(request: web.Request) -> web.Response:
    body, _ = await body_of(request, Deny)
    return await _step(
        request, lambda session, found: deny(session, found, body.reason_code, body.reason_text)
    )


async def upload_export(request: web.Request) -> web.Response:
    """The export as the raw body, of an allowed type and at most the size limit; over the
    limit the upload is refused with 413 before anything is stored."""
    ctx = context(request)
    policy = ctx.export_policy
    content_type = request.content_type
    if content_type not in EXPORT_TYPES:
        raise ProblemError(
            415,
            "Unsupported export type",
            f"an export is one of {', '.join(sorted(EXPORT_TYPES))}",
        )
    too_large = ProblemError(
        413, "Export too large", f"an export of at most {policy.max_bytes} bytes is accepted"
    )
    if request.content_length is not None and request.content_length > policy.max_bytes:
        raise too_large
    data = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        data.extend(chunk)
        if len(data) > policy.max_bytes:
            raise too_large
    filename = request.query.get("filename", "")
    async with ctx.database.session() as session:
        found = await get_request(
            session, shop_of(request), request.match_info["request_id"], for_update=True
        )
        export = await attach_export(
            session, found, filename, content_type, bytes(data), policy=policy
        )
        return json_response(201, _dump(ExportView.of(export)))


async def check_suppressions(request: web.Request) -> web.Response:
    """Which of these addresses objected to direct marketing: a shop runs its mailing list
    through this before a campaign (the backend keeps only keyed hashes)."""
    ctx = context(request)
    body, _ = await body_of(request, SuppressionCheck)
    hashes = {email_hash(ctx.rules.server_key, email): email for email in body.emails}
    async with ctx.database.session() as session:
        found = await session.exec(
            select(col(SuppressionEntry.email_hash))
            .where(col(SuppressionEntry.shop_id) == shop_of(request))
            .where(col(SuppressionEntry.email_hash).in_(list(hashes)))
        )
        suppressed = sorted(hashes[hashed] for hashed in found)
    return json_response(200, _dump(SuppressionResult(suppressed=suppressed)))


async def audit_csv(request: web.Request) -> web.StreamResponse:
    """The shop's audit trail as CSV, streamed page by page: each page is read in a short
    transaction of its own, and written to the network after it ends."""
    ctx = context(request)
    since_text = request.query.get("since")
    until_text = request.query.get("until")
    since = _moment(since_text, "since") if since_text else None
    until = _moment(until_text, "until") if until_text else None
    shop_id = shop_of(request)
    response = web.StreamResponse(headers={"Content-Type": "text/csv; charset=utf-8"})
    await response.prepare(request)
    await response.write(csv_header().encode())
    after = None
    while True:
        async with ctx.database.session() as session:
            text, after = await audit_trail_page(
                session, shop_id, since=since, until=until, after=after
            )
        await response.write(text.encode())
        if after is None:
            break
    await response.write_eof()
    return response
