"""Hand-off to a person in the shop's support group, seen from both sides.

The customer's side, in the private chat: "Talk to a person", /human or asking for a person
in words opens a hand-off; so does the bot, when a customer finds an answer it was unsure
of not helpful, or asks the same question twice. While the conversation is with a person
every message (any kind, edits too) goes to the topic and the bot says nothing; after it,
the rating and its optional comment.

The operators' side, in the support group: messages in a customer's topic go to the
customer (a message starting with ! stays as a note, commands are not copied), edits
follow; /close, /takeover and /canned. Anything in a group that is no shop's support group
is left to the other routers; an operator command there is refused.
"""

from __future__ import annotations

from datetime import timedelta

from aiogram import Bot, F, Router
from aiogram.dispatcher.event.bases import SkipHandler
from aiogram.enums import ChatType, ContentType
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, User
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from backend.handoffs import (
    Trigger,
    comment_on_handoff,
    handoff_with_person,
    open_handoff_of,
    question_of,
    rate_handoff,
    recent_questions,
)
from backend.models import Handoff, utc_now
from bot.handoff import staff_texts, texts
from bot.handoff.canned import manage_canned, parse_canned, send_canned
from bot.handoff.group_queue import post_in_group, queue_note
from bot.handoff.lifecycle import Asker, Opening, close_conversation, start_handoff, take_over
from bot.handoff.relay import (
    relay_customer_edit,
    relay_from_customer,
    relay_operator_edit,
    relay_to_customer,
)
from bot.handoff.staff import StaffPlace, is_staff, staff_place
from bot.keyboards import (
    FeedbackCallback,
    HandoffCommentCallback,
    HandoffRatingCallback,
    MenuCallback,
    comment_keyboard,
)
from bot.middlewares.customer import Customer
from bot.routers import callbacks
from bot.routers.questions import current_language, offer_person, shop_for
from bot.services import Services
from indexer.intents import Intent
from indexer.shops import Shop
from indexer.tokens import words

# What an operator may send to a customer: content, not the group's service messages.
RELAYED_CONTENT = frozenset(
    {
        ContentType.TEXT,
        ContentType.PHOTO,
        ContentType.DOCUMENT,
        ContentType.VOICE,
        ContentType.AUDIO,
        ContentType.VIDEO,
        ContentType.VIDEO_NOTE,
        ContentType.ANIMATION,
        ContentType.STICKER,
        ContentType.LOCATION,
        ContentType.CONTACT,
        ContentType.VENUE,
        ContentType.POLL,
        ContentType.DICE,
    }
)
GROUPS = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})


def _is_command(message: Message) -> bool:
    return (message.text or "").startswith("/")


def _said(message: Message) -> str:
    return message.text or message.caption or ""


# ---- The customer's side ---------------------------------------------------------------------


async def ask_for_person(
    message: Message,
    user: User | None,
    customer: Customer | None,
    services: Services,
    *,
    trigger: Trigger = "customer",
    reason: str = staff_texts.ASKED_BY_CUSTOMER,
) -> None:
    """Open a hand-off for the customer of the private chat `message` is in, and tell them."""
    if message.chat.type != ChatType.PRIVATE:  # a button under an answer in a group
        await message.answer(texts.private_chat_only())
        return
    shop = shop_for(customer, services)
    if customer is None or shop is None or shop.support.chat_id is None:
        await offer_person(message, shop)  # no shop yet, or no group: honest, nothing stored
        return
    assert message.bot is not None
    asker = Asker(customer.pseudonym, message.chat.id, user, current_language())
    opening = await start_handoff(
        message.bot, services, shop, asker, trigger=trigger, reason=reason
    )
    if opening is Opening.OPENED:
        text = (
            texts.handed_off(shop.name)
            if trigger == "customer"
            else texts.handed_off_by_bot(shop.name)
        )
    elif opening is Opening.ALREADY_OPEN:
        text = texts.already_with_person(shop.name)
    else:
        text = texts.no_support_reachable(shop.name, shop.contact_email)
    await message.answer(text)


