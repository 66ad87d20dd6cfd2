"""Commands: /start (with a shop deep link), /help, /shop, /language, /privacy, /forget."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from backend.conversation_log import stored_about
from backend.customers import bind_shop, forget_customer
from bot.keyboards import language_keyboard, menu_keyboard, shop_keyboard
from bot.middlewares.customer import Customer
from bot.routers.questions import shop_for
from bot.services import Services


def help_text(shop_name: str | None) -> str:
    about = (
        _(
            "I answer questions about how {shop} handles your personal data, quoting its privacy "
            "policy."
        ).format(shop=shop_name)
        if shop_name
        else _(
            "I answer questions about how a shop handles your personal data, quoting its "
            "privacy policy."
        )
    )
    return "\n\n".join(
        [
            about,
            _(
                "Ask in your own words and in your own language, for example: "
                '"Do you sell my data?" or "How long do you keep my address?"'
            ),
            _(
                "Commands: /shop to choose the shop, /language to change my language, /privacy to "
                "see what I store about you, /forget to erase it."
            ),
            _("Privacy requests: /requests lists yours, /cancel stops the one you are starting."),
            _(
                "/human puts you through to a person at the shop; /notify tells you when its "
                "privacy policy changes."
            ),
        ]
    )


async def on_start(
    message: Message, command: CommandObject, services: Services, customer: Customer | None = None
) -> None:
    shop = services.shops.resolve(command.args) if command.args else None
    if command.args and shop is None:
        await message.answer(_('I don\'t know the shop "{name}".').format(name=command.args[:64]))
    if shop is not None and customer is not None:
        async with services.database.session() as session:
            await bind_shop(session, customer.pseudonym, shop.id)
        customer.shop_id = shop.id
    shop = shop or shop_for(customer, services)
    if shop is None:
        await message.answer(
            help_text(None) + "\n\n" + _("Which shop is your question about?"),
            reply_markup=shop_keyboard(services.shops.choices()),
        )
        return
    await message.answer(help_text(shop.name), reply_markup=menu_keyboard())


async def on_help(message: Message, services: Services, customer: Customer | None = None) -> None:
    shop = shop_for(customer, services)
    await message.answer(help_text(shop.name if shop else None), reply_markup=menu_keyboard())


async def on_shop(message: Message, services: Services, customer: Customer | None = None) -> None:
    shop = shop_for(customer, services)
    current = _("Current shop: {shop}.").format(shop=shop.name) + " " if shop else ""
    await message.answer(
        current + _("Which shop is your question about?"),
        reply_markup=shop_keyboard(services.shops.choices()),
    )


async def on_language(message: Message) -> None:
    await message.answer(_("Choose the language I should use:"), reply_markup=language_keyboard())


async def privacy_text(services: Services, customer: Customer | None) -> str:
    days = services.retention_days
    lines = [
        _("What this bot stores about you, and why:"),
        _(
            "• your questions, what I answered and your feedback, to improve the answers: "
            "kept for {days} days, then deleted automatically;"
        ).format(days=days),
        _("• the shop you chose and your language, so I remember them;"),
        _("• never your Telegram name or number: records are keyed by a pseudonym."),
        _(
            "Privacy requests you start are kept as long as the law requires. "
            "/forget erases everything else now."
        ),
    ]
    if customer is not None:
        async with services.database.session() as session:
            stored = await stored_about(session, customer.pseudonym)
        lines.append(
            _("Right now: {records} questions, {feedback} feedback answers.").format(
                records=stored.conversation_records, feedback=stored.feedback_given
            )
        )
    return "\n".join(lines)


async def on_privacy(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    await message.answer(await privacy_text(services, customer))


async def on_forget(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    await state.clear()
    if customer is None:
        await message.answer(_("I store nothing about you."))
        return
    async with services.database.session() as session:
        report = await forget_customer(session, customer.pseudonym)
    customer.shop_id = None
    customer.language = None
    await message.answer(
        _(
            "Done: I erased {records} questions and your settings. "
            "Nothing about you is left in this bot."
        ).format(records=report.conversation_records)
    )


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="commands")
    router.message.register(on_start, CommandStart())
    router.message.register(on_help, Command("help"))
    router.message.register(on_shop, Command("shop"))
    router.message.register(on_language, Command("language"))
    router.message.register(on_privacy, Command("privacy"))
    router.message.register(on_forget, Command("forget"))
    return router
