"""Commands: /start (with a shop deep link), /help, /shop, /language, /privacy, /forget
(/summary: bot.routers.glance)."""

from __future__ import annotations

import re

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from backend.conversation_log import stored_about
from backend.customers import bind_shop, forget_customer
from backend.privacy_requests import list_requests_for
from bot.keyboards import language_keyboard, menu_keyboard, shop_keyboard
from bot.middlewares.customer import Customer
from bot.routers.questions import shop_for
from bot.services import Services
from bot.web.visitors import is_web_chat
from indexer.shops import Shop

# "/foo" or "/foo@somebot", alone or before words: a command, where "/etc/hosts" is not.
COMMAND_FORM = re.compile(r"^/(\w{1,64})(?:@(\w+))?(?:\s|$)")


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
            _("/summary shows what the shop's privacy policy covers, at a glance."),
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
    await send_help(message, services, shop or shop_for(customer, services))


async def send_help(
    message: Message, services: Services, shop: Shop | None, lead: str = ""
) -> None:
    """What the bot does and its commands, after `lead`; with no shop chosen yet, the shops
    to choose from, since nothing can be answered before."""
    if shop is None:
        await message.answer(
            lead + help_text(None) + "\n\n" + _("Which shop is your question about?"),
            reply_markup=shop_keyboard(services.shops.choices()),
        )
        return
    await message.answer(lead + help_text(shop.name), reply_markup=menu_keyboard())


async def on_help(message: Message, services: Services, customer: Customer | None = None) -> None:
    await send_help(message, services, shop_for(customer, services))


async def on_unknown_command(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    """A command no router took: said so, with the list, rather than searched in the policy.
    In a group only one addressed to this bot by name is answered."""
    assert message.text is not None
    form = COMMAND_FORM.match(message.text)
    assert form is not None  # the filter matched it
    if message.chat.type != ChatType.PRIVATE:
        addressed = (form.group(2) or "").lower()
        me = await message.bot.me() if message.bot is not None else None
        if not addressed or me is None or addressed != (me.username or "").lower():
            return
    lead = _("I don't know the command {command}.").format(command="/" + form.group(1)) + "\n\n"
    await send_help(message, services, shop_for(customer, services), lead)


async def on_shop(message: Message, services: Services, customer: Customer | None = None) -> None:
    shop = shop_for(customer, services)
    current = _("Current shop: {shop}.").format(shop=shop.name) + " " if shop else ""
    await message.answer(
        current + _("Which shop is your question about?"),
        reply_markup=shop_keyboard(services.shops.choices()),
    )


async def on_language(message: Message) -> None:
    await message.answer(_("Choose the language I should use:"), reply_markup=language_keyboard())


async def privacy_text(services: Services, customer: Customer | None, chat_id: int = 0) -> str:
    days = services.retention_days
    lines = [
        _("What this bot stores about you, and why:"),
        _(
            "• your questions, what I answered and your feedback, to improve the answers: "
            "kept for {days} days, then deleted automatically;"
        ).format(days=days),
        _("• the shop you chose and your language, so I remember them;"),
    ]
    if is_web_chat(chat_id):
        lines.append(
            _(
                "• on this website: an anonymous visitor id in a cookie of this site (kept "
                "for a year), and this conversation, so that a reload shows it: kept for "
                "{days} days, then deleted;"
            ).format(days=days)
        )
    lines += [
        _("• never your Telegram name or number: records are keyed by a pseudonym."),
        _(
            "Privacy requests you start are kept for {months} months after they are "
            "closed: they are the shop's proof that it answered them. /forget erases "
            "everything else now."
        ).format(months=services.request_rules.retention_months),
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
    await message.answer(await privacy_text(services, customer, message.chat.id))


async def on_forget(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    await state.clear()
    for forget_door_copy in services.forget_hooks:
        await forget_door_copy(message.chat.id)
    if customer is None:
        await message.answer(_("I store nothing about you."))
        return
    async with services.database.session() as session:
        report = await forget_customer(session, customer.pseudonym)
        requests = await list_requests_for(session, customer.pseudonym)
    customer.shop_id = None
    customer.language = None
    if not requests:
        await message.answer(
            _(
                "Done: I erased {records} questions and your settings. "
                "Nothing about you is left in this bot."
            ).format(records=report.conversation_records)
        )
        return
    # Privacy requests are the shop's record that it answered them (GDPR art. 5(2)): they
    # stay until their retention period ends (backend housekeeping purges them then).
    await message.answer(
        _("Done: I erased {records} questions and your settings.").format(
            records=report.conversation_records
        )
        + "\n\n"
        + _(
            "Your privacy requests are not erased: the shop must be able to prove that it "
            "handled them as the law requires, so it keeps each for {months} months after "
            "it is closed, then it is deleted. /requests still shows them."
        ).format(months=services.request_rules.retention_months)
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


def create_unknown_command_router() -> Router:
    """The catch-all for commands, included after every router that has commands of its own."""
    router = Router(name="unknown_commands")
    router.message.register(on_unknown_command, F.text.regexp(COMMAND_FORM))
    return router