async def on_human(message: Message, services: Services, customer: Customer | None = None) -> None:
    await ask_for_person(message, message.from_user, customer, services)


async def on_person_button(
    query: CallbackQuery, services: Services, customer: Customer | None = None
) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await ask_for_person(query.message, query.from_user, customer, services)


async def on_not_helpful(
    query: CallbackQuery,
    callback_data: FeedbackCallback,
    services: Services,
    customer: Customer | None = None,
) -> None:
    """The feedback is stored as always; if the answer was below the confidence threshold,
    the bot asks a person to take over (when the shop has a support group)."""
    await callbacks.on_feedback(query, callback_data, services, customer)
    if customer is None or not isinstance(query.message, Message):
        return
    async with services.database.session() as session:
        record = await question_of(session, callback_data.record, customer.pseudonym)
    threshold = services.engine.retriever.calibration.threshold
    if record is None or (record.answered and record.confidence >= threshold):
        return
    shop = services.shops.resolve(record.shop_id)
    if shop is None or shop.support.chat_id is None:
        return  # the answer's buttons already offer a person, with the shop's e-mail
    await ask_for_person(
        query.message,
        query.from_user,
        customer,
        services,
        trigger="bot",
        reason=staff_texts.ASKED_AFTER_NOT_HELPFUL,
    )


async def _asked_again(services: Services, customer: Customer, shop: Shop, question: str) -> bool:
    """The customer's previous question to the bot, lately, was this one (in other case,
    spacing or punctuation)."""
    async with services.database.session() as session:
        previous = await recent_questions(session, customer.pseudonym, shop.id, 1)
    if not previous:
        return False
    last = previous[-1]
    lately = utc_now() - timedelta(minutes=services.handoff.settings.repeat_minutes)
    return last.created_at >= lately and words(last.question) == words(question)


async def on_private_message(
    message: Message, state: FSMContext, services: Services, customer: Customer | None = None
) -> None:
    """Every message in the private chat comes here first (commands excepted)."""
    if customer is None or _is_command(message):
        raise SkipHandler
    shop = shop_for(customer, services)
    if shop is not None:  # a message sent while the hand-off opens waits for it
        await services.handoff.locks.wait_free(shop.id, customer.pseudonym)
    comment_since = utc_now() - timedelta(minutes=services.handoff.settings.comment_minutes)
    async with services.database.session() as session:
        handoff = await handoff_with_person(
            session, customer.pseudonym, comment_since=comment_since
        )
    if handoff is not None and handoff.status == "open":
        await relay_from_customer(services, handoff, shop_of(services, handoff), message)
        return
    if handoff is not None and message.text:
        await _take_comment(message, services, customer, handoff, message.text)
        return
    if (
        message.text
        and shop is not None
        and await state.get_state() is None
        and await _asked_for_person(message, services, customer, shop, message.text)
    ):
        return
    raise SkipHandler


def shop_of(services: Services, handoff: Handoff) -> Shop:
    shop = services.shops.resolve(handoff.shop_id)
    if shop is None:  # the shop left the knowledge base during the conversation
        raise SkipHandler
    return shop


async def _asked_for_person(
    message: Message, services: Services, customer: Customer, shop: Shop, text: str
) -> bool:
    """A request for a person in words (any language), or the same question again: hand
    off and return True; anything else is for the other routers."""
    question = text[: services.settings.max_question_chars]  # as the questions router asks
    understanding = await services.engine.understand(
        question, shop.id, get_i18n().current_locale
    )  # cached for it
    intent = understanding.intent.intent
    if intent is Intent.HANDOFF:
        await ask_for_person(message, message.from_user, customer, services)
        return True
    if (
        intent is Intent.QUESTION
        and shop.support.chat_id is not None
        and await _asked_again(services, customer, shop, question)
    ):
        await ask_for_person(
            message,
            message.from_user,
            customer,
            services,
            trigger="bot",
            reason=staff_texts.ASKED_AFTER_REPEAT,
        )
        return True
    return False


