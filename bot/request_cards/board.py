"""Cards in Telegram: posted once, then edited in place. An edit that would change nothing
is no error (the background refresh may follow a button's own edit); a card the staff
deleted stays deleted: the request is still worked through the digest and the API."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import LinkPreviewOptions

from backend.models import PrivacyRequest, RequestCard
from backend.request_cards import card_of
from bot.request_cards.cards import CardView, card_view
from bot.services import Services

log = logging.getLogger("bot.request_cards")

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


async def post_card(bot: Bot, group_chat_id: int, view: CardView) -> int:
    """Post the card; its message id."""
    sent = await bot.send_message(
        group_chat_id,
        view.text,
        parse_mode=ParseMode.HTML,
        reply_markup=view.markup,
        link_preview_options=NO_PREVIEW,
    )
    return sent.message_id


async def edit_card(bot: Bot, card: RequestCard, view: CardView) -> bool:
    """Show `view` on the posted card; False if Telegram would not have it."""
    try:
        await bot.edit_message_text(
            text=view.text,
            chat_id=card.group_chat_id,
            message_id=card.message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=view.markup,
            link_preview_options=NO_PREVIEW,
        )
    except TelegramBadRequest as error:
        if "message is not modified" in error.message:
            return True
        log.warning("card of %s not edited: %s", card.request_id, error.message)
        return False
    return True


async def refresh_card(bot: Bot, services: Services, request: PrivacyRequest) -> None:
    """Edit the request's card after a step taken from it (no card yet: nothing to do)."""
    async with services.database.session() as session:
        card = await card_of(session, request.id)
    if card is None:
        return
    try:
        await edit_card(bot, card, await card_view(services, request))
    except TelegramAPIError as error:  # the step is done; the refresh task tries again
        log.warning("card of %s not edited: %s", request.id, type(error).__name__)
