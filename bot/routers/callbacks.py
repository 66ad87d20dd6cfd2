"""Button presses. Callback data can be stale (an old message) or forged (a modified
client): every handler checks what it is given and answers sensibly, never with an error."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _

from backend.conversation_log import set_feedback
from backend.customers import bind_shop, set_language
from bot.answers import render_full_section
from bot.keyboards import (
    ClarifyCallback,
    FeedbackCallback,
    LanguageCallback,
    MenuCallback,
    SectionCallback,
    ShopCallback,
    language_keyboard,
    menu_keyboard,
)
from bot.middlewares.customer import Customer
from bot.routers.commands import help_text, privacy_text
from bot.routers.questions import (
    PENDING_QUESTION,
    answer_question,
    explain_right,
    on_clarify,
    shop_for,
)
from bot.services import Services
from bot.settings import SUPPORTED_LANGUAGES
from indexer.intents import RIGHT_QUESTIONS, Intent


def _message(query: CallbackQuery) -> Message | None:
    return query.message if isinstance(query.message, Message) else None


async def on_feedback(
    query: CallbackQuery,
    callback_data: FeedbackCallback,
    services: Services,
    customer: Customer | None = None,
) -> None:
    stored = False
    if customer is not None:
        async with services.database.session() as session:
            stored = await set_feedback(
                session, callback_data.record, customer.pseudonym, callback_data.helpful
            )
    await query.answer(
        _("Thank you for the feedback!") if stored else _("This button is no longer valid.")
    )


async def on_full_section(
    query: CallbackQuery, callback_data: SectionCallback, services: Services
) -> None:
    message = _message(query)
    retriever = services.engine.retriever
    try:
        passages = retriever.section_passages(callback_data.shop, callback_data.key)
    except KeyError:
        passages = []
    await query.answer()
    shop = services.shops.resolve(callback_data.shop)
    if message is not None:
        await message.answer(
            render_full_section(passages, shop.contact_email if shop is not None else None)
        )


async def on_shop_chosen(
    query: CallbackQuery,
    callback_data: ShopCallback,
    state: FSMContext,
    services: Services,
    customer: Customer | None = None,
) -> None:
    shop = services.shops.resolve(callback_data.shop)
    message = _message(query)
    if shop is None or customer is None:
        await query.answer(_("This button is no longer valid."))
        return
    async with services.database.session() as session:
        await bind_shop(session, customer.pseudonym, shop.id)
    customer.shop_id = shop.id
    await query.answer()
    if message is None:
        return
    pending = (await state.get_data()).get(PENDING_QUESTION)
    if pending:
        await state.update_data({PENDING_QUESTION: None})
        await message.answer(_("Now answering about {shop}.").format(shop=shop.name))
        await answer_question(message, pending, customer, services, state)
        return
    await message.answer(
        _("Now answering about {shop}.").format(shop=shop.name) + "\n\n" + help_text(shop.name),
        reply_markup=menu_keyboard(),
    )


async def on_language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCallback,
    services: Services,
    customer: Customer | None = None,
) -> None:
    if callback_data.code not in SUPPORTED_LANGUAGES or customer is None:
        await query.answer(_("This button is no longer valid."))
        return
    async with services.database.session() as session:
        await set_language(session, customer.pseudonym, callback_data.code)
    customer.language = callback_data.code
    from aiogram.utils.i18n import get_i18n

    i18n = get_i18n()
    with i18n.use_locale(callback_data.code):
        await query.answer()
        message = _message(query)
        if message is not None:
            await message.answer(_("I will speak English with you from now on."))


async def on_menu(
    query: CallbackQuery,
    callback_data: MenuCallback,
    state: FSMContext,
    services: Services,
    customer: Customer | None = None,
) -> None:
    message = _message(query)
    await query.answer()
    if message is None:
        return
    shop = shop_for(customer, services)
    action = callback_data.action
    intents = {intent.value: intent for intent in RIGHT_QUESTIONS}
    if action in intents and shop is not None:
        await explain_right(message, Intent(intents[action]), shop, services, state)
    elif action == "person":
        from bot.routers.handoff import ask_for_person  # builds on this package's routers

        await ask_for_person(message, query.from_user, customer, services)
    elif action == "glance":
        from bot.routers.glance import glance_or_shops  # builds on this package's routers

        await glance_or_shops(message, services, customer)
    elif action == "privacy":
        await message.answer(await privacy_text(services, customer, message.chat.id))
    elif action == "language":
        await message.answer(
            _("Choose the language I should use:"), reply_markup=language_keyboard()
        )
    elif shop is None:
        await message.answer(_("Choose a shop first, then I can tell you whom to contact."))
    else:
        await message.answer(_("This button is no longer valid."))


async def on_unknown_button(query: CallbackQuery) -> None:
    """Stale buttons from an older version, or forged data: answer, change nothing."""
    await query.answer(_("This button is no longer valid."))


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="callbacks")
    router.callback_query.register(on_feedback, FeedbackCallback.filter())
    router.callback_query.register(on_full_section, SectionCallback.filter())
    router.callback_query.register(on_shop_chosen, ShopCallback.filter())
    router.callback_query.register(on_language_chosen, LanguageCallback.filter())
    router.callback_query.register(on_menu, MenuCallback.filter())
    # The answer to "start the request, or see what the policy says?" (bot.routers.questions).
    router.callback_query.register(on_clarify, ClarifyCallback.filter())
    router.callback_query.register(on_unknown_button, F.data)
    return router