async def _take_comment(
    message: Message, services: Services, customer: Customer, handoff: Handoff, text: str
) -> None:
    assert handoff.id is not None
    async with services.database.session() as session:
        commented = await comment_on_handoff(session, handoff.id, customer.pseudonym, text)
        if commented is not None:
            await queue_note(session, commented, staff_texts.comment_note(text))
    services.handoff.ring()
    await message.answer(texts.comment_thanks())


async def on_customer_edit(
    message: Message, services: Services, customer: Customer | None = None
) -> None:
    if customer is None:
        raise SkipHandler
    async with services.database.session() as session:
        handoff = await open_handoff_of(session, customer.pseudonym)
    if handoff is None:
        raise SkipHandler
    await relay_customer_edit(services, handoff, message)


async def on_rating(
    query: CallbackQuery,
    callback_data: HandoffRatingCallback,
    services: Services,
    customer: Customer | None = None,
) -> None:
    rated = None
    if customer is not None:
        async with services.database.session() as session:
            rated = await rate_handoff(
                session, callback_data.handoff, customer.pseudonym, callback_data.stars
            )
            if rated is not None:
                await queue_note(session, rated, staff_texts.rating_note(callback_data.stars))
    if rated is None:
        await query.answer(_("This button is no longer valid."))
        return
    services.handoff.ring()
    await query.answer(_("Thank you for the feedback!"))
    if isinstance(query.message, Message):
        await query.message.answer(
            texts.ask_for_comment(), reply_markup=comment_keyboard(callback_data.handoff)
        )


async def on_skip_comment(
    query: CallbackQuery,
    callback_data: HandoffCommentCallback,
    services: Services,
    customer: Customer | None = None,
) -> None:
    skipped = None
    if customer is not None:
        async with services.database.session() as session:
            skipped = await comment_on_handoff(
                session, callback_data.handoff, customer.pseudonym, ""
            )
    await query.answer(
        _("Thank you for the feedback!") if skipped else _("This button is no longer valid.")
    )


# ---- The operators' side ---------------------------------------------------------------------


async def answer_staff(services: Services, message: Message, place: StaffPlace, text: str) -> None:
    """Answer an operator: queued in a support group (paced with the relay), else at once."""
    if not place.shops:
        await message.reply(text, parse_mode=None)
        return
    await post_in_group(
        services,
        message.chat.id,
        text,
        topic_id=message.message_thread_id if message.is_topic_message else None,
        answering=message.message_id,
    )


async def _staff_shop(
    message: Message, services: Services, place: StaffPlace, refusal: str
) -> Shop | None:
    """The shop this operator acts for here, or None after answering why not."""
    if not place.shops:
        await answer_staff(services, message, place, staff_texts.NOT_A_SUPPORT_GROUP)
        return None
    shop = place.shop
    if shop is None:
        await answer_staff(services, message, place, refusal)
        return None
    if not await is_staff(message, services, shop):
        await answer_staff(services, message, place, staff_texts.NOT_STAFF)
        return None
    return shop


async def on_close(message: Message, services: Services) -> None:
    place = await staff_place(message, services)
    shop = await _staff_shop(message, services, place, staff_texts.NOT_A_HANDOFF_TOPIC)
    if shop is None:
        return
    if place.handoff is None or place.handoff.id is None:
        await answer_staff(services, message, place, staff_texts.NOT_A_HANDOFF_TOPIC)
        return
    assert message.bot is not None
    closed = await close_conversation(
        message.bot,
        services,
        get_i18n(),
        place.handoff.id,
        closed_by="operator",
        operator=message.from_user,
    )
    if closed is None:
        await answer_staff(services, message, place, staff_texts.NOT_A_HANDOFF_TOPIC)


