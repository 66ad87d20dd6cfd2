"""The audit trail of a shop's privacy requests as CSV, for its records or a regulator.

The trail holds nothing personal (no address, no pseudonym, no free text), so the export
can be handed on as it is.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import AuditEvent, PrivacyRequest

CSV_COLUMNS = ("at", "request_id", "kind", "actor", "action", "from_status", "to_status", "detail")


PAGE_ROWS = 1000


async def audit_trail_page(
    session: AsyncSession,
    shop_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, int] | None = None,
    rows: int = PAGE_ROWS,
) -> tuple[str, tuple[datetime, int] | None]:
    """CSV lines (no header) of up to `rows` audit events of the shop's requests in
    [since, until), oldest first, after the event `after` (its time and id); and where the
    next page starts, None after the last. Pages, so that a long trail is streamed in short
    transactions instead of built in memory in one."""
    statement = (
        select(AuditEvent, col(PrivacyRequest.kind))
        .join(PrivacyRequest, col(PrivacyRequest.id) == col(AuditEvent.request_id))
        .where(col(PrivacyRequest.shop_id) == shop_id)
    )
    if since is not None:
        statement = statement.where(col(AuditEvent.at) >= since)
    if until is not None:
        statement = statement.where(col(AuditEvent.at) < until)
    if after is not None:
        at, event_id = after
        statement = statement.where(
            or_(
                col(AuditEvent.at) > at,
                and_(col(AuditEvent.at) == at, col(AuditEvent.id) > event_id),
            )
        )
    found = list(
        await session.exec(statement.order_by(col(AuditEvent.at), col(AuditEvent.id)).limit(rows))
    )
    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    for event, kind in found:
        writer.writerow(
            (
                event.at.isoformat(),
                event.request_id,
                kind,
                event.actor,
                event.action,
                event.from_status or "",
                event.to_status or "",
                json.dumps(event.detail, sort_keys=True, separators=(",", ":")),
            )
        )
    last = found[-1][0] if len(found) == rows else None
    return output.getvalue(), (last.at, int(last.id or 0)) if last is not None else None


def csv_header() -> str:
    output = io.StringIO()
    csv.writer(output, lineterminator="\n").writerow(CSV_COLUMNS)
    return output.getvalue()


async def audit_trail_csv(
    session: AsyncSession,
    shop_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """Every audit event of the shop's requests in [since, until), oldest first, as one
    text (for a caller that wants it whole; the API streams the pages instead)."""
    parts = [csv_header()]
    after: tuple[datetime, int] | None = None
    while True:
        text, after = await audit_trail_page(
            session, shop_id, since=since, until=until, after=after
        )
        parts.append(text)
        if after is None:
            return "".join(parts)
