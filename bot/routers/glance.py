"""/summary and the "Policy at a glance" button: the card of the customer's shop, and the
quote behind each of its topics (bot.glance)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from bot.glance import render_glance, render_practice_quote, shop_coverage
from bot.keyboards import GlanceCallback
from bot.middlewares.customer import Customer
from bot.routers.questions import ask_for_shop, current_language, shop_for
from bot.services import Services
from indexer.shops import Shop


async def send_glance(message: Message, shop: Shop, services: Services) -> None:
    coverage = await shop_coverage(services.engine.retriever, shop.id)
    if coverage is None:
        await message.answer(
            _("{shop} has not published a privacy policy here yet.").format(shop=shop.name)
        )
        return
    text, keyboard = render_glance(coverage, shop.name, current_language())
    await message.answer(text, reply_markup=keyboard)


async def glance_or_shops(message: Message, services: Services, customer: Customer | None) -> None:
    """The card of the customer's shop; the shop picker when they have none yet."""
    shop = shop_for(customer, services)
    if shop is None:
        await ask_for_shop(message, services)
        return
    await send_glance(message, shop, services)


async def on_summary(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    await glance_or_shops(message, services, customer)


async def on_glance_topic(
    query: CallbackQuery, callback_data: GlanceCallback, services: Services
) -> None:
    shop = services.shops.resolve(callback_data.shop)
    coverage = await shop_coverage(services.engine.retriever, shop.id) if shop else None
    text = None
    if shop is not None and coverage is not None:
        text = render_practice_quote(coverage, callback_data.practice, shop, current_language())
    if text is None:
        await query.answer(_("This button is no longer valid."))
        return
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text)


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="glance")
    router.message.register(on_summary, Command("summary"))
    router.callback_query.register(on_glance_topic, GlanceCallback.filter())
    return router