async def on_takeover(message: Message, services: Services) -> None:
    place = await staff_place(message, services)
    shop = await _staff_shop(message, services, place, staff_texts.NOT_A_CUSTOMER_TOPIC)
    if shop is None:
        return
    if place.topic is None:
        await answer_staff(services, message, place, staff_texts.NOT_A_CUSTOMER_TOPIC)
        return
    assert message.bot is not None
    refusal = await take_over(
        message.bot, services, get_i18n(), shop, place.topic, message.from_user
    )
    if refusal is not None:
        await answer_staff(services, message, place, refusal)


async def on_canned(message: Message, command: CommandObject, services: Services) -> None:
    place = await staff_place(message, services)
    shop = await _staff_shop(message, services, place, staff_texts.SEVERAL_SHOPS)
    if shop is None:
        return
    try:
        canned = parse_canned(command.args)
    except ValueError as error:
        await answer_staff(services, message, place, staff_texts.canned_invalid(str(error)))
        return
    if canned.action != "send":
        await answer_staff(services, message, place, await manage_canned(services, shop.id, canned))
        return
    if place.handoff is None:
        await answer_staff(services, message, place, staff_texts.NOT_A_HANDOFF_TOPIC)
        return
    assert message.bot is not None
    refusal = await send_canned(message.bot, services, place.handoff, canned)
    if refusal is not None:
        await answer_staff(services, message, place, refusal)


def _from_a_person(message: Message) -> bool:
    user = message.from_user
    anonymous_admin = message.sender_chat is not None and message.sender_chat.id == message.chat.id
    return anonymous_admin or (user is not None and not user.is_bot)


async def on_operator_message(message: Message, services: Services, bot: Bot) -> None:
    if (
        not message.is_topic_message
        or _is_command(message)
        or message.content_type not in RELAYED_CONTENT
        or not _from_a_person(message)
    ):
        raise SkipHandler
    place = await staff_place(message, services)
    shop = place.shop
    if place.topic is None or shop is None:
        raise SkipHandler  # not a customer's topic: another router's, or nobody's
    if _said(message).startswith("!"):
        return  # a note for the other operators: it stays in the group
    if place.handoff is None:
        await answer_staff(services, message, place, staff_texts.NOT_SENT_CLOSED)
        return
    if not await is_staff(message, services, shop):
        await answer_staff(services, message, place, staff_texts.NOT_SENT_NOT_STAFF)
        return
    await relay_to_customer(bot, services, place.handoff, message)


async def on_operator_edit(message: Message, services: Services, bot: Bot) -> None:
    if not message.is_topic_message or _is_command(message) or not _from_a_person(message):
        raise SkipHandler
    place = await staff_place(message, services)
    if place.handoff is None or place.shop is None or _said(message).startswith("!"):
        raise SkipHandler
    if await is_staff(message, services, place.shop):
        await relay_operator_edit(bot, services, place.handoff, message)


def create_router() -> Router:
    """A fresh router (a router can belong to one dispatcher only)."""
    router = Router(name="handoff")
    private = F.chat.type == ChatType.PRIVATE
    router.message.register(on_human, Command("human"), private)
    router.message.register(on_private_message, private)
    router.edited_message.register(on_customer_edit, private)
    router.callback_query.register(on_person_button, MenuCallback.filter(F.action == "person"))
    router.callback_query.register(on_not_helpful, FeedbackCallback.filter(F.helpful.is_(False)))
    router.callback_query.register(on_rating, HandoffRatingCallback.filter())
    router.callback_query.register(on_skip_comment, HandoffCommentCallback.filter())
    router.message.register(on_close, Command("close"), GROUPS)
    router.message.register(on_takeover, Command("takeover"), GROUPS)
    router.message.register(on_canned, Command("canned"), GROUPS)
    router.message.register(on_operator_message, F.chat.type == ChatType.SUPERGROUP)
    router.edited_message.register(on_operator_edit, F.chat.type == ChatType.SUPERGROUP)
    return router
