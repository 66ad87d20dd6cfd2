"""Free text from a customer: a question about the policy, a request, a greeting, thanks."""

from __future__ import annotations

import asyncio
import logging
import time

from aiogram import F, Router
from aiogram.enums import ChatAction, ChatType
from aiogram.exceptions import AiogramError
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from backend.conversation_log import record_question
from backend.observability.metrics import ANSWER_CONFIDENCE, ANSWER_SECONDS
from backend.privacy_requests.lifecycle import RequestKind
from bot.answer_engine import Understanding
from bot.answers import render_answer, render_silent, render_unanswered
from bot.keyboards import (
    ClarifyCallback,
    answer_keyboard,
    clarify_keyboard,
    shop_keyboard,
    unanswered_keyboard,
)
from bot.middlewares.customer import Customer
from bot.replies import typed_reply
from bot.rights import NAMED_REQUESTS, PRACTICE_REQUESTS, requests_concerned
from bot.routers.privacy_requests import RequestFlow, offer_request
from bot.services import Services
from indexer.intents import RIGHT_QUESTIONS, Intent
from indexer.passages import Passage
from indexer.request_quotes import request_quote
from indexer.shops import Shop

log = logging.getLogger(__name__)


def current_language() -> str:
    return get_i18n().current_locale


def shop_for(customer: Customer | None, services: Services) -> Shop | None:
    bound = services.shops.resolve(customer.shop_id) if customer else None
    return (
        bound
        or services.shops.only_shop()
        or services.shops.resolve(services.settings.default_shop)
    )


PENDING_QUESTION = "pending_question"


async def ask_for_shop(
    message: Message, services: Services, state: FSMContext | None = None, question: str = ""
) -> None:
    """Ask which shop; the question is kept and answered as soon as the customer chooses."""
    if state is not None and question:
        await state.update_data({PENDING_QUESTION: question})
    await message.answer(
        _("Which shop is your question about?"),
        reply_markup=shop_keyboard(services.shops.choices()),
    )


async def explain_right(
    message: Message,
    intent: Intent,
    shop: Shop,
    services: Services,
    state: FSMContext | None = None,
    own: Understanding | None = None,
) -> None:
    """Quote what the policy says about the right, then offer to start the request; in a
    group only the quote, since the request needs an e-mail address typed in private.
    The right's own question finds the passage; when it finds none, the customer's own
    words (`own`) may (indexer/request_quotes.py), and the policy is then not said to be
    silent."""
    understanding = await services.engine.understand(
        RIGHT_QUESTIONS[intent], shop.id, current_language()
    )
    intro = {
        Intent.UNSUBSCRIBE: _("You want to stop marketing messages."),
        Intent.ACCESS: _("You want a copy of the data the shop holds about you."),
        Intent.DELETION: _("You want the shop to delete your data."),
    }[intent]
    found = request_quote(
        intent, understanding.result, own.result if own else None, own.quote if own else ()
    )
    if found is not None:
        result, quoted = found
        rendered = render_answer(result, list(quoted), current_language(), shop.contact_email)
        body = _("Here is what {shop}'s policy says about it:").format(shop=shop.name)
        text = f"{intro} {body}\n\n{rendered.text}"
    else:
        text = (
            intro
            + " "
            + _(
                "{shop}'s policy does not describe how to do this, but the law (GDPR) gives you "
                "this right all the same."
            ).format(shop=shop.name)
        )
    if state is None or message.chat.type != ChatType.PRIVATE:
        await message.answer(
            text
            + "\n\n"
            + _("To start this request, write to me in a private chat: it needs your e-mail.")
        )
        return
    kinds: dict[Intent, RequestKind] = {
        Intent.UNSUBSCRIBE: "unsubscribe",
        Intent.ACCESS: "access",
        Intent.DELETION: "deletion",
    }
    await offer_request(message, state, kinds[intent], shop, text)


async def offer_person(message: Message, shop: Shop | None) -> None:
    """When there is nobody to hand the chat to (no shop chosen, or the shop has no
    support group): say so honestly, with the shop's e-mail."""
    if shop is None:
        await message.answer(_("Choose a shop first, then I can tell you whom to contact."))
        return
    await message.answer(
        _(
            "{shop} has not connected a support team to this chat yet. "
            "You can reach a person at {email}."
        ).format(shop=shop.name, email=shop.contact_email)
    )


PENDING_CLARIFY = "pending_clarify"
PENDING_CLARIFY_INTENT = "pending_clarify_intent"


