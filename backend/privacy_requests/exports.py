"""The copy of a customer's data for an access request: uploaded by the shop, handed to
the customer once through an expiring link (or as a file in the chat), then deleted.

Only the link's token hash is kept; the token itself exists only in the customer's chat.
A link opens once: the download that takes it marks it used in the same statement.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import delete, or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import AccessExport, PrivacyRequest, utc_now
from backend.privacy_requests.errors import InvalidRequestError, PrivacyRequestError
from backend.privacy_requests.lifecycle import Actor, record_event

# What a shop may upload: data a person can open without special software.
EXPORT_TYPES: Final = {
    "application/json": ".json",
    "text/csv": ".csv",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "text/html": ".html",
}
DEFAULT_MAX_BYTES: Final = 20 * 1024 * 1024
ACCEPTS_EXPORT: Final = frozenset({"verified", "in_progress"})


class ExportUnavailableError(PrivacyRequestError):
    """No such link, or it was used or has expired: all the same to whoever asks."""


@dataclass(frozen=True)
class ExportPolicy:
    max_bytes: int = DEFAULT_MAX_BYTES
    link_ttl: timedelta = timedelta(days=7)
    keep_after_download: timedelta = timedelta(days=3)


def new_export_id() -> str:
    return "exp_" + secrets.token_hex(12)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def attach_export(
    session: AsyncSession,
    request: PrivacyRequest,
    filename: str,
    content_type: str,
    data: bytes,
    *,
    policy: ExportPolicy,
    actor: Actor = "shop",
    now: datetime | None = None,
) -> AccessExport:
    """Keep `data` as the export of `request` (an access request being worked on),
    replacing an earlier upload."""
    now = now or utc_now()
    if request.kind != "access":
        raise InvalidRequestError("only an access request takes an export")
    if request.status not in ACCEPTS_EXPORT:
        raise InvalidRequestError(f"privacy request {request.id} is {request.status}")
    if content_type not in EXPORT_TYPES:
        raise InvalidRequestError(f"an export of type {', '.join(sorted(EXPORT_TYPES))} is needed")
    if not data:
        raise InvalidRequestError("the export is empty")
    if len(data) > policy.max_bytes:
        raise InvalidRequestError(f"an export of at most {policy.max_bytes} bytes is accepted")
    if content_type == "application/json":
        _check_json(data)
    await session.exec(delete(AccessExport).where(col(AccessExport.request_id) == request.id))
    export = AccessExport(
        id=new_export_id(),
        request_id=request.id,
        shop_id=request.shop_id,
        filename=_safe_filename(filename, content_type, request.id),
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        data=data,
        created_at=now,
    )
    session.add(export)
    await session.flush()
    await record_event(
        session,
        request,
        actor=actor,
        action="export_uploaded",
        now=now,
        detail={"content_type": content_type, "size": len(data)},
    )
    return export


def _safe_filename(filename: str, content_type: str, request_id: str) -> str:
    kept = "".join(c for c in filename if c.isalnum() or c in "._-")[:100].strip(".")
    return kept or f"{request_id}{EXPORT_TYPES[content_type]}"


async def export_of(session: AsyncSession, request_id: str) -> AccessExport | None:
    return (
        await session.exec(select(AccessExport).where(col(AccessExport.request_id) == request_id))
    ).first()


async def exports_of(session: AsyncSession, request_ids: list[str]) -> dict[str, AccessExport]:
    """The exports of several requests in one query (a page of the API's list)."""
    if not request_ids:
        return {}
    found = await session.exec(
        select(AccessExport).where(col(AccessExport.request_id).in_(request_ids))
    )
    return {export.request_id: export for export in found}


async def issue_link(
    session: AsyncSession, export: AccessExport, *, policy: ExportPolicy, now: datetime
) -> str:
    """A new one-time token for `export` (any earlier one stops working)."""
    token = secrets.token_urlsafe(32)
    export.token_hash = _token_hash(token)
    export.expires_at = now + policy.link_ttl
    session.add(export)
    await session.flush()
    return token


async def withdraw_link(session: AsyncSession, export_id: str, token: str) -> None:
    """Take back a link that never reached the customer (its message failed), unless a
    newer one replaced it meanwhile: the export waits for the next attempt as before."""
    await session.exec(
        update(AccessExport)
        .where(col(AccessExport.id) == export_id)
        .where(col(AccessExport.token_hash) == _token_hash(token))
        .where(col(AccessExport.downloaded_at).is_(None))
        .values(token_hash=None, expires_at=None)
        .execution_options(synchronize_session=False)
    )


async def usable(session: AsyncSession, token: str, *, now: datetime) -> bool:
    """Whether `token` would still open its export (without using it up)."""
    found = await session.exec(
        select(AccessExport.id)
        .where(col(AccessExport.token_hash) == _token_hash(token))
        .where(col(AccessExport.downloaded_at).is_(None))
        .where(col(AccessExport.expires_at) > now)
    )
    return found.first() is not None


# The customer's page shows a JSON export as nested tables: deeper than this is no
# person's data, and would not render.
MAX_JSON_DEPTH = 32


def _check_json(data: bytes) -> None:
    """A JSON export must be UTF-8 JSON nested at most MAX_JSON_DEPTH deep."""
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise InvalidRequestError("a JSON export must be valid UTF-8 JSON") from exc
    if json_depth(value) > MAX_JSON_DEPTH:
        raise InvalidRequestError(f"a JSON export may be nested at most {MAX_JSON_DEPTH} deep")


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in `value` (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
        else:
            continue
        deepest = max(deepest, depth + 1)
    return deepest


async def redeem(session: AsyncSession, token: str, *, now: datetime) -> AccessExport:
    """The export behind `token`, which is used up by this call;
    ExportUnavailableError for an unknown, used or expired one."""
    hashed = _token_hash(token)
    taken = await session.exec(
        update(AccessExport)
        .where(col(AccessExport.token_hash) == hashed)
        .where(col(AccessExport.downloaded_at).is_(None))
        .where(col(AccessExport.expires_at) > now)
        .values(downloaded_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise ExportUnavailableError("this download link is not valid any more")
    export = (
        await session.exec(select(AccessExport).where(col(AccessExport.token_hash) == hashed))
    ).one()
    request = await session.get(PrivacyRequest, export.request_id)
    if request is not None:
        await record_event(session, request, actor="customer", action="export_downloaded", now=now)
    return export


async def mark_handed_over(session: AsyncSession, export: AccessExport, *, now: datetime) -> None:
    """The export went into the customer's chat as a file: as good as downloaded."""
    export.downloaded_at = now
    session.add(export)
    await session.flush()


async def purge_exports(session: AsyncSession, *, policy: ExportPolicy, now: datetime) -> int:
    """Delete exports downloaded a while ago and those whose link expired unused."""
    result = await session.exec(
        delete(AccessExport).where(
            or_(
                col(AccessExport.downloaded_at) < now - policy.keep_after_download,
                col(AccessExport.expires_at) < now,
            )
        )
    )
    return result.rowcount
