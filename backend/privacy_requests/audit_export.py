"""The audit trail of a shop's privacy requests as CSV, for its records or a regulator.

The trail holds nothing personal (no address, no pseudonym, no free text), so the export
can be handed on as it is.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.models import AuditEvent, PrivacyRequest

CSV_COLUMNS = ("at", "request_id", "kind", "actor", "action", "from_status", "to_status", "detail")


async def audit_trail_csv(
    session: AsyncSession,
    shop_id: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """Every audit event of the shop's requests in [since, until), oldest first."""
    statement = (
        select(AuditEvent, col(PrivacyRequest.kind))
        .join(PrivacyRequest, col(PrivacyRequest.id) == col(AuditEvent.request_id))
        .where(col(PrivacyRequest.shop_id) == shop_id)
    )
    if since is not None:
        statement = statement.where(col(AuditEvent.at) >= since)
    if until is not None:
        statement = statement.where(col(AuditEvent.at) < until)
    rows = await session.exec(statement.order_by(col(AuditEvent.at), col(AuditEvent.id)))

    output = io.StringIO()
    writer = csv.writer(output, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for event, kind in rows:
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
    return output.getvalue()