async def ask_to_clarify(
    message: Message, state: FSMContext, intent: Intent, shop: Shop, text: str, notice: str = ""
) -> None:
    """One question with buttons instead of a guess, when a request is likely but not sure."""
    if await state.get_state() == RequestFlow.confirming.state:
        # A request offered earlier and not answered: this question supersedes it, so that
        # a typed "no" now answers this one.
        await state.set_state(None)
    await state.update_data({PENDING_CLARIFY: text, PENDING_CLARIFY_INTENT: intent.value})
    question = {
        Intent.UNSUBSCRIBE: _(
            "Shall I unsubscribe you from {shop}'s marketing messages, or do you want to know "
            "what the policy says?"
        ),
        Intent.ACCESS: _(
            "Shall I start a request for a copy of the data {shop} holds about you, or do you "
            "want to know what the policy says?"
        ),
        Intent.DELETION: _(
            "Shall I start a request to delete your data at {shop}, or do you want to know what "
            "the policy says?"
        ),
        Intent.HANDOFF: _(
            "Shall I bring in a person from {shop}, or do you want to know what the policy says?"
        ),
    }[intent]
    await message.answer(
        notice + question.format(shop=shop.name), reply_markup=clarify_keyboard(intent.value)
    )


async def on_clarify(
    query: CallbackQuery,
    callback_data: ClarifyCallback,
    state: FSMContext,
    services: Services,
    customer: Customer | None = None,
) -> None:
    message = query.message if isinstance(query.message, Message) else None
    data = await state.get_data()
    text = data.get(PENDING_CLARIFY)
    shop = shop_for(customer, services)
    if message is None or shop is None or not isinstance(text, str):
        await query.answer(_("This button is no longer valid."))
        return
    await query.answer()
    await _clarified(
        message,
        query.from_user,
        callback_data.choice == "request",
        callback_data.intent,
        text,
        shop,
        customer,
        services,
        state,
    )


async def _clarified(
    message: Message,
    user: User | None,
    request: bool,
    intent_name: str,
    text: str,
    shop: Shop,
    customer: Customer | None,
    services: Services,
    state: FSMContext,
) -> None:
    """The customer's choice after "Shall I start a request, or do you want to know what
    the policy says?", pressed or typed."""
    await state.update_data({PENDING_CLARIFY: None, PENDING_CLARIFY_INTENT: None})
    intent = {item.value: item for item in Intent}.get(intent_name)
    if request and intent is Intent.HANDOFF:
        from bot.routers.handoff import ask_for_person

        await ask_for_person(message, user, customer, services)
    elif request and intent in RIGHT_QUESTIONS:
        await explain_right(message, intent, shop, services, state)
    else:
        await answer_question(message, text, customer, services, state, clarify=False)


async def answer_question(
    message: Message,
    text: str,
    customer: Customer | None,
    services: Services,
    state: FSMContext | None = None,
    *,
    clarify: bool = True,
) -> None:
    started = time.perf_counter()
    shop = shop_for(customer, services)
    if shop is None:
        await ask_for_shop(message, services, state, text)
        return
    notice = ""
    limit = services.settings.max_question_chars
    if len(text) > limit:
        text = text[:limit]
        notice = (
            _("Your message is long; I answered its first {limit} characters.").format(limit=limit)
            + "\n\n"
        )
    # "typing…" when the search takes a while (always, at 0); shown before the answer, never
    # after it.
    pending = asyncio.ensure_future(services.engine.understand(text, shop.id, current_language()))
    try:
        wait = services.settings.typing_after_seconds
        if not wait or not (await asyncio.wait({pending}, timeout=wait))[0]:
            await _show_typing(message)
        understanding = await pending
    finally:
        pending.cancel()  # only when this handler itself was cancelled: done otherwise
    intent = understanding.intent.intent
    unsure = understanding.intent.unsure
    if (
        clarify
        and unsure is not None
        and intent is Intent.QUESTION
        and state is not None
        and message.chat.type == ChatType.PRIVATE
    ):
        await ask_to_clarify(message, state, unsure, shop, text, notice)
        return
    if intent is Intent.GREETING:
        await message.answer(
            _("Hello! Ask me anything about how {shop} handles your personal data.").format(
                shop=shop.name
            )
        )
        return
    if intent is Intent.THANKS:
        await message.answer(_("You're welcome! Ask me anything else about your data."))
        return
    if intent is Intent.HANDOFF:
        # Imported here: the hand-off router builds on this module.
        from bot.routers.handoff import ask_for_person

        await ask_for_person(message, message.from_user, customer, services)
        return
    if intent in RIGHT_QUESTIONS:
        await explain_right(message, intent, shop, services, state, understanding)
        return
    await _answer_policy_question(message, notice, understanding, customer, shop, services, text)
    ANSWER_SECONDS.observe(time.perf_counter() - started)
    ANSWER_CONFIDENCE.observe(understanding.result.confidence)


