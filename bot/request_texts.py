"""The words for a privacy request that the chat flow and the notices both use: its kind, its
status, its number and its dates, in the locale of the gettext context they are called in
(a handler's, or the one the notice relay sets for a customer)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html import escape

from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _
from babel.dates import (
    format_date,
    format_datetime,
    get_date_format,
    get_datetime_format,
    get_time_format,
)


def kind_name(kind: str) -> str:
    names = {
        "unsubscribe": _("Unsubscribe from marketing"),
        "access": _("A copy of my data"),
        "deletion": _("Deletion of my data"),
    }
    return names.get(kind, kind)


def status_name(status: str, verification: str = "email") -> str:
    """The status as the customer understands it; who confirms their identity (the e-mail
    code or the shop) changes what the request waits for."""
    if verification == "shop" and status == "identity_pending":
        return _("waiting for the shop to confirm it is you")
    if verification == "shop" and status == "expired":
        return _("expired (the shop did not confirm it was you in time)")
    names = {
        "identity_pending": _("waiting for the e-mail code"),
        "verified": _("confirmed, waiting for the shop"),
        "in_progress": _("the shop is working on it"),
        "completed": _("completed"),
        "denied": _("refused by the shop"),
        "canceled": _("canceled"),
        "expired": _("expired (the code was never entered)"),
    }
    return names.get(status, status)


def current_language() -> str:
    """The language this update is answered in."""
    return get_i18n().current_locale


def long_date(day: date) -> str:
    return format_date(day, format="long", locale=current_language())


def due_date(moment: datetime) -> str:
    """A deadline: the day is what counts (the law counts in days and months)."""
    return long_date(moment.date())


def date_and_time(moment: datetime) -> str:
    """A moment to the minute, in UTC (the bot does not know the customer's time zone):
    the locale's long date with its short time, as the locale combines them."""
    locale = current_language()
    pattern = (
        str(get_datetime_format("long", locale=locale))
        .replace("{1}", get_date_format("long", locale=locale).pattern)
        .replace("{0}", get_time_format("short", locale=locale).pattern)
    )
    return format_datetime(moment, pattern, tzinfo=UTC, locale=locale) + " UTC"


def request_number(request_id: str) -> str:
    """The request's id, for the customer to quote to the shop (HTML)."""
    return _("Request number: {request_id}").format(request_id=f"<code>{escape(request_id)}</code>")
