"""The last line of defence: an unexpected error gets an apology, and the bot keeps serving.

When the apology cannot be sent either (the Bot API or Redis does not answer), the error
is raised on: the webhook then does not answer 200, the update's claim is released, and
Telegram delivers the update again, instead of it being recorded as answered with nothing
said to the customer. A refusal (the customer blocked the bot) still ends the update:
sending it again would not help.

The log line names the error and the update's id and type, never its text or the user.
"""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramUnauthorizedError,
)
from aiogram.types import ErrorEvent, Message
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from bot.i18n import customer_language
from bot.middlewares.customer import Customer

log = logging.getLogger("bot.errors")
# Telegram answered and refused the apology: it would refuse it again.
REFUSALS = (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound, TelegramUnauthorizedError)


async def on_error(event: ErrorEvent, customer: Customer | None = None) -> bool:
    update = event.update
    log.error(
        "handler failed on update %s (%s): %s",
        update.update_id,
        update.event_type,
        type(event.exception).__name__,
        exc_info=(type(event.exception), event.exception, event.exception.__traceback__)
        if log.isEnabledFor(logging.DEBUG)
        else None,
    )
    message = update.message or (update.callback_query.message if update.callback_query else None)
    if message is not None and isinstance(message, Message):
        user = (
            update.message.from_user
            if update.message
            else event.update.callback_query.from_user
            if event.update.callback_query
            else None
        )
        language = customer_language(customer.language if customer else None, user, None)
        try:
            with get_i18n().use_locale(language):
                apology = _("Sorry, something went wrong on my side. Please try again in a moment.")
            await message.answer(apology)
        except REFUSALS:
            log.warning("the apology for update %s was refused", update.update_id)
        except Exception:
            log.warning(
                "could not send the apology for update %s; left for Telegram to deliver again",
                update.update_id,
            )
            raise event.exception from None
    return True


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="errors")
    router.error.register(on_error)
    return router