async def _show_typing(message: Message) -> None:
    """A courtesy: when Telegram refuses it, or something between answers what is not the
    Bot API (a proxy's error page: aiogram's ClientDecodeError), the answer goes out all the
    same."""
    if message.bot is None:
        return
    try:
        await message.bot.send_chat_action(message.chat.id, ChatAction.TYPING)
    except (AiogramError, OSError, TimeoutError) as error:
        log.info("no typing indicator: %s", type(error).__name__)


async def _answer_policy_question(
    message: Message,
    notice: str,
    understanding: Understanding,
    customer: Customer | None,
    shop: Shop,
    services: Services,
    text: str,
) -> None:
    result = understanding.result
    language = current_language()
    top = result.hits[0].passage if result.hits else None
    record_id: int | None = None
    if customer is not None:
        async with services.database.session() as session:
            record_id = await record_question(
                session,
                pseudonym=customer.pseudonym,
                shop_id=shop.id,
                question=text,
                language=result.language,
                intent=understanding.intent.intent.value if result.answered else "out_of_scope",
                passage_key=top.key if top else None,
                section=top.section if top else None,
                confidence=result.confidence,
                answered=result.answered,
                index_version=result.index_version,
            )
    glossary = services.engine.retriever.glossary
    if result.answered and top is not None:
        rendered = render_answer(
            result, list(understanding.quote), language, shop.contact_email, understanding.also
        )
        more = _more_to_show(services, shop.id, top, understanding)
        requests = [i.value for i in requests_concerned(understanding, glossary, text)]
        await message.answer(
            notice + rendered.text,
            reply_markup=answer_keyboard(record_id, shop.id, top.key, more, requests),
        )
        return
    if result.silent:
        fitting = NAMED_REQUESTS.get(result.silent_on) or PRACTICE_REQUESTS.get(
            result.practice.practice
        )
        beside = result.beside_silence
        section = None
        if beside is not None and _more_to_show(services, shop.id, beside.passage, understanding):
            section = (shop.id, beside.passage.key)
        await message.answer(
            notice
            + render_silent(result, shop.name, shop.contact_email, understanding.quote, language),
            reply_markup=unanswered_keyboard(
                record_id, [fitting.value] if fitting else [], section
            ),
        )
        return
    about = understanding.intent.about
    await message.answer(
        notice + render_unanswered(result, language, shop.contact_email),
        reply_markup=unanswered_keyboard(record_id, [about.value] if about else []),
    )


def _more_to_show(
    services: Services, shop: str, passage: Passage, understanding: Understanding
) -> bool:
    """Whether "Show the full section" shows more than the quote: sentences left out of
    it, or other passages of the section."""
    if len(understanding.quote) < len(passage.sentences):
        return True
    return len(services.engine.retriever.section_passages(shop, passage.key)) > 1


async def on_private_text(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    assert message.text is not None
    # "yes" or "no" typed under the question asked when a request was likely but not sure.
    data = await state.get_data()
    pending, intent = data.get(PENDING_CLARIFY), data.get(PENDING_CLARIFY_INTENT)
    reply = typed_reply(message.text) if isinstance(pending, str) else None
    shop = shop_for(customer, services) if reply else None
    if reply and shop and isinstance(pending, str) and isinstance(intent, str):
        await _clarified(
            message,
            message.from_user,
            reply == "yes",
            intent,
            pending,
            shop,
            customer,
            services,
            state,
        )
        return
    await answer_question(message, message.text, customer, services, state)


async def on_group_text(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    """In a group the bot speaks only when addressed: a mention, or a reply to it."""
    assert message.text is not None and message.bot is not None
    me = await message.bot.me()
    mention = f"@{me.username}".lower() if me.username else None
    replied_to_bot = (
        message.reply_to_message is not None
        and message.reply_to_message.from_user is not None
        and message.reply_to_message.from_user.id == me.id
    )
    if mention and mention in message.text.lower():
        text = message.text.replace(f"@{me.username}", "").strip()
    elif replied_to_bot:
        text = message.text
    else:
        return
    if text:
        await answer_question(message, text, customer, services)


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="questions")
    router.message.register(on_private_text, F.chat.type == ChatType.PRIVATE, F.text)
    router.message.register(
        on_group_text, F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}), F.text
    )
    return router
