"""Deadlines of privacy requests, counted in calendar months (GDPR art. 12(3)), not days.

A deadline falls on the same day of the month, else on the month's last day: a request
verified on 31 January is due on 28 (or 29) February. The clock stops while the shop waits
for the customer, and the deadline moves by the time it stood still.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

from backend.models import PrivacyRequest

MAX_EXTENSION_MONTHS = 2


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by `months` calendar months (negative: back), same time of day."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def set_deadlines(request: PrivacyRequest) -> None:
    """Recompute `due_at` and `extended_until` from the verification time, the months the
    shop has, the extension and the paused time.

    Always from the verification time rather than from the previous deadline: Jan 31 plus
    one month is Feb 28, but plus three months is Apr 30, not Apr 28.
    """
    if request.verified_at is None or request.deadline_months is None:
        return
    paused = timedelta(seconds=request.paused_seconds)
    request.due_at = add_months(request.verified_at, request.deadline_months) + paused
    request.extended_until = (
        add_months(request.verified_at, request.deadline_months + request.extension_months) + paused
        if request.extension_months
        else None
    )


def end_pause(request: PrivacyRequest, now: datetime) -> int:
    """End a pause, if one is running, and move the deadlines; the seconds it lasted."""
    if request.paused_since is None:
        return 0
    seconds = max(0, int((now - request.paused_since).total_seconds()))
    request.paused_seconds += seconds
    request.paused_since = None
    set_deadlines(request)
    return seconds


def iso(moment: datetime | None) -> str | None:
    """A deadline or timestamp as an event payload carries it (ISO 8601), or None."""
    return moment.isoformat() if moment else None
