"""What the bot cannot read (photos, stickers, voice, files), and edited messages."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from bot.middlewares.customer import Customer
from bot.routers.questions import answer_question
from bot.services import Services


async def on_edited_text(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    """An edited question deserves the answer to its new wording."""
    assert message.text is not None
    await answer_question(message, message.text, customer, services)


async def on_other_edit(message: Message) -> None:
    """Edits of media or in groups change nothing the bot answered."""


async def on_not_text(message: Message) -> None:
    await message.answer(
        _("I can only read text. Please type your question about your personal data.")
    )


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="media")
    router.edited_message.register(on_edited_text, F.chat.type == ChatType.PRIVATE, F.text)
    router.edited_message.register(on_other_edit)
    router.message.register(on_not_text, F.chat.type == ChatType.PRIVATE)
    return router
